package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
)

// events handles GET /events?topic=...: an event stream of the matching
// topics. The position comes from the Last-Event-ID header (sent by
// EventSource on reconnect), else from the lastEventId query parameter.
// Once the headers are out, nothing is answered with an error status: a
// client that cannot be resumed gets a reset event instead.
//
// With private topics, a subscriber sees the public topics of its
// patterns and the private ones its token grants, until the token expires
// or what it was accepted on is revoked (a key removed, a console session
// signed out: the stream then ends with an "unauthorized" event);
// one whose token is refused is not refused itself (a browser would stop
// reconnecting for good): its stream opens with an "unauthorized" event
// and carries the public topics.
//
// conflate=1s asks for at most one event per topic per interval, always
// the latest; the configuration (feed.conflate) and the token's
// "conflate" claim can impose a longer one. A subscriber whose topics
// include delayed ones it does not read in real time gets the whole
// stream delayed by the longest of their delays, and is told so first
// (feed.EventDelayed): one delay per stream keeps its IDs increasing and
// one Last-Event-ID resuming it.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := feed.ParseFilter(q["topic"])
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	asked, err := parseConflate(q)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if r.Method == http.MethodHead { // the headers a stream starts with, and no stream
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache, no-transform")
		w.WriteHeader(http.StatusOK)
		return
	}
	rd, tokenErr := s.access(r)
	filter, visible := streamFilter(f, rd.Access)
	var notice []byte
	if tokenErr != nil {
		notice = tokenNotice(tokenErr)
	}
	delay := s.delayFor(r, rd, visible.Bounds())
	if delay > 0 {
		notice = append(notice, s.delayedNotice(q["topic"], rd, delay)...)
	}
	conflate := max(asked, rd.conflate, s.opts.ConflateMinimums.For(visible.Bounds(), feed.Filter{}))
	pos := r.Header.Get("Last-Event-ID")
	if pos == "" {
		pos = r.URL.Query().Get("lastEventId")
	}
	ip := s.clientIP(r)
	if !s.streams.acquire(ip) {
		s.shed(w)
		return
	}
	release := sync.OnceFunc(func() { s.streams.release(ip) })
	// Read-your-writes: a publisher is answered once its events are
	// stored, and the hub hears of them a moment later. A subscriber
	// coming after that answer waits for the hub to catch up with what
	// is stored, so that its snapshot or replay has the event.
	if last := s.stored.LastID(); !s.hub.Await(r.Context(), last, awaitHub) && r.Context().Err() == nil {
		s.log.Warn("event stream opened before the hub heard of every stored event", "stored", last, "hub", s.hub.LastID())
	}
	conn, head, err := s.openStream(w, r, notice)
	if err != nil {
		release()
		s.log.Debug("event stream not opened", "client", ip, "err", err)
		return
	}
	err = s.hub.Serve(r.Context(), conn, fanout.Subscription{
		Filter:     filter,
		Start:      fanout.ParseLastEventID(pos),
		Replay:     &replay{stored: s.stored, visible: visible},
		Closed:     release,
		Expires:    rd.until,
		Credential: rd.credential,
		Delay:      delay,
		Conflate:   conflate,
		Head:       head,
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, feed.ErrClosed) {
		s.log.Debug("event stream ended", "client", ip, "err", err)
	}
}

// parseConflate reads the conflate parameter of /events: absent, 0 (every
// event); else an interval from feed.MinConflate to feed.MaxConflate,
// given once.
func parseConflate(q url.Values) (time.Duration, error) {
	v, ok := q["conflate"]
	switch {
	case !ok:
		return 0, nil
	case len(v) > 1:
		return 0, queryError("conflate is given %d times; give it once", len(v))
	}
	return feed.ParseConflate(v[0])
}

// delayedNotice is the event that opens a delayed stream (see
// feed.EventDelayed): the stream's delay, and the delay of each pattern
// asked for, as rd reads it, so that a widget can ask for each delay on
// a stream of its own.
func (s *Server) delayedNotice(patterns []string, rd reader, delay time.Duration) []byte {
	each := make(map[string]int64, len(patterns))
	for _, p := range patterns {
		if f, err := feed.ParseFilter([]string{p}); err == nil {
			each[p] = s.opts.Delayed.For(f, rd.realtime).Milliseconds()
		}
	}
	data, _ := json.Marshal(map[string]any{
		"delay_ms": delay.Milliseconds(),
		"delay":    feed.DescribeDelay(delay),
		"topics":   each,
	})
	return fanout.Frame(feed.EventDelayed, data)
}

// awaitHub bounds the wait of a new stream for the hub to hear of what is
// stored: the hand-off is a goroutine hop and a queue of at most 64
// commits, milliseconds at most.
const awaitHub = 2 * time.Second

// openStream returns the connection events go to, and the head of the
// stream for the hub to write first (Subscription.Head): the response
// headers and the stream's preamble (the retry delay and a comment, then
// notice if not nil). Nothing is sent yet: the hub sends the head once
// the subscriber's position is fixed, so that a client that has the
// headers misses nothing published after them.
//
// An HTTP/1.x connection is taken over from the HTTP server: the hub then
// writes to the socket directly from its writer pool, with no goroutine or
// buffers of the server's left per subscriber. The response has no length
// and no chunking, so it ends when the connection closes, which is how an
// event stream ends anyway. HTTP/2 streams cannot be taken over; they are
// written through the ResponseWriter.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request, notice []byte) (fanout.Conn, []byte, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	preamble := fmt.Appendf(nil, "retry: %d\n: livefeed event stream\n\n", s.opts.Retry.Milliseconds())
	preamble = append(preamble, notice...)

	if hj, ok := w.(http.Hijacker); ok && r.ProtoMajor == 1 {
		c, _, err := hj.Hijack()
		if err != nil {
			return nil, nil, err
		}
		// The server's read and write timeouts are still set on the
		// socket (net/http leaves them to whoever takes it over). Left
		// there, they would end the stream after server.write_timeout
		// however well the client reads.
		if err := c.SetDeadline(time.Time{}); err != nil {
			c.Close()
			return nil, nil, err
		}
		h.Set("Connection", "close")
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		var head bytes.Buffer
		head.WriteString("HTTP/1.1 200 OK\r\n")
		h.Write(&head) // Header.Write turns any line break in a value into a space
		head.WriteString("\r\n")
		head.Write(preamble)
		return fanout.NetConn(c), head.Bytes(), nil
	}
	// HTTP/2 sends the headers with the first write.
	w.WriteHeader(http.StatusOK)
	return fanout.StreamConn(w), preamble, nil
}

// replay reads a subscription's stored events for the hub: what the
// hub's window no longer holds.
type replay struct {
	stored  History
	visible feed.Visible
}

var _ fanout.Replay = (*replay)(nil)

func (r *replay) Check(after int64) error { return r.stored.Resumable(after) }

func (r *replay) After(ctx context.Context, after int64, limit int) ([]feed.Event, error) {
	return r.stored.Missed(ctx, after, r.visible, limit)
}
