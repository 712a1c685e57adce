package handlers

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"livefeed/feed"
)

// maxHeartbeatBytes bounds a heartbeat's body: 100 patterns of 130 bytes
// at most, and room for spacing.
const maxHeartbeatBytes = 32 << 10

// heartbeat handles POST /api/heartbeat: a publisher says the topics of
// some patterns are alive without publishing an event (see
// fanout.Hub.Heartbeat). It is authorized as a publish is, a scoped token
// for patterns inside its scope only, and counts as one event toward the
// token's publish rate, so that a flood of heartbeats is bounded as one
// of events is. It is not stored and takes no ID. The answer is 200
// {"topics": N}, N the watched topics it kept alive: 0 tells a publisher
// that its patterns name no topic that is watched and was ever published
// to (a typo, or a feed.stale that does not cover them).
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	publisher, scope, err := s.authorizePublisher(r)
	if err != nil {
		refuseUnread(w, r, s.log, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, min(s.opts.MaxBodyBytes, maxHeartbeatBytes)))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f, err := feed.ParseHeartbeat(body)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if err := heartbeatScope(scope, f); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if ok, wait := s.rates.allow(publisher, 1); !ok {
		s.metrics.rateLimited.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		Error(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "this token is publishing faster than it may (%g events/s, a heartbeat counts as one); try again after Retry-After seconds", s.rates.rate))
		return
	}
	// Read-your-writes, as for a new stream: a topic's first event,
	// acknowledged a moment ago, makes it one the heartbeat keeps alive
	// once the hub has heard of it.
	s.hub.Await(r.Context(), s.stored.LastID(), awaitHub)
	n, err := s.beat(f, time.Now())
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSONBody(w, http.StatusOK, heartbeatAnswer(nil, n))
}

// heartbeatScope refuses a heartbeat of a scoped publish token for topics
// outside its scope: it may keep alive only what it may publish to.
func heartbeatScope(scope, f feed.Filter) error {
	if scope.IsZero() || scope.Covers(f) {
		return nil
	}
	return feed.Errorf(feed.ErrForbidden, "this publish token may publish to %s only, and a heartbeat for %s reaches beyond it; nothing was kept alive", strings.ReplaceAll(scope.String(), ",", ", "), strings.ReplaceAll(f.String(), ",", ", "))
}

// heartbeatAnswer appends the answer to a heartbeat, {"topics":N}.
func heartbeatAnswer(b []byte, n int) []byte {
	b = strconv.AppendInt(append(b, `{"topics":`...), int64(n), 10)
	return append(b, "}\n"...)
}
