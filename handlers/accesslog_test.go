package handlers_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"livefeed/handlers"
)

// logLines returns the JSON lines of log with the message msg.
func logLines(t *testing.T, log *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(log.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestAccessLog: with the access log on, each request has a line with its
// method, route, status, bytes, duration in milliseconds and client
// address, and never its path, query, headers or body: a subscriber token
// in the query stays out.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	logger := slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := newApp(t, handlers.Options{Logger: logger, AccessLog: true}, false)
	const secret = "eyJhbGciOiJIUzI1NiJ9.query-token-secret"
	a.get(t, "/api/history?topic=nba/lal-bos&token="+secret)
	a.get(t, "/api/topics?token="+secret, "Authorization", "Bearer header-"+secret)
	resp, rd := a.stream(t, "topic=nba/*&token="+secret, nil)
	a.publish(t, "Bearer "+token, scoreBody)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if strings.Contains(log.String(), secret) || strings.Contains(log.String(), "lal-bos") {
		t.Fatalf("the log holds a query or header:\n%s", log.String())
	}
	lines := logLines(t, &log, "request")
	routes := map[string]bool{}
	for _, l := range lines {
		for _, key := range []string{"method", "route", "status", "bytes", "duration_ms", "client"} {
			if _, ok := l[key]; !ok {
				t.Errorf("access line without %s: %v", key, l)
			}
		}
		// Milliseconds, not the nanoseconds of a bare "duration": a
		// request on loopback takes well under 10 s.
		if ms, ok := l["duration_ms"].(float64); !ok || ms < 0 || ms > 10_000 {
			t.Errorf("duration_ms %v: want milliseconds", l["duration_ms"])
		}
		if _, ok := l["duration"]; ok {
			t.Errorf("access line with a duration of no unit: %v", l)
		}
		if l["client"] != "127.0.0.1" {
			t.Errorf("client %v, want 127.0.0.1", l["client"])
		}
		routes[l["route"].(string)] = true
	}
	for _, want := range []string{"/api/history", "/api/topics", "/api/publish"} {
		if !routes[want] {
			t.Errorf("no access line for %s in %v", want, lines)
		}
	}
	for _, l := range lines {
		if l["route"] == "/api/publish" && (l["method"] != "POST" || l["status"] != float64(http.StatusCreated) || l["bytes"] != float64(len("{\"id\":1}\n"))) {
			t.Errorf("publish line: %v", l)
		}
	}
}

// TestAccessLogOff: without the option there is no line per request.
func TestAccessLogOff(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	logger := slog.New(slog.NewJSONHandler(&log, nil))
	a := newApp(t, handlers.Options{Logger: logger}, false)
	a.get(t, "/api/topics")
	if lines := logLines(t, &log, "request"); len(lines) != 0 {
		t.Fatalf("access lines without the access log: %v", lines)
	}
}

// TestRefusalsLogged: refused credentials (401), rate limits (429) and
// origins not allowed show at info, one line a second of each kind
// however many requests are refused.
func TestRefusalsLogged(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	logger := slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := newApp(t, handlers.Options{Logger: logger, PublishRate: 1, PublishBurst: 1, AllowedOrigins: []string{"https://scores.example"}}, false)
	for range 20 {
		a.publish(t, "Bearer not-the-token-0123456789", scoreBody)
	}
	for range 5 {
		a.publish(t, "Bearer "+token, scoreBody) // the first passes, the others are over the rate
	}
	for range 5 {
		a.get(t, "/api/topics", "Origin", "https://elsewhere.example")
	}
	a.get(t, "/api/topics", "Origin", "https://scores.example") // allowed
	a.get(t, "/api/topics", "Origin", a.URL)                    // the server's own pages
	for msg, want := range map[string]int{
		"request refused: missing or bad credentials":                             1,
		"request refused: rate limited":                                           1,
		"cross-origin request refused: the origin is not in cors.allowed_origins": 1,
	} {
		lines := logLines(t, &log, msg)
		if len(lines) != want {
			t.Errorf("%q: %d lines, want %d:\n%s", msg, len(lines), want, log.String())
			continue
		}
		if lines[0]["level"] != "INFO" || lines[0]["client"] != "127.0.0.1" {
			t.Errorf("%q: %v", msg, lines[0])
		}
	}
	if l := logLines(t, &log, "cross-origin request refused: the origin is not in cors.allowed_origins"); len(l) == 1 && l[0]["origin"] != "https://elsewhere.example" {
		t.Errorf("the refused origin is not named: %v", l[0])
	}
}
