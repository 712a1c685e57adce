package handlers

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"livefeed/feed"
)

// publish handles POST /api/publish: authenticate, parse, append (the store
// validates, commits and hands the events to the hub), then acknowledge
// with the IDs. Any error leaves the database unchanged.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	if isStream(r) {
		s.ingest(w, r)
		return
	}
	publisher, scope, err := s.authorizePublisher(r)
	if err != nil {
		refuseUnread(w, r, s.log, err)
		return
	}
	// The memory the body takes is reserved before it is read: its
	// declared length, or the most a body may be.
	size := s.opts.MaxBodyBytes
	if r.ContentLength >= 0 && r.ContentLength < size {
		size = r.ContentLength
	}
	if !s.bodies.acquire(publisher, size) {
		s.metrics.rateLimited.Add(1)
		w.Header().Set("Retry-After", bodyBudgetRetry)
		refuseUnread(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "too many publishes of this token (or in all) are being received at once; try again after Retry-After seconds"))
		return
	}
	defer s.bodies.release(publisher, size)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	updates, batch, err := feed.ParsePublish(body)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !scope.IsZero() {
		for _, u := range updates {
			if !scope.Match(u.Topic) {
				Error(w, r, s.log, feed.Errorf(feed.ErrForbidden, "this publish token may publish to %s only, not to %q; nothing was published", strings.ReplaceAll(scope.String(), ",", ", "), u.Topic))
				return
			}
		}
	}
	key, err := ParseIdempotencyKey(r.Header)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if ok, wait := s.rates.allow(publisher, len(updates)); !ok {
		s.metrics.rateLimited.Add(1)
		if wait < 0 {
			Error(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "%d events in one request are more than this token may publish at once (%d)", len(updates), int(s.rates.burst)))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		Error(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "this token is publishing faster than it may (%g events/s); try again after Retry-After seconds", s.rates.rate))
		return
	}
	// The body has been read whole: the publish is committed and
	// answered whatever becomes of the connection. net/http cancels the
	// request's context when its client half-closes the connection after
	// sending (shutdown(SHUT_WR)), and that client still reads the reply:
	// giving up then would answer nothing, which net/http turns into an
	// empty "200 OK" for events never stored.
	ctx := s.creds.Load().withQuota(context.WithoutCancel(r.Context()), publisher)
	var events []feed.Event
	replayed := false
	if key == "" {
		events, err = s.eventLog.Append(ctx, updates)
	} else {
		// A retry gets the reply of the publish it repeats. The key is
		// the publisher's own: its token's digest is part of it.
		once := feed.NewIdempotency("token:"+hex.EncodeToString(publisher[:]), key, feed.Request(batch, updates))
		events, replayed, err = s.eventLog.AppendOnce(ctx, once, updates)
	}
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.metrics.published.Add(float64(len(events)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(ack(events, batch))
}

// refuseUnread answers a request refused before its body was read, and
// closes its connection after the answer: net/http would otherwise read
// what is left of the body first, and hold the answer back for as long as
// a client takes to send it.
func refuseUnread(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	Error(w, r, log, err)
}

// ack is the reply to a publish: {"id":N} for one event, {"ids":[N,...]}
// for a batch. Written by hand: it is on the path of every publish.
func ack(events []feed.Event, batch bool) []byte {
	if !batch {
		// One allocation: {"id": 20 digits }\n.
		b := append(make([]byte, 0, 32), `{"id":`...)
		b = strconv.AppendInt(b, events[0].ID, 10)
		return append(b, "}\n"...)
	}
	b := append(make([]byte, 0, 16+12*len(events)), `{"ids":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, e.ID, 10)
	}
	return append(b, "]}\n"...)
}
