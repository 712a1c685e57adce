package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"livefeed/feed"
)

// Item is what a Stream hands over: an event, or a reset.
type Item struct {
	// Event is the event, when Reset is empty.
	Event feed.Event
	// Reset, if not empty, is why the server could not resume from the
	// stream's position ("invalid", "pruned", "ahead"): the latest event
	// of each topic follows, then live events, so a client keeping state
	// should start again from what follows.
	Reset string
	// Unauthorized, if not empty, is why the server refused the
	// subscriber token ("expired", "signature", ...): the stream goes on
	// with the public topics only. "revoked": what the token was accepted
	// on was taken back (its key removed, its session signed out) while
	// the stream ran; the server ends the stream, and it reconnects by
	// itself, with a token from SubscriberToken if set.
	Unauthorized string
	// Delayed, if not zero, is how much the server delays the stream
	// (feed.EventDelayed): its topics include delayed ones the token does
	// not grant in real time. It comes first on each connection.
	Delayed time.Duration
	// Liveness, if set, says that a watched topic of the stream went
	// stale (feed.EventStale) or heard again (feed.EventFresh). It takes
	// no place in the stream: LastEventID does not move.
	Liveness *Liveness
}

// Liveness is the server's word on a watched topic: Stale since Since
// (when it was last heard of), for having heard nothing for After; or
// fresh again (Stale false), heard at Since.
type Liveness struct {
	Topic string
	Stale bool
	Since time.Time
	After time.Duration
}

// Stream is a subscription to topics that survives disconnects: after a
// network error or the server closing the stream (a restart, a client too
// slow), it reconnects by itself with its last event ID, as a browser's
// EventSource does, waiting the delay the server asked for with "retry:"
// (with some random spread, and longer after repeated failures), so that
// no event is missed or handed over twice.
type Stream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	topics []string
	opts   subscribeOptions

	mu     sync.Mutex     // guards resp and lastID, which Close and LastEventID use
	resp   *http.Response // the connection's response, nil between connections
	lastID string

	// Used by Next's goroutine only.
	rd    *Reader
	retry time.Duration
	fails int
}

// Subscribe opens a stream of the topics (topics, prefixes such as
// "nba/*", or "*"). With lastEventID "" it starts with the latest event of
// each topic, then live events; with the ID of the last event a client
// saw, with every event after it (with Conflate, the latest event of each
// topic that changed since). The stream connects on the first Next.
func (c *Client) Subscribe(ctx context.Context, topics []string, lastEventID string, opts ...SubscribeOption) *Stream {
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{c: c, ctx: ctx, cancel: cancel, topics: topics, lastID: lastEventID, retry: 2 * time.Second}
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

// A SubscribeOption changes what a stream asks for.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	conflate time.Duration
}

// Conflate asks for at most one event per topic every interval, always
// the latest (feed.MinConflate to feed.MaxConflate): a reader that shows
// prices to a person needs no more, and the stream costs less. The server
// may impose a longer interval.
func Conflate(interval time.Duration) SubscribeOption {
	return func(o *subscribeOptions) { o.conflate = interval }
}

// maxBackoff bounds the wait between reconnections after repeated failures.
const maxBackoff = 30 * time.Second

// Next returns the next event or reset. It reconnects as needed, and
// returns an error only when the stream is closed or its context ends, or
// when the server refuses it for good (an unknown topic pattern is a
// *feed.Error of kind feed.ErrInvalid).
func (s *Stream) Next() (Item, error) {
	for {
		if err := s.ctx.Err(); err != nil {
			return Item{}, err
		}
		if s.rd == nil {
			if err := s.connect(); err != nil {
				var fe *feed.Error
				if errors.As(err, &fe) && !errors.Is(fe, feed.ErrUnavailable) && !errors.Is(fe, feed.ErrRateLimited) {
					return Item{}, err // another request would be refused the same way
				}
				s.wait()
				continue
			}
		}
		m, err := s.rd.Next()
		s.keepPosition(s.rd)
		if err != nil {
			s.drop()
			s.wait()
			continue
		}
		s.fails = 0
		if d := s.rd.Retry(); d > 0 {
			s.retry = d
		}
		if m.Type == "reset" || m.Type == "unauthorized" {
			var r struct{ Reason string }
			json.Unmarshal([]byte(m.Data), &r)
			if r.Reason == "" {
				r.Reason = "unknown"
			}
			if m.Type == "unauthorized" {
				return Item{Unauthorized: r.Reason}, nil
			}
			return Item{Reset: r.Reason}, nil
		}
		if m.Type == "expired" {
			continue // the server ends the stream: it reconnects with a fresh token
		}
		if m.Type == feed.EventDelayed {
			var n struct {
				DelayMS int64 `json:"delay_ms"`
			}
			if json.Unmarshal([]byte(m.Data), &n) == nil && n.DelayMS > 0 {
				return Item{Delayed: time.Duration(n.DelayMS) * time.Millisecond}, nil
			}
			continue
		}
		if m.Type == feed.EventPosition {
			continue // the end of a snapshot: keepPosition took its ID
		}
		if m.Type == feed.EventStale || m.Type == feed.EventFresh {
			if l, ok := parseLiveness(m.Type, m.Data); ok {
				return Item{Liveness: l}, nil
			}
			continue
		}
		var e feed.Event
		if err := json.Unmarshal([]byte(m.Data), &e); err != nil || e.ID == 0 {
			continue // not an event of livefeed's (nothing else is sent as data)
		}
		return Item{Event: e}, nil
	}
}

// LastEventID returns the stream's position: the ID of the last event
// handed over, or the position the server moved it to since. It may be
// called from any goroutine, also while another waits in Next, to save
// the position as it moves.
func (s *Stream) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// keepPosition takes the reader's last event ID, which also moves on
// events Next does not hand over (the position after a snapshot) and, from
// a server of before feed.EventPosition, on frames that dispatch nothing.
func (s *Stream) keepPosition(rd *Reader) {
	if id := rd.LastEventID(); id != "" {
		s.mu.Lock()
		s.lastID = id
		s.mu.Unlock()
	}
}

// Close ends the stream; Next then returns context.Canceled. It may be
// called from any goroutine.
func (s *Stream) Close() error {
	s.cancel()
	s.closeResponse()
	return nil
}

func (s *Stream) connect() error {
	v := url.Values{"topic": s.topics}
	if s.opts.conflate > 0 {
		v.Set("conflate", feed.FormatDuration(s.opts.conflate))
	}
	req, err := s.c.get(s.ctx, "/events?"+v.Encode())
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if id := s.LastEventID(); id != "" {
		req.Header.Set("Last-Event-ID", id)
	}
	resp, err := s.c.http().Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body := make([]byte, 4096)
		n, _ := resp.Body.Read(body)
		return replyError(resp, body[:n])
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return fmt.Errorf("client: GET /events answered %q, not an event stream", ct)
	}
	s.mu.Lock()
	s.resp = resp
	s.mu.Unlock()
	s.rd = NewReader(resp.Body)
	return nil
}

// drop ends the connection, for Next to make another.
func (s *Stream) drop() {
	s.closeResponse()
	s.rd = nil // only Next's goroutine uses rd
}

// closeResponse closes the connection's response, which ends a read of
// Next's that waits in it.
func (s *Stream) closeResponse() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resp != nil {
		s.resp.Body.Close()
		s.resp = nil
	}
}

// wait sleeps before a reconnection: the server's retry delay, doubled
// for each failure in a row up to maxBackoff, between half and the whole
// of it so that clients cut off together do not all come back at once.
func (s *Stream) wait() {
	d := s.retry << min(s.fails, 5)
	d = min(d, maxBackoff)
	d = d/2 + rand.N(d/2+1)
	s.fails++
	feed.Sleep(s.ctx, d)
}

// parseLiveness reads the data of a stale or fresh event.
func parseLiveness(typ, data string) (*Liveness, bool) {
	var n struct {
		Topic string    `json:"topic"`
		Since time.Time `json:"since"`
		At    time.Time `json:"at"`
		After string    `json:"after"`
	}
	if json.Unmarshal([]byte(data), &n) != nil || n.Topic == "" {
		return nil, false
	}
	if typ == feed.EventFresh {
		return &Liveness{Topic: n.Topic, Since: n.At}, true
	}
	after, _ := time.ParseDuration(n.After)
	return &Liveness{Topic: n.Topic, Stale: true, Since: n.Since, After: after}, true
}
