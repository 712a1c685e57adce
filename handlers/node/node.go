// Package node opens, serves, reloads and closes a whole livefeed node: the
// one place that wires the store (or a cluster node over it), the hub, the
// HTTP server, the archiver, the built-in demo and the profiler. The path
// of an event through it: the handlers parse and validate, the log (the
// store, or the cluster's) commits it and gives it its ID, and the store's
// writer hands committed events, in ID order, to the hub, which encodes
// them once and writes them to every subscriber.
//
// What the command line does (flags, the configuration file, signals)
// belongs to handlers/cli and main; what each part does, to its own
// package. A node is configured by a config.Config alone.
package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"livefeed/feed"
	"livefeed/feed/archive"
	"livefeed/feed/demo"
	"livefeed/feed/fanout"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/token"
	"livefeed/store"
	"livefeed/store/cluster"
	"livefeed/web"
)

// What a node wires its log and history as: the store on a single node,
// a cluster node in a cluster. (Each asserts feed.Log itself; its floor
// does not import handlers, so these are said here.)
var (
	_ handlers.History      = (*store.Store)(nil)
	_ handlers.SessionStore = (*store.Store)(nil)
	_ handlers.History      = (*cluster.Node)(nil)
	_ handlers.SessionStore = (*cluster.Node)(nil)
)

// Node is one running livefeed: the log that gives events their IDs, the
// hub that streams them, and the HTTP server in front.
type Node struct {
	cfg     config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	store   *store.Store
	cluster *cluster.Node // nil on a single node
	hub     *fanout.Hub
	srv     *handlers.Server
	http    *http.Server
	// eventLog and history are the store, or the cluster node over it;
	// eventLog behind the topic limit (topics).
	eventLog feed.Log
	topics   *feed.Topics
	history  handlers.History
	// demoToken is the publish token of the built-in simulation (-demo).
	demoToken string
	// demoKeys verify and mint the subscriber tokens of the demo's paying
	// tier (see withDemo); nil but in the demo.
	demoKeys *token.Keys
	// running is the configuration in effect: the one the node opened
	// with, with the reloadable keys of the last good reload.
	running config.Config

	mu   sync.Mutex
	ln   net.Listener                    // once Listen has been called
	wrap func(net.Listener) net.Listener // see Options.Listener
}

// Options are what a node needs beside its configuration.
type Options struct {
	// Log is where the node logs (text or JSON lines, per log.format).
	Log io.Writer
	// Server, if set, adjusts the HTTP server's options after the
	// configuration's: for tests that need what no configuration says
	// (a retry of 100 ms, keys made by the test).
	Server func(*handlers.Options)
	// Store, if set, adjusts the store's options after the
	// configuration's (a test's short busy timeout).
	Store func(*store.Options)
	// Hub, if set, adjusts the hub's options after the configuration's
	// (a test's audience counted every 100 ms, not every 2 s).
	Hub func(*fanout.Options)
	// Listener, if set, wraps the listener of server.address (tests tune
	// the sockets it accepts: small buffers, to fill them).
	Listener func(net.Listener) net.Listener
	// Demo wires the built-in demo's free tier (see withDemo), for a
	// node that serves with ServeOptions.Demo.
	Demo bool
}

// archiveEvery is how often final games past feed.final_linger are looked
// for: a game leaves the live views at most this much after its time.
const archiveEvery = time.Minute

// Open opens the store (and joins the cluster, if one is configured) and
// wires it to a hub and an HTTP server, which it does not start: Listen,
// then Serve.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Node, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	n := &Node{cfg: cfg, running: cfg, level: new(slog.LevelVar), demoToken: rand.Text() + rand.Text(), wrap: opts.Listener}
	n.level.Set(cfg.Log.SlogLevel())
	n.log = NewLogger(opts.Log, cfg.Log.Format, n.level)
	// What the node is wired with: the configuration, and for the demo
	// its own delayed tier. The configuration in effect (n.running) stays
	// the file's.
	wired := cfg
	if opts.Demo {
		wired, n.demoKeys = withDemo(cfg)
	}
	metrics := handlers.NewMetrics()
	hubOpts := fanout.Options{
		Window:       cfg.Feed.Window,
		WindowBytes:  cfg.Feed.WindowBytes,
		Heartbeat:    cfg.Feed.Heartbeat,
		WriteTimeout: cfg.Feed.WriteTimeout,
		Logger:       n.log,
		DeliveryLag:  metrics.DeliveryLag(),
		// Every subscriber sees who published, in every frame the hub
		// sends (live, from the window, replayed).
		ExposeOperator: cfg.Feed.ExposeOperator,
		// A delay line for each delay of feed.delayed: the server
		// delays a stream by one of them.
		Delays:     wired.DelayedTiers().Durations(),
		NeverMerge: cfg.Feed.NeverMerge,
		// The watched topics of feed.stale: their subscribers are told
		// when one goes stale.
		Stale:    cfg.StaleRules(),
		Audience: cfg.AudienceEvery(),
	}
	if opts.Hub != nil {
		opts.Hub(&hubOpts)
	}
	n.hub = fanout.NewHub(hubOpts)
	storeOpts := store.Options{
		Synchronous:       cfg.Store.Synchronous,
		Logger:            n.log,
		Retention:         store.Retention{MaxAge: cfg.Store.RetentionAge, MaxRows: cfg.Store.RetentionRows},
		MaxDataBytes:      cfg.Feed.MaxEventBytes,
		IdempotencyWindow: cfg.Store.IdempotencyWindow,
	}
	if opts.Store != nil {
		opts.Store(&storeOpts)
	}
	// The one edge from the store to the hub: committed events, in ID
	// order, from the store's hand-off goroutine. Their topics count
	// toward feed.max_topics (in a cluster, those of every node).
	var topics *feed.Topics // set before the store commits anything
	storeOpts.Committed = func(events []feed.Event) {
		topics.Saw(events)
		n.hub.Publish(events)
	}
	st, err := store.Open(cfg.Store.Path, storeOpts)
	if err != nil {
		n.hub.Close()
		return nil, err
	}
	n.store = st
	topics = feed.NewTopics(st, cfg.Feed.MaxTopics)
	n.topics = topics
	if err := n.preload(ctx); err != nil {
		n.Close()
		return nil, err
	}
	keys, err := cfg.SubscriberKeys()
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("auth.subscriber_keys%w", err)
	}
	if n.demoKeys != nil {
		keys = n.demoKeys
	}
	// Single node: the store gives events their IDs. In a cluster, the
	// stream does, and the store mirrors it.
	var sessions handlers.SessionStore = st
	var status func() handlers.ClusterStatus
	var heartbeat func(feed.Filter, time.Time) (int, error) // nil: the hub's alone
	var audience func() *fanout.Audience                    // nil: the hub's alone
	n.history = st
	if len(cfg.Cluster.NATSURLs) > 0 {
		if n.cluster, err = n.joinCluster(ctx); err != nil {
			n.Close()
			return nil, err
		}
		// Sessions too: an operator signed in on one node is signed in
		// on all of them.
		// The topic limit stands before the cluster's log; its count,
		// made before the node joined (preload, and the events the join
		// applied through Committed), stays.
		topics.Log, n.history, sessions = n.cluster, n.cluster, n.cluster
		status = func() handlers.ClusterStatus {
			c := n.cluster.Status()
			return handlers.ClusterStatus{Node: c.Node, Applied: c.Applied, StreamLast: c.StreamLast, Connected: c.Connected, Ready: c.Ready, Problem: c.Problem,
				DroppedHeartbeats: c.BadHeartbeats, DroppedAudience: c.BadAudience, AudienceUnshared: c.AudienceUnshared}
		}
		// The audience is the cluster's: this node's count summed with
		// the latest the others shared (joinCluster shares this node's).
		audience = func() *fanout.Audience { return n.cluster.Audience(n.hub.Audience()) }
		// A heartbeat is sent to every other node, then taken here: a
		// node that cannot reach NATS refuses it rather than keep a topic
		// fresh on its own (joinCluster hands the others' to the hub).
		heartbeat = func(f feed.Filter, at time.Time) (int, error) {
			if err := n.cluster.Heartbeat(f, at); err != nil {
				return 0, err
			}
			return n.hub.Heartbeat(f, at), nil
		}
	}
	n.eventLog = topics
	creds := cfg.Credentials(keys, n.demoToken)
	serverOpts := handlers.Options{
		PublishTokens:             creds.PublishTokens,
		ScopedPublishTokens:       creds.ScopedPublishTokens,
		PrivateTopics:             cfg.PrivateTopics(),
		Delayed:                   wired.DelayedTiers(),
		ConflateMinimums:          cfg.ConflateMinimums(),
		SubscriberKeys:            creds.SubscriberKeys,
		AllowedOrigins:            creds.AllowedOrigins,
		Retry:                     cfg.Feed.Retry,
		MaxBodyBytes:              cfg.Server.MaxBodyBytes,
		WriteTimeout:              cfg.Feed.WriteTimeout,
		ReadTimeout:               cfg.Server.ReadTimeout,
		MaxStreams:                maxStreams(cfg.Feed.MaxSubscribers),
		MaxStreamsPerIP:           cfg.Feed.MaxSubscribersPerIP,
		BusyRetry:                 cfg.Feed.BusyRetry,
		MaxPublishStreams:         cfg.Feed.MaxPublishStreams,
		MaxPublishStreamsPerToken: cfg.Feed.MaxPublishStreamsPerToken,
		Proxies:                   cfg.Proxies(),
		OpsToken:                  cfg.Server.OpsToken,
		PublishRate:               cfg.Auth.PublishRate,
		PublishBurst:              cfg.Auth.PublishBurst,
		Web:                       web.Files(),
		Docs:                      web.Docs(),
		Operators:                 creds.Operators,
		SessionLifetime:           cfg.Auth.SessionLifetime,
		ExposeOperator:            cfg.Feed.ExposeOperator,
		Viewers:                   cfg.Feed.Viewers,
		ViewersMin:                cfg.Feed.ViewersMin,
		Logger:                    n.log,
		AccessLog:                 cfg.Log.Access,
	}
	if opts.Server != nil {
		opts.Server(&serverOpts)
	}
	n.srv = handlers.New(handlers.Backends{Log: n.eventLog, History: n.history, Sessions: sessions, Hub: n.hub, Cluster: status, Metrics: metrics, Heartbeat: heartbeat, Audience: audience, AudienceEvery: hubOpts.Audience, StoreStats: func() handlers.StoreStats {
		ss, pc := st.Stats(), store.PageCache()
		out := handlers.StoreStats{Commits: ss.Commits, Events: ss.Events, Busy: ss.Busy, WALFrames: ss.WALFrames, Unindexed: ss.Unindexed, RetainedAt: ss.RetainedAt,
			PageCacheSlots: int64(pc.Slots), PageCacheUsed: pc.Used, PageCacheOverflow: pc.Overflow}
		for _, p := range ss.Pauses {
			out.Pauses = append(out.Pauses, handlers.WriterPauses{Work: p.Work, Count: p.Count, Sum: p.Sum, Bounds: store.PauseBounds(), AtMost: p.AtMost})
		}
		return out
	}}, serverOpts)
	handler := n.srv.Handler()
	if n.demoKeys != nil {
		handler = demoToken(handler, n.demoKeys)
	}
	n.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.http.RegisterOnShutdown(n.srv.StopIngest)
	return n, nil
}

// NewLogger returns a node's log: text or JSON lines on w, of level and
// above. A duration is written as the configuration writes one ("5s",
// "1m30s") in both formats: slog's JSON would make it a bare number of
// nanoseconds, a field with no unit.
func NewLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationText writes a duration attribute as text with its unit.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// Log is the node's log.
func (n *Node) Log() *slog.Logger { return n.log }

// Store is the node's SQLite history (in a cluster, the node's own copy
// of the cluster's log).
func (n *Node) Store() *store.Store { return n.store }

// Hub is the node's fan-out.
func (n *Node) Hub() *fanout.Hub { return n.hub }

// Server is the node's HTTP interface.
func (n *Node) Server() *handlers.Server { return n.srv }

// EventLog is where the node's events get their IDs: the store, or the
// cluster's log.
func (n *Node) EventLog() feed.Log { return n.eventLog }

// preload fills the hub's window and snapshot from the database, so clients
// reconnecting after a restart resume from memory.
func (n *Node) preload(ctx context.Context) error {
	latest, err := n.store.Latest(ctx)
	if err != nil {
		return fmt.Errorf("load latest events: %w", err)
	}
	recent, err := n.store.Recent(ctx, n.cfg.Feed.Window)
	if err != nil {
		return fmt.Errorf("load recent events: %w", err)
	}
	n.topics.Saw(latest)
	if held, limit := n.topics.Held(), n.topics.Limit(); limit > 0 && held >= limit {
		n.log.Warn("the database holds as many topics as feed.max_topics allows, or more: events to new topics are refused until it is raised", "topics", held, "max_topics", limit)
	}
	n.hub.Preload(latest, recent, n.store.LastID())
	// Each delay line starts where the database has it: what the feed
	// was a delay ago. What it has yet to release comes from the hub's
	// window, or from this node's own history when the window no longer
	// holds it.
	n.hub.SetStored(storedEvents{n.store})
	for _, d := range n.hub.Delays() {
		then, through, err := n.store.LatestAsOf(ctx, time.Now().Add(-d))
		if err != nil {
			return fmt.Errorf("load what the feed was %s ago: %w", d, err)
		}
		n.hub.PreloadDelayed(d, then, through)
	}
	return nil
}

// storedEvents are every event of a node's history, for the hub's delay
// lines.
type storedEvents struct{ st *store.Store }

var _ fanout.Replay = storedEvents{}

func (s storedEvents) Check(after int64) error { return s.st.Resumable(after) }

func (s storedEvents) After(ctx context.Context, after int64, limit int) ([]feed.Event, error) {
	return s.st.After(ctx, after, feed.Filter{All: true}, limit)
}

// joinCluster joins the cluster of the configuration: this node mirrors
// the stream into its store and publishes through it.
func (n *Node) joinCluster(ctx context.Context) (*cluster.Node, error) {
	c := n.cfg.Cluster
	name := c.Node
	if name == "" {
		name, _ = os.Hostname()
	}
	n.log.Info("joining the cluster", "node", name, "nats", strings.Join(c.NATSURLs, ","), "stream", c.Stream)
	// This node's own audience, shared with the others every interval
	// the hub keeps a count for; nothing where feed.viewers is off.
	var audience func() *fanout.Audience
	if n.cfg.AudienceEvery() > 0 {
		audience = n.hub.Audience
	}
	return cluster.Open(ctx, n.store, cluster.Options{
		URLs: c.NATSURLs, Stream: c.Stream, Subjects: c.Subjects, Replicas: c.Replicas, Node: name,
		Credentials: c.Credentials, Token: c.Token, CAFile: c.CAFile, MaxAge: c.MaxAge, MaxBytes: c.MaxBytes,
		CatchUpWait: c.CatchUpWait, MaxDataBytes: n.cfg.Feed.MaxEventBytes, Logger: n.log,
		// The other nodes' heartbeats, with their senders' times: this
		// node's verdicts are theirs (see store/cluster/heartbeat.go).
		Heartbeats: func(f feed.Filter, at time.Time) { n.hub.Heartbeat(f, at) },
		Audience:   audience, AudienceEvery: n.cfg.AudienceEvery(),
	})
}

// maxStreams is the configured limit on event streams, or, when 0, the
// process's open-file limit less a reserve of 1,024 for the database, the
// listener and publishers' connections (no limit if that is unknown).
func maxStreams(configured int) int {
	if configured > 0 {
		return configured
	}
	if n := fanout.OpenFileLimit(); n > 2048 {
		return n - 1024
	}
	return 0 // unknown: no limit
}

// Listen loads the TLS certificate, if there is one, before anything says
// "https" (a missing or mismatched file stops the start here, with the key
// named), and opens the listener of server.address. Where it listens (the
// port the system chose for ":0" included, and https with TLS) is then
// written in the database's lock file, where livefeed tail, publish and
// import on this machine find it (store.HolderOf); connections made
// before Serve wait in the listener's queue.
func (n *Node) Listen() (net.Listener, error) {
	if n.cfg.Server.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.Server.TLSCert, n.cfg.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server.tls_cert, server.tls_key: %w", err)
		}
		n.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", n.cfg.Server.Address)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.wrap != nil {
		ln = n.wrap(ln)
	}
	n.ln = ln
	n.mu.Unlock()
	if err := n.store.Advertise(n.URL()); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// URL is how a user on this machine reaches the node's listener.
func (n *Node) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return baseURL(n.ln.Addr(), n.http.TLSConfig != nil)
}

// baseURL is how a user on this machine reaches addr.
func baseURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Announce says on w where the node serves, and logs what it is missing.
// builtIn says that no configuration file was found (configPath), so the
// built-in defaults are in use.
func (n *Node) Announce(w io.Writer, builtIn bool, configPath string) {
	cfg := n.cfg
	base := n.URL()
	fmt.Fprintf(w, "livefeed is serving on %s\n  demo page: %s/\n  admin:     %s/admin\n  docs:      %s/docs\n  events:    %s/events?topic=*\n",
		base, base, base, base, base)
	if builtIn {
		fmt.Fprintf(w, "  settings:  no %s here, so the built-in defaults (%s/docs/configuration): database %s, %s, %s, no CORS origins\n",
			configPath, base, cfg.Store.Path,
			count(len(cfg.Auth.PublishTokens), "publish token", "no publish tokens (set "+config.EnvPublishTokens+")"),
			count(len(cfg.Auth.Operators), "operator", "no operators (set "+config.EnvOperators+")"))
	}
	n.log.Info("started", "address", n.ln.Addr().String(), "database", n.store.Path(), "last_id", n.store.LastID(), "tls", n.http.TLSConfig != nil)
	if len(cfg.Auth.PublishTokens) == 0 {
		n.log.Warn("no publish tokens are configured: POST /api/publish will refuse every request")
	}
	if len(cfg.Auth.Operators) == 0 {
		n.log.Warn("no operator accounts are configured: nobody can sign in to /admin")
	}
	if len(cfg.Auth.PrivateTopics) > 0 && len(cfg.Auth.SubscriberKeys) == 0 {
		n.log.Warn("auth.private_topics are set but no auth.subscriber_keys: no subscriber can be granted them")
	}
}

// count says "2 operators", or none when n is 0.
func count(n int, one, none string) string {
	switch n {
	case 0:
		return none
	case 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// ServeOptions are what a node serves beside its API.
type ServeOptions struct {
	// Demo publishes a simulated game and stock ticker (-demo), through
	// the API as any publisher does.
	Demo bool
	// Profiler, if set, is a loopback address to serve Go's profiler on
	// (-pprof).
	Profiler string
	// Stdout is told that the demo runs.
	Stdout io.Writer
}

// Serve serves on the listener of Listen until ctx ends, then shuts down:
// it stops accepting, lets running requests (publishes) finish, stops
// the archiver and the demo, and ends the event streams (clients
// reconnect and resume). The database is closed by Close, once nothing
// can write to it. Beside the API it runs the archiver of
// feed.final_linger, and what opts ask.
func (n *Node) Serve(ctx context.Context, opts ServeOptions) error {
	if opts.Profiler != "" {
		stop, err := serveProfiler(opts.Profiler, n.log)
		if err != nil {
			return err
		}
		defer stop()
	}
	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer background.Wait()
	defer stopBackground()
	if linger := n.cfg.Feed.FinalLinger; linger > 0 {
		// On every node of a cluster: the archive is appended only while
		// the final score is the game's latest event, so one node's wins
		// and the others' are no-ops.
		background.Go(func() { archive.Run(bgCtx, n.history, n.eventLog, linger, archiveEvery, n.log) })
	}
	if opts.Demo {
		publisher := n.demoPublisher()
		background.Go(func() { demo.Run(bgCtx, publisher, func(err error) { n.log.Warn("demo", "err", err) }) })
		if opts.Stdout != nil {
			fmt.Fprintln(opts.Stdout, "  demo game and ticker are publishing to nba/demo/lal-bos and stocks/*")
			if n.demoKeys != nil {
				fmt.Fprintf(opts.Stdout, "  stocks/* is delayed by %s for readers without a token; the demo page's own widgets fetch one from /demo/token\n", feed.DescribeDelay(demoDelay))
			}
		}
	}
	served := make(chan error, 1)
	go func() {
		if n.http.TLSConfig != nil {
			served <- n.http.ServeTLS(n.ln, "", "") // the certificate is in TLSConfig
		} else {
			served <- n.http.Serve(n.ln)
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	n.log.Info("shutting down")
	stopBackground()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), n.cfg.Server.ShutdownTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- n.http.Shutdown(shutdownCtx) }()
	n.hub.Close()
	return <-shutdown
}

// Close closes the cluster connection, the hub and the store.
func (n *Node) Close() error {
	if n.cluster != nil {
		n.cluster.Close()
	}
	n.hub.Close()
	if n.store == nil {
		return nil
	}
	return n.store.Close()
}
