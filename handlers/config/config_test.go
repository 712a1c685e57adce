package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/config"
)

func noEnv(string) string { return "" }

// TestShippedFileMatchesDefaults keeps config.toml honest: it documents the
// built-in defaults, so loading it must give exactly them (apart from the
// sample publish token it ships with).
func TestShippedFileMatchesDefaults(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "config.toml"), true, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.Auth.PublishTokens = []string{config.SampleToken}
	want.Auth.Operators = []config.Operator{{Name: config.SampleOperatorName, PasswordHash: config.SamplePasswordHash}}
	want.CORS.AllowedOrigins = []string{}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.toml differs from the defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		err  string // substring, "" for valid
	}{
		{"OKEmpty", ``, ""},
		{"OKDurations", "[feed]\nheartbeat = \"5s\"\nretry = \"250ms\"", ""},
		{"ErrUnknownKey", "[server]\nadress = \"x\"", `unknown key "server.adress"`},
		{"ErrUnknownSection", "[servre]\naddress = \"x\"", `unknown key "servre`},
		{"ErrBadDuration", "[feed]\nheartbeat = \"15 parsecs\"", "feed.heartbeat"},
		{"ErrWrongType", "[feed]\nwindow = \"big\"", "feed.window"},
		{"ErrDuplicate", "[feed]\nwindow = 1\nwindow = 2", "already been defined"},
		{"ErrSyntax", "[feed\n", "toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(tc.toml)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Parse = %v, want error containing %q", err, tc.err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		key    string // the key the error must name, "" for valid
	}{
		{"OK", func(*config.Config) {}, ""},
		{"ErrAddress", func(c *config.Config) { c.Server.Address = "8080" }, "server.address"},
		{"ErrTimeout", func(c *config.Config) { c.Server.ReadHeaderTimeout = 0 }, "server.read_header_timeout"},
		{"ErrBody", func(c *config.Config) { c.Server.MaxBodyBytes = 10 }, "server.max_body_bytes"},
		{"ErrTLSHalf", func(c *config.Config) { c.Server.TLSCert = "cert.pem" }, "server.tls_cert"},
		{"ErrPath", func(c *config.Config) { c.Store.Path = "" }, "store.path"},
		{"ErrSynchronous", func(c *config.Config) { c.Store.Synchronous = "sometimes" }, "store.synchronous"},
		{"ErrWindow", func(c *config.Config) { c.Feed.Window = 5 }, "feed.window"},
		{"ErrWindowBytes", func(c *config.Config) { c.Feed.WindowBytes = 10 }, "feed.window_bytes"},
		{"ErrRetry", func(c *config.Config) { c.Feed.Retry = -time.Second }, "feed.retry"},
		{"ErrWriteTimeout", func(c *config.Config) { c.Feed.WriteTimeout = c.Feed.Heartbeat }, "feed.write_timeout"},
		{"ErrShortToken", func(c *config.Config) { c.Auth.PublishTokens = []string{"short"} }, "auth.publish_tokens[0]"},
		{"ErrOriginPath", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example/page"} }, "cors.allowed_origins[0]"},
		{"ErrOriginScheme", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"ftp://a.example"} }, "cors.allowed_origins[0]"},
		{"ErrOriginCase", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://A.example"} }, "cors.allowed_origins[0]"},
		{"OKOriginPort", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"http://localhost:3000"} }, ""},
		{"OKOperators", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{operator("ann"), operator("bob.smith@pitch-2")}
		}, ""},
		{"ErrOperatorName", func(c *config.Config) { c.Auth.Operators = []config.Operator{operator("ann smith")} }, "auth.operators[0].name"},
		{"ErrOperatorNameEmpty", func(c *config.Config) { c.Auth.Operators = []config.Operator{operator("ann"), operator("")} }, "auth.operators[1].name"},
		{"ErrOperatorTwice", func(c *config.Config) { c.Auth.Operators = []config.Operator{operator("ann"), operator("ann")} }, "auth.operators[1].name"},
		{"ErrOperatorHash", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: "admin-change-me"}}
		}, "auth.operators[0].password_hash"},
		{"ErrOperatorCost", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: cheapHash}}
		}, "auth.operators[0].password_hash"},
		{"ErrSessionLifetime", func(c *config.Config) { c.Auth.SessionLifetime = time.Second }, "auth.session_lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.key)
			}
		})
	}
}

// cheapHash is a bcrypt hash of cost 4, below what the configuration
// accepts.
const cheapHash = "$2a$04$/2P1IkEvNRNyWicSA.bGNuey6SKWoXs8BUTDJA8OecDKMySDHXeRe"

func operator(name string) config.Operator {
	return config.Operator{Name: name, PasswordHash: config.SamplePasswordHash}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("OKMissingDefaultFile", func(t *testing.T) {
		cfg, err := config.Load(filepath.Join(dir, "absent.toml"), false, noEnv)
		if err != nil || !reflect.DeepEqual(cfg, config.Default()) {
			t.Fatalf("Load = %+v, %v", cfg, err)
		}
	})
	t.Run("ErrMissingNamedFile", func(t *testing.T) {
		if _, err := config.Load(filepath.Join(dir, "absent.toml"), true, noEnv); err == nil {
			t.Fatal("a named file that is missing was accepted")
		}
	})
	t.Run("ErrNamesFile", func(t *testing.T) {
		path := filepath.Join(dir, "bad.toml")
		os.WriteFile(path, []byte("[feed]\nwindow = 1\n"), 0o600)
		_, err := config.Load(path, true, noEnv)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "feed.window") {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("OKEnvTokens", func(t *testing.T) {
		path := filepath.Join(dir, "tokens.toml")
		os.WriteFile(path, []byte("[auth]\npublish_tokens = [\"from-the-file-0123456789\"]\n"), 0o600)
		env := map[string]string{config.EnvPublishTokens: " env-token-one-0123456789 , env-token-two-0123456789,"}
		cfg, err := config.Load(path, true, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Auth.PublishTokens, []string{"env-token-one-0123456789", "env-token-two-0123456789"}) {
			t.Fatalf("tokens = %q", cfg.Auth.PublishTokens)
		}
	})
	t.Run("OKEnvOperators", func(t *testing.T) {
		env := map[string]string{config.EnvOperators: "ann:" + config.SamplePasswordHash + ", bob:" + config.SamplePasswordHash}
		cfg, err := config.Load(filepath.Join("..", "..", "config.toml"), true, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Auth.Operators, []config.Operator{operator("ann"), operator("bob")}) {
			t.Fatalf("operators = %q", cfg.Auth.Operators)
		}
	})
	t.Run("ErrEnvOperators", func(t *testing.T) {
		for _, v := range []string{"ann", "ann:" + config.SamplePasswordHash + ",bob", "ann:not-a-hash"} {
			env := map[string]string{config.EnvOperators: v}
			_, err := config.Load(filepath.Join(dir, "absent.toml"), false, func(k string) string { return env[k] })
			if err == nil || strings.Contains(err.Error(), config.SamplePasswordHash) {
				t.Errorf("%s = %q: Load = %v", config.EnvOperators, v, err)
			}
		}
	})
}

func TestCheckDeployment(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.PublishTokens = []string{config.SampleToken}
	if err := cfg.CheckDeployment(); err != nil {
		t.Fatalf("loopback with the sample token: %v", err)
	}
	cfg.Server.Address = ":8080"
	if err := cfg.CheckDeployment(); err == nil {
		t.Fatal("the sample token was accepted on a network address")
	}
	cfg.Auth.PublishTokens = []string{"a-real-secret-0123456789"}
	if err := cfg.CheckDeployment(); err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Operators = []config.Operator{operator("admin")}
	if err := cfg.CheckDeployment(); err == nil {
		t.Fatal("the sample operator was accepted on a network address")
	}
	cfg.Server.Address = "[::1]:8080"
	if err := cfg.CheckDeployment(); err != nil {
		t.Fatalf("loopback with the sample operator: %v", err)
	}
}

// FuzzParse checks that any text either parses into a configuration whose
// validation can run, or fails with an error; it never panics.
func FuzzParse(f *testing.F) {
	f.Add("[server]\naddress = \"127.0.0.1:8080\"\n")
	f.Add("[feed]\nheartbeat = \"1h\"\nwindow = 100\n")
	f.Add("[auth]\npublish_tokens = [\"a\", \"b\"]\n[cors]\nallowed_origins = [\"http://x\"]\n")
	f.Add("[[server]]\n")
	f.Add("[auth]\nsession_lifetime = \"1h\"\n[[auth.operators]]\nname = \"a\"\npassword_hash = \"$2a$10$x\"\n")
	f.Add("a = 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := config.Parse(text)
		if err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.CheckDeployment()
	})
}
