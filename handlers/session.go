package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// Cookies of the admin console, sent only to /admin paths.
const (
	sessionCookie = "livefeed_session" // an operator's session ID
	loginCookie   = "livefeed_login"   // the CSRF token of the sign-in form
	adminPath     = "/admin"
)

// sessions are the operators' sessions, kept in the database so that a
// restart or a deploy signs nobody out. The cookie holds only a random
// session ID, and only its SHA-256 is stored: signing out deletes the
// session, so the cookie is worthless from then on, even if it was copied,
// and a copy of the database signs nobody in. Looking a session up by the
// hash also takes no time that depends on how much of a guessed ID is
// right.
type sessions struct {
	store    SessionStore
	lifetime time.Duration
}

// SessionStore keeps operator sessions by the SHA-256 of their ID, until
// they expire or end. The store implements it.
type SessionStore interface {
	CreateSession(ctx context.Context, key [sha256.Size]byte, operator, csrf string, expires time.Time) error
	// Session returns the operator and CSRF token of a live session.
	Session(ctx context.Context, key [sha256.Size]byte) (operator, csrf string, found bool, err error)
	EndSession(ctx context.Context, key [sha256.Size]byte) error
}

// session is one signed-in operator.
type session struct {
	operator string
	csrf     string // the synchronizer token every form of this session carries
}

// create starts a session for operator and returns its ID.
func (ss *sessions) create(ctx context.Context, operator string) (string, *session, error) {
	id := randomToken()
	sess := &session{operator: operator, csrf: randomToken()}
	err := ss.store.CreateSession(ctx, sha256.Sum256([]byte(id)), operator, sess.csrf, time.Now().Add(ss.lifetime))
	return id, sess, err
}

// lookup returns the live session with that ID.
func (ss *sessions) lookup(ctx context.Context, id string) (*session, bool, error) {
	operator, csrf, ok, err := ss.store.Session(ctx, sha256.Sum256([]byte(id)))
	if err != nil || !ok {
		return nil, false, err
	}
	return &session{operator: operator, csrf: csrf}, true, nil
}

// end deletes the session with that ID.
func (ss *sessions) end(ctx context.Context, id string) error {
	return ss.store.EndSession(ctx, sha256.Sum256([]byte(id)))
}

// consoleSession names a session in the console's subscriber tokens
// ("sid"): derived from its ID, so that the token ties its streams to the
// session without carrying what signs in, nor the key it is stored under.
func consoleSession(id string) string {
	sum := sha256.Sum256([]byte("livefeed console feed\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// signedOutSessions are the console sessions signed out for as long as a
// console token minted for one may still be accepted (consoleTokenTTL and
// the leeway): such a token is refused, and the streams it opened end
// (see consoleCredential). The console's tokens are signed with a secret
// of this process's own, so no token outlives the process, nor does any
// need to be remembered longer.
type signedOutSessions struct {
	mu    sync.Mutex
	until map[string]time.Time // consoleSession → when its last token expires
}

// add remembers that session was signed out, until its tokens are all
// expired, and forgets the sessions whose tokens are.
func (so *signedOutSessions) add(session string, until time.Time) {
	so.mu.Lock()
	defer so.mu.Unlock()
	now := time.Now()
	for id, t := range so.until {
		if t.Before(now) {
			delete(so.until, id)
		}
	}
	if so.until == nil {
		so.until = make(map[string]time.Time)
	}
	so.until[session] = until
}

// has reports whether session was signed out.
func (so *signedOutSessions) has(session string) bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	_, ok := so.until[session]
	return ok
}

// randomToken returns 128 random bits as text: a session ID, a CSRF token.
func randomToken() string { return rand.Text() }

// fromRequest returns the session of the request's cookie, if it is live.
// An error is the database's: the operator is not signed out for it.
func (ss *sessions) fromRequest(r *http.Request) (id string, sess *session, ok bool, err error) {
	c, cerr := r.Cookie(sessionCookie)
	if cerr != nil || c.Value == "" || len(c.Value) > 64 {
		return "", nil, false, nil
	}
	sess, ok, err = ss.lookup(r.Context(), c.Value)
	return c.Value, sess, ok, err
}

// adminCookie returns a cookie of the admin console: never readable by
// scripts, sent only with requests from the console's own site, and only
// over TLS when the console is reached over TLS, by livefeed's own or
// through a trusted proxy's (see overTLS). maxAge < 0 deletes it.
func (s *Server) adminCookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     adminPath,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.overTLS(r),
		SameSite: http.SameSiteStrictMode,
	}
}

// Sign-in throttling: after maxFailures failed sign-ins within
// failureWindow from one client address, or for one operator name, further
// attempts are refused until the window has passed. Five tries per quarter
// hour leave an operator room for typos and make guessing a password
// hopeless.
const (
	maxFailures    = 5
	failureWindow  = 15 * time.Minute
	maxThrottleKey = 10_000 // addresses and names tracked at once
)

// loginThrottle counts sign-in attempts that did not succeed per key (a
// client address or an operator name); see attempt.
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string]*failures
}

type failures struct {
	count int
	since time.Time // the first failure of the window
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{failures: make(map[string]*failures)}
}

// attempt counts a sign-in attempt against each of keys before its
// password is checked, and returns how long sign-ins for keys are refused
// (0: this one may go ahead). Counting first means guesses sent all at
// once cannot pass the check together before the first failure is
// recorded. A refused attempt is not counted.
func (t *loginThrottle) attempt(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var longest time.Duration
	for _, k := range keys {
		switch f := t.failures[k]; {
		case f != nil && f.count >= maxFailures && now.Sub(f.since) < failureWindow:
			longest = max(longest, f.since.Add(failureWindow).Sub(now))
		case f == nil && len(t.failures) >= maxThrottleKey:
			// So many clients are failing that a new one could not be
			// counted: refuse rather than let its guesses go uncounted.
			t.dropExpired(now)
			if len(t.failures) >= maxThrottleKey {
				longest = max(longest, failureWindow)
			}
		}
	}
	if longest > 0 {
		return longest
	}
	for _, k := range keys {
		f := t.failures[k]
		if f == nil || now.Sub(f.since) >= failureWindow {
			f = &failures{since: now}
			t.failures[k] = f
		}
		f.count++
	}
	return 0
}

// succeeded takes back the counted attempt of a sign-in whose password was
// right: client's count goes down by one, and the failures of the
// operator's name are forgotten.
func (t *loginThrottle) succeeded(client, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.failures[client]; f != nil {
		if f.count--; f.count <= 0 {
			delete(t.failures, client)
		}
	}
	delete(t.failures, name)
}

func (t *loginThrottle) dropExpired(now time.Time) {
	for k, f := range t.failures {
		if now.Sub(f.since) >= failureWindow {
			delete(t.failures, k)
		}
	}
}

// clientKey is the throttling key of the request's client: its IP address
// (behind a trusted proxy, the one the proxy passes on, as for the stream
// limits), or for IPv6 its /64 network, which one client usually has
// whole.
func (s *Server) clientKey(r *http.Request) string {
	host := s.clientIP(r)
	ip := net.ParseIP(host)
	if ip == nil {
		return "addr " + host
	}
	if ip.To4() == nil {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	return "addr " + ip.String()
}
