package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/handlers/token"
)

// TokenCookie is the cookie a subscriber token may come in: a site that
// shares a parent domain with livefeed can set it, and browsers send it
// with the widget's requests (EventSource withCredentials).
const TokenCookie = "livefeed_token"

// subscriberToken returns the request's subscriber token: from
// "Authorization: Bearer", else the livefeed_token cookie, else the token
// query parameter (EventSource cannot set headers). "" if there is none.
func subscriberToken(r *http.Request) string {
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(t) != "" {
		return strings.TrimSpace(t)
	}
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" {
		return c.Value
	}
	q, _ := url.ParseQuery(r.URL.RawQuery) // strictRequest has checked it
	return q.Get("token")
}

// access returns what the request may read of the private topics, and
// when that ends (zero: never). Without private topics it is everything,
// and no token is looked at. A request without a token reads the public
// topics; one whose token is refused gets err (a *token.Invalid) with the
// public topics' Access, which an event stream goes on with.
func (s *Server) access(r *http.Request) (a feed.Access, until time.Time, err error) {
	if s.opts.PrivateTopics.IsZero() {
		return feed.Access{}, time.Time{}, nil
	}
	a.Private = s.opts.PrivateTopics
	raw := subscriberToken(r)
	if raw == "" {
		return a, time.Time{}, nil
	}
	keys := s.creds.Load().keys
	g, err := keys.Verify(raw)
	if err != nil && s.consoleKeys != nil {
		if cg, cerr := s.consoleKeys.Verify(raw); cerr == nil {
			g, err, keys = cg, nil, s.consoleKeys // the operator console's
		}
	}
	if err != nil {
		return a, time.Time{}, err
	}
	a.Granted = g.Topics
	// The token is accepted until the leeway after its exp: end the
	// stream then, or a reconnect with it would be accepted again at once.
	return a, g.Expires.Add(keys.Leeway()), nil
}

// readerAccess is access for the JSON endpoints: a refused token is the
// request's error (401). Their answers depend on the token, so caches are
// told so.
func (s *Server) readerAccess(w http.ResponseWriter, r *http.Request) (feed.Access, error) {
	if s.opts.PrivateTopics.IsZero() {
		return feed.Access{}, nil
	}
	w.Header().Add("Vary", "Authorization, Cookie")
	a, _, err := s.access(r)
	return a, err
}

// withoutToken returns the query without its token parameter, which the
// endpoints' own parameters do not include (and which must not be echoed
// in a next page's URL). Without private topics there is no such
// parameter: it is unknown, as any other.
func (s *Server) withoutToken(q url.Values) url.Values {
	if !s.opts.PrivateTopics.IsZero() {
		delete(q, "token")
	}
	return q
}

// streamFilter is what a subscriber sees of f with a: f itself when
// nothing is private, exact patterns when the private topics can be cut
// out of f's, else f narrowed, which the hub checks event by event.
func streamFilter(f feed.Filter, a feed.Access) (fanout.Filter, feed.Visible) {
	v := a.Narrow(f)
	switch {
	case a.Unrestricted():
		return f, v
	case v.Exact():
		return v.Bounds(), v
	}
	return v, v
}

// tokenNotice is the event that opens a stream whose token was refused:
// it says why, and that only public events follow.
func tokenNotice(err error) []byte {
	var inv *token.Invalid
	if !errors.As(err, &inv) {
		inv = &token.Invalid{Reason: token.ReasonMalformed, Message: "the subscriber token is not valid"}
	}
	return fanout.Notice(fanout.EventUnauthorized, inv.Reason, inv.Message+"; only public events follow")
}
