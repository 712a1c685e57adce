package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"livefeed/feed"
)

// The operations endpoints, /healthz and /metrics, tell more than whether
// the server is up: the newest event ID, counts of streams and events.
// IDs are global across topics, so to a subscriber of public topics those
// figures reveal how many private events there are. Their detail goes
// only to clients on this machine and to holders of the ops token (see
// opsAllowed); anyone else gets whether the server is up (/healthz) and
// nothing more.

// SetOpsToken replaces the bearer token that opens the operations
// endpoints' detail to clients elsewhere ("": none does).
func (s *Server) SetOpsToken(token string) {
	if token == "" {
		s.opsToken.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(token))
	s.opsToken.Store(&sum)
}

// opsAllowed reports whether r may read the operations endpoints' detail:
// its client is on this machine (see local), or it carries the ops token
// as "Authorization: Bearer", compared as a SHA-256 digest in constant
// time, as publish tokens are.
func (s *Server) opsAllowed(r *http.Request) bool {
	if s.local(r) {
		return true
	}
	return s.opsBearer(r)
}

// opsBearer reports whether r carries the ops token.
func (s *Server) opsBearer(r *http.Request) bool {
	want := s.opsToken.Load()
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if want == nil || !strings.EqualFold(scheme, "Bearer") || bearer == "" {
		return false
	}
	sum := sha256.Sum256([]byte(bearer))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// errNotReady is /healthz's 503 to a client without access to the detail:
// the reason (a cluster node's place in the log) is logged, not sent.
var errNotReady = feed.Errorf(feed.ErrUnavailable, "the server cannot serve now")

// opsRefusal is /metrics' answer to a client without access: 401 when an
// ops token would let it in, 403 when none is configured.
func (s *Server) opsRefusal() error {
	if s.opsToken.Load() != nil {
		return feed.Errorf(feed.ErrUnauthorized, "the metrics need the ops token: send the header \"Authorization: Bearer TOKEN\", TOKEN being server.ops_token")
	}
	return feed.Errorf(feed.ErrForbidden, "the metrics are served only to clients on the server's machine: set server.ops_token to scrape them from elsewhere")
}

// notReady wraps a failed health check for a client without access to
// the detail: the log has err, the client errNotReady's message.
func notReady(err error) error { return fmt.Errorf("%v: %w", err, errNotReady) }
