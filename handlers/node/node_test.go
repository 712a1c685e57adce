package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// TestExposeOperatorEverywhere: with feed.expose_operator, an event
// published from the console carries its operator to every reader, in
// one envelope, wherever it is read from: a resume served from the hub's
// window, one replayed from SQLite, the topics and the history. Before,
// the envelope was chosen in three places and in none for a replay or
// the topics: after 5 events with a window of 2, resuming from 3 got
// event 4 with "operator":"ann", resuming from 0 got it without.
func TestExposeOperatorEverywhere(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Feed.Window = 2
	cfg.Feed.ExposeOperator = true
	n := nodetest.Start(t, cfg, node.Options{})
	for i := range 5 {
		u := feed.Update{Topic: "nba/g", Type: "note", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Operator: "ann"}
		if _, err := n.EventLog().Append(context.Background(), []feed.Update{u}); err != nil {
			t.Fatal(err)
		}
	}
	poll.Within(t, time.Second*10, "the hub to hear of event 5", func() bool { return n.Hub().LastID() == 5 })
	for _, from := range []string{"3", "0"} { // 3: from the window; 0: replayed
		resp, err := http.Get(n.URL + "/events?topic=nba/g&lastEventId=" + from)
		if err != nil {
			t.Fatal(err)
		}
		rd := client.NewReader(resp.Body)
		for {
			m, err := rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if m.ID == "4" {
				if !strings.Contains(m.Data, `"operator":"ann"`) {
					t.Fatalf("event 4 resumed from %s: %s, want the operator", from, m.Data)
				}
				break
			}
		}
		resp.Body.Close()
	}
	for _, path := range []string{"/api/topics", "/api/history?topic=nba/g"} {
		resp, err := http.Get(n.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"operator":"ann"`) {
			t.Fatalf("%s: %s, want the operator", path, body)
		}
	}
}

// TestLogDurationsHaveUnits: a duration in the log (feed.write_timeout of
// a closed stream, feed.final_linger of the archiver) reads as the
// configuration writes it, in JSON as in text, never as a bare number of
// nanoseconds.
func TestLogDurationsHaveUnits(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var out strings.Builder
		node.NewLogger(&out, format, slog.LevelInfo).Info("event stream closed", "write_timeout", 5*time.Second, "wait", 1500*time.Microsecond)
		line := out.String()
		if !strings.Contains(line, "5s") || !strings.Contains(line, "1.5ms") || strings.Contains(line, "5000000000") {
			t.Errorf("%s: %s; want the durations as 5s and 1.5ms", format, line)
		}
	}
}

// TestListenAdvertises: once a node listens, the database's lock file
// says where: the port the system chose for ":0", and https with TLS,
// so that the commands on this machine reach it without -url. Once the
// node is closed it names nobody.
func TestListenAdvertises(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("TLS=%v", tls), func(t *testing.T) {
			cfg := nodetest.Config(t)
			if tls {
				cfg = nodetest.WithTLS(t, cfg)
			}
			n := nodetest.Start(t, cfg, node.Options{})
			h, ok := store.HolderOf(cfg.Store.Path)
			if !ok || h.URL != n.URL || h.PID != os.Getpid() {
				t.Fatalf("the lock file says %+v (%v); want this process, serving at %s", h, ok, n.URL)
			}
			if tls != strings.HasPrefix(h.URL, "https://") || strings.HasSuffix(h.URL, ":0") {
				t.Fatalf("advertised %s", h.URL)
			}
			if err := n.Stop(); err != nil {
				t.Fatal(err)
			}
			if h, ok := store.HolderOf(cfg.Store.Path); ok {
				t.Fatalf("once stopped, the lock file says %+v", h)
			}
		})
	}
}

// TestMetricsWriterPauses: /metrics has a histogram of the store writer's
// pauses for each kind of work from the start, at 0 before any (an alert
// on their rate then has a sample to rise from), and the page passes
// Prometheus's lint with them.
func TestMetricsWriterPauses(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Config(t), node.Options{})
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, work := range []string{store.WorkCheckpoint, store.WorkPrune, store.WorkIndex, store.WorkOther} {
		for _, series := range []string{
			`livefeed_store_writer_pause_seconds_count{work="` + work + `"}`,
			`livefeed_store_writer_pause_seconds_bucket{work="` + work + `",le="0.005"}`,
			`livefeed_store_writer_pause_seconds_bucket{work="` + work + `",le="+Inf"}`,
		} {
			if !strings.Contains(string(body), series+" ") {
				t.Errorf("metrics lack %s", series)
			}
		}
	}
	if v := metric(t, n.URL, `livefeed_store_writer_pause_seconds_count{work="prune"}`); v != "0" {
		t.Errorf("a fresh node's prune pauses: %q, want 0", v)
	}
}

// TestMetricsPageCache: /metrics shows SQLite's page cache buffer — its
// slots, those in use once the node has written and read, and the bytes
// kept outside it.
func TestMetricsPageCache(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Config(t), node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("nba/game", 1))
	resp, err := http.Get(n.URL + "/api/history?topic=nba/game")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	slots, _ := strconv.ParseFloat(metric(t, n.URL, "livefeed_store_page_cache_slots"), 64)
	used, _ := strconv.ParseFloat(metric(t, n.URL, "livefeed_store_page_cache_used_slots"), 64)
	if slots < 1000 || used < 1 || used > slots {
		t.Errorf("page cache: %v slots, %v used", slots, used)
	}
	if metric(t, n.URL, "livefeed_store_page_cache_overflow_bytes") == "" {
		t.Error("metrics lack livefeed_store_page_cache_overflow_bytes")
	}
}
