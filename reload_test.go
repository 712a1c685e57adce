package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed/poll"
	"livefeed/handlers/config"
	"livefeed/handlers/node/nodetest"
)

// networkToken is a publish token good enough for a network address.
const networkToken = "reload-network-token-0123456789abcdef"

// hangup writes text to the server's config file, sends the process
// SIGHUP and waits until the server's log says whether it reloaded or
// refused. It returns what the server logged from the signal on.
func hangup(t *testing.T, s *server, text string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, "config.toml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(s.log.String())
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	said := ""
	poll.Until(t, "", func() bool {
		said = s.log.String()[before:]
		return strings.Contains(said, "reload refused") || strings.Contains(said, "configuration reloaded")
	})
	return said
}

// publishStatus publishes one event with the bearer token tok and returns
// the status of the answer.
func publishStatus(t *testing.T, base, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/publish", strings.NewReader(nodetest.Note("reload", 1)))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// operatorTOML is an [[auth.operators]] table.
func operatorTOML(name, hash string) string {
	return fmt.Sprintf("[[auth.operators]]\nname = %q\npassword_hash = %q\n", name, hash)
}

// TestReloadChecksSecretsWhereTheServerListens: a server listening on a
// network address refuses a reloaded file with the sample publish token
// and operator, whatever address the file names (another one, or none),
// and keeps its own credentials. Before, the check ran against the
// file's address, and both sample secrets were applied.
func TestReloadChecksSecretsWhereTheServerListens(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("not-the-sample-password"), config.MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	good := fmt.Sprintf("[auth]\npublish_tokens = [%q]\n", networkToken) + operatorTOML("ann", string(hash))
	sample := fmt.Sprintf("[auth]\npublish_tokens = [%q]\n", config.SampleToken) + operatorTOML(config.SampleOperatorName, config.SamplePasswordHash)
	noEnv := func(string) string { return "" }

	for _, tc := range []struct {
		name  string
		start string   // the file the server starts with
		flags []string // besides -config and -db
		file  string   // the file reloaded
	}{
		// The file's address at the start is a network one; the new
		// file names a loopback address, or none.
		{"FileNamesLoopback", "[server]\naddress = \"0.0.0.0:0\"\n" + good, nil, "[server]\naddress = \"127.0.0.1:8080\"\n" + sample},
		{"FileNamesNoAddress", "[server]\naddress = \"0.0.0.0:0\"\n" + good, nil, sample},
		// -addr puts the server on the network: the files' loopback
		// address is not where it listens.
		{"FlagAddr", "[server]\naddress = \"127.0.0.1:0\"\n" + good, []string{"-addr", "0.0.0.0:0"}, "[server]\naddress = \"127.0.0.1:0\"\n" + sample},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServerFlags(t, t.TempDir(), tc.start, noEnv, tc.flags...)
			if publishStatus(t, s.url, networkToken) != http.StatusCreated {
				t.Fatal("the token in effect is refused before the reload")
			}
			said := hangup(t, s, tc.file)
			for _, want := range []string{"auth.publish_tokens[0]: is the sample token", `auth.operators[0].password_hash: \"admin\" has the sample password`, "reachable from the network"} {
				if !strings.Contains(said, want) {
					t.Errorf("the refusal does not say %q:\n%s", want, said)
				}
			}
			if strings.Contains(said, "configuration reloaded") {
				t.Errorf("the sample secrets were applied:\n%s", said)
			}
			if got := publishStatus(t, s.url, config.SampleToken); got != http.StatusUnauthorized {
				t.Errorf("the sample token after the reload: %d, want 401", got)
			}
			if got := publishStatus(t, s.url, networkToken); got != http.StatusCreated {
				t.Errorf("the token in effect after the refused reload: %d, want 201", got)
			}
		})
	}
}

// TestReloadRefusesToRemoveAllCredentials: a reloaded file that would
// leave no publish token, operator or subscriber key where the server
// has some, without saying so (an empty file, one cut short), is refused
// with a warning naming what it would remove, and the credentials in
// effect stay; a file that writes the key empty removes them. Before, an
// empty file applied the built-in defaults, refusing every publisher,
// operator and private subscriber, with only an info line.
func TestReloadRefusesToRemoveAllCredentials(t *testing.T) {
	const secret = "reload-remove-secret-0123456789abcdef"
	full := fmt.Sprintf("[auth]\npublish_tokens = [%q]\nprivate_topics = [\"premium/*\"]\nsubscriber_keys = [%q]\n", networkToken, secret) +
		operatorTOML(config.SampleOperatorName, config.SamplePasswordHash)
	s := startServerEnv(t, t.TempDir(), full, func(string) string { return "" })

	for _, tc := range []struct {
		name, file string
		gone       string // the keys the warning names
	}{
		{"Empty", "", "[auth.publish_tokens auth.operators auth.subscriber_keys]"},
		{"Whitespace", "\n  \n", "[auth.publish_tokens auth.operators auth.subscriber_keys]"},
		{"CutShort", fmt.Sprintf("[auth]\npublish_tokens = [%q]\nprivate_topics = [\"premium/*\"]\n", networkToken), "[auth.operators auth.subscriber_keys]"},
		{"OnlyComments", "# livefeed configuration\n[auth]\n", "[auth.publish_tokens auth.operators auth.subscriber_keys]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			said := hangup(t, s, tc.file)
			if !strings.Contains(said, "level=WARN") || !strings.Contains(said, `would_remove="`+tc.gone+`"`) {
				t.Errorf("the refusal is not a warning naming %s:\n%s", tc.gone, said)
			}
			if strings.Contains(said, "configuration reloaded") {
				t.Errorf("the file was applied:\n%s", said)
			}
			if got := publishStatus(t, s.url, networkToken); got != http.StatusCreated {
				t.Errorf("the token in effect after the refused reload: %d, want 201", got)
			}
		})
	}

	t.Run("Broken", func(t *testing.T) {
		said := hangup(t, s, fmt.Sprintf("[auth]\npublish_tokens = [%q", networkToken[:10]))
		if !strings.Contains(said, "level=ERROR") || !strings.Contains(said, "reload refused: the configuration is not valid") || strings.Contains(said, networkToken[:10]) {
			t.Errorf("a file cut short inside a value:\n%s", said)
		}
		if got := publishStatus(t, s.url, networkToken); got != http.StatusCreated {
			t.Errorf("the token in effect after the refused reload: %d, want 201", got)
		}
	})

	t.Run("WrittenEmpty", func(t *testing.T) {
		said := hangup(t, s, "[auth]\npublish_tokens = []\noperators = []\nsubscriber_keys = []\nprivate_topics = [\"premium/*\"]\n")
		_, applied, _ := strings.Cut(said, "applied=")
		applied, _, _ = strings.Cut(applied, "\n")
		for _, key := range []string{"auth.publish_tokens", "auth.operators", "auth.subscriber_keys"} {
			if strings.Contains(said, "reload refused") || !strings.Contains(applied, key) {
				t.Errorf("a file removing the credentials on purpose does not apply %s:\n%s", key, said)
			}
		}
		if got := publishStatus(t, s.url, networkToken); got != http.StatusUnauthorized {
			t.Errorf("a removed token: %d, want 401", got)
		}
		// Nothing left to remove: the defaults apply.
		if said := hangup(t, s, ""); !strings.Contains(said, "configuration reloaded") {
			t.Errorf("an empty file where there are no credentials:\n%s", said)
		}
	})
}

// TestReloadProxiesAndOpsToken: SIGHUP applies server.trusted_proxies,
// server.client_ip_header and server.ops_token at once, through the
// server as a client elsewhere sees it (behind the proxy on this
// machine): whose address the access log names, and whether /metrics
// and /healthz's figures open. A file that drops the proxies and the
// token without writing them is refused.
func TestReloadProxiesAndOpsToken(t *testing.T) {
	const opsA, opsB = "reload-ops-token-a-0123456789abcdef", "reload-ops-token-b-0123456789abcdef"
	configOf := func(proxies, header, ops string) string {
		return fmt.Sprintf("[server]\ntrusted_proxies = [%s]\nclient_ip_header = %q\nops_token = %q\n[auth]\npublish_tokens = [%q]\n[log]\naccess = true\n",
			proxies, header, ops, networkToken)
	}
	s := startServerEnv(t, t.TempDir(), configOf(`"127.0.0.1", "::1"`, "", opsA), func(string) string { return "" })
	// get asks path as a client elsewhere would through the proxy, with
	// the header lines kv, and returns the status, the body and the
	// client the access log names.
	get := func(path string, kv ...string) (int, string, string) {
		t.Helper()
		before := len(s.log.String())
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		client := ""
		poll.Until(t, "", func() bool {
			_, line, ok := strings.Cut(s.log.String()[before:], "route="+path)
			line, _, _ = strings.Cut(line, "\n")
			_, client, _ = strings.Cut(line, "client=")
			return ok
		})
		return resp.StatusCode, string(body), client
	}
	check := func(step, client string, ops map[string]int, detail bool) {
		t.Helper()
		if _, _, got := get("/api/topics", "X-Real-IP", "203.0.113.5"); got != client {
			t.Errorf("%s: the client is %s, want %s", step, got, client)
		}
		for tok, want := range ops {
			if status, _, _ := get("/metrics", "Authorization", "Bearer "+tok); status != want {
				t.Errorf("%s: /metrics with %s: %d, want %d", step, tok, status, want)
			}
		}
		if _, body, _ := get("/healthz"); strings.Contains(body, "last_id") != detail {
			t.Errorf("%s: /healthz without the token: %s", step, body)
		}
	}

	check("at the start", "203.0.113.9", map[string]int{opsA: 200, opsB: 401}, false)

	said := hangup(t, s, configOf(`"127.0.0.1", "::1"`, "X-Real-IP", opsB))
	if !strings.Contains(said, `applied="[server.client_ip_header server.ops_token]"`) {
		t.Errorf("the reload does not say what it applied:\n%s", said)
	}
	check("another header and token", "203.0.113.5", map[string]int{opsA: 401, opsB: 200}, false)

	// This machine is no longer a trusted proxy: its headers are
	// ignored, and a request carrying them is not taken for a local one.
	said = hangup(t, s, configOf(`"192.0.2.1"`, "X-Real-IP", opsB))
	if !strings.Contains(said, `applied=[server.trusted_proxies]`) {
		t.Errorf("the reload does not say what it applied:\n%s", said)
	}
	check("another proxy", "127.0.0.1", map[string]int{opsB: 200}, false)

	said = hangup(t, s, fmt.Sprintf("[auth]\npublish_tokens = [%q]\n[log]\naccess = true\n", networkToken))
	if !strings.Contains(said, `would_remove="[server.trusted_proxies server.ops_token]"`) {
		t.Errorf("a file leaving out the proxies and the token:\n%s", said)
	}
	check("a refused reload", "127.0.0.1", map[string]int{opsB: 200}, false)

	said = hangup(t, s, fmt.Sprintf("[server]\ntrusted_proxies = []\nops_token = \"\"\n[auth]\npublish_tokens = [%q]\n[log]\naccess = true\n", networkToken))
	if !strings.Contains(said, "configuration reloaded") {
		t.Errorf("a file removing the proxies and the token on purpose:\n%s", said)
	}
	check("none", "127.0.0.1", map[string]int{opsB: 403}, false)
}

// TestOpsTokenFromEnvironment: LIVEFEED_OPS_TOKEN replaces the file's
// server.ops_token.
func TestOpsTokenFromEnvironment(t *testing.T) {
	const inFile, inEnv = "ops-token-in-the-file-0123456789", "ops-token-in-the-environment-0123"
	s := startServerEnv(t, t.TempDir(), fmt.Sprintf("[server]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\nops_token = %q\n", inFile),
		func(k string) string {
			if k == config.EnvOpsToken {
				return inEnv
			}
			return ""
		})
	for tok, want := range map[string]int{inEnv: 200, inFile: 401} {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/metrics with %s: %d, want %d", tok, resp.StatusCode, want)
		}
	}
}

// TestStartRefusesWeakSecretsOnNetwork: on a network address the server
// does not start with the sample publish token or operator, or a short
// ops token, whichever way the address is given, and says which key.
func TestStartRefusesWeakSecretsOnNetwork(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"SampleTokenFlag", fmt.Sprintf("[auth]\npublish_tokens = [%q]\n", config.SampleToken), []string{"-addr", "0.0.0.0:0"}, "auth.publish_tokens[0]: is the sample token"},
		{"SampleOperatorFile", "[server]\naddress = \"0.0.0.0:0\"\n" + operatorTOML(config.SampleOperatorName, config.SamplePasswordHash), nil, "auth.operators[0].password_hash"},
		{"ShortOpsToken", "[server]\nops_token = \"ops-token-0123456789\"\n", []string{"-addr", ":0"}, "server.ops_token: is shorter than 32 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.toml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-config", path, "-db", filepath.Join(dir, "feed.db")}, tc.args...)
			err := run(t.Context(), args, func(string) string { return "" }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "reachable from the network") {
				t.Fatalf("run = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
