package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed/client"
)

// TestReloadOnHangup: SIGHUP applies new publish tokens, origins and log
// level at once; a key that needs a restart is named; a bad file is
// refused with the reason and changes nothing; a stream open all along
// is not dropped and misses nothing.
func TestReloadOnHangup(t *testing.T) {
	const tokenA, tokenB = "reload-token-a-0123456789", "reload-token-b-0123456789"
	configOf := func(token, origin, level, heartbeat string) string {
		return fmt.Sprintf("[auth]\npublish_tokens = [%q]\n[cors]\nallowed_origins = [%q]\n[log]\nlevel = %q\n[feed]\nheartbeat = %q\n", token, origin, level, heartbeat)
	}
	dir := t.TempDir()
	s := startServerEnv(t, dir, configOf(tokenA, "https://a.example", "info", "15s"), func(string) string { return "" })
	cfgPath := filepath.Join(dir, "config.toml")
	c, br := rawStream(t, s.url, "/events?topic=*")
	rd := client.NewReader(br)

	publishAs := func(token string, n int) int {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/publish", strings.NewReader(noteBody("reload", n)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	allowed := func(origin string) bool {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/topics", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin") == origin
	}
	hangup := func(config, logged string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(s.log.String(), logged)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return strings.Count(s.log.String(), logged) > before })
	}

	if publishAs(tokenA, 1) != http.StatusCreated || !allowed("https://a.example") {
		t.Fatal("the first settings are not in effect")
	}

	hangup(configOf(tokenB, "https://b.example", "debug", "5s"), "configuration reloaded")
	if got := publishAs(tokenA, 2); got != http.StatusUnauthorized {
		t.Errorf("the old token after the reload: %d", got)
	}
	if got := publishAs(tokenB, 3); got != http.StatusCreated {
		t.Errorf("the new token after the reload: %d", got)
	}
	if allowed("https://a.example") || !allowed("https://b.example") {
		t.Errorf("the origins did not change")
	}
	log := s.log.String()
	if !strings.Contains(log, "applied=\"[auth.publish_tokens cors.allowed_origins log.level]\"") {
		t.Errorf("the reload does not say what it applied:\n%s", log)
	}
	if !strings.Contains(log, "need a restart") || !strings.Contains(log, "feed.heartbeat") {
		t.Errorf("the changed heartbeat is not reported as needing a restart:\n%s", log)
	}

	hangup(configOf(tokenA, "https://a.example", "loud", "15s"), "reload refused")
	if !strings.Contains(s.log.String(), "log.level") {
		t.Errorf("the refusal does not name the bad key:\n%s", s.log.String())
	}
	if got := publishAs(tokenB, 4); got != http.StatusCreated {
		t.Errorf("after a bad reload the token in effect is refused: %d", got)
	}
	if got := publishAs(tokenA, 5); got != http.StatusUnauthorized {
		t.Errorf("a bad reload applied its token: %d", got)
	}
	if !allowed("https://b.example") {
		t.Errorf("a bad reload changed the origins")
	}

	// The stream opened before both reloads has every accepted event.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"1", "2", "3"} {
		ev, err := rd.Next()
		if err != nil || ev.ID != want {
			t.Fatalf("the stream after the reloads: %+v %v, want event %s", ev, err, want)
		}
	}
}

// TestReloadSubscriberKeysAndLevel: SIGHUP applies new subscriber keys (a
// token of the old key no longer opens private topics, one of the new key
// does) and a new log level (info lines stop at warn, and come back).
func TestReloadSubscriberKeysAndLevel(t *testing.T) {
	const secretA, secretB = "reload-secret-a-0123456789abcdef0123", "reload-secret-b-0123456789abcdef0123"
	configOf := func(secret, level string) string {
		return fmt.Sprintf("[auth]\npublish_tokens = [%q]\nprivate_topics = [\"premium/*\"]\nsubscriber_keys = [%q]\n[log]\nlevel = %q\n",
			"reload-token-a-0123456789", secret, level)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	s := startServerEnv(t, dir, configOf(secretA, "info"), func(string) string { return "" })
	mint := func(secret string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(configOf(secret, "info")), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		if err := run(t.Context(), []string{"token", "-subscribe", "premium/*", "-ttl", "10m", "-config", path}, testEnv, nil, &out, &errOut); err != nil {
			t.Fatalf("livefeed token: %v %s", err, errOut.String())
		}
		return strings.TrimSpace(out.String())
	}
	tokenA, tokenB := mint(secretA), mint(secretB)
	granted := func(tok string) bool {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/topics?topic=premium/*", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// hangup reloads config and waits until applied reports it is in
	// effect (at level warn, "configuration reloaded" is not logged).
	hangup := func(config string, applied func() bool) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, applied)
	}
	// A refused publish is logged at info, a line a second at most: each
	// check waits past that second.
	const refusal = "request refused: missing or bad credentials"
	refusalLogged := func() bool {
		time.Sleep(1100 * time.Millisecond)
		before := strings.Count(s.log.String(), refusal)
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/publish", strings.NewReader(noteBody("misc", 1)))
		req.Header.Set("Authorization", "Bearer not-a-token-of-this-server")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return strings.Count(s.log.String(), refusal) > before
	}

	if !granted(tokenA) || granted(tokenB) {
		t.Fatal("before the reload: the first key's token should be granted, the other refused")
	}
	if !refusalLogged() {
		t.Fatalf("a refusal not logged at info:\n%s", s.log.String())
	}

	hangup(configOf(secretB, "warn"), func() bool { return granted(tokenB) })
	if granted(tokenA) || !granted(tokenB) {
		t.Errorf("after the reload: the old key's token should be refused, the new one's granted")
	}
	if refusalLogged() {
		t.Errorf("a refusal logged at info with the level at warn:\n%s", s.log.String())
	}

	before := strings.Count(s.log.String(), "configuration reloaded")
	hangup(configOf(secretB, "info"), func() bool { return strings.Count(s.log.String(), "configuration reloaded") > before })
	if !refusalLogged() {
		t.Errorf("no refusal logged after the level went back to info:\n%s", s.log.String())
	}
	if !granted(tokenB) {
		t.Errorf("the key in effect stopped working")
	}
}
