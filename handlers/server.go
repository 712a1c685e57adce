// Package handlers is livefeed's HTTP interface: publishing, event streams,
// history, the operator console and the embeddable widgets. It turns
// requests into calls on a feed.Log (append) and a History (read) and on
// the hub (serve a subscriber), and errors into the JSON error body of the
// contract. It is the top floor, with its packages: config (config.toml),
// token (subscriber tokens), node (wiring a whole node), cli (the
// commands). It declares what it needs of storage as interfaces and
// imports no store: which store serves them is handlers/node's choice.
package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/handlers/token"
)

// History is the stored events the handlers read: the latest of each
// topic, pages, exports, and what a resuming stream missed. The store
// implements it.
type History interface {
	Latest(ctx context.Context) ([]feed.Event, error)
	// LatestPage returns the latest events of up to limit topics of v
	// after the topic after, in topic order, and whether more follow
	// (see store.LatestPage).
	LatestPage(ctx context.Context, v feed.Visible, after string, limit int) ([]feed.Event, bool, error)
	// LatestAsOf returns what the feed was at t: the latest event of
	// each topic stored at or before it, and the newest ID that old (for
	// delayed readers; see store.LatestAsOf).
	// Of topics only, if some are given.
	LatestAsOf(ctx context.Context, t time.Time, topics ...string) (latest []feed.Event, through int64, err error)
	LatestOf(ctx context.Context, topic string) (e feed.Event, found bool, err error)
	// Page returns a page of the events of r (see store.Page).
	Page(ctx context.Context, r feed.Range, limit int, newestFirst bool) (events []feed.Event, more bool, err error)
	Export(ctx context.Context, w io.Writer, r feed.Range) (int64, error)
	// Missed and Resumable serve a stream that resumes from a position
	// the hub's window no longer holds (see fanout.Replay): Missed
	// returns the events after a position that a subscriber sees.
	Missed(ctx context.Context, after int64, v feed.Visible, limit int) ([]feed.Event, error)
	Resumable(after int64) error
	// LastID returns the newest event stored: the hub hears of it a
	// moment later (see events).
	LastID() int64
	// Ping reports whether the storage answers (GET /healthz).
	Ping(ctx context.Context) error
}

// Backends are what a Server works with.
type Backends struct {
	Log      feed.Log
	History  History
	Sessions SessionStore
	Hub      *fanout.Hub
	// StoreStats, if set, returns the figures of the store's writer for
	// /metrics.
	StoreStats func() StoreStats
	// Cluster, if set, returns this node's state in a cluster, for
	// /healthz and /metrics.
	Cluster func() ClusterStatus
	// Metrics, if set, are the figures the server counts in and serves
	// on /metrics (the hub observes its delivery lag with the same);
	// else the server makes its own.
	Metrics *Metrics
	// Heartbeat, if set, takes a publisher's heartbeat for the topics of
	// f, sent at at, and returns how many watched topics it kept alive
	// on this node: a cluster hands it to every node. Else the hub takes
	// it alone (one node).
	Heartbeat func(f feed.Filter, at time.Time) (int, error)
	// Audience, if set, returns how many streams receive each topic: in
	// a cluster, this node's (Hub.Audience) summed with the latest the
	// others shared (fanout.Sum). Else the hub's alone (one node).
	Audience func() *fanout.Audience
	// AudienceEvery is how long the hub keeps a count of its audience
	// (fanout.Options.Audience; 0: fanout.DefaultAudience): how long
	// the public may cache a figure of /api/viewers.
	AudienceEvery time.Duration
}

// ClusterStatus is a cluster node's state.
type ClusterStatus struct {
	Node       string
	Applied    int64 // the newest event applied to this node's history
	StreamLast int64 // the newest event of the cluster's log, as last seen
	Connected  bool  // to NATS
	Ready      bool  // caught up with the log since it started
	Problem    string
	// Dropped messages of the other nodes heard on the cluster's
	// subjects: heartbeats and audience counts, malformed (or, for
	// counts, from more nodes than are kept).
	DroppedHeartbeats, DroppedAudience uint64
	// AudienceUnshared are the watched topics this node left out of the
	// audience count it shares, for its size.
	AudienceUnshared int
}

// StoreStats are the store's figures on /metrics.
type StoreStats struct {
	Commits, Events uint64
	Busy            time.Duration
	WALFrames       int64
	Unindexed       int64 // events the topic index does not hold yet
	// RetainedAt is when the retention policy was last met
	// (store.Stats.RetainedAt); zero without a policy.
	RetainedAt time.Time
	// The buffer of SQLite's page cache (store.PageCacheStats): its
	// slots, those holding a page, and the bytes of pages kept outside it.
	PageCacheSlots, PageCacheUsed, PageCacheOverflow int64
	// Pauses are the times the writer took up other work between two
	// commits, while publishes waited (store.Stats.Pauses), a histogram
	// for each kind of work.
	Pauses []WriterPauses
}

// WriterPauses is a histogram of the store writer's pauses for one kind
// of work: AtMost[i] of them took at most Bounds[i] seconds.
type WriterPauses struct {
	Work   string
	Count  uint64
	Sum    time.Duration
	Bounds []float64
	AtMost []uint64
}

// The defaults of Options: the server's unless its configuration says
// otherwise (config.Default uses these).
const (
	DefaultBusyRetry       = 10 * time.Second
	DefaultSessionLifetime = 12 * time.Hour
	// A streaming publish holds at most a few MiB (see maxGroupBytes):
	// 32 of them about 150 MiB at worst. A feed gateway needs a few
	// connections (4 reach the store's commit rate).
	DefaultMaxPublishStreams         = 32
	DefaultMaxPublishStreamsPerToken = 8
)

// Options configure a Server.
type Options struct {
	// PublishTokens are the bearer tokens accepted by POST /api/publish,
	// for any topic.
	PublishTokens []string
	// ScopedPublishTokens are accepted too, each for its topics only: a
	// publish to another topic is refused (403).
	ScopedPublishTokens []ScopedPublishToken
	// PrivateTopics need a subscriber token granting them (the zero
	// Filter: none do, and tokens are not looked at).
	PrivateTopics feed.Filter
	// Delayed are the delayed tiers: their topics reach readers whose
	// token does not grant them in real time only once that old, in
	// every read. The hub must have a delay line for each of their
	// delays.
	Delayed feed.Tiers
	// ConflateMinimums are the shortest conflation intervals of topics:
	// a subscriber of one gets at most one event per topic per interval.
	ConflateMinimums feed.Tiers
	// SubscriberKeys verify subscriber tokens.
	SubscriberKeys *token.Keys
	// AllowedOrigins may read the feed from a browser (CORS).
	AllowedOrigins []string
	// Retry is the reconnection delay sent to EventSource clients.
	Retry time.Duration
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	// WriteTimeout bounds writing the start of an event stream, and each
	// write of the answers of a streaming publish.
	WriteTimeout time.Duration
	// ReadTimeout bounds the wait for more of a streaming publish's body
	// (the server's read timeout bounds the whole of other requests).
	ReadTimeout time.Duration
	// MaxStreams and MaxStreamsPerIP bound the open event streams (0: no
	// limit); BusyRetry is about when a client refused for them comes
	// back.
	MaxStreams, MaxStreamsPerIP int
	BusyRetry                   time.Duration
	// Proxies are the reverse proxies trusted to pass on the client's
	// address and scheme (none: every header saying so is ignored).
	Proxies Proxies
	// OpsToken, if set, opens the detail of /healthz and /metrics to
	// clients that are not on this machine (see opsAllowed).
	OpsToken string
	// MaxPublishStreams and MaxPublishStreamsPerToken bound the open
	// streaming publishes, in all and per publish token (0: no limit).
	// Each holds a few MiB at most (two groups of lines and a line being
	// read): these bound that memory.
	MaxPublishStreams, MaxPublishStreamsPerToken int
	// PublishRate is the events per second each publish token may send on
	// average (0: no limit), PublishBurst how many at once.
	PublishRate  float64
	PublishBurst int
	// Web holds the static pages and scripts, served from "/".
	Web fs.FS
	// Docs holds the reference pages (Markdown) and the files beside
	// them, served at /docs (see package docs).
	Docs fs.FS
	// Operators may sign in to the admin console.
	Operators []Operator
	// SessionLifetime is how long an operator stays signed in (default
	// DefaultSessionLifetime).
	SessionLifetime time.Duration
	// ExposeOperator shows who published each event from the console to
	// every reader of history and exports; without it only signed-in
	// operators see it.
	ExposeOperator bool
	// Viewers is who is told the audience of each topic in /api/topics
	// (ViewersOff, ViewersOperators or ViewersPublic); below ViewersMin,
	// the public is told "fewer than ViewersMin". Operators see every
	// figure exact, and /admin/audience, unless it is off.
	Viewers    string
	ViewersMin int
	Logger     *slog.Logger
	// AccessLog logs a line at info for every request (see recorded).
	AccessLog bool
}

// Server serves livefeed's HTTP interface.
type Server struct {
	opts     Options
	eventLog feed.Log
	stored   History
	hub      *fanout.Hub
	beat     func(f feed.Filter, at time.Time) (int, error) // Backends.Heartbeat
	// audienceOf is Backends.Audience (see audience), audienceEvery
	// Backends.AudienceEvery; viewerAnswers the answers of /api/viewers
	// to the public, encoded once per count.
	audienceOf    func() *fanout.Audience
	audienceEvery time.Duration
	viewerAnswers viewerAnswers
	stats         func() StoreStats
	topicCount    topicCount // b.Log, if it counts its topics (feed.Topics)
	cluster       func() ClusterStatus
	log           *slog.Logger
	creds         atomic.Pointer[credentials]       // see SetCredentials
	proxies       atomic.Pointer[proxies]           // see SetProxies
	opsToken      atomic.Pointer[[sha256.Size]byte] // its digest; see SetOpsToken
	streams       *streamLimits
	// publishStreams bounds the streaming publishes, in all and per
	// publish token; bodies the memory of the other publishes' bodies.
	publishStreams *streamLimits
	bodies         *bodyBudget
	// consoleKeys sign the subscriber tokens the operator console reads
	// private and delayed topics with: a secret of this process's own, so
	// that they need no key of the configuration. Nil where tokens do not
	// matter (see tokensMatter).
	consoleKeys *token.Keys
	rates       *rateLimits
	metrics     *Metrics
	// metricsHandler serves /metrics.
	metricsHandler http.Handler
	accessLog      bool
	notices        notices      // refusals logged at info
	exports        *exportTurns // the CSV exports' slots
	// stopping is closed by StopIngest: streaming publishes end.
	stopping     chan struct{}
	stoppingOnce sync.Once

	// docs is the reference pages, rendered (nil without Options.Docs).
	docs *docsSite

	// The admin console.
	sessions    *sessions
	signedOut   signedOutSessions // whose console tokens are refused
	throttle    *loginThrottle
	crossOrigin *http.CrossOriginProtection
	dummyOnce   sync.Once
	dummy       string
}

// New returns a Server publishing into b.Log, reading b.History and
// streaming from b.Hub.
func New(b Backends, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BusyRetry <= 0 {
		opts.BusyRetry = DefaultBusyRetry
	}
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = DefaultSessionLifetime
	}
	if b.Metrics == nil {
		b.Metrics = NewMetrics()
	}
	s := &Server{opts: opts, eventLog: timedLog{Log: b.Log, commit: b.Metrics.commit}, metrics: b.Metrics, accessLog: opts.AccessLog, stored: b.History, hub: b.Hub, stats: b.StoreStats, cluster: b.Cluster, log: opts.Logger,
		streams:        newStreamLimits(opts.MaxStreams, opts.MaxStreamsPerIP),
		publishStreams: newStreamLimits(opts.MaxPublishStreams, opts.MaxPublishStreamsPerToken),
		bodies:         newBodyBudget(opts.MaxBodyBytes),
		rates:          newRateLimits(opts.PublishRate, opts.PublishBurst),
		exports:        newExportTurns(maxExports),
		stopping:       make(chan struct{}),
		sessions:       &sessions{store: b.Sessions, lifetime: opts.SessionLifetime},
		throttle:       newLoginThrottle(),
		crossOrigin:    http.NewCrossOriginProtection(),
	}
	s.topicCount, _ = b.Log.(topicCount)
	if s.beat = b.Heartbeat; s.beat == nil {
		s.beat = func(f feed.Filter, at time.Time) (int, error) { return b.Hub.Heartbeat(f, at), nil }
	}
	if s.audienceOf = b.Audience; s.audienceOf == nil {
		s.audienceOf = b.Hub.Audience
	}
	if s.audienceEvery = b.AudienceEvery; s.audienceEvery <= 0 {
		s.audienceEvery = fanout.DefaultAudience
	}
	if s.opts.Viewers == "" {
		s.opts.Viewers = ViewersOperators
	}
	s.metrics.registry.MustRegister(statsCollector{s})
	s.metricsHandler = metricsHandler(s.metrics, s)
	s.SetProxies(opts.Proxies)
	s.SetOpsToken(opts.OpsToken)
	s.SetCredentials(Credentials{PublishTokens: opts.PublishTokens, ScopedPublishTokens: opts.ScopedPublishTokens,
		SubscriberKeys: opts.SubscriberKeys, AllowedOrigins: opts.AllowedOrigins, Operators: opts.Operators})
	if opts.Docs != nil {
		d, err := newDocsSite(opts.Docs)
		if err != nil {
			s.log.Error("the reference pages cannot be served", "error", err)
		}
		s.docs = d
	}
	if s.tokensMatter() {
		s.consoleKeys, _ = token.ParseKeys([]string{rand.Text() + rand.Text()}, "", nil) // 52 bytes of base32: a valid secret
	}
	s.crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, s.log, feed.Errorf(feed.ErrForbidden, "cross-origin requests to the admin console are refused"))
	}))
	return s
}

// Handler returns the routes: the whole HTTP API at a glance. Every
// request's query string must parse (see strictRequest); HEAD is answered
// wherever GET is; a wrong method gets 405 with Allow, an unknown /api/
// path a JSON 404.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.Use(routeLabel, s.strictRequest)
	get := []string{http.MethodGet, http.MethodHead}

	// Publishing: systems and operators push updates.
	r.HandleFunc("/api/publish", s.publish).Methods(http.MethodPost)
	r.HandleFunc("/api/heartbeat", s.heartbeat).Methods(http.MethodPost)

	// Reading the feed and its history, also cross-origin from the allowed
	// origins, with a preflight for each.
	feedRoutes := r.NewRoute().Subrouter()
	feedRoutes.Use(s.cors)
	feedRoutes.HandleFunc("/events", s.events).Methods(get...)
	feedRoutes.HandleFunc("/api/topics", s.topics).Methods(get...)
	feedRoutes.HandleFunc("/api/viewers", s.viewers).Methods(get...)
	feedRoutes.HandleFunc("/api/history", s.history).Methods(get...)
	feedRoutes.HandleFunc("/api/export.csv", s.exportCSV).Methods(get...)
	for _, path := range []string{"/events", "/api/topics", "/api/viewers", "/api/history", "/api/export.csv"} {
		feedRoutes.HandleFunc(path, s.preflight).Methods(http.MethodOptions)
	}

	// Whether a site may read the feed from a browser: for anyone, from
	// any origin, without credentials.
	r.HandleFunc("/api/origin", s.originCheck).Methods(get...)
	r.HandleFunc("/api/origin", s.originPreflight).Methods(http.MethodOptions)

	// The operator console: a page, and forms that need a signed-in
	// operator's session and its CSRF token. Browsers' cross-origin
	// requests are refused before any of it runs.
	r.HandleFunc(adminPath, s.adminPage).Methods(get...)
	r.Handle("/admin/", http.RedirectHandler("/admin", http.StatusMovedPermanently))
	admin := r.PathPrefix(adminPath).Subrouter()
	admin.Use(s.crossOrigin.Handler)
	admin.HandleFunc("/session", s.adminSession).Methods(get...)
	admin.HandleFunc("/login", s.login).Methods(http.MethodPost)
	admin.HandleFunc("/logout", s.operatorForm(s.logout)).Methods(http.MethodPost)
	admin.HandleFunc("/games", s.operatorForm(s.createGame)).Methods(http.MethodPost)
	admin.HandleFunc("/symbols", s.operatorForm(s.createSymbol)).Methods(http.MethodPost)
	admin.HandleFunc("/score", s.operatorForm(s.pushScore)).Methods(http.MethodPost)
	admin.HandleFunc("/price", s.operatorForm(s.pushPrice)).Methods(http.MethodPost)
	admin.HandleFunc("/archive", s.operatorForm(s.archiveTopic)).Methods(http.MethodPost)
	admin.HandleFunc("/undo", s.operatorForm(s.undo)).Methods(http.MethodPost)
	// The history and exports as the console shows them: with who
	// published each event.
	admin.HandleFunc("/history", s.operatorRead(s.history)).Methods(get...)
	admin.HandleFunc("/export.csv", s.operatorRead(s.exportCSV)).Methods(get...)
	// The audience: how many streams receive each topic, most watched
	// first.
	admin.HandleFunc("/audience", s.operatorRead(s.adminAudience)).Methods(get...)

	// Operations.
	r.HandleFunc("/healthz", s.health).Methods(get...)
	r.HandleFunc("/metrics", s.serveMetrics).Methods(get...)

	// The reference pages, and the files beside them to download.
	r.HandleFunc("/docs", s.docsPage).Methods(get...)
	r.PathPrefix("/docs/").HandlerFunc(s.docsPage).Methods(get...)

	// Pages and scripts: the files there are.
	if s.opts.Web != nil {
		r.PathPrefix("/").MatcherFunc(s.webFile).Handler(s.static(http.FileServerFS(s.opts.Web))).Methods(get...).Name(routeStatic)
	}

	// Anything else: a JSON 405 with Allow when the path takes other
	// methods, else a JSON 404. Both are decided here, from the routes
	// themselves: mux's own choice between the two depends on the order
	// of the routes.
	unrouted := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		allow := allowedMethods(r, req)
		if len(allow) == 0 {
			Error(w, req, s.log, feed.Errorf(feed.ErrNotFound, "no such endpoint: %s", req.URL.Path))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		Error(w, req, s.log, feed.Errorf(feed.ErrNotAllowed, "%s is not allowed on %s; use %s", req.Method, req.URL.Path, strings.Join(allow, " or ")))
	})
	r.NotFoundHandler, r.MethodNotAllowedHandler = unrouted, unrouted

	// A publish goes straight to its handler: finding the route among
	// the others, and the copy of the request that the router makes to
	// hold it, cost a publish about 1.5 µs of CPU, a tenth of what
	// net/http itself costs it. Any other path, "/api/publish/" or
	// "/api//publish" included, is the router's.
	publish := s.strictRequest(http.HandlerFunc(s.publish))
	return s.recorded(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && req.URL.Path == "/api/publish" {
			if rec, ok := w.(*recorder); ok {
				rec.route = routePublish
			}
			publish.ServeHTTP(w, req)
			return
		}
		r.ServeHTTP(w, req)
	}))
}

// webFile reports whether the request's path names one of the web files,
// or a directory with an index.html.
func (s *Server) webFile(r *http.Request, _ *mux.RouteMatch) bool {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" {
		name = "."
	}
	info, err := fs.Stat(s.opts.Web, name)
	if err == nil && info.IsDir() {
		_, err = fs.Stat(s.opts.Web, path.Join(name, "index.html"))
	}
	return err == nil
}

// allowedMethods lists the methods router has a route for at req's path,
// for the Allow header of a 405 (RFC 9110 §15.5.6).
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions} {
		probe := *req
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(&probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return allow
}

// strictRequest refuses a request whose query string does not parse, on
// every endpoint. Go's URL.Query drops what it cannot parse without a word:
// "topic=ok/a;" would select every topic and "topic=ok/a;limit=5" ignore
// the limit, and a proxy allowing only some topic patterns could be
// bypassed that way. It also makes a request body that cannot be read (a
// broken chunked encoding, a body cut off or slower than the read timeout)
// the client's error, not the server's.
func (s *Server) strictRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			if _, err := ParseQuery(r.URL.RawQuery); err != nil {
				Error(w, r, s.log, err)
				return
			}
		}
		if r.Body != nil && r.Body != http.NoBody {
			// On a copy of the request: net/http looks at the type of
			// its own request's body once the handler is done (to send
			// no "100 Continue" after a refusal, and to close a
			// connection whose body was not read), and would wait for
			// a body a client expecting "100 Continue" never sends.
			copied := *r
			copied.Body = requestBody{r.Body}
			r = &copied
		}
		next.ServeHTTP(w, r)
	})
}

// ParseQuery parses a URL's query string, refusing what url.ParseQuery
// refuses: a ';' separator, a '%' not followed by two hexadecimal digits.
func ParseQuery(raw string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	var escape url.EscapeError
	switch {
	case err == nil:
		return q, nil
	case errors.As(err, &escape):
		return nil, queryError("the query string is malformed: %s is not a percent-encoded byte (write a %% in a value as %%25)", strings.TrimPrefix(escape.Error(), "invalid URL escape "))
	case strings.Contains(err.Error(), "semicolon"):
		return nil, queryError("the query string is malformed: it has a ';'; separate parameters with & (write a ; in a value as %%3B)")
	}
	return nil, queryError("the query string is malformed: %v", err)
}

// requestBody is a request's body whose read errors are classified: the
// client sent something that is not a body (400), or too slowly (408).
type requestBody struct{ io.ReadCloser }

func (b requestBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = feed.Errorf(feed.ErrTimeout, "the request body did not arrive within the server's read timeout")
	default:
		err = feed.Errorf(feed.ErrInvalid, "the request body could not be read: it is malformed (such as a broken chunked encoding) or was cut off")
	}
	return n, err
}

// ScopedPublishToken is a publish token that may publish to its topics
// only.
type ScopedPublishToken struct {
	Token  string
	Topics feed.Filter
	// MaxTopics bounds the topics Topics match, wherever they came from
	// (0: only the server's limit does).
	MaxTopics int
}

// publishToken is an accepted publish token: its digest, and the topics it
// may publish to (the zero Filter: any).
type publishToken struct {
	digest [sha256.Size]byte
	topics feed.Filter
}

// authorizePublisher checks the bearer token in constant time: the token is
// compared against every configured one, as SHA-256 digests so that
// neither the position of a difference nor the length leaks through timing.
// It returns the digest, which identifies the publisher for rate limiting,
// and the topics the token may publish to (the zero Filter: any).
func (s *Server) authorizePublisher(r *http.Request) ([sha256.Size]byte, feed.Filter, error) {
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || bearer == "" {
		return [sha256.Size]byte{}, feed.Filter{}, feed.Errorf(feed.ErrUnauthorized, "a publish token is required: send the header \"Authorization: Bearer <token>\"")
	}
	sum := sha256.Sum256([]byte(bearer))
	scope, ok := s.creds.Load().publishScope(sum)
	if !ok {
		return [sha256.Size]byte{}, feed.Filter{}, feed.Errorf(feed.ErrUnauthorized, "the publish token is not valid")
	}
	return sum, scope, nil
}

// publishScope finds the publish token whose digest is sum, comparing it
// with every one in constant time, and returns the topics it may publish
// to (the zero Filter: any); ok is false if there is none.
func (c *credentials) publishScope(sum [sha256.Size]byte) (scope feed.Filter, ok bool) {
	match := 0
	for _, t := range c.tokens {
		eq := subtle.ConstantTimeCompare(sum[:], t.digest[:])
		match |= eq
		if eq == 1 {
			scope = t.topics
		}
	}
	return scope, match == 1
}

// cors lets the allowed origins read the feed from a browser, credentials
// (cookies) included. Other origins get no CORS headers at all, so the
// browser keeps the response from them; each is counted, and logged now
// and then, since the page showing the widget tells its owner nothing.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		switch origin := r.Header.Get("Origin"); {
		case origin == "":
		case s.creds.Load().origins.Allows(origin):
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		case !sameOrigin(r):
			s.metrics.corsRefused.Inc()
			s.notices.log(s.log, "cors", "cross-origin request refused: the origin is not in cors.allowed_origins", r.URL.Path, s.clientIP(r), slog.String("origin", origin))
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight. EventSource polyfills and fetch-based
// clients send Last-Event-ID as a header, which is not CORS-safelisted.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD")
		h.Set("Access-Control-Allow-Headers", "Last-Event-ID, Cache-Control, Accept, Authorization")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// health reports whether the server can serve: the database answers (and
// in a cluster, the node has caught up with the log and follows it). The
// figures, and why it cannot serve, go only to a client allowed the
// operations' detail (see opsAllowed); others get the status alone, 200
// or 503, which is all a load balancer needs.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	allowed := s.opsAllowed(r)
	if err := s.stored.Ping(r.Context()); err != nil {
		if !allowed {
			err = notReady(err)
		}
		Error(w, r, s.log, err)
		return
	}
	if !allowed {
		writeJSONBody(w, http.StatusOK, []byte("{\"status\":\"ok\"}\n"))
		return
	}
	st := s.hub.Stats()
	// The PID lets whoever started the process tell that the answer comes
	// from that process and not from another one on the same port.
	reply := map[string]any{"status": "ok", "last_id": st.LastID, "subscribers": st.Subscribers, "pid": os.Getpid()}
	if s.cluster != nil {
		c := s.cluster()
		reply["cluster"] = map[string]any{"node": c.Node, "applied": c.Applied, "log_last": c.StreamLast,
			"lag": max(c.StreamLast-c.Applied, 0), "nats_connected": c.Connected, "ready": c.Ready}
	}
	writeJSON(w, http.StatusOK, reply)
}

// static serves the embedded web files with the headers pages need:
// revalidated on each use (no-cache, with an ETag), compressed for
// clients that accept it.
func (s *Server) static(files http.Handler) http.Handler {
	index := webFiles(s.opts.Web)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		setPageHeaders(h)
		h.Set("Cache-Control", "no-cache")
		if !serveWebFile(index, w, r) {
			files.ServeHTTP(w, r)
		}
	})
}
