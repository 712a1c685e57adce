package handlers_test

import (
	"bytes"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"livefeed/feed"
	"livefeed/feed/bench"
	"livefeed/handlers"
)

// TestMetrics: /metrics has every figure, named by Prometheus's
// conventions (promlint finds nothing), with HTTP requests labelled by
// route pattern, never by raw path.
func TestMetrics(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	_, rd := a.stream(t, "topic=nba/*", nil)
	// The first event may reach the stream in its snapshot, should the
	// publish beat the subscription; the second, published once the first
	// has arrived, is a live delivery.
	for range 2 {
		if resp, body := a.publish(t, "Bearer "+token, scoreBody); resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish: %d %s", resp.StatusCode, body)
		}
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
	a.publish(t, "Bearer wrong-token", scoreBody)
	a.publish(t, "", scoreBody)
	a.publish(t, "Bearer "+token, `{"topic":"nba/x"}`)
	for _, path := range []string{"/api/history?topic=nba/lal-bos", "/api/history?topic=a/b&limit=5", "/no/such/path/1", "/no/such/path/2"} {
		a.get(t, path)
	}

	// The delivery lag is observed after the write; poll for it.
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := a.get(t, "/metrics")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d", resp.StatusCode)
		}
		text = string(body)
		if bench.ParseMetrics(text)["livefeed_delivery_lag_seconds_count"] >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	samples := bench.ParseMetrics(text)
	for name, want := range map[string]float64{
		"livefeed_published_events_total":                                    2,
		"livefeed_last_event_id":                                             2,
		"livefeed_subscribers":                                               1,
		`livefeed_publish_failures_total{reason="unauthorized"}`:             2,
		`livefeed_publish_failures_total{reason="invalid"}`:                  1,
		"livefeed_publish_commit_seconds_count":                              2,
		`livefeed_http_requests_total{code="201",route="/api/publish"}`:      2,
		`livefeed_http_requests_total{code="401",route="/api/publish"}`:      2,
		`livefeed_http_requests_total{code="200",route="/api/history"}`:      2,
		`livefeed_http_requests_total{code="404",route="unrouted"}`:          2,
		`livefeed_http_request_duration_seconds_count{route="/api/history"}`: 2,
		`livefeed_streams_closed_total{reason="lag"}`:                        0,
	} {
		if got, ok := samples[name]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", name, got, ok, want)
		}
	}
	if samples["livefeed_delivery_lag_seconds_count"] < 1 {
		t.Errorf("no delivery lag observed")
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "process_resident_memory_bytes", "livefeed_deliveries_total", "livefeed_window_events"} {
		if _, ok := samples[name]; !ok {
			t.Errorf("metrics lack %s", name)
		}
	}
	if !strings.Contains(text, `livefeed_build_info{goversion="`+runtime.Version()+`",revision="`) {
		t.Errorf("metrics lack livefeed_build_info with the Go version")
	}
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, "/no/such") || strings.Contains(line, "topic=") {
			t.Errorf("a raw path is a label: %s", line)
		}
	}
}

// TestMetricsFromStart: the labelled counters that alerts take a rate of
// are there at 0 in a fresh server's first scrape, one series for each
// reason, before anything happened: a series that first appears at 1
// has no earlier sample for rate() to rise from, so the first publish
// failure (or the first stream cut off) would raise no alert.
func TestMetricsFromStart(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	resp, body := a.get(t, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	samples := bench.ParseMetrics(string(body))
	var want []string
	for _, reason := range feed.Reasons() {
		want = append(want, `livefeed_publish_failures_total{reason="`+reason+`"}`)
	}
	for _, reason := range []string{"lag", "write_timeout", "shutdown", "client", "token_expired", "revoked"} {
		want = append(want, `livefeed_streams_closed_total{reason="`+reason+`"}`)
	}
	for _, name := range want {
		if got, ok := samples[name]; !ok || got != 0 {
			t.Errorf("%s = %v (present: %v), want 0", name, got, ok)
		}
	}
}

// TestMetricsPromlintFindsProblems: the lint the test above relies on
// does find a badly named metric, so that its silence means something.
func TestMetricsPromlintFindsProblems(t *testing.T) {
	t.Parallel()
	bad := "# HELP livefeed_requests Requests.\n# TYPE livefeed_requests counter\nlivefeed_requests 1\n"
	problems, err := promlint.New(bytes.NewReader([]byte(bad))).Lint()
	if err != nil || len(problems) == 0 {
		t.Fatalf("promlint found %v (err %v) in a counter without _total", problems, err)
	}
}
