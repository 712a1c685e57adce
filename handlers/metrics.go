package handlers

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"livefeed/feed"
	"livefeed/feed/fanout"
)

// Metrics are the server's Prometheus figures, in a registry of their own
// (no global state): the Go runtime's and the process's, the build, HTTP
// requests by route, publishing, and, read at each scrape, the hub's, the
// store's and the cluster's.
//
// Nothing here is on the fan-out's path per delivery: the hub's counters
// are its own atomics, read when /metrics is scraped, and the delivery lag
// is sampled once per writer batch (see fanout.Options.DeliveryLag).
type Metrics struct {
	registry *prometheus.Registry

	published   prometheus.Counter
	shed        prometheus.Counter
	rateLimited prometheus.Counter
	corsRefused prometheus.Counter
	// publishFailures counts refused publishes by reason (see
	// failureReason), each from 0.
	publishFailures *prometheus.CounterVec
	commit          prometheus.Histogram
	deliveryLag     prometheus.Histogram
	requests        *prometheus.CounterVec
	durations       *prometheus.HistogramVec
	// The series of requests and durations that every publish adds
	// to, looked up once (see request).
	publishCreated prometheus.Counter
	publishTime    prometheus.Observer
}

// latencyBuckets suit the publish and delivery latencies: from half a
// millisecond (a commit with synchronous = "normal") to 5 s (a stalled
// disk, a subscriber catching up).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// NewMetrics returns the figures of one server. Its DeliveryLag goes into
// the hub's options; the rest is counted by the Server it is given to
// (Backends.Metrics).
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livefeed_published_events_total",
			Help: "Events accepted through the publish API.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livefeed_streams_shed_total",
			Help: "Event streams refused for the connection limits (told to retry later).",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livefeed_publishes_rate_limited_total",
			Help: "Publish requests refused for the per-token rate limit.",
		}),
		corsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livefeed_cors_refused_total",
			Help: "Reads of the feed from browsers on origins not in cors.allowed_origins (they get no CORS headers).",
		}),
		publishFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livefeed_publish_failures_total",
			Help: "Publish requests refused, by reason: unauthorized (401), forbidden (403), too_large (413), rate_limited (429), unavailable (503), invalid (400, 422), timeout (408), conflict (409), internal (500).",
		}, []string{"reason"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livefeed_publish_commit_seconds",
			Help:    "Time from a publish reaching the event log to its commit, after which the publisher is answered.",
			Buckets: latencyBuckets,
		}),
		deliveryLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livefeed_delivery_lag_seconds",
			Help:    "Time from an event's commit to its write to a subscriber's socket; sampled, once per batch of up to 64 subscribers a writer serves (the batch's newest event).",
			Buckets: latencyBuckets,
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livefeed_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "livefeed_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern; for the event stream (/events), the time until the stream opened.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	m.publishCreated = m.requests.WithLabelValues(routePublish, strconv.Itoa(http.StatusCreated))
	m.publishTime = m.durations.WithLabelValues(routePublish)
	version, revision := build()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "livefeed_build_info",
		Help:        "Always 1; the labels say which build of livefeed is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	info.Set(1)
	// Each reason counts from 0 (see feed.Reasons): alerts take rates of
	// them.
	for _, reason := range feed.Reasons() {
		m.publishFailures.WithLabelValues(reason)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info, m.published, m.shed, m.rateLimited, m.corsRefused, m.publishFailures, m.commit, m.deliveryLag, m.requests, m.durations,
	)
	return m
}

// request counts a request answered on route with status, and its
// duration d. A publish's series are looked up once: finding a series by
// its labels (hashing them, formatting the status) cost each publish
// about half a microsecond.
func (m *Metrics) request(route string, status int, d time.Duration) {
	requests, duration := m.publishCreated, m.publishTime
	if route != routePublish || status != http.StatusCreated {
		requests = m.requests.WithLabelValues(route, strconv.Itoa(status))
	}
	if route != routePublish {
		duration = m.durations.WithLabelValues(route)
	}
	requests.Inc()
	duration.Observe(d.Seconds())
}

// DeliveryLag is what the hub observes its delivery lag with.
func (m *Metrics) DeliveryLag() fanout.Observer { return m.deliveryLag }

// build returns the module version and VCS revision the binary's build
// information records ("unknown" where it records none).
func build() (version, revision string) {
	version, revision = "unknown", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return version, revision
}

// serveMetrics writes the figures in the Prometheus text format (or what
// the scraper asks for, compressed if it accepts it), to a client allowed
// the operations' detail (see opsAllowed).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.opsAllowed(r) {
		Error(w, r, s.log, s.opsRefusal())
		return
	}
	s.metricsHandler.ServeHTTP(w, r)
}

// metricsHandler serves m's registry, whose errors are logged.
func metricsHandler(m *Metrics, s *Server) http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorLog: promLogger{s}, ErrorHandling: promhttp.ContinueOnError})
}

// promLogger logs the registry's errors at warn.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn("metrics", "err", v) }

// statsCollector reads the hub's, the store's and the cluster's figures
// at each scrape: they are counted where they happen, in atomics of their
// own, and cost nothing between scrapes.
type statsCollector struct{ s *Server }

var (
	_ prometheus.Collector = statsCollector{}

	descSubscribers = prometheus.NewDesc("livefeed_subscribers", "Open event streams.", nil, nil)
	descDeliveries  = prometheus.NewDesc("livefeed_deliveries_total", "Event frames written to subscribers.", nil, nil)
	descDropped     = prometheus.NewDesc("livefeed_subscribers_dropped_total", "Subscribers disconnected for falling behind the window.", nil, nil)
	descStalls      = prometheus.NewDesc("livefeed_subscriber_stalls_total", "Writes that found a subscriber's socket full (it then waits, with no goroutine, for its client to read).", nil, nil)
	descWindow      = prometheus.NewDesc("livefeed_window_events", "Recent events kept in memory for replay.", nil, nil)
	descWindowBytes = prometheus.NewDesc("livefeed_window_bytes", "Bytes of the encoded events in the window.", nil, nil)
	descLastID      = prometheus.NewDesc("livefeed_last_event_id", "The newest event ID.", nil, nil)
	descBodies      = prometheus.NewDesc("livefeed_publish_body_bytes", "Memory reserved for publish bodies being received (their declared lengths, or the largest a body may be), bounded per token and in all.", nil, nil)
	descPublishing  = prometheus.NewDesc("livefeed_publish_streams", "Streaming publishes open.", nil, nil)
	descStale       = prometheus.NewDesc("livefeed_stale_topics", "Watched topics (feed.stale) that have heard neither an event nor a heartbeat for their interval.", nil, nil)
	descClosed      = prometheus.NewDesc("livefeed_streams_closed_total", "Event streams that ended, by reason: lag, write_timeout, shutdown, token_expired and revoked (a removed key or operator, a signed-out session) are the server's decisions, client the client's.", []string{"reason"}, nil)
	descCommits     = prometheus.NewDesc("livefeed_store_commits_total", "Transactions committed by the store's writer (events_total / commits_total is the group-commit size).", nil, nil)
	descEvents      = prometheus.NewDesc("livefeed_store_events_total", "Events committed by the store's writer.", nil, nil)
	descBusy        = prometheus.NewDesc("livefeed_store_commit_seconds_total", "Time the store's single writer spent committing (a rate near 1 means it is the limit).", nil, nil)
	descPauses      = prometheus.NewDesc("livefeed_store_writer_pause_seconds", "Times the store's single writer took up other work between two commits, while publishes waited, by work: checkpoint (copying what is left of the write-ahead log, so that it can start over), prune (a chunk of retention's removal, or of old idempotency keys), index (a pass of the topic index), other.", []string{"work"}, nil)
	descWALFrames   = prometheus.NewDesc("livefeed_store_wal_frames", "Pages in SQLite's write-ahead log since it last started over, at the last checkpoint.", nil, nil)
	descUnindexed   = prometheus.NewDesc("livefeed_store_unindexed_events", "Events committed that the topic index does not hold yet: a pass or two of them when it keeps up.", nil, nil)
	descRetainedAt  = prometheus.NewDesc("livefeed_store_retention_met_timestamp_seconds", "When the retention policy was last met, in Unix seconds: the end of the last prune that removed all it asked for (prunes run every minute), or the server's start until one has; 0 without a policy (store.retention_age, store.retention_rows).", nil, nil)
	descPageSlots   = prometheus.NewDesc("livefeed_store_page_cache_slots", "Slots of the fixed buffer SQLite's page cache keeps pages in, for every database of the process (0: no buffer, every page allocated alone).", nil, nil)
	descPageUsed    = prometheus.NewDesc("livefeed_store_page_cache_used_slots", "Slots of the page cache's buffer holding a page (within 10 of livefeed_store_page_cache_slots, every cache reuses its own pages rather than take more).", nil, nil)
	descPageOver    = prometheus.NewDesc("livefeed_store_page_cache_overflow_bytes", "Bytes of cached pages kept outside the buffer: pages larger than a slot (a database with pages over 4 KiB), or taken when no slot was free.", nil, nil)
	descTopics      = prometheus.NewDesc("livefeed_topics", "Topics the server holds: each costs it memory for as long as it runs, and none is ever removed.", nil, nil)
	descTopicLimit  = prometheus.NewDesc("livefeed_topics_limit", "The most topics the server holds (feed.max_topics): an event to a new topic beyond it is refused with 507; 0: no limit.", nil, nil)
	descApplied     = prometheus.NewDesc("livefeed_cluster_applied_id", "The newest event of the cluster's log applied to this node's history.", []string{"node"}, nil)
	descLogLast     = prometheus.NewDesc("livefeed_cluster_log_last_id", "The newest event of the cluster's log, as this node last saw it.", []string{"node"}, nil)
	descLag         = prometheus.NewDesc("livefeed_cluster_lag_events", "Events of the cluster's log this node has not applied yet.", []string{"node"}, nil)
	descConnected   = prometheus.NewDesc("livefeed_cluster_nats_connected", "1 while this node is connected to NATS.", []string{"node"}, nil)
	descNetDropped  = prometheus.NewDesc("livefeed_cluster_dropped_total", "Messages heard from the NATS network on the cluster's heartbeat and audience subjects and dropped (malformed; for audience counts, also from more than 64 other nodes), by kind: heartbeat, audience.", []string{"node", "kind"}, nil)
	descUnshared    = prometheus.NewDesc("livefeed_cluster_audience_unshared_topics", "Watched topics this node left out of the audience count it shares with the other nodes, which did not fit in a message (its most watched are shared); 0 when all fit.", []string{"node"}, nil)
)

// Describe sends nothing: which figures there are depends on the server
// (the cluster's only in a cluster), so the collector is unchecked.
func (statsCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends the current figures.
func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.hub.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descSubscribers, float64(st.Subscribers))
	counter(descDeliveries, float64(st.Deliveries))
	counter(descDropped, float64(st.Dropped))
	counter(descStalls, float64(st.Stalls))
	gauge(descWindow, float64(st.Window))
	gauge(descWindowBytes, float64(st.WindowBytes))
	gauge(descLastID, float64(st.LastID))
	gauge(descBodies, float64(s.bodies.inUse()))
	gauge(descPublishing, float64(s.publishStreams.open()))
	gauge(descStale, float64(s.hub.StaleTopics()))
	for reason, n := range st.Closed {
		counter(descClosed, float64(n), fanout.CloseReasonName(reason))
	}
	if s.stats != nil {
		ss := s.stats()
		counter(descCommits, float64(ss.Commits))
		counter(descEvents, float64(ss.Events))
		counter(descBusy, ss.Busy.Seconds())
		gauge(descWALFrames, float64(ss.WALFrames))
		gauge(descUnindexed, float64(ss.Unindexed))
		var retained float64
		if !ss.RetainedAt.IsZero() {
			retained = float64(ss.RetainedAt.UnixNano()) / 1e9
		}
		gauge(descRetainedAt, retained)
		gauge(descPageSlots, float64(ss.PageCacheSlots))
		gauge(descPageUsed, float64(ss.PageCacheUsed))
		gauge(descPageOver, float64(ss.PageCacheOverflow))
		for _, p := range ss.Pauses {
			buckets := make(map[float64]uint64, len(p.Bounds))
			for i, b := range p.Bounds {
				buckets[b] = p.AtMost[i]
			}
			ch <- prometheus.MustNewConstHistogram(descPauses, p.Count, p.Sum.Seconds(), buckets, p.Work)
		}
	}
	if s.topicCount != nil {
		gauge(descTopics, float64(s.topicCount.Held()))
		gauge(descTopicLimit, float64(s.topicCount.Limit()))
	}
	if s.cluster != nil {
		cs := s.cluster()
		connected := 0.0
		if cs.Connected {
			connected = 1
		}
		gauge(descApplied, float64(cs.Applied), cs.Node)
		gauge(descLogLast, float64(cs.StreamLast), cs.Node)
		gauge(descLag, float64(max(cs.StreamLast-cs.Applied, 0)), cs.Node)
		gauge(descConnected, connected, cs.Node)
		counter(descNetDropped, float64(cs.DroppedHeartbeats), cs.Node, "heartbeat")
		counter(descNetDropped, float64(cs.DroppedAudience), cs.Node, "audience")
		gauge(descUnshared, float64(cs.AudienceUnshared), cs.Node)
	}
}

// topicCount is a log that counts its topics, and those of scoped publish
// tokens with max_topics (feed.Topics).
type topicCount interface {
	Held() int
	Limit() int
	SetQuotas([]feed.QuotaSpec) []*feed.Quota
}

// failureReason names the reason a publish answered with status failed:
// that of the status's kind in feed's table of kinds.
func failureReason(status int) string { return feed.ReasonOf(status) }

// timedLog is an event log whose commits are timed for
// livefeed_publish_commit_seconds: from the call to the commit, for every
// publish that made events (a retry answered from its first reply made
// none).
type timedLog struct {
	feed.Log
	commit prometheus.Observer
}

var _ feed.Log = timedLog{}

func (l timedLog) Append(ctx context.Context, updates []feed.Update) ([]feed.Event, error) {
	start := time.Now()
	events, err := l.Log.Append(ctx, updates)
	if err == nil {
		l.commit.Observe(time.Since(start).Seconds())
	}
	return events, err
}

func (l timedLog) AppendOnce(ctx context.Context, once feed.Idempotency, updates []feed.Update) ([]feed.Event, bool, error) {
	start := time.Now()
	events, replayed, err := l.Log.AppendOnce(ctx, once, updates)
	if err == nil && !replayed {
		l.commit.Observe(time.Since(start).Seconds())
	}
	return events, replayed, err
}

func (l timedLog) AppendIf(ctx context.Context, once *feed.Idempotency, latest int64, u feed.Update) ([]feed.Event, bool, error) {
	start := time.Now()
	events, replayed, err := l.Log.AppendIf(ctx, once, latest, u)
	if err == nil && !replayed {
		l.commit.Observe(time.Since(start).Seconds())
	}
	return events, replayed, err
}

// AppendEach times a streaming publish's commits.
func (l timedLog) AppendEach(ctx context.Context, updates []feed.Checked, keys []*feed.Idempotency) []feed.Outcome {
	start := time.Now()
	out := l.Log.AppendEach(ctx, updates, keys)
	l.commit.Observe(time.Since(start).Seconds())
	return out
}
