// Package handlers is livefeed's HTTP interface: publishing, event streams,
// history, the operator console and the embeddable widgets. It turns
// requests into calls on the store (append, read) and the feed hub (serve a
// subscriber), and errors into the JSON error body of the contract.
package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"livefeed/feed"
	"livefeed/store"
)

// Options configure a Server.
type Options struct {
	// PublishTokens are the bearer tokens accepted by POST /api/publish.
	PublishTokens []string
	// AllowedOrigins may read the feed from a browser (CORS).
	AllowedOrigins []string
	// Retry is the reconnection delay sent to EventSource clients.
	Retry time.Duration
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	// WriteTimeout bounds writing the start of an event stream.
	WriteTimeout time.Duration
	// MaxStreams and MaxStreamsPerIP bound the open event streams (0: no
	// limit); BusyRetry is about when a client refused for them comes
	// back.
	MaxStreams, MaxStreamsPerIP int
	BusyRetry                   time.Duration
	// ClientIPHeader names the header a trusted reverse proxy puts the
	// client's address in ("X-Forwarded-For"); empty to use the peer.
	ClientIPHeader string
	// PublishRate is the events per second each publish token may send on
	// average (0: no limit), PublishBurst how many at once.
	PublishRate  float64
	PublishBurst int
	// Web holds the static pages and scripts, served from "/".
	Web fs.FS
	// Operators may sign in to the admin console.
	Operators []Operator
	// SessionLifetime is how long an operator stays signed in (default
	// 12 hours).
	SessionLifetime time.Duration
	Logger          *slog.Logger
}

// Server serves livefeed's HTTP interface.
type Server struct {
	opts    Options
	store   *store.Store
	hub     *feed.Hub
	log     *slog.Logger
	tokens  [][sha256.Size]byte
	origins map[string]bool
	streams *streamLimits
	rates   *rateLimits
	metrics metrics
	exports *exportTurns // the CSV exports' slots

	// The admin console.
	operators   map[string]string // name → bcrypt hash
	sessions    *sessions
	throttle    *loginThrottle
	crossOrigin *http.CrossOriginProtection
	adminMu     sync.Mutex // serialises operators' read-modify-publish changes
	dummyOnce   sync.Once
	dummy       string
}

// New returns a Server publishing into st and streaming from hub.
func New(st *store.Store, hub *feed.Hub, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BusyRetry <= 0 {
		opts.BusyRetry = 10 * time.Second
	}
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = 12 * time.Hour
	}
	s := &Server{opts: opts, store: st, hub: hub, log: opts.Logger, origins: make(map[string]bool),
		streams:     newStreamLimits(opts.MaxStreams, opts.MaxStreamsPerIP),
		rates:       newRateLimits(opts.PublishRate, opts.PublishBurst),
		exports:     newExportTurns(maxExports),
		operators:   make(map[string]string),
		sessions:    &sessions{store: st, lifetime: opts.SessionLifetime},
		throttle:    newLoginThrottle(),
		crossOrigin: http.NewCrossOriginProtection(),
	}
	for _, op := range opts.Operators {
		s.operators[op.Name] = op.PasswordHash
	}
	s.crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, s.log, newError(errForbidden, "cross-origin requests to the admin console are refused"))
	}))
	for _, t := range opts.PublishTokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	for _, o := range opts.AllowedOrigins {
		s.origins[o] = true
	}
	return s
}

// Handler returns the routes: the whole HTTP API at a glance.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()

	// Publishing: systems and operators push updates.
	r.HandleFunc("/api/publish", s.publish).Methods(http.MethodPost)

	// Reading the feed and its history, also cross-origin from the allowed
	// origins.
	feedRoutes := r.NewRoute().Subrouter()
	feedRoutes.Use(s.cors)
	feedRoutes.HandleFunc("/events", s.events).Methods(http.MethodGet)
	feedRoutes.HandleFunc("/events", s.preflight).Methods(http.MethodOptions)
	feedRoutes.HandleFunc("/api/topics", s.topics).Methods(http.MethodGet)
	feedRoutes.HandleFunc("/api/history", s.history).Methods(http.MethodGet)
	feedRoutes.HandleFunc("/api/export.csv", s.exportCSV).Methods(http.MethodGet)

	// The operator console: a page, and forms that need a signed-in
	// operator's session and its CSRF token. Browsers' cross-origin
	// requests are refused before any of it runs.
	r.HandleFunc(adminPath, s.adminPage).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/admin/", http.RedirectHandler("/admin", http.StatusMovedPermanently))
	admin := r.PathPrefix(adminPath).Subrouter()
	admin.Use(s.crossOrigin.Handler)
	admin.HandleFunc("/session", s.adminSession).Methods(http.MethodGet)
	admin.HandleFunc("/login", s.login).Methods(http.MethodPost)
	admin.HandleFunc("/logout", s.operatorForm(s.logout)).Methods(http.MethodPost)
	admin.HandleFunc("/games", s.operatorForm(s.createGame)).Methods(http.MethodPost)
	admin.HandleFunc("/symbols", s.operatorForm(s.createSymbol)).Methods(http.MethodPost)
	admin.HandleFunc("/score", s.operatorForm(s.pushScore)).Methods(http.MethodPost)
	admin.HandleFunc("/price", s.operatorForm(s.pushPrice)).Methods(http.MethodPost)

	// Operations.
	r.HandleFunc("/healthz", s.health).Methods(http.MethodGet)
	r.HandleFunc("/metrics", s.serveMetrics).Methods(http.MethodGet)

	// Pages and scripts.
	if s.opts.Web != nil {
		r.PathPrefix("/").Handler(s.static(http.FileServerFS(s.opts.Web))).Methods(http.MethodGet, http.MethodHead)
	}

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, s.log, newError(errNotFound, "no such endpoint: %s", r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " is not allowed here"})
	})
	return r
}

// authorizePublisher checks the bearer token in constant time: the token is
// compared against every configured one, as SHA-256 digests so that
// neither the position of a difference nor the length leaks through timing.
// It returns the digest, which identifies the publisher for rate limiting.
func (s *Server) authorizePublisher(r *http.Request) ([sha256.Size]byte, error) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return [sha256.Size]byte{}, newError(errUnauthorized, "a publish token is required: send the header \"Authorization: Bearer <token>\"")
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, t := range s.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	if match != 1 {
		return [sha256.Size]byte{}, newError(errUnauthorized, "the publish token is not valid")
	}
	return sum, nil
}

// cors lets the allowed origins read the feed from a browser, credentials
// (cookies) included. Other origins get no CORS headers at all, so the
// browser keeps the response from them.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && s.origins[origin] {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight. EventSource polyfills and fetch-based
// clients send Last-Event-ID as a header, which is not CORS-safelisted.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "" {
		h.Set("Access-Control-Allow-Methods", "GET")
		h.Set("Access-Control-Allow-Headers", "Last-Event-ID, Cache-Control, Accept")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// health reports whether the server can serve: the database answers.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		Error(w, r, s.log, err)
		return
	}
	st := s.hub.Stats()
	// The PID lets whoever started the process tell that the answer comes
	// from that process and not from another one on the same port.
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "last_id": st.LastID, "subscribers": st.Subscribers, "pid": os.Getpid()})
}

// static serves the embedded web files with the headers pages need.
func (s *Server) static(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		setPageHeaders(h)
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

type metrics struct {
	published   atomic.Uint64
	shed        atomic.Uint64 // streams refused for the connection limits
	rateLimited atomic.Uint64 // publishes refused for the rate limit
}
