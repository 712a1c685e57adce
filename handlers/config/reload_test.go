package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/config"
)

// TestLoadGiven: the keys the file or the environment give, a list written
// empty included, and none of those left out.
func TestLoadGiven(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	text := "[server]\naddress = \"127.0.0.1:9\"\n[auth]\npublish_tokens = []\n[[auth.operators]]\nname = \"ann\"\npassword_hash = \"" + cheapNonSampleHash + "\"\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvSubscriberKeys: "given-secret-0123456789abcdef0123456789"}
	cfg, given, err := config.LoadGiven(path, true, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		"server.address":       true,
		"auth.publish_tokens":  true, // written empty
		"auth.operators":       true,
		"auth.subscriber_keys": true, // from the environment
		"auth.private_topics":  false,
		"cors.allowed_origins": false,
		"server.read_timeout":  false,
	} {
		if given[key] != want {
			t.Errorf("given[%q] = %v, want %v", key, given[key], want)
		}
	}
	if plain, err := config.Load(path, true, func(k string) string { return env[k] }); err != nil || !reflect.DeepEqual(plain, cfg) {
		t.Errorf("Load and LoadGiven differ: %+v, %v", plain, err)
	}
	_, given, err = config.LoadGiven(filepath.Join(t.TempDir(), "absent.toml"), false, noEnv)
	if err != nil || len(given) != 0 {
		t.Errorf("no file: given %v, %v", given, err)
	}
}

// TestCheckDeploymentAt: the secrets are checked if the configured address
// or any address the server listens on is reachable from the network.
func TestCheckDeploymentAt(t *testing.T) {
	for _, tc := range []struct {
		name, address string
		listening     []string
		err           string // substring, "" for accepted
	}{
		{"OKLoopback", "127.0.0.1:8080", []string{"127.0.0.1:8080", "[::1]:8080"}, ""},
		{"OKNone", "127.0.0.1:8080", nil, ""},
		{"ErrListensEverywhere", "127.0.0.1:8080", []string{"[::]:8080"}, `the server listens on "[::]:8080", which is reachable from the network`},
		{"ErrStartedOnNetwork", "localhost:8080", []string{"127.0.0.1:8080", "0.0.0.0:8080"}, `the server listens on "0.0.0.0:8080"`},
		{"ErrConfigured", ":8080", []string{"127.0.0.1:8080"}, `server.address ":8080" is reachable`},
		{"ErrNotAnAddress", "127.0.0.1:8080", []string{"garbage"}, "reachable from the network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Server.Address = tc.address
			cfg.Auth.PublishTokens = []config.PublishToken{{Token: config.SampleToken}}
			err := cfg.CheckDeploymentAt(tc.listening...)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "is the sample token")) {
				t.Fatalf("CheckDeploymentAt = %v, want %q", err, tc.err)
			}
		})
	}
}

// TestWithReloadable: a reload takes the value of every key of Reloadable,
// and of no other.
func TestWithReloadable(t *testing.T) {
	running, next := config.Default(), config.Default()
	next.Feed.Window = 7 // needs a restart
	next.CORS.AllowedOrigins = []string{"https://a.example"}
	next.Auth.PublishTokens = []config.PublishToken{{Token: "with-reloadable-token-0123"}}
	next.Auth.SubscriberKeys = []string{"with-reloadable-secret-0123456789abcdef"}
	next.Auth.SubscriberAudience = "aud"
	next.Auth.MaxTokenLifetime = time.Hour
	next.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: cheapNonSampleHash}}
	next.Log.Level = "debug"
	next.Server.TrustedProxies = []string{"127.0.0.1"}
	next.Server.ClientIPHeader = "X-Real-IP"
	next.Server.OpsToken = "with-reloadable-ops-token-0123"
	next.Feed.MaxTopics = 5
	changed := config.Changed(running, next)
	for _, key := range config.Reloadable {
		if !slices.Contains(changed, key) {
			t.Fatalf("the test does not change %s, a key of Reloadable", key)
		}
	}
	if got := config.Changed(config.WithReloadable(running, next), next); !reflect.DeepEqual(got, []string{"feed.window"}) {
		t.Fatalf("after WithReloadable, changed: %q, want only feed.window", got)
	}
}
