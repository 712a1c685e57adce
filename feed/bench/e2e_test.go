package bench_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livefeed/feed/bench"
	"livefeed/handlers/node/nodetest"
)

const testToken = "bench-e2e-token-0123456789"

// livefeedBinary is the livefeed built for the tests that run it.
func livefeedBinary(t *testing.T) string { return nodetest.Binary(t) }

// startLivefeed runs the built server on a loopback port of its choosing
// with a temporary database, as a user would, and returns its URL and
// process ID.
func startLivefeed(t *testing.T) (string, int) {
	t.Helper()
	// Short heartbeats (the shortest the configuration accepts): the
	// server notices closed streams sooner, so runs do not wait long for
	// the last run's streams to go. W10 publishes events of 1 MB.
	return startLivefeedWith(t, "[server]\nmax_body_bytes = 4194304\n[feed]\nheartbeat = \"1s\"\nwrite_timeout = \"5s\"\nmax_event_bytes = 2097152\n")
}

// startLivefeedWith is startLivefeed with the given config.toml.
func startLivefeedWith(t *testing.T, config string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := bench.StartServer(t.Context(), livefeedBinary(t), filepath.Join(dir, "feed.db"), cfg, testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return "http://" + srv.Addr, srv.Cmd.Process.Pid
}

// runWorkload runs one workload once with flags and returns its figures.
func runWorkload(t *testing.T, args ...string) bench.Figures {
	t.Helper()
	return runWorkloadFor(t, 3*time.Minute, args...)
}

// runWorkloadFor is runWorkload with a time limit.
func runWorkloadFor(t *testing.T, limit time.Duration, args ...string) bench.Figures {
	t.Helper()
	cfg, err := bench.ParseArgs(append([]string{"-runs", "1", "-drain", "10s"}, args...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	reports, err := bench.RunReports(ctx, cfg, &out, io.Discard)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || len(reports[0].Runs) != 1 {
		t.Fatalf("reports %+v", reports)
	}
	return reports[0].Runs[0]
}

// want checks figures: each name must have the value given.
func want(t *testing.T, f bench.Figures, values map[string]float64) {
	t.Helper()
	for name, v := range values {
		got, ok := f.Get(name)
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
}

// positive checks that figures are present and above zero.
func positive(t *testing.T, f bench.Figures, names ...string) {
	t.Helper()
	for _, name := range names {
		if v, ok := f.Get(name); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, v, ok)
		}
	}
}

// TestWorkloadsEndToEnd runs every workload, scaled down, against a real
// server in its own process: every event must arrive at every subscriber
// once, in order. Times and rates are printed, never asserted.
func TestWorkloadsEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	url, pid := startLivefeed(t)
	common := []string{"-url", url, "-token", testToken, "-pid", fmt.Sprint(pid)}
	run := func(t *testing.T, args ...string) bench.Figures { return runWorkload(t, append(common, args...)...) }
	correct := map[string]float64{"missing": 0, "duplicates": 0, "order_violations": 0, "gaps": 0, "publish_errors": 0}

	t.Run("W1", func(t *testing.T) {
		f := run(t, "-workload", "W1", "-subscribers", "50", "-duration", "1s")
		want(t, f, correct)
		want(t, f, map[string]float64{"published": 10, "deliveries": 500, "expected": 500})
		positive(t, f, "latency_p99_ms", "server_cpu_us_per_delivery", "client_cpu_us_per_delivery")
	})
	t.Run("W2", func(t *testing.T) {
		f := run(t, "-workload", "W2", "-subscribers", "40", "-rate", "40", "-duration", "1s")
		want(t, f, correct)
		want(t, f, map[string]float64{"published": 40, "deliveries": 1600})
		positive(t, f, "deliveries_per_s")
	})
	t.Run("W3", func(t *testing.T) {
		f := run(t, "-workload", "W3", "-subscribers", "200", "-batch", "50")
		want(t, f, map[string]float64{"subscribers": 200})
		positive(t, f, "server_rss_before_kb", "server_rss_after_kb")
	})
	t.Run("W4", func(t *testing.T) {
		bare := httptest.NewServer(bench.BareEndpoint())
		defer bare.Close()
		f := run(t, "-workload", "W4", "-publishers", "4", "-duration", "1s", "-bare-url", bare.URL, "-bare-pid", fmt.Sprint(os.Getpid()), "-store-cpu-us", "10")
		want(t, f, map[string]float64{"publish_errors": 0, "bare_publish_errors": 0})
		positive(t, f, "publishes", "publishes_per_s", "ack_p99_ms", "bare_publishes_per_s", "bare_server_cpu_us_per_publish",
			"publishes_per_s_ratio_to_bare", "server_cpu_us_per_publish_ratio_to_bare", "server_cpu_us_per_publish_ratio_to_bare_and_store", "fsync_p50_ms")
		lf, _ := f.Get("server_cpu_us_per_publish")
		bareCPU, _ := f.Get("bare_server_cpu_us_per_publish")
		if got, _ := f.Get("server_cpu_us_per_publish_ratio_to_bare_and_store"); math.Abs(got-lf/(bareCPU+10)) > 1e-9 {
			t.Errorf("server_cpu_us_per_publish_ratio_to_bare_and_store = %v, want %v / (%v + 10)", got, lf, bareCPU)
		}
	})
	t.Run("W9", func(t *testing.T) {
		bare := httptest.NewServer(bench.BareEndpoint())
		defer bare.Close()
		f := run(t, "-workload", "W9", "-duration", "1s", "-bare-url", bare.URL)
		want(t, f, map[string]float64{"c1_refused": 0, "c4_refused": 0, "c1_order_violations": 0, "c4_order_violations": 0})
		positive(t, f, "c1_events", "c4_events", "c1_events_per_s", "c4_events_per_s", "bare_c1_events_per_s", "c1_events_per_s_ratio_to_bare")
	})
	t.Run("W5", func(t *testing.T) {
		f := run(t, "-workload", "W5", "-subscribers", "20", "-backlog", "1500", "-live", "5")
		want(t, f, map[string]float64{"missing": 0, "duplicates": 0, "order_violations": 0, "gaps": 0,
			"deliveries": 30_000, "live_missing": 0, "live_gaps": 0, "live_duplicates": 0})
		positive(t, f, "replay_s")
	})
	t.Run("W7", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "history.db")
		// The first run fills an empty database, the second tops it up.
		for _, rows := range []string{"3000", "5000"} {
			f := run(t, "-workload", "W7", "-server-bin", livefeedBinary(t), "-db", db, "-rows", rows)
			want(t, f, map[string]float64{"history_rows": map[string]float64{"3000": 3000, "5000": 5000}[rows]})
			positive(t, f, "startup_ms")
		}
	})
	t.Run("W8", func(t *testing.T) {
		f := run(t, "-workload", "W8", "-subscribers", "20", "-rate", "50", "-duration", "1s")
		want(t, f, correct)
		want(t, f, map[string]float64{"published": 100, "deliveries": 2000, "stuck_resume_deliveries": 50,
			"stuck_resume_missing": 0, "stuck_resume_duplicates": 0, "stuck_resume_order_violations": 0, "stuck_resume_gaps": 0})
		positive(t, f, "others_p99_a_ms", "others_p99_b_ms")
	})
	t.Run("W10", func(t *testing.T) {
		// A server of its own, whose write timeout outlasts the run on a
		// loaded machine: the stuck subscribers are measured, not closed
		// (with 5 s, they were, once, under load). Its window holds the
		// 24,000 events of 250 B and the 30 of 1 MB that W10 sends its
		// stuck subscribers, and less than the default beyond: W10 fills
		// it twice over first.
		url, pid := startLivefeedWith(t, "[server]\nmax_body_bytes = 4194304\n[feed]\nheartbeat = \"1s\"\nwrite_timeout = \"2m\"\nmax_event_bytes = 2097152\nwindow = 30000\nwindow_bytes = 33554432\n")
		f := runWorkload(t, "-url", url, "-token", testToken, "-pid", fmt.Sprint(pid), "-workload", "W10", "-subscribers", "20")
		want(t, f, map[string]float64{"subscribers": 20})
		// Every stuck socket filled up: the writes found them full.
		for _, size := range []string{"250b", "1mb"} {
			if v, _ := f.Get(size + "_stalls"); v < 20 {
				t.Errorf("%s_stalls = %v: the subscribers' sockets did not fill", size, v)
			}
			if v, _ := f.Get(size + "_goroutines_per_subscriber"); v >= 0.5 {
				t.Errorf("%s_goroutines_per_subscriber = %v", size, v)
			}
		}
	})
	t.Run("W11", func(t *testing.T) {
		f := run(t, "-workload", "W11", "-subscribers", "20", "-rate", "5", "-duration", "3s")
		want(t, f, correct)
		want(t, f, map[string]float64{"published": 15, "deliveries": 300, "server_disconnects": 0, "reconnects": 0})
	})
}

// TestSoak is W11 at full length: LIVEFEED_SOAK is how long it holds 300
// streams (CI sets 10m; by hand, 2h). Every stream must stay open, every
// event arrive once and in order, and the server's memory stay flat.
func TestSoak(t *testing.T) {
	hold := os.Getenv("LIVEFEED_SOAK")
	if hold == "" {
		t.Skip("set LIVEFEED_SOAK to a duration (CI: 10m) to run the soak")
	}
	d, err := time.ParseDuration(hold)
	if err != nil {
		t.Fatalf("LIVEFEED_SOAK=%q: %v", hold, err)
	}
	// The default heartbeat and write timeouts: ten minutes are twenty
	// write timeouts and forty heartbeats.
	url, pid := startLivefeedWith(t, "")
	f := runWorkloadFor(t, d+2*time.Minute, "-url", url, "-token", testToken, "-pid", fmt.Sprint(pid), "-workload", "W11", "-duration", d.String())
	want(t, f, map[string]float64{"missing": 0, "duplicates": 0, "order_violations": 0, "gaps": 0, "publish_errors": 0,
		"server_disconnects": 0, "reconnects": 0, "resets": 0})
	if growth, ok := f.Get("server_rss_growth_mb"); !ok || growth > 20 || growth < -20 {
		t.Errorf("server RSS grew by %v MB over the soak (present %v), want within ±20", growth, ok)
	}
}

// TestExport runs W6 against a stand-in for GET /api/export.csv (the
// endpoint is built on another branch): rows are counted outside quotes,
// so a field holding a line break is one row.
func TestExport(t *testing.T) {
	const rows = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/export.csv" || r.URL.Query().Get("topic") != "bench/w6" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		fmt.Fprint(w, "id,topic,type,time,data\r\n")
		for i := range rows {
			fmt.Fprintf(w, "%d,bench/w6,bench,2026-11-21T19:04:05.123Z,\"{\"\"ts\"\":%d,\"\"note\"\":\"\"a\nb\"\"}\"\r\n", i+1, i)
		}
	}))
	defer srv.Close()
	f := runWorkload(t, "-url", srv.URL, "-workload", "W6", "-rows", fmt.Sprint(rows))
	want(t, f, map[string]float64{"rows": rows})
	positive(t, f, "rows_per_s", "export_mb")
}

// TestClusterWorkload runs W13, scaled down, with a real nats-server
// ($LIVEFEED_NATS_SERVER, which .ci/run builds; mandatory with
// LIVEFEED_REQUIRE_NATS=1): a single node, then three nodes of a cluster,
// each event to every subscriber on every node once and in order, 16
// publishers through JetStream, and every node holding every event.
func TestClusterWorkload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := os.Getenv("LIVEFEED_NATS_SERVER")
	if bin == "" {
		if os.Getenv("LIVEFEED_REQUIRE_NATS") == "1" {
			t.Fatal("LIVEFEED_REQUIRE_NATS=1 but LIVEFEED_NATS_SERVER names no nats-server binary")
		}
		t.Skip("set LIVEFEED_NATS_SERVER to a nats-server binary (go build -o nats-server github.com/nats-io/nats-server/v2) to run W13")
	}
	ns, natsURL, err := bench.StartNATS(t.Context(), bin, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Kill)
	f := runWorkload(t, "-token", testToken, "-workload", "W13", "-server-bin", livefeedBinary(t), "-nats", natsURL,
		"-subscribers", "60", "-rate", "15", "-duration", "2s")
	want(t, f, map[string]float64{"missing": 0, "duplicates": 0, "order_violations": 0, "gaps": 0, "publish_errors": 0,
		"single_missing": 0, "split_missing": 0, "published": 30, "deliveries": 1800, "n1_deliveries": 600, "n2_deliveries": 600, "n3_deliveries": 600,
		"cluster_publish_errors": 0, "nodes_behind": 0, "reconnects": 0, "resets": 0,
		"jetstream_publish_errors": 0, "cluster_ingest_refused": 0, "cluster_ingest_order_violations": 0})
	positive(t, f, "single_server_cpu_us_per_delivery", "split_cpu_us_per_delivery_max", "n1_cpu_us_per_delivery", "node_cpu_ratio_max", "node_cpu_ratio_to_split", "cluster_publishes_per_s",
		"jetstream_publishes_per_s", "cluster_publishes_ratio_to_jetstream", "cluster_ingest_events", "cluster_ingest_events_per_s", "cluster_ingest_nodes_cpu_us_per_event")
}

// TestTierWorkloadsEndToEnd runs W15 (conflated tickers) and W16 (a
// delayed audience), scaled down, against a real server in its own
// process configured with a delayed tier: no tick twice or out of order,
// every view current at the end, no delayed event early or missing.
func TestTierWorkloadsEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	url, pid := startLivefeedWith(t, "[feed]\nheartbeat = \"1s\"\nwrite_timeout = \"5s\"\n[[feed.delayed]]\ntopics = [\"bench/w16/*\"]\ndelay = \"1s\"\n")
	common := []string{"-url", url, "-token", testToken, "-pid", fmt.Sprint(pid)}
	t.Run("W15", func(t *testing.T) {
		f := runWorkload(t, append(common, "-workload", "W15", "-subscribers", "20", "-publishers", "10", "-rate", "200", "-duration", "2s", "-conflate", "200ms")...)
		want(t, f, map[string]float64{"publish_errors": 0, "duplicates": 0, "order_violations": 0, "subscribers_not_current_at_end": 0,
			"unconflated_missing": 0, "unconflated_duplicates": 0, "unconflated_gaps": 0, "w1_missing": 0})
		positive(t, f, "staleness_p99_ms", "bytes_per_subscriber", "server_cpu_us_per_delivery_ratio_to_w1", "bytes_ratio_to_unconflated")
		if v, _ := f.Get("bytes_ratio_to_unconflated"); v >= 1 {
			t.Errorf("conflated subscribers read %v as much as unconflated ones", v)
		}
	})
	t.Run("W16", func(t *testing.T) {
		f := runWorkload(t, append(common, "-workload", "W16", "-subscribers", "20", "-rate", "10", "-duration", "2s", "-delay", "1s")...)
		want(t, f, map[string]float64{"publish_errors": 0, "missing": 0, "duplicates": 0, "order_violations": 0, "gaps": 0, "deliveries": 400})
		positive(t, f, "delay_error_p99_ms", "server_cpu_us_per_delivery_ratio_to_w1")
		// The error is measured from the publisher's stamp, but the
		// server keeps an event's time in whole milliseconds (the
		// millisecond it falls in): an event stored in the millisecond
		// of its stamp is due up to 1 ms before stamp + delay, and is on
		// time then (a run under -race here showed one 0.009 ms
		// "early").
		if v, _ := f.Get("delay_error_min_ms"); v < -1 {
			t.Errorf("an event arrived %v ms early", -v)
		}
		if v, _ := f.Get("goroutines_per_subscriber"); v >= 0.5 {
			t.Errorf("goroutines_per_subscriber = %v", v)
		}
	})
	t.Run("W16NotDelayed", func(t *testing.T) {
		url, _ := startLivefeed(t)
		cfg, err := bench.ParseArgs([]string{"-runs", "1", "-drain", "5s", "-url", url, "-token", testToken, "-workload", "W16", "-subscribers", "5", "-duration", "1s", "-delay", "1s"}, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bench.RunReports(t.Context(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `[[feed.delayed]] topics = ["bench/w16/*"]`) {
			t.Fatalf("W16 against a server without the delayed tier: %v", err)
		}
	})
}

// TestTradingDay runs W14 for 20 seconds at small rates against a real
// server that keeps a minute (so it prunes nothing: the store's tests
// prune under load): every tick of 40 symbols reaches the
// subscribers of all of them and of one each once, in order; every resume
// from a position inside the window gets exactly the ticks it missed; the
// server closes no stream; and the per-minute table (rows of 5 s here)
// and its plot are written. Speed is not asserted.
func TestTradingDay(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("[store]\nretention_age = \"1m\"\n[feed]\nheartbeat = \"1s\"\nwrite_timeout = \"5s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "feed.db")
	srv, err := bench.StartServer(t.Context(), livefeedBinary(t), db, cfg, testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	plot := filepath.Join(dir, "w14.svg")
	config, err := bench.ParseArgs([]string{"-runs", "1", "-drain", "10s", "-url", "http://" + srv.Addr, "-token", testToken,
		"-pid", fmt.Sprint(srv.Cmd.Process.Pid), "-db", db, "-plot", plot, "-workload", "W14",
		"-symbols", "40", "-subscribers", "20", "-rate", "400", "-duration", "20s", "-interval", "5s", "-retention", "1m", "-resumes", "5"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	reports, err := bench.RunReports(ctx, config, &out, io.Discard)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	f := reports[0].Runs[0]
	want(t, f, map[string]float64{"missing": 0, "duplicates": 0, "order_violations": 0, "gaps": 0, "publish_errors": 0, "refused": 0,
		"resumes_wrong": 0, "server_disconnects": 0, "reconnects": 0, "published": 8_000, "expected": 8_000*2 + 20*200})
	positive(t, f, "resumes_ok", "ack_p99_ms", "delivery_p99_ms", "db_max_mb", "delivery_p99_last5_ratio_to_first5")
	if v, _ := f.Get("resumes_ok"); v < 50 { // they start once there are positions to resume from
		t.Errorf("%v resumes checked in 20 s at 5 a second", v)
	}
	if rows := strings.Count(out.String(), "# W14 run 1 |"); rows != 4 {
		t.Errorf("%d rows in the per-minute table, want 4", rows)
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !strings.HasPrefix(string(svg), "<svg") || strings.Count(string(svg), "<path") < 5 {
		t.Fatalf("plot %s: %v\n%.300s", plot, err, svg)
	}
}
