package handlers

import (
	"errors"
	"fmt"
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
// A token parameter given more than once is refused, whichever source the
// token comes from: a proxy checking one of them and livefeed reading
// another would disagree on who is asking.
func subscriberToken(r *http.Request) (string, error) {
	q, _ := url.ParseQuery(r.URL.RawQuery) // strictRequest has checked it
	if n := len(q["token"]); n > 1 {
		return "", &token.Invalid{Reason: token.ReasonMalformed, Message: fmt.Sprintf("the subscriber token is not valid: the token parameter is given %d times; give it once", n)}
	}
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(t) != "" {
		return strings.TrimSpace(t), nil
	}
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	return q.Get("token"), nil
}

// reader is what a request may read of the private topics, and how it
// gets the delayed ones (see access).
type reader struct {
	feed.Access
	// realtime are the topics whose delayed tiers do not apply to the
	// reader (its token's "realtime" claim; all of them for the
	// console), and conflate the interval its token imposes (0: none).
	realtime feed.Filter
	conflate time.Duration
	// until is when the token stops being accepted (zero: never), and
	// credential what it was accepted on (nil: no token): a stream ends
	// at the first of the two, its expiry or the credential's revocation.
	until      time.Time
	credential fanout.Credential
}

// access returns what the request may read of the private topics, and
// which delayed topics it reads in real time. Without private topics and
// delayed tiers it is everything, and no token is looked at. A request
// without a token reads the public topics, delayed; one whose token is
// refused gets err (a *token.Invalid) with the public topics' Access,
// which an event stream goes on with.
func (s *Server) access(r *http.Request) (reader, error) {
	if !s.tokensMatter() {
		return reader{}, nil
	}
	rd := reader{Access: feed.Access{Private: s.opts.PrivateTopics}}
	raw, err := subscriberToken(r)
	if raw == "" || err != nil {
		return rd, err
	}
	keys := s.creds.Load().keys
	g, err := keys.Verify(raw)
	if err == nil {
		rd.credential = keyCredential{s: s, key: g.Key}
	} else if s.consoleKeys != nil {
		if cg, cerr := s.consoleKeys.Verify(raw); cerr == nil {
			// The operator console's: good while its session is.
			console := consoleCredential{s: s, operator: cg.Subject, session: cg.Session}
			if why := console.why(); why != "" {
				return rd, &token.Invalid{Reason: token.ReasonRevoked, Message: "the subscriber token is not valid: " + why}
			}
			g, err, keys, rd.credential = cg, nil, s.consoleKeys, console
			g.Realtime = feed.Filter{All: true} // operators see every topic as it happens
		}
	}
	if err != nil {
		return rd, err
	}
	rd.Granted, rd.realtime, rd.conflate = g.Topics, g.Realtime, g.Conflate
	// The token is accepted until the leeway after its exp: end the
	// stream then, or a reconnect with it would be accepted again at once.
	rd.until = g.Expires.Add(keys.Leeway())
	return rd, nil
}

// Why a credential is revoked (see fanout.Credential), as the end of a
// sentence.
const (
	whyKeyRemoved      = "the key that verified it was removed from the server's keys (auth.subscriber_keys)"
	whyOperatorRemoved = "the operator it was issued to is no longer configured (auth.operators)"
	whySignedOut       = "the console session it was issued for was signed out"
)

// revokedNotices are the "unauthorized" events that end a stream whose
// credential was revoked, by why.
var revokedNotices = func() map[string][]byte {
	m := make(map[string][]byte)
	for _, why := range []string{whyKeyRemoved, whyOperatorRemoved, whySignedOut} {
		m[why] = fanout.Notice(fanout.EventUnauthorized, token.ReasonRevoked, "the subscriber token was revoked: "+why+"; the stream ends, and one opened again with this token carries the public events only")
	}
	return m
}()

// keyCredential is a subscriber token accepted on one of the configured
// keys (token.Grant.Key): revoked once a change of the credentials
// (SIGHUP) removes that key.
type keyCredential struct {
	s   *Server
	key string
}

func (c keyCredential) Revoked() ([]byte, bool) {
	if c.s.creds.Load().keys.Holds(c.key) {
		return nil, false
	}
	return revokedNotices[whyKeyRemoved], true
}

// consoleCredential is the token the operator console got from an
// operator's session (see signedIn): revoked when the session is signed
// out, or the operator is no longer configured.
type consoleCredential struct {
	s                 *Server
	operator, session string
}

func (c consoleCredential) Revoked() ([]byte, bool) {
	why := c.why()
	return revokedNotices[why], why != ""
}

// why returns why the credential is revoked, "" if it is not.
func (c consoleCredential) why() string {
	switch _, known := c.s.creds.Load().operators[c.operator]; {
	case !known:
		return whyOperatorRemoved
	case c.session == "" || c.s.signedOut.has(c.session):
		return whySignedOut
	}
	return ""
}

// tokensMatter reports whether a subscriber token changes what a reader
// reads: there are private topics, or delayed ones.
func (s *Server) tokensMatter() bool {
	return !s.opts.PrivateTopics.IsZero() || len(s.opts.Delayed) > 0
}

// readerOf is access for the JSON endpoints: a refused token is the
// request's error (401). Their answers depend on the token, so caches are
// told so.
func (s *Server) readerOf(w http.ResponseWriter, r *http.Request) (reader, error) {
	if !s.tokensMatter() {
		return reader{}, nil
	}
	w.Header().Add("Vary", "Authorization, Cookie")
	return s.access(r)
}

// withoutToken returns the query without its token parameter, which the
// endpoints' own parameters do not include (and which must not be echoed
// in a next page's URL). Where tokens do not matter there is no such
// parameter: it is unknown, as any other.
func (s *Server) withoutToken(q url.Values) url.Values {
	if s.tokensMatter() {
		delete(q, "token")
	}
	return q
}

// delayFor returns how long ago the events a reader of the topics of f
// gets must be: the longest delay of the delayed tiers f holds that rd
// does not read in real time (0 for none, and for an operator reading
// through the console).
func (s *Server) delayFor(r *http.Request, rd reader, f feed.Filter) time.Duration {
	if len(s.opts.Delayed) == 0 || isOperatorRead(r) {
		return 0
	}
	return s.opts.Delayed.For(f, rd.realtime)
}

// delayRange cuts rng at what a reader delayed by d may see: events at
// least d old, by their time. The whole range is cut at one moment (the
// longest delay of its topics), so that a next page's after= never skips
// an event that was too young for the page before.
func delayRange(rng *feed.Range, d time.Duration) {
	if d <= 0 {
		return
	}
	// Event times are whole milliseconds: at or before now-d is before
	// the next millisecond.
	cut := time.Now().Add(-d).Truncate(time.Millisecond).Add(time.Millisecond)
	if rng.To.IsZero() || rng.To.After(cut) {
		rng.To = cut
	}
	if !rng.From.IsZero() && rng.From.After(rng.To) {
		rng.From = rng.To // an empty range
	}
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
