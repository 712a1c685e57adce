package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Params are a workload's knobs. Each workload has defaults (web/docs/performance.md's
// numbers); flags override them.
type Params struct {
	Subscribers int
	Publishers  int
	// Rate is events per second from all publishers together; 0 is as
	// fast as acknowledgements allow.
	Rate     float64
	Duration time.Duration
	// Payload is the size in bytes of each event's data object.
	Payload int
	// Backlog is how many events each reconnecting client is behind (W5).
	Backlog int
	// Live is the number of live subscribers kept busy meanwhile (W5).
	Live int
	// Rows is the size of the export (W6) or of the history (W7).
	Rows int64
	// Batch is how many subscribers connect before waiting for them (W3).
	Batch int
	// PerRequest is how many events one publish request carries (W4): an
	// all-or-nothing batch, committed together.
	PerRequest int
	// Conflate is the interval conflated subscribers ask for (W15).
	Conflate time.Duration
	// Delay is the delay the server's delayed tier has (W16).
	Delay time.Duration
	// Symbols is how many symbols the ticker publishes (W14), or each
	// streaming connection (W9).
	Symbols int
	// Resumes is how many subscribers a second resume from a random
	// position (W14).
	Resumes float64
	// Retention is the server's store.retention_age (W14).
	Retention time.Duration
	// Interval is the length of a row of the per-minute table (W14).
	Interval time.Duration
}

// unset marks a Params field a flag did not set.
const unset = -1

func unsetParams() Params {
	return Params{Subscribers: unset, Publishers: unset, Rate: unset, Duration: unset,
		Payload: unset, Backlog: unset, Live: unset, Rows: unset, Batch: unset, PerRequest: unset,
		Conflate: unset, Delay: unset, Symbols: unset, Resumes: unset, Retention: unset, Interval: unset}
}

// Override returns p with every field that o sets (not unset) replaced.
func (p Params) Override(o Params) Params {
	override(&p.Subscribers, o.Subscribers)
	override(&p.Publishers, o.Publishers)
	override(&p.Rate, o.Rate)
	override(&p.Duration, o.Duration)
	override(&p.Payload, o.Payload)
	override(&p.Backlog, o.Backlog)
	override(&p.Live, o.Live)
	override(&p.Rows, o.Rows)
	override(&p.Batch, o.Batch)
	override(&p.PerRequest, o.PerRequest)
	override(&p.Conflate, o.Conflate)
	override(&p.Delay, o.Delay)
	override(&p.Symbols, o.Symbols)
	override(&p.Resumes, o.Resumes)
	override(&p.Retention, o.Retention)
	override(&p.Interval, o.Interval)
	return p
}

// override sets *field to v unless v is unset.
func override[T int | int64 | float64 | time.Duration](field *T, v T) {
	if v != unset {
		*field = v
	}
}

// Workload is one row of web/docs/performance.md's table and how the tool measures it.
type Workload struct {
	Name string
	// Bench is the workload and its bar as web/docs/performance.md states them.
	Bench string
	// Reading is how the tool interprets the workload where web/docs/performance.md
	// leaves room, printed with -help and with every result.
	Reading  string
	Defaults Params
	// Bars returns the bars checked for a configuration.
	Bars func(cfg Config) []Bar
	run  func(ctx context.Context, r *runner, p Params) (Figures, error)
}

// correctness are the bars of "every delivery arrives, in order" (and
// every publish was acknowledged, without which nothing else counts).
func correctness(prefix string) []Bar {
	return []Bar{
		{Figure: prefix + "publish_errors", Op: "<=", Limit: 0, Worst: true},
		{Figure: prefix + "missing", Op: "<=", Limit: 0, Worst: true},
		{Figure: prefix + "duplicates", Op: "<=", Limit: 0, Worst: true},
		{Figure: prefix + "order_violations", Op: "<=", Limit: 0, Worst: true},
		{Figure: prefix + "gaps", Op: "<=", Limit: 0, Worst: true},
	}
}

// Workloads are the workloads of web/docs/performance.md: W1 to W11 and W13 to W16.
var Workloads = []*Workload{
	{
		Name:  "W1",
		Bench: "10,000 subscribers on one topic; 1 publisher, 10 events/s for 10 s, 100-byte payload. Bar: every delivery arrives (1,000,000), in ID order; p99 publish→receive latency ≤ 60 ms; server CPU ≤ 5 µs per delivery.",
		Reading: "All subscribers connect first (fresh, on a new topic) and are attached before the first publish. " +
			"Server CPU is its utime+stime from just before the first publish until the last delivery arrived, divided by deliveries. " +
			"Latency is from the publisher's clock just before it sends the request to the moment the subscriber's read returned the frame. " +
			"With -bare-url (and -bare-pid) each run does the same against the bare fan-out sketch of feed/bench/bare too (every stream gets every publish as one pre-encoded frame from one of two writing goroutines), the order alternating from run to run, and reports livefeed's ratios to it: server_cpu_us_per_delivery_ratio_to_bare and latency_p99_ms_ratio_to_bare, the bars (≤ 1.1 each, web/docs/performance.md). " +
			"Without -bare-url the bars are the absolute figures web/docs/performance.md once gave (60 ms, 5 µs), which lie below this machine's floor.",
		Defaults: Params{Subscribers: 10_000, Publishers: 1, Rate: 10, Duration: 10 * time.Second, Payload: 100},
		Bars: func(cfg Config) []Bar {
			if cfg.BareURL != "" {
				return append(correctness(""),
					Bar{Figure: "server_cpu_us_per_delivery_ratio_to_bare", Op: "<=", Limit: 1.1},
					Bar{Figure: "latency_p99_ms_ratio_to_bare", Op: "<=", Limit: 1.1})
			}
			return append(correctness(""),
				Bar{Figure: "latency_p99_ms", Op: "<=", Limit: 60},
				Bar{Figure: "server_cpu_us_per_delivery", Op: "<=", Limit: 5})
		},
		run: runBroadcast,
	},
	{
		Name:  "W2",
		Bench: "10,000 subscribers; 4 publishers, 100 events/s for 3 s. Bar: every delivery arrives; ≥ 600,000 deliveries/s; p99 ≤ 400 ms.",
		Reading: "100 events/s in total, 25/s from each of 4 publishers on the one topic, so 3,000,000 deliveries. " +
			"deliveries_per_s = deliveries / (last receipt - first publish). Payload 100 bytes as in W1.",
		Defaults: Params{Subscribers: 10_000, Publishers: 4, Rate: 100, Duration: 3 * time.Second, Payload: 100},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "deliveries_per_s", Op: ">=", Limit: 600_000},
				Bar{Figure: "latency_p99_ms", Op: "<=", Limit: 400})
		},
		run: runBroadcast,
	},
	{
		Name:  "W3",
		Bench: "10,000 idle subscribers. Bar: server RSS growth ≤ 4 KB per subscriber.",
		Reading: "Server RSS (VmRSS) before connecting vs. after all 10,000 are attached and the RSS is settled (two reads 2 s apart within 1%), divided by 10,000. " +
			"Subscribers connect in batches of 500, each batch attached before the next, so the figure is the steady cost of an idle stream, not transient handshake memory. " +
			"Needs -pid. The Go runtime keeps freed memory, so run W3 against a freshly started server for a figure that is not flattered by earlier workloads.",
		Defaults: Params{Subscribers: 10_000, Batch: 500},
		Bars: func(Config) []Bar {
			return []Bar{{Figure: "server_rss_per_subscriber_kb", Op: "<=", Limit: 4}}
		},
		run: runIdle,
	},
	{
		Name:  "W4",
		Bench: "16 concurrent publishers, no subscribers, each publish acknowledged only after commit. Bar: server CPU per acknowledged publish ≤ 1.2× (the bare endpoint's per-publish CPU + BenchmarkGroupCommit's per-event CPU), same run, default durability; with synchronous = \"full\" ≥ 0.5× the publishes/s of normal whenever an fsync takes ≤ 0.5 ms (report the fsync latency).",
		Reading: "Each publisher sends one event per request on its own keep-alive connection and its own topic, and waits for the acknowledgement before the next, for 10 s. " +
			"With -bare-url (and -bare-pid) each run does the same against the bare endpoint of feed/bench/bare too, the order alternating from run to run, and reports livefeed's ratios to it: publishes_per_s_ratio_to_bare and server_cpu_us_per_publish_ratio_to_bare (the bars: ≥ 0.9 and ≤ 1.15; with -durability full ≥ 0.5). " +
			"With -store-cpu-us too (BenchmarkGroupCommit's CPU per event, measured in the same session), the bar is the one of the performance page: server_cpu_us_per_publish_ratio_to_bare_and_store, livefeed's CPU per publish over the bare endpoint's plus the store's, ≤ 1.2. " +
			"Without -bare-url the bars are the absolute figures web/docs/performance.md once gave (45,000/s; 20,000/s with full). " +
			"fsync_p50_ms is the median time of a 4 KiB write and fsync in -fsync-dir (default the directory of -db, else the temporary one), 20 before and 20 after the run. " +
			"The durability is the server's store.synchronous; tell the tool which it is with -durability to pick the bar. " +
			"-per-request N sends N events per request instead (one all-or-nothing batch), and publishes_per_s counts events.",
		Defaults: Params{Publishers: 16, Rate: 0, Duration: 10 * time.Second, Payload: 100, PerRequest: 1},
		Bars: func(cfg Config) []Bar {
			errs := []Bar{{Figure: "publish_errors", Op: "<=", Limit: 0, Worst: true}}
			switch {
			case cfg.BareURL != "" && cfg.StoreCPU > 0 && cfg.Durability != "full":
				return append(errs, Bar{Figure: "server_cpu_us_per_publish_ratio_to_bare_and_store", Op: "<=", Limit: 1.2})
			case cfg.BareURL != "" && cfg.Durability == "full":
				return append(errs, Bar{Figure: "publishes_per_s_ratio_to_bare", Op: ">=", Limit: 0.5})
			case cfg.BareURL != "":
				return append(errs, Bar{Figure: "publishes_per_s_ratio_to_bare", Op: ">=", Limit: 0.9},
					Bar{Figure: "server_cpu_us_per_publish_ratio_to_bare", Op: "<=", Limit: 1.15})
			case cfg.Durability == "full":
				return append(errs, Bar{Figure: "publishes_per_s", Op: ">=", Limit: 20_000})
			}
			return append(errs, Bar{Figure: "publishes_per_s", Op: ">=", Limit: 45_000})
		},
		run: runPublishOnly,
	},
	{
		Name:  "W5",
		Bench: "1,000 clients reconnect at once, each 5,000 events behind (Last-Event-ID). Bar: all 5,000,000 replayed events delivered, in order, in ≤ 5 s; live delivery to other subscribers continues meanwhile.",
		Reading: "5,000 events are published to a new topic (in batches of 1,000), then 1,000 clients connect at once with Last-Event-ID = the ID before them. " +
			"replay_s is from the first connect to the moment the last client had all 5,000. " +
			"Meanwhile 100 other subscribers of another topic receive a live publisher at 10 events/s (running from the start of the storm to its end); their p99 and completeness are reported as live_*.",
		Defaults: Params{Subscribers: 1_000, Backlog: 5_000, Live: 100, Rate: 10, Payload: 100},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "replay_s", Op: "<=", Limit: 5},
				Bar{Figure: "live_missing", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "live_gaps", Op: "<=", Limit: 0, Worst: true})
		},
		run: runReplayStorm,
	},
	{
		Name:  "W6",
		Bench: "CSV export of 1,000,000 rows. Bar: ≥ 500,000 rows/s, server RSS flat (± 20 MB).",
		Reading: "The topic bench/w6 is filled to 1,000,000 events if it has fewer (batches of 1,000, 100-byte payloads), then GET /api/export.csv?topic=bench/w6 is downloaded and its rows counted (lines outside quotes, less the header). " +
			"rows_per_s = rows / time from request to last byte. RSS growth = max RSS sampled every 20 ms during the export - RSS before it (needs -pid).",
		Defaults: Params{Rows: 1_000_000, Payload: 100, Publishers: 4},
		Bars: func(Config) []Bar {
			return []Bar{{Figure: "rows_per_s", Op: ">=", Limit: 500_000}, {Figure: "server_rss_growth_mb", Op: "within", Limit: 20}}
		},
		run: runExport,
	},
	{
		Name:  "W7",
		Bench: "start-up with 10,000,000 rows of history. Bar: serving in ≤ 1 s.",
		Reading: "Needs -server-bin and -db. If the database has fewer than 10,000,000 events, a server is started on it and the rest are published through the API first (batches of 1,000 from 4 connections, on 1,000 topics, 100-byte payloads). " +
			"Each run execs the server on the database on a loopback port it picks itself (-addr 127.0.0.1:0) and times exec → first 200 from GET /healthz answered by that process, then stops it with SIGTERM.",
		Defaults: Params{Rows: 10_000_000, Payload: 100, Publishers: 4},
		Bars: func(Config) []Bar {
			return []Bar{{Figure: "startup_ms", Op: "<=", Limit: 1000}}
		},
		run: runStartup,
	},
	{
		Name:  "W8",
		Bench: "one subscriber that stops reading, among 1,000 others at 100 events/s. Bar: others' p99 unchanged (± 20%); server memory for the stuck one bounded by config; it resumes without loss after reconnecting.",
		Reading: "Phase A: 1,000 subscribers, one publisher at 100 events/s for 10 s (the baseline). Phase B: the same subscribers and rate for 10 s more, with one extra subscriber (SO_RCVBUF 4 KiB) that reads its position and then never reads again. " +
			"others_p99_change_pct = (p99 B / p99 A - 1) × 100. stuck_rss_growth_mb = max server RSS during B - RSS at its start (bar: 64, the default feed.window_bytes). " +
			"stuck_disconnected says whether the server closed the stuck stream (from /proc/net/tcp, loopback only). Then the stuck one reconnects with the last ID it read and must receive every event of phase B once, in order.",
		Defaults: Params{Subscribers: 1_000, Publishers: 1, Rate: 100, Duration: 10 * time.Second, Payload: 100},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "others_p99_change_pct", Op: "within", Limit: 20},
				Bar{Figure: "stuck_rss_growth_mb", Op: "<=", Limit: 64},
				Bar{Figure: "stuck_resume_missing", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "stuck_resume_duplicates", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "stuck_resume_order_violations", Op: "<=", Limit: 0, Worst: true})
		},
		run: runStuck,
	},
	{
		Name:  "W9",
		Bench: "streaming ingest: NDJSON publishes on 1 and on 4 connections, each event acknowledged on the stream after commit. Bar: ≥ 200,000 durable events/s.",
		Reading: "Each connection is one POST /api/publish with Content-Type application/x-ndjson (feed/client's Ingest), sending lines in batches of 500 as long as fewer than 20,000 are unacknowledged, for -duration: tick events of 400 symbols of its own (-symbols) in turn, each on its own topic (<run>/S0000 to S0399 for the first connection, S0400 to S0799 for the second, ...), data of 64 bytes as a ticker gateway sends ({\"symbol\":\"S0123\",\"price\":117.25,\"change\":-7.75,\"volume\":42}; lines of about 125 bytes); then it ends its body and reads the last acknowledgements. " +
			"cN_events_per_s = events acknowledged with an ID on N connections / (last acknowledgement - first send). cN_ack_p99_ms is from the flush of a line to its acknowledgement (every 1,000th line). " +
			"With -bare-url the same runs against the bare endpoint too (which answers each line with an ID at once) and the ratios are reported; the bars are the absolute 200,000/s.",
		Defaults: Params{Duration: 10 * time.Second, Payload: 64, Symbols: ingestSymbols},
		Bars: func(Config) []Bar {
			return []Bar{
				{Figure: "c1_events_per_s", Op: ">=", Limit: 200_000},
				{Figure: "c4_events_per_s", Op: ">=", Limit: 200_000},
				{Figure: "c1_refused", Op: "<=", Limit: 0, Worst: true},
				{Figure: "c4_refused", Op: "<=", Limit: 0, Worst: true},
				{Figure: "c1_order_violations", Op: "<=", Limit: 0, Worst: true},
				{Figure: "c4_order_violations", Op: "<=", Limit: 0, Worst: true},
			}
		},
		run: runIngest,
	},
	{
		Name:  "W10",
		Bench: "500 subscribers that never read, events of 250 B and of 1 MB. Bar: ≤ 16 KB server memory each beyond the shared window; no goroutine each.",
		Reading: "For each size in turn: the server's window is filled to its limit with such events on another topic, and as many again are published (so that from then on the window replaces events instead of growing and the Go heap is at its steady size); then 500 subscribers (SO_RCVBUF 4 KiB) connect fresh to a new topic, read their position frame and never read again, and 24,000 events of 250 B (6 MB, more than a socket's send buffer grows to) or 30 of 1 MB are published to it. " +
			"After 2 s and a settled RSS: kb_per_subscriber_beyond_window = (RSS growth since before they connected - growth of livefeed_window_bytes) / 500; goroutines_per_subscriber from go_goroutines. " +
			"Needs -pid, and a server that takes events of 1 MB (feed.max_event_bytes = 2097152, server.max_body_bytes = 4194304) and whose window holds 30 MB (the default 64 MiB does).",
		Defaults: Params{Subscribers: 500},
		Bars: func(Config) []Bar {
			return []Bar{
				{Figure: "250b_kb_per_subscriber_beyond_window", Op: "<=", Limit: 16},
				{Figure: "1mb_kb_per_subscriber_beyond_window", Op: "<=", Limit: 16},
				{Figure: "250b_goroutines_per_subscriber", Op: "<=", Limit: 0.01},
				{Figure: "1mb_goroutines_per_subscriber", Op: "<=", Limit: 0.01},
			}
		},
		run: runUnread,
	},
	{
		Name:  "W11",
		Bench: "soak: 300 subscribers held 10 minutes (CI) / 2 hours (by hand), 1 event/s. Bar: zero server-initiated disconnects; every event once, in order; RSS flat.",
		Reading: "300 subscribers of a new topic, one publisher at 1 event/s for -duration (default 10 minutes). " +
			"server_disconnects is the growth of livefeed_streams_closed_total for lag, write_timeout and shutdown; reconnects counts the subscribers' own. " +
			"server_rss_growth_mb is RSS at the end - RSS once they were connected (needs -pid); bar ±20 MB.",
		Defaults: Params{Subscribers: 300, Publishers: 1, Rate: 1, Duration: 10 * time.Minute, Payload: 100},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "server_disconnects", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "reconnects", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "server_rss_growth_mb", Op: "within", Limit: 20})
		},
		run: runSoak,
	},
	{
		Name:  "W13",
		Bench: "cluster: 3 nodes + NATS JetStream on loopback, subscribers spread over the nodes, publishes on all. Bar: every delivery arrives once in ID order on every node; per-delivery CPU of a node ≤ 1.2× single-node W1; single publishes with 16 waiting publishers ≥ 0.75× raw JetStream's with the same publishers and replicas, same run; streaming ingest through the cluster ≥ 100,000 events/s.",
		Reading: "Needs -server-bin and -nats (a NATS server with JetStream). Each run starts its own servers on fresh databases. " +
			"First the baseline: one single node and W1 against it (all subscribers, one publisher), whose server CPU per delivery is single_server_cpu_us_per_delivery. " +
			"Then the same subscribers split over three single nodes that know nothing of each other, each with a publisher of its own at W1's rate: split_cpu_us_per_delivery_max is what three processes sharing the machine cost without a cluster. " +
			"Then three nodes on a stream of the run's own (deleted at its end): the subscribers are spread evenly over the nodes, and one publisher on each node publishes to the same topic, the rate of all three together W1's; " +
			"each subscriber checks the one ID order of all three publishers' events. nN_cpu_us_per_delivery is node N's CPU from the first publish until its subscribers had every event, divided by their deliveries; " +
			"node_cpu_ratio_max is the highest of them over the baseline (the bar), node_cpu_ratio_to_split over the split single nodes (what cluster mode itself costs). " +
			"Then 16 publishers spread over the nodes publish as fast as acknowledgements come back, each on its own topic, for -duration: cluster_publishes_per_s. " +
			"Right after, the same 16 publishers publish the same tick data straight into JetStream, over 3 connections (the nodes' number) into a stream of the run's own with the nodes' replicas (one), each waiting for the stream's acknowledgement: jetstream_publishes_per_s, and cluster_publishes_ratio_to_jetstream = cluster_publishes_per_s / jetstream_publishes_per_s (bar ≥ 0.75). " +
			"Then 4 streaming publishes (W9's: ticks of 400 symbols of their own, lines in batches of 500, at most 20,000 unacknowledged), connection i to node i mod 3, for -duration: cluster_ingest_events_per_s = events acknowledged with an ID / (last acknowledgement - first send) (bar ≥ 100,000); cluster_ingest_nodes_cpu_us_per_event is the three nodes' CPU over it per event. " +
			"Last, nodes_behind counts the nodes that do not hold every acknowledged event 30 s later.",
		Defaults: Params{Subscribers: 10_000, Rate: 10, Duration: 10 * time.Second, Payload: 100},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "single_missing", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "split_missing", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "node_cpu_ratio_max", Op: "<=", Limit: 1.2},
				Bar{Figure: "cluster_publish_errors", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "cluster_publishes_ratio_to_jetstream", Op: ">=", Limit: 0.75},
				Bar{Figure: "cluster_ingest_events_per_s", Op: ">=", Limit: 100_000},
				Bar{Figure: "cluster_ingest_refused", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "cluster_ingest_order_violations", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "nodes_behind", Op: "<=", Limit: 0, Worst: true})
		},
		run: runCluster,
	},
	{
		Name:  "W14",
		Bench: "a trading day: 2,000 symbols, streaming ingest from 4 connections at a fixed 50,000 events/s for 30 min, retention 10 min, 2 subscribers on stocks/*, 1,000 on one symbol each, 5 resumes/s from random positions inside retention. Bar: ingest holds its rate (ack p99 ≤ 50 ms every minute); delivery p99 in the last 5 min ≤ 1.2× the first 5; database file flat after the first retention period (≤ 2× the retained events), WAL bounded; RSS flat (± 50 MB); resumes exact; zero server-initiated disconnects; per-minute plot.",
		Reading: "Needs a server with [store] retention_age = \"10m\" (-retention tells the tool another; the tool cannot read it, and says so at the end when the oldest event it published that the server still holds is older than that), and -db with the server's database file for its size and its WAL's, -pid for its RSS. " +
			"-publishers streaming connections (feed/client's Ingest) publish tick events of -symbols symbols, each on its own topic <run>/S0000 ... (the run's prefix stands for stocks/), connection i the symbols i, i+4, ...; each sends its share of -rate every millisecond and flushes, and an acknowledgement's latency runs from that flush. " +
			"Two subscribers follow <run>/* and -subscribers one symbol each (S0000, S0001, ...); every delivery is checked (once, in order, no gap) and its latency taken from the connection's clock at the flush. " +
			"-resumes a second, a subscriber resumes one symbol with Last-Event-ID the ID of one of its ticks acknowledged a random time ago inside -retention, and must receive exactly the ticks after it up to the last one sent when it started, once and in order (resumes_ok; resumes_wrong otherwise). One that gets a reset instead (its position was pruned: near the edge of the window, as the server prunes once a minute) counts in resumes_reset, and is wrong unless its position was at least -retention less 1 minute old, or it got anything but the reset, then the snapshot and live ticks once and in order. " +
			"The run is cut in rows of -interval (1 minute) and prints a table of them: events acknowledged, ack p99 (by the minute of the acknowledgement), delivery p99 (by the minute of receipt), the database file's and the WAL's sizes, the server's RSS, resumes ok / reset / wrong (by the minute they started) and streams the server closed (lag, write timeout, shutdown: /metrics). -plot writes them as SVG. " +
			"The bars from the rows: ack_p99_worst_minute_ms ≤ 50; delivery_p99_last5_ratio_to_first5 ≤ 1.2 (the p99 of the last 5 rows over that of the first 5; of the last and first half of the rows when there are fewer than 10); db_growth_ratio ≤ 2, the largest database file after the first retention period (and a row) over its size at the end of that period, when it held the retained events and nothing had been pruned; wal_growth_ratio ≤ 2, the largest WAL in the second half of the rows over the first half's; rss_drift_mb within 50, the RSS furthest from its value at the end of the first retention period; resumes_wrong 0; server_disconnects 0; and every delivery once, in order.",
		Defaults: Params{Subscribers: 1_000, Publishers: 4, Rate: 50_000, Duration: 30 * time.Minute, Payload: 64,
			Symbols: 2_000, Resumes: 5, Retention: 10 * time.Minute, Interval: time.Minute},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "refused", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "ack_p99_worst_minute_ms", Op: "<=", Limit: 50, Worst: true},
				Bar{Figure: "delivery_p99_last5_ratio_to_first5", Op: "<=", Limit: 1.2},
				Bar{Figure: "db_growth_ratio", Op: "<=", Limit: 2},
				Bar{Figure: "wal_growth_ratio", Op: "<=", Limit: 2},
				Bar{Figure: "rss_drift_mb", Op: "within", Limit: 50},
				Bar{Figure: "resumes_wrong", Op: "<=", Limit: 0, Worst: true},
				Bar{Figure: "server_disconnects", Op: "<=", Limit: 0, Worst: true})
		},
		run: runTradingDay,
	},
	{
		Name:  "W15",
		Bench: "conflated tickers: 1,000 subscribers on stocks/*, 200 symbols × 10 ticks/s, conflate=1s. Bar: every subscriber's view of every symbol is current within 1 s + 50 ms (p99); server CPU per delivered event ≤ 1.2× W1's per delivery in the same run; bytes sent ≤ 1/8 of the unconflated run's.",
		Reading: "Three phases on the one server. First W1 (one topic, 10 events/s, 10 s) to 10 times the subscribers, for w1_server_cpu_us_per_delivery. " +
			"Then the ticker unconflated to a tenth of the subscribers (the whole audience unconflated would need 2 million deliveries a second, more than this machine makes): 200 publishers, one per symbol (topics <run>/p0 to p199), each at 10 ticks/s for -duration (10 s), their topics under one prefix the subscribers ask for with <prefix>/*; unconflated_bytes_per_subscriber is what each read. " +
			"Then the same ticker to all the subscribers with &conflate=<-conflate>. staleness is, for each event a subscriber receives, how long its view of that symbol had been behind: from the sending of the oldest tick it had not seen (the publishers log when each tick was sent) to the receipt of this one, so p99 over all receipts is the p99 of how long a symbol's view was stale (bar: 1,050 ms). " +
			"server_cpu_us_per_delivery is the server's CPU over the conflated phase divided by the events delivered, its ratio to W1's the bar (≤ 1.2); bytes_ratio_to_unconflated is bytes read per subscriber conflated over unconflated (bar ≤ 0.125). " +
			"After the publishers stop, each subscriber must hold every symbol's last tick within -drain (subscribers_not_current_at_end, bar 0); duplicates and order violations are counted as ever.",
		Defaults: Params{Subscribers: 1_000, Publishers: 200, Rate: 2_000, Duration: 10 * time.Second, Payload: 100, Conflate: time.Second},
		Bars: func(Config) []Bar {
			return []Bar{
				{Figure: "publish_errors", Op: "<=", Limit: 0, Worst: true},
				{Figure: "duplicates", Op: "<=", Limit: 0, Worst: true},
				{Figure: "order_violations", Op: "<=", Limit: 0, Worst: true},
				{Figure: "subscribers_not_current_at_end", Op: "<=", Limit: 0, Worst: true},
				{Figure: "staleness_p99_ms", Op: "<=", Limit: 1050},
				{Figure: "server_cpu_us_per_delivery_ratio_to_w1", Op: "<=", Limit: 1.2},
				{Figure: "bytes_ratio_to_unconflated", Op: "<=", Limit: 0.125},
			}
		},
		run: runConflated,
	},
	{
		Name:  "W16",
		Bench: "delayed audience: 10,000 subscribers on a topic delayed by 60 s, 10 events/s for 100 s. Bar: every event arrives once, in order, 60 s after its time (p99 error ≤ 100 ms); CPU per delivery ≤ 1.1× W1's; no goroutine per subscriber.",
		Reading: "Needs a server whose configuration delays the load tool's topics: [[feed.delayed]] topics = [\"bench/w16/*\"] delay = \"60s\" (-delay tells the tool the delay; every stream must open with the server's livefeed.delayed event, else the run fails). " +
			"First W1 (10 events/s, 10 s) to as many subscribers on a topic that is not delayed, for w1_server_cpu_us_per_delivery. Then the subscribers subscribe fresh to a delayed topic and one publisher publishes -rate events/s for -duration. " +
			"delay_error is each receipt's latency from the publisher's clock when it sent the event (SentLog) less the delay: the server's time of the event is a little later than that, so the error includes the publish (bar: p99 ≤ 100 ms). Latencies are recorded less the delay, so that the histogram's resolution (1/32 of a value) is that of the error. " +
			"The server keeps an event's time to the millisecond and releases it when that time is as old as the delay, up to 1 ms before the publisher's stamp + the delay: delay_error_min_ms below -1 would be an event that arrived early. " +
			"server_cpu_us_per_delivery is the server's CPU from the first publish until the last delivery (100 s + the delay) divided by deliveries; its ratio to W1's is the bar (≤ 1.1). goroutines_per_subscriber is the growth of go_goroutines (/metrics) as the delayed subscribers connected, per subscriber.",
		Defaults: Params{Subscribers: 10_000, Publishers: 1, Rate: 10, Duration: 100 * time.Second, Payload: 100, Delay: time.Minute},
		Bars: func(Config) []Bar {
			return append(correctness(""),
				Bar{Figure: "delay_error_p99_ms", Op: "<=", Limit: 100},
				Bar{Figure: "delay_error_min_ms", Op: ">=", Limit: -1, Worst: true},
				Bar{Figure: "server_cpu_us_per_delivery_ratio_to_w1", Op: "<=", Limit: 1.1},
				Bar{Figure: "goroutines_per_subscriber", Op: "<=", Limit: 0.01})
		},
		run: runDelayed,
	},
}

// FindWorkload returns the workload named name (W1, ..., any case).
func FindWorkload(name string) (*Workload, error) {
	for _, w := range Workloads {
		if strings.EqualFold(w.Name, name) {
			return w, nil
		}
	}
	names := make([]string, len(Workloads))
	for i, w := range Workloads {
		names[i] = w.Name
	}
	return nil, fmt.Errorf("unknown workload %q (want one of %s, or all)", name, strings.Join(names, ", "))
}

// runner is the context of one run of a workload.
type runner struct {
	cfg    Config
	target *Target
	server *Process // nil without -pid
	log    io.Writer
	out    io.Writer // the report, for tables beside a run's line
	name   string    // the workload
	run    int
	nonce  string
}

// topic returns a topic no earlier run used, so a fresh subscriber gets no
// snapshot of older events.
func (r *runner) topic(part string) string {
	return fmt.Sprintf("bench/%s/%s-r%d%s", strings.ToLower(r.name), r.nonce, r.run, part)
}

// progress reports what the run is doing, on stderr.
func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.log, "# %s run %d: %s\n", r.name, r.run, fmt.Sprintf(format, args...))
}

// settle waits (at most 45 s: three default heartbeats) until the server
// has no more subscribers than baseline.
func (r *runner) settle(ctx context.Context, baseline int64) {
	deadline := time.Now().Add(45 * time.Second)
	for reported := false; ; {
		h, err := r.target.Health(ctx)
		if err != nil || h.Subscribers <= baseline || ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			r.progress("the server still has %d subscribers (%d before the first run); going on", h.Subscribers, baseline)
			return
		}
		if !reported {
			r.progress("waiting for the server to drop %d streams of earlier runs", h.Subscribers-baseline)
			reported = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readBuffer sizes the subscribers' read buffers: larger when there are
// fewer of them (at most 64 KiB, the most the server writes at once).
func readBuffer(subscribers int) int {
	return min(max((256<<20)/max(subscribers, 1), 16<<10), 64<<10)
}

// sample is the server's and the tool's CPU time and the server's memory
// at one moment.
type sample struct {
	at        time.Time
	serverCPU time.Duration
	serverRSS int64 // KiB
	selfCPU   time.Duration
	ok        bool // the server's figures were read
}

// samplePeakRSS reads the server's resident memory every interval until
// the returned function is called, which returns the highest reading (0
// without -pid).
func (r *runner) samplePeakRSS(every time.Duration) func() int64 {
	if r.server == nil {
		return func() int64 { return 0 }
	}
	var peak int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if rss, err := r.server.RSS(); err == nil {
				peak = max(peak, rss)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() int64 {
		close(stop)
		sampler.Wait()
		return peak
	}
}

func (r *runner) sample() sample { return sampleOf(r.server) }

// sampleOf samples server (nil: the tool's figures only).
func sampleOf(server *Process) sample {
	s := sample{at: time.Now(), selfCPU: SelfCPU()}
	if server != nil {
		cpu, err1 := server.CPU()
		rss, err2 := server.RSS()
		s.serverCPU, s.serverRSS, s.ok = cpu, rss, err1 == nil && err2 == nil
	}
	return s
}

// addCosts adds the server's and the tool's CPU per unit of work between
// two samples, and the server's RSS growth.
func addCosts(f *Figures, before, after sample, unit string, n int64) {
	addCostsPrefixed(f, "", before, after, unit, n)
}

// addCostsPrefixed is addCosts with a prefix to every name.
func addCostsPrefixed(f *Figures, prefix string, before, after sample, unit string, n int64) {
	if n <= 0 {
		return
	}
	if before.ok && after.ok {
		f.Add(prefix+"server_cpu_us_per_"+unit, float64(after.serverCPU-before.serverCPU)/float64(time.Microsecond)/float64(n))
		f.Add(prefix+"server_rss_growth_kb", float64(after.serverRSS-before.serverRSS))
		if wall := after.at.Sub(before.at); wall > 0 {
			f.Add(prefix+"server_cpu_cores", float64(after.serverCPU-before.serverCPU)/float64(wall))
		}
	}
	self := after.selfCPU - before.selfCPU
	f.Add(prefix+"client_cpu_us_per_"+unit, float64(self)/float64(time.Microsecond)/float64(n))
	if wall := after.at.Sub(before.at); wall > 0 {
		f.Add(prefix+"client_cpu_cores", float64(self)/float64(wall))
	}
}

// addTally adds the correctness figures of a tally.
func addTally(f *Figures, prefix string, t Tally, expected int64) {
	f.Add(prefix+"deliveries", float64(t.Deliveries))
	f.Add(prefix+"expected", float64(expected))
	f.Add(prefix+"missing", float64(max(expected-t.Deliveries, 0)))
	f.Add(prefix+"duplicates", float64(t.Duplicates))
	f.Add(prefix+"order_violations", float64(t.OrderViolations))
	f.Add(prefix+"gaps", float64(t.Gaps))
	f.Add(prefix+"reconnects", float64(t.Reconnects))
	f.Add(prefix+"resets", float64(t.Resets))
	if t.Foreign > 0 {
		f.Add(prefix+"foreign_events", float64(t.Foreign))
	}
	if t.Unstamped > 0 {
		f.Add(prefix+"latency_unknown", float64(t.Unstamped)) // no longer in the SentLog
	}
}

// addLatency adds the percentiles of a latency histogram and the maximum.
func addLatency(f *Figures, prefix string, h *Histogram, maxLatency time.Duration) {
	f.AddMS(prefix+"latency_p50_ms", h.Quantile(0.50))
	f.AddMS(prefix+"latency_p90_ms", h.Quantile(0.90))
	f.AddMS(prefix+"latency_p99_ms", h.Quantile(0.99))
	f.AddMS(prefix+"latency_p999_ms", h.Quantile(0.999))
	f.AddMS(prefix+"latency_max_ms", maxLatency)
}

// runBroadcast measures W1 and W2: many subscribers of one topic, paced
// publishers, every delivery checked.
func runBroadcast(ctx context.Context, r *runner, p Params) (Figures, error) {
	var f Figures
	err := r.beside(ctx, &f, func(prefix string, t *Target, server *Process) error {
		return r.broadcast(ctx, &f, prefix, t, server, p)
	})
	if err != nil {
		return nil, err
	}
	addRatios(&f, "server_cpu_us_per_delivery", "latency_p99_ms")
	return f, nil
}

// broadcast runs one broadcast against t and adds its figures with prefix.
func (r *runner) broadcast(ctx context.Context, f *Figures, prefix string, t *Target, server *Process, p Params) error {
	topic := r.topic("")
	side := map[bool]string{true: "bare fan-out: "}[prefix == "bare_"]
	r.progress("%sconnecting %d subscribers to %s", side, p.Subscribers, topic)
	connectStart := time.Now()
	aud, err := StartAudience(ctx, t, AudienceOptions{
		Topic: topic, Subscribers: p.Subscribers, Publishers: p.Publishers, ReadBuffer: readBuffer(p.Subscribers),
	})
	if err != nil {
		return err
	}
	connectTime := time.Since(connectStart)
	r.progress("%sconnected in %.1f s; publishing %g events/s from %d publishers for %s", side, connectTime.Seconds(), p.Rate, p.Publishers, p.Duration)
	before := sampleOf(server)
	res := RunPublishers(ctx, t, PublishPlan{Topic: topic, Publishers: p.Publishers, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, Sent: aud.Sent()})
	if err := res.Failed(); err != nil {
		aud.Stop()
		return err
	}
	expected := res.Total() * int64(p.Subscribers)
	complete := aud.WaitDeliveries(ctx, expected, r.cfg.Drain)
	after := sampleOf(server)
	tally := aud.Stop()
	if !complete {
		r.progress("%sstopped waiting: %d of %d deliveries arrived, none for %s", side, tally.Deliveries, expected, r.cfg.Drain)
	}

	f.Add(prefix+"subscribers", float64(p.Subscribers))
	f.Add(prefix+"published", float64(res.Total()))
	f.Add(prefix+"publish_errors", float64(res.Errors))
	addTally(f, prefix, tally, expected)
	addLatency(f, prefix, aud.Latency(0), tally.MaxLatency)
	if span := tally.LastReceipt.Sub(res.FirstSend); span > 0 {
		f.Add(prefix+"deliveries_per_s", float64(tally.Deliveries)/span.Seconds())
		f.Add(prefix+"delivery_span_s", span.Seconds())
	}
	if tally.Reads > 0 {
		f.Add(prefix+"frames_per_read", float64(tally.Deliveries)/float64(tally.Reads))
	}
	addCostsPrefixed(f, prefix, before, after, "delivery", tally.Deliveries)
	f.Add(prefix+"connect_s", connectTime.Seconds())
	if res.Err != nil {
		r.progress("%spublish error: %v", side, res.Err)
	}
	return nil
}

// runIdle measures W3: the server's memory per idle subscriber.
func runIdle(ctx context.Context, r *runner, p Params) (Figures, error) {
	if r.server == nil {
		return nil, errors.New("W3 measures the server's memory: give its PID with -pid")
	}
	before := r.sample()
	if !before.ok {
		return nil, fmt.Errorf("cannot read /proc/%d", r.server.PID)
	}
	topic := r.topic("")
	r.progress("server RSS %d KiB; connecting %d idle subscribers to %s in batches of %d", before.serverRSS, p.Subscribers, topic, p.Batch)
	aud, err := StartAudience(ctx, r.target, AudienceOptions{
		Topic: topic, Subscribers: p.Subscribers, Publishers: 1, Batch: p.Batch, ReadBuffer: 4 << 10,
	})
	if err != nil {
		return nil, err
	}
	connected := r.sample()
	rss, settled := r.settledRSS(ctx)
	aud.Stop()
	var f Figures
	f.Add("subscribers", float64(p.Subscribers))
	f.Add("server_rss_before_kb", float64(before.serverRSS))
	f.Add("server_rss_after_kb", float64(rss))
	f.Add("server_rss_per_subscriber_kb", float64(rss-before.serverRSS)/float64(p.Subscribers))
	f.Add("server_cpu_us_per_connect", float64(connected.serverCPU-before.serverCPU)/float64(time.Microsecond)/float64(p.Subscribers))
	f.Add("connect_s", connected.at.Sub(before.at).Seconds())
	if !settled {
		f.Add("rss_not_settled", 1)
	}
	return f, nil
}

// settledRSS waits until the server's RSS is stable: two reads 2 s apart
// within 1% (at most 30 s).
func (r *runner) settledRSS(ctx context.Context) (int64, bool) {
	prev, _ := r.server.RSS()
	for range 15 {
		select {
		case <-ctx.Done():
			return prev, false
		case <-time.After(2 * time.Second):
		}
		cur, err := r.server.RSS()
		if err != nil {
			return prev, false
		}
		if d := cur - prev; d*100 <= prev && -d*100 <= prev {
			return cur, true
		}
		prev = cur
	}
	return prev, false
}

// runPublishOnly measures W4: acknowledged publishes per second, and with
// -bare-url the same against the bare endpoint in the same run (which goes
// first alternates from run to run), with livefeed's ratios to it.
func runPublishOnly(ctx context.Context, r *runner, p Params) (Figures, error) {
	var f Figures
	fsync := r.fsyncLatency()
	err := r.beside(ctx, &f, func(prefix string, t *Target, server *Process) error {
		return r.publishOnly(ctx, &f, prefix, t, server, p)
	})
	if err != nil {
		return nil, err
	}
	addRatios(&f, "publishes_per_s", "server_cpu_us_per_publish")
	if lf, ok := f.Get("server_cpu_us_per_publish"); ok && r.cfg.StoreCPU > 0 {
		if bare, ok := f.Get("bare_server_cpu_us_per_publish"); ok {
			f.Add("server_cpu_us_per_publish_ratio_to_bare_and_store", lf/(bare+r.cfg.StoreCPU))
		}
	}
	if d, err := fsync(); err == nil {
		f.AddMS("fsync_p50_ms", d)
	} else {
		r.progress("cannot time fsync: %v", err)
	}
	return f, nil
}

// beside runs measure against livefeed (prefix "") and, with -bare-url,
// against the bare endpoint (prefix "bare_"), in an order that alternates
// from run to run so that neither always gets the machine's quieter
// moments.
func (r *runner) beside(ctx context.Context, f *Figures, measure func(prefix string, t *Target, server *Process) error) error {
	type side struct {
		prefix string
		target *Target
		server *Process
	}
	sides := []side{{"", r.target, r.server}}
	if r.cfg.BareURL != "" {
		t, err := NewTarget(r.cfg.BareURL, r.cfg.Token, r.cfg.SourceIPs)
		if err != nil {
			return fmt.Errorf("-bare-url: %w", err)
		}
		var server *Process
		if r.cfg.BarePID > 0 {
			server = &Process{PID: r.cfg.BarePID}
		}
		sides = append(sides, side{"bare_", t, server})
		if r.run%2 == 0 {
			sides[0], sides[1] = sides[1], sides[0]
		}
	}
	for _, s := range sides {
		if err := measure(s.prefix, s.target, s.server); err != nil {
			return err
		}
	}
	return nil
}

// addRatios adds livefeed's figure over the bare endpoint's for each name
// both were measured with, as name_ratio_to_bare.
func addRatios(f *Figures, names ...string) {
	for _, name := range names {
		lf, ok1 := f.Get(name)
		bare, ok2 := f.Get("bare_" + name)
		if ok1 && ok2 && bare > 0 {
			f.Add(name+"_ratio_to_bare", lf/bare)
		}
	}
}

// publishOnly runs W4's publishers against t and adds their figures with
// prefix.
func (r *runner) publishOnly(ctx context.Context, f *Figures, prefix string, t *Target, server *Process, p Params) error {
	topic := r.topic("")
	perRequest := max(p.PerRequest, 1)
	r.progress("%s%d publishers, %d event(s) per request, each on its own topic under %s, for %s", map[bool]string{true: "bare endpoint: "}[prefix != ""], p.Publishers, perRequest, topic, p.Duration)
	before := sampleOf(server)
	res := RunPublishers(ctx, t, PublishPlan{Topic: topic, Publishers: p.Publishers, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, TopicPerPublisher: true, PerRequest: perRequest})
	after := sampleOf(server)
	if err := res.Failed(); err != nil {
		return err
	}
	f.Add(prefix+"publishers", float64(p.Publishers))
	f.Add(prefix+"events_per_request", float64(perRequest))
	f.Add(prefix+"publishes", float64(res.Total()))
	f.Add(prefix+"publish_errors", float64(res.Errors))
	if span := res.LastAck.Sub(res.FirstSend); span > 0 {
		f.Add(prefix+"publishes_per_s", float64(res.Total())/span.Seconds())
	}
	f.AddMS(prefix+"ack_p50_ms", res.Acks.Quantile(0.5))
	f.AddMS(prefix+"ack_p99_ms", res.Acks.Quantile(0.99))
	f.AddMS(prefix+"ack_max_ms", res.Acks.Quantile(1))
	addCostsPrefixed(f, prefix, before, after, "publish", res.Total())
	if res.Err != nil {
		r.progress("publish error: %v", res.Err)
	}
	return nil
}
