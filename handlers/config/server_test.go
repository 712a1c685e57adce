package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"livefeed/handlers/config"
)

// TestProxiesConfig: server.trusted_proxies are addresses and prefixes;
// server.client_ip_header is read only from them, so it is an error
// alone (before, it was believed from any client).
func TestProxiesConfig(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		err        string // substring, "" for valid
	}{
		{"OK", "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"]", ""},
		{"OKHeader", "[server]\ntrusted_proxies = [\"::1\"]\nclient_ip_header = \"X-Real-IP\"", ""},
		{"ErrHostName", "[server]\ntrusted_proxies = [\"127.0.0.1\", \"proxy.internal\"]", `server.trusted_proxies[1]: "proxy.internal" is not an IP address`},
		{"ErrHostBits", "[server]\ntrusted_proxies = [\"10.1.2.3/8\"]", `server.trusted_proxies[0]: "10.1.2.3/8" has bits set after its prefix length: write "10.0.0.0/8"`},
		{"ErrHeaderAlone", "[server]\nclient_ip_header = \"X-Forwarded-For\"", `server.client_ip_header: "X-Forwarded-For" is read only from server.trusted_proxies, which lists none`},
		{"ErrHeaderName", "[server]\ntrusted_proxies = [\"::1\"]\nclient_ip_header = \"X Real IP\"", "is not a header name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse(tc.toml)
			if err == nil {
				err = cfg.Validate()
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if err == nil && len(cfg.Proxies().Trusted) != len(cfg.Server.TrustedProxies) {
				t.Fatalf("Proxies() = %+v", cfg.Proxies())
			}
		})
	}
}

// TestOpsToken: server.ops_token is a secret like the publish tokens: at
// least 16 characters, 32 on a network address, not the sample token nor
// one character repeated there, and replaced by LIVEFEED_OPS_TOKEN,
// which errors name. No message repeats it.
func TestOpsToken(t *testing.T) {
	const good = "ops-c0ffee4b1d2a9e8f7c6b5a4d3e2f1a0b9c8d"
	for _, tc := range []struct {
		name, address, token, env string
		err                       string // substring, "" for accepted
	}{
		{"OKNone", ":8080", "", "", ""},
		{"OKNetwork", ":8080", good, "", ""},
		{"OKLoopbackShort", "127.0.0.1:8080", "ops-token-012345", "", ""},
		{"ErrTooShort", "127.0.0.1:8080", "ops-token-0123", "", "server.ops_token: is shorter than 16 characters"},
		{"ErrNetworkShort", "0.0.0.0:8080", "ops-token-0123456789", "", "server.ops_token: is shorter than 32 characters, and server.address \"0.0.0.0:8080\" is reachable"},
		{"OKSampleAndMore", ":8080", config.SampleToken + "-and-more-to-be-long", "", ""},
		{"ErrNetworkRepeated", ":8080", strings.Repeat("o", 40), "", "server.ops_token: is one character repeated"},
		{"ErrEnvNamed", ":8080", good, "ops-token-from-the-environment", config.EnvOpsToken + ": server.ops_token: is shorter than 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			text := "[server]\naddress = \"" + tc.address + "\"\nops_token = \"" + tc.token + "\"\n"
			writeFile(t, path, text)
			cfg, err := config.Load(path, true, func(k string) string {
				if k == config.EnvOpsToken {
					return tc.env
				}
				return ""
			})
			if err == nil {
				err = cfg.CheckDeployment()
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), tc.token) && tc.token != "" || tc.env != "" && strings.Contains(err.Error(), tc.env)) {
				t.Fatalf("the error repeats the token: %v", err)
			}
			if tc.env != "" && err == nil && cfg.Server.OpsToken != tc.env {
				t.Fatalf("ops_token %q, want the environment's", cfg.Server.OpsToken)
			}
		})
	}
	cfg := config.Default()
	cfg.Server.Address, cfg.Server.OpsToken = ":8080", config.SampleToken
	if err := cfg.CheckDeployment(); err == nil || !strings.Contains(err.Error(), "server.ops_token: is the sample publish token") {
		t.Fatalf("the sample token as the ops token on the network: %v", err)
	}
}
