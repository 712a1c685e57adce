package handlers

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"livefeed/feed"
)

// Route labels for requests no route took, and for the web files: the
// label is always a route pattern, never a raw path, so that the number
// of series stays bounded whatever paths clients send.
const (
	routeNone    = "unrouted"
	routeStatic  = "static"
	routeEvents  = "/events"
	routePublish = "/api/publish"
)

// recorded wraps the whole router: it counts and times every request by
// its route pattern (livefeed_http_requests_total and
// livefeed_http_request_duration_seconds), counts refused publishes by
// reason, and writes the access log line when it is on. The line has the
// method, the route, the status, the bytes, the duration in milliseconds
// (duration_ms: slog would write a time.Duration as bare nanoseconds in
// JSON) and the client's address: never a path or query (a subscriber
// token may be in the query), a header or a body.
func (s *Server) recorded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, start: time.Now(), route: routeNone}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			// A handler that returned without answering would get
			// net/http's default "200 OK": a 2xx for nothing done.
			// Every handler answers; should one not, its client is
			// told that it failed.
			s.log.Error("request failed: the handler wrote no answer", "method", r.Method, "path", r.URL.Path)
			writeJSON(rec, http.StatusInternalServerError, map[string]string{"error": "internal error: the request was not answered; nothing is known to have been done"})
		}
		end := time.Now()
		status := rec.status
		d := end.Sub(rec.start)
		if rec.route == routeEvents && !rec.opened.IsZero() {
			d = rec.opened.Sub(rec.start) // a stream's duration is its client's
		}
		s.metrics.request(rec.route, status, d)
		if rec.route == routePublish && status >= 400 {
			s.metrics.publishFailures.WithLabelValues(failureReason(status)).Inc()
		}
		switch status {
		case http.StatusUnauthorized:
			s.notices.log(s.log, "unauthorized", "request refused: missing or bad credentials", rec.route, s.clientIP(r))
		case http.StatusTooManyRequests:
			s.notices.log(s.log, "rate_limited", "request refused: rate limited", rec.route, s.clientIP(r))
		case http.StatusInsufficientStorage:
			s.noteTopicLimit(s.clientIP(r))
		}
		if s.accessLog {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("route", rec.route), slog.Int("status", status),
				slog.Int64("bytes", rec.bytes), slog.Float64("duration_ms", milliseconds(end.Sub(rec.start))),
				slog.String("client", s.clientIP(r)))
		}
	})
}

// milliseconds is d in milliseconds, to the microsecond: the unit of a
// log field named _ms.
func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// routeLabel, a middleware of the router, tells the recorder which route
// took the request.
func routeLabel(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*recorder); ok {
			if route := mux.CurrentRoute(r); route != nil {
				if name := route.GetName(); name != "" {
					rec.route = name
				} else if tpl, err := route.GetPathTemplate(); err == nil {
					rec.route = tpl
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recorder is a ResponseWriter that notes the status, the bytes of the
// body and when the response started. It unwraps for
// http.ResponseController and can be taken over (event streams).
type recorder struct {
	http.ResponseWriter
	start, opened time.Time
	route         string
	status        int
	bytes         int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 {
		rec.status, rec.opened = code, time.Now()
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status, rec.opened = http.StatusOK, time.Now()
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer (Flush,
// deadlines).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// Hijack hands the connection over (an HTTP/1.x event stream, which
// writes its own "200 OK").
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err == nil && rec.status == 0 {
		rec.status, rec.opened = http.StatusOK, time.Now()
	}
	return c, rw, err
}

// noticeInterval is how often at most a kind of refusal is logged: enough
// to see that it happens and from where, not a line per request of a
// client that retries in a loop.
const noticeInterval = time.Second

// noteTopicLimit logs that a publish from client named a new topic beyond
// feed.max_topics or its token's max_topics (a request, or a line of a
// streaming publish).
func (s *Server) noteTopicLimit(client string) {
	s.notices.log(s.log, "topic_limit", "publish refused: a new topic beyond the topics allowed (feed.max_topics, or the publish token's max_topics)", routePublish, client)
}

// notices logs refusals (401, 429, refused origins) at info, at most one
// line per noticeInterval of each kind; the next line says how many were
// left out.
type notices struct {
	mu    sync.Mutex
	kinds map[string]*feed.Rarely
}

// log logs a refusal of kind on route from client, unless one of the kind
// was logged within noticeInterval.
func (n *notices) log(log *slog.Logger, kind, msg, route, client string, attrs ...slog.Attr) {
	n.mu.Lock()
	if n.kinds == nil {
		n.kinds = make(map[string]*feed.Rarely)
	}
	r := n.kinds[kind]
	if r == nil {
		r = new(feed.Rarely)
		n.kinds[kind] = r
	}
	n.mu.Unlock()
	skipped, due := r.Due(noticeInterval)
	if !due {
		return
	}
	attrs = append(attrs, slog.String("route", route), slog.String("client", client))
	if skipped > 0 {
		attrs = append(attrs, slog.Int("not_logged_since_last", skipped))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}
