package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers/node/nodetest"
)

// TestReloadEndsRevokedStreams: through the whole server, a SIGHUP whose
// file no longer has a subscriber key ends at once the streams opened with
// its tokens, with "event: unauthorized" (reason revoked), counted as
// revoked and logged; the stream of the key kept and an anonymous one go
// on. A lower auth.max_token_lifetime applies on the same reload: tokens
// beyond it are refused from then on.
func TestReloadEndsRevokedStreams(t *testing.T) {
	const publishToken = "revoke-publish-token-0123456789"
	const secretA, secretB = "revoke-secret-a-0123456789abcdef0123", "revoke-secret-b-0123456789abcdef0123"
	configOf := func(lifetime string, secrets ...string) string {
		var keys []string
		for _, s := range secrets {
			keys = append(keys, strconv.Quote(s))
		}
		return fmt.Sprintf("[auth]\npublish_tokens = [%q]\nprivate_topics = [\"premium/*\"]\nsubscriber_keys = [%s]\nmax_token_lifetime = %q\n",
			publishToken, strings.Join(keys, ", "), lifetime)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	s := startServerEnv(t, dir, configOf("24h", secretA, secretB), func(string) string { return "" })
	mint := func(secret, ttl string) (string, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(configOf("24h", secret)), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		err := run(t.Context(), []string{"token", "-subscribe", "premium/*", "-ttl", ttl, "-config", path}, testEnv, nil, &out, &errOut)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(out.String()), nil
	}
	tokenA, err := mint(secretA, "10m")
	if err != nil {
		t.Fatal(err)
	}
	tokenB, err := mint(secretB, "3h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mint(secretA, "48h"); err == nil || !strings.Contains(err.Error(), "at most 24h (auth.max_token_lifetime)") {
		t.Fatalf("livefeed token -ttl 48h: %v, want a refusal naming auth.max_token_lifetime", err)
	}
	publish := func(topic string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/publish", strings.NewReader(nodetest.Note(topic, 1)))
		req.Header.Set("Authorization", "Bearer "+publishToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish: %s", resp.Status)
		}
	}
	publish("premium/a") // 1
	open := func(query string) *client.Reader {
		t.Helper()
		c, br := nodetest.Stream(t, s.url, "/events?topic=*"+query)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return client.NewReader(br)
	}
	next := func(name string, rd *client.Reader) client.Message {
		t.Helper()
		for {
			ev, err := rd.Next()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if ev.Type != feed.EventPosition {
				return ev
			}
		}
	}
	revoked, kept, anonymous := open("&token="+tokenA), open("&token="+tokenB), open("")
	for name, rd := range map[string]*client.Reader{"key A's stream": revoked, "key B's stream": kept} {
		if ev := next(name, rd); ev.ID != "1" {
			t.Fatalf("%s: snapshot %+v", name, ev)
		}
	}

	// Key A removed, and the lifetime lowered to 2 hours.
	if err := os.WriteFile(cfgPath, []byte(configOf("2h", secretB)), 0o600); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ev := next("key A's stream", revoked)
	if ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"revoked"`) || !strings.Contains(ev.Data, "auth.subscriber_keys") {
		t.Fatalf("key A's stream after the reload: %+v, want the revocation", ev)
	}
	if _, err := revoked.Next(); err != io.EOF {
		t.Fatalf("key A's stream after the notice: %v, want its end", err)
	}
	t.Logf("key A's stream ended %s after the SIGHUP", time.Since(sent).Round(time.Millisecond))
	poll.Until(t, "", func() bool { return strings.Contains(s.log.String(), "configuration reloaded") })
	if log := s.log.String(); !strings.Contains(log, "event streams ended") || !strings.Contains(log, "streams=1") || !strings.Contains(log, "auth.max_token_lifetime") {
		t.Errorf("the reload's log:\n%s", log)
	}

	publish("premium/b") // 2
	publish("nba/a")     // 3
	if ev := next("key B's stream", kept); ev.ID != "2" {
		t.Fatalf("key B's stream after the reload: %+v", ev)
	}
	if ev := next("the anonymous stream", anonymous); ev.ID != "3" {
		t.Fatalf("the anonymous stream after the reload: %+v", ev)
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `livefeed_streams_closed_total{reason="revoked"} 1`) {
		t.Errorf("metrics:\n%s", metrics)
	}
	// Key B's token, 3 hours long, is now beyond the lifetime: a new
	// stream with it gets the public events only.
	ev = next("key B's token reopened", open("&token="+tokenB))
	if ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"lifetime"`) {
		t.Fatalf("key B's token after the lifetime was lowered: %+v", ev)
	}
}
