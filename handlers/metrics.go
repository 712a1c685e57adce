package handlers

import (
	"fmt"
	"net/http"
	"runtime"

	"livefeed/feed/fanout"
)

// serveMetrics writes the server's figures in the Prometheus text format
// (version 0.0.4). The handful of figures does not warrant a client library.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	st := s.hub.Stats()
	var ss StoreStats
	if s.stats != nil {
		ss = s.stats()
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	for _, m := range []struct {
		name, kind, help string
		value            any
	}{
		{"livefeed_subscribers", "gauge", "Open event streams.", st.Subscribers},
		{"livefeed_deliveries_total", "counter", "Event frames written to subscribers.", st.Deliveries},
		{"livefeed_subscribers_dropped_total", "counter", "Subscribers disconnected for falling behind the window.", st.Dropped},
		{"livefeed_subscriber_stalls_total", "counter", "Writes that found a subscriber's socket full (it then waits, with no goroutine, for its client to read).", st.Stalls},
		{"livefeed_window_events", "gauge", "Recent events kept in memory for replay.", st.Window},
		{"livefeed_window_bytes", "gauge", "Bytes of the encoded events in the window.", st.WindowBytes},
		{"livefeed_last_event_id", "gauge", "The newest event ID.", st.LastID},
		{"livefeed_published_events_total", "counter", "Events accepted through the publish API.", s.metrics.published.Load()},
		{"livefeed_store_commits_total", "counter", "Transactions committed by the store's writer (events_total / commits_total is the group-commit size).", ss.Commits},
		{"livefeed_store_events_total", "counter", "Events committed by the store's writer.", ss.Events},
		{"livefeed_store_commit_seconds_total", "counter", "Time the store's single writer spent committing (a rate near 1 means it is the limit).", ss.Busy.Seconds()},
		{"livefeed_store_wal_frames", "gauge", "Pages in SQLite's write-ahead log since it last started over, at the last checkpoint.", ss.WALFrames},
		{"livefeed_streams_shed_total", "counter", "Event streams refused for the connection limits (told to retry later).", s.metrics.shed.Load()},
		{"livefeed_publishes_rate_limited_total", "counter", "Publish requests refused for the per-token rate limit.", s.metrics.rateLimited.Load()},
		{"livefeed_cors_refused_total", "counter", "Reads of the feed from browsers on origins not in cors.allowed_origins (they get no CORS headers).", s.metrics.corsRefused.Load()},
		{"go_goroutines", "gauge", "Goroutines.", runtime.NumGoroutine()},
		{"go_memstats_heap_inuse_bytes", "gauge", "Heap bytes in use.", mem.HeapInuse},
		{"go_memstats_sys_bytes", "gauge", "Bytes obtained from the system.", mem.Sys},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", m.name, m.help, m.name, m.kind, m.name, m.value)
	}
	if s.cluster != nil {
		c := s.cluster()
		connected := 0
		if c.Connected {
			connected = 1
		}
		for _, m := range []struct {
			name, help string
			value      any
		}{
			{"livefeed_cluster_applied_id", "The newest event of the cluster's log applied to this node's history.", c.Applied},
			{"livefeed_cluster_log_last_id", "The newest event of the cluster's log, as this node last saw it.", c.StreamLast},
			{"livefeed_cluster_lag_events", "Events of the cluster's log this node has not applied yet.", max(c.StreamLast-c.Applied, 0)},
			{"livefeed_cluster_nats_connected", "1 while this node is connected to NATS.", connected},
		} {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s{node=%q} %v\n", m.name, m.help, m.name, m.name, c.Node, m.value)
		}
	}
	const closed = "livefeed_streams_closed_total"
	fmt.Fprintf(w, "# HELP %s Event streams that ended, by reason: lag, write_timeout, shutdown and token_expired are the server's decisions, client the client's.\n# TYPE %s counter\n", closed, closed)
	for reason, n := range st.Closed {
		fmt.Fprintf(w, "%s{reason=%q} %d\n", closed, fanout.CloseReasonName(reason), n)
	}
}
