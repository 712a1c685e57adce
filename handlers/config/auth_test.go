package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/config"
	"livefeed/handlers/token"
)

// TestPrivateTopicsConfig: scoped publish tokens in the file (strings and
// tables in one array) and the environment, private topics and subscriber
// keys, and errors that name the key and never repeat a secret.
func TestPrivateTopicsConfig(t *testing.T) {
	const secret = "subscriber-secret-0123456789abcdef"
	for _, tc := range []struct {
		name   string
		toml   string
		env    map[string]string
		tokens []config.PublishToken
		err    string // a piece of the error, "" for none
	}{
		{"OKScopedTokens", `[auth]
publish_tokens = ["any-topic-token-0123456789", { token = "partner-a-token-0123456789", topics = ["partner-a/*", "shared/x"] }]
private_topics = ["premium/*"]
subscriber_keys = ["` + secret + `"]
subscriber_audience = "livefeed.example"`, nil,
			[]config.PublishToken{{Token: "any-topic-token-0123456789"}, {Token: "partner-a-token-0123456789", Topics: []string{"partner-a/*", "shared/x"}}}, ""},
		{"OKScopedTokensFromEnvironment", "", map[string]string{config.EnvPublishTokens: "any-topic-token-0123456789, partner-b-token-0123456789 partner-b/*  shared/x", config.EnvSubscriberKeys: secret},
			[]config.PublishToken{{Token: "any-topic-token-0123456789"}, {Token: "partner-b-token-0123456789", Topics: []string{"partner-b/*", "shared/x"}}}, ""},
		{"OKScopedTokenMaxTopics", `[auth]
publish_tokens = [{ max_topics = 5000, token = "partner-a-token-0123456789", topics = ["partner-a/*"] }]
subscriber_keys = ["` + secret + `"]`, nil,
			[]config.PublishToken{{Token: "partner-a-token-0123456789", Topics: []string{"partner-a/*"}, MaxTopics: 5000}}, ""},
		{"ErrScopedTokenMaxTopicsString", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topics = ["partner-a/*"], max_topics = "5000" }]`, nil, nil, "max_topics must be a whole number"},
		{"ErrScopedTokenMaxTopicsFloat", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topics = ["partner-a/*"], max_topics = 50.5 }]`, nil, nil, "max_topics must be a whole number"},
		{"ErrScopedTokenMaxTopicsHuge", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topics = ["partner-a/*"], max_topics = 99999999999999 }]`, nil, nil, "auth.publish_tokens[0].max_topics"},
		{"ErrScopedTokenMaxTopicsNegative", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topics = ["partner-a/*"], max_topics = -9999999999999 }]`, nil, nil, "auth.publish_tokens[0].max_topics"},
		{"ErrScopedTokenBadPattern", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topics = ["partner a"] }]`, nil, nil, "auth.publish_tokens[0].topics"},
		{"ErrScopedTokenEmptyTopics", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topics = [] }]`, nil, nil, "must not be empty"},
		{"ErrScopedTokenUnknownKey", `[auth]
publish_tokens = [{ token = "partner-a-token-0123456789", topic = ["a"] }]`, nil, nil, `unknown key "topic"`},
		{"ErrPrivateTopics", `[auth]
private_topics = ["premium/*/x"]`, nil, nil, "auth.private_topics"},
		{"ErrShortSecret", `[auth]
subscriber_keys = ["` + secret + `", "short-secret-1234"]`, nil, nil, "auth.subscriber_keys[1]: an HMAC secret must have at least 32 bytes"},
		{"ErrShortSecretFromEnvironment", "", map[string]string{config.EnvSubscriberKeys: "short-secret-1234"}, nil, config.EnvSubscriberKeys + ": auth.subscriber_keys[0]"},
		{"ErrMissingKeyFile", `[auth]
subscriber_keys = ["file:/nonexistent/jwks.json"]`, nil, nil, "auth.subscriber_keys[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/config.toml"
			writeFile(t, path, tc.toml)
			cfg, err := config.Load(path, true, func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load = %v; want an error with %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "short-secret-1234") {
					t.Fatalf("the error repeats a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Auth.PublishTokens, tc.tokens) {
				t.Fatalf("publish tokens %+v, want %+v", cfg.Auth.PublishTokens, tc.tokens)
			}
			if keys, err := cfg.SubscriberKeys(); err != nil || keys.Len() != 1 || !keys.CanMint() {
				t.Fatalf("subscriber keys: %v", err)
			}
		})
	}
}

// TestMaxTokenLifetime: the subscriber keys refuse tokens expiring beyond
// auth.max_token_lifetime, 24 hours unless the file says otherwise.
func TestMaxTokenLifetime(t *testing.T) {
	const secret = "subscriber-secret-0123456789abcdef"
	for _, tc := range []struct {
		name string
		toml string
		want time.Duration
	}{
		{"Default", "[auth]\nsubscriber_keys = [\"" + secret + "\"]", token.DefaultMaxLifetime},
		{"Configured", "[auth]\nsubscriber_keys = [\"" + secret + "\"]\nmax_token_lifetime = \"2h\"", 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/config.toml"
			writeFile(t, path, tc.toml)
			cfg, err := config.Load(path, true, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := cfg.SubscriberKeys()
			if err != nil || keys.MaxLifetime() != tc.want {
				t.Fatalf("SubscriberKeys: %v, max lifetime %s, want %s", err, keys.MaxLifetime(), tc.want)
			}
			if _, err := keys.Mint([]string{"premium/*"}, tc.want+time.Minute, ""); err == nil || !strings.Contains(err.Error(), "auth.max_token_lifetime") {
				t.Fatalf("Mint beyond the lifetime: %v", err)
			}
		})
	}
	if !strings.Contains(strings.Join(config.Reloadable, " "), "auth.max_token_lifetime") {
		t.Fatal("auth.max_token_lifetime is applied on SIGHUP (it is part of the subscriber keys), and not listed as reloadable")
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
