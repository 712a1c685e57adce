package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"livefeed/feed"

	"golang.org/x/crypto/bcrypt"
)

// Operator is an account of the admin console.
type Operator struct {
	Name         string
	PasswordHash string // bcrypt
}

// maxFormBytes bounds the body of an admin form: a few short fields.
const maxFormBytes = 16 << 10

// consoleTokenTTL is how long the operator console's subscriber token
// lasts: short, since it grants every private topic; the console takes a
// new one from its session when its stream ends for the expiry.
const consoleTokenTTL = 15 * time.Minute

// adminPage serves the console's page. It signs in and works through the
// JSON form endpoints below; the page itself holds no data.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	var page []byte
	err := feed.ErrNotFound
	if s.opts.Web != nil {
		page, err = fs.ReadFile(s.opts.Web, "admin.html")
	}
	if err != nil {
		Error(w, r, s.log, feed.Errorf(feed.ErrNotFound, "the admin console is not part of this build"))
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

// adminSession handles GET /admin/session: who is signed in, and the CSRF
// token the page's forms must carry. Signed out, the token is that of the
// sign-in form, kept in a cookie so a forged sign-in (login CSRF) fails.
func (s *Server) adminSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, sess, ok, err := s.session(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if ok {
		s.signedIn(w, r, id, sess)
		return
	}
	token := ""
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) >= 26 && len(c.Value) <= 64 {
		token = c.Value // keep it: a second tab must not void the first one's form
	} else {
		token = randomToken()
		http.SetCookie(w, s.adminCookie(r, loginCookie, token, 3600))
	}
	writeJSON(w, http.StatusOK, map[string]any{"signed_in": false, "csrf": token})
}

// signedIn answers with what the console of a signed-in operator needs:
// the operator, the CSRF token and, with private topics, a subscriber
// token granting them all (operators see every topic). The token names
// the operator and the session (id): it is refused, and the streams it
// opened end, once the session is signed out or the operator removed.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, id string, sess *session) {
	reply := map[string]any{"signed_in": true, "operator": sess.operator, "csrf": sess.csrf}
	if s.consoleKeys != nil {
		tok, err := s.consoleKeys.MintSession([]string{"*"}, consoleTokenTTL, sess.operator, consoleSession(id))
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		reply["feed_token"] = tok
	}
	writeJSON(w, http.StatusOK, reply)
}

// session returns the live session of the request's cookie, if its
// operator is still one of the configured operators.
func (s *Server) session(r *http.Request) (id string, sess *session, ok bool, err error) {
	id, sess, ok, err = s.sessions.fromRequest(r)
	if ok {
		if _, known := s.creds.Load().operators[sess.operator]; !known {
			return "", nil, false, nil
		}
	}
	return id, sess, ok, err
}

// login handles POST /admin/login.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	c, cerr := r.Cookie(loginCookie)
	if cerr != nil || !sameToken(c.Value, form.Get(csrfField)) {
		Error(w, r, s.log, feed.Errorf(feed.ErrForbidden, "the sign-in form is stale: reload the page and sign in again"))
		return
	}
	lf, err := ParseLoginForm(form)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	// Names are counted whether an operator has them or not: were only
	// real names throttled, the first 429 would tell a guesser which
	// names exist (CWE-204).
	client, name := s.clientKey(r), "name "+lf.Name
	hash, known := s.creds.Load().operators[lf.Name]
	if wait := s.throttle.attempt(client, name); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		Error(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "too many failed sign-ins: try again in %s", wait.Round(time.Second)))
		return
	}
	if !known {
		// Spend the time a real check takes, so that the answer's delay
		// does not tell which operator names exist.
		hash = s.dummyHash()
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(lf.Password)) != nil || !known {
		s.log.Warn("failed sign-in", "operator", lf.Name, "known", known, "client", s.clientIP(r))
		Error(w, r, s.log, feed.Errorf(feed.ErrUnauthorized, "wrong operator name or password"))
		return
	}
	s.throttle.succeeded(client, name)
	id, sess, err := s.sessions.create(r.Context(), lf.Name)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	http.SetCookie(w, s.adminCookie(r, sessionCookie, id, int(s.opts.SessionLifetime.Seconds())))
	http.SetCookie(w, s.adminCookie(r, loginCookie, "", -1))
	s.log.Info("operator signed in", "operator", lf.Name, "client", s.clientIP(r))
	s.signedIn(w, r, id, sess)
}

// logout handles POST /admin/logout: the session ends on the server, so its
// cookie is worthless from now on, and so are the console's tokens minted
// for it: the streams they opened end at once.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, id string, sess *session, _ url.Values) error {
	if err := s.sessions.end(r.Context(), id); err != nil {
		return err
	}
	streams := 0
	if s.consoleKeys != nil {
		s.signedOut.add(consoleSession(id), time.Now().Add(consoleTokenTTL+s.consoleKeys.Leeway()))
		streams = s.hub.Revoke()
	}
	http.SetCookie(w, s.adminCookie(r, sessionCookie, "", -1))
	s.log.Info("operator signed out", "operator", sess.operator, "streams_ended", streams)
	writeJSON(w, http.StatusOK, map[string]any{"signed_in": false})
	return nil
}

// liveSession returns the session r carries, or ErrUnauthorized when it
// carries none that is live.
func (s *Server) liveSession(r *http.Request) (string, *session, error) {
	id, sess, ok, err := s.session(r)
	if err == nil && !ok {
		err = feed.Errorf(feed.ErrUnauthorized, "you are not signed in (or your session has ended): sign in again")
	}
	return id, sess, err
}

// operatorForm wraps the handler of a form that changes something: the
// body is bounded and parsed, the request must carry the cookie of a live
// session and that session's CSRF token (a synchronizer token: a page of
// another site can make the browser send the cookie, but cannot read the
// token). When any check fails nothing runs.
func (s *Server) operatorForm(handle func(w http.ResponseWriter, r *http.Request, id string, sess *session, form url.Values) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		form, err := readForm(w, r)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		id, sess, err := s.liveSession(r)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		if !sameToken(sess.csrf, form.Get(csrfField)) {
			s.log.Warn("form without a valid CSRF token", "operator", sess.operator, "path", r.URL.Path, "client", s.clientIP(r))
			Error(w, r, s.log, feed.Errorf(feed.ErrForbidden, "the form's security token is missing or stale: reload the page"))
			return
		}
		if err := handle(w, r, id, sess, form); err != nil {
			Error(w, r, s.log, err)
		}
	}
}

// createGame handles POST /admin/games: a game's first score event.
func (s *Server) createGame(w http.ResponseWriter, r *http.Request, _ string, sess *session, form url.Values) error {
	f, err := ParseGameForm(form)
	if err != nil {
		return err
	}
	return s.create(w, r, sess, form, f.Topic, f.Update())
}

// createSymbol handles POST /admin/symbols: a symbol's first tick.
func (s *Server) createSymbol(w http.ResponseWriter, r *http.Request, _ string, sess *session, form url.Values) error {
	f, err := ParseSymbolForm(form)
	if err != nil {
		return err
	}
	return s.create(w, r, sess, form, f.Topic, f.Update())
}

// create publishes the first event of a topic, refusing a topic in use: a
// new game on a running game's topic would wipe its score.
func (s *Server) create(w http.ResponseWriter, r *http.Request, sess *session, form url.Values, topic string, u feed.Update) error {
	return s.publishTap(w, r, sess, form, topic, func(_ feed.Event, found bool) (feed.Update, error) {
		if found {
			return feed.Update{}, feed.Errorf(feed.ErrConflict, "%s already has events: choose another topic", topic)
		}
		return u, nil
	})
}

// pushScore handles POST /admin/score.
func (s *Server) pushScore(w http.ResponseWriter, r *http.Request, _ string, sess *session, form url.Values) error {
	f, err := ParseScoreForm(form)
	if err != nil {
		return err
	}
	return s.change(w, r, sess, form, f.Topic, func(latest feed.Event) (feed.Update, error) { return f.Apply(latest, time.Now()) })
}

// pushPrice handles POST /admin/price.
func (s *Server) pushPrice(w http.ResponseWriter, r *http.Request, _ string, sess *session, form url.Values) error {
	f, err := ParsePriceForm(form)
	if err != nil {
		return err
	}
	return s.change(w, r, sess, form, f.Topic, f.Apply)
}

// change publishes the update apply makes of topic's latest event.
func (s *Server) change(w http.ResponseWriter, r *http.Request, sess *session, form url.Values, topic string, apply func(feed.Event) (feed.Update, error)) error {
	return s.publishTap(w, r, sess, form, topic, func(latest feed.Event, found bool) (feed.Update, error) {
		if !found {
			return feed.Update{}, feed.Errorf(feed.ErrNotFound, "%s has no events: create it first", topic)
		}
		return apply(latest)
	})
}

// publishTap publishes the update an operator's tap makes of topic's
// latest event (update works it out; found is false for a topic without
// events) through the same path as POST /api/publish, and answers with its
// ID. The update is appended only if the topic's latest event is still the
// one it was worked out from (Log.AppendIf): when another operator's change
// came first, the tap is worked out again from theirs, so two operators
// pressing +3 at once make +6, on one node or on several. A tap sent again
// with its Idempotency-Key (the console retries when the network failed)
// gets the answer of the first and publishes nothing: it must not add the
// points again.
func (s *Server) publishTap(w http.ResponseWriter, r *http.Request, sess *session, form url.Values, topic string, update func(latest feed.Event, found bool) (feed.Update, error)) error {
	key, err := ParseIdempotencyKey(r.Header)
	if err != nil {
		return err
	}
	var once *feed.Idempotency
	if key != "" {
		o := feed.NewIdempotency("operator:"+sess.operator, key, tapFingerprint(r.URL.Path, form))
		once = &o
		// Before anything is worked out from the current state, which the
		// first tap may have changed.
		events, found, err := s.eventLog.Replay(r.Context(), o)
		if err != nil {
			return err
		}
		if found {
			w.Header().Set("Idempotent-Replayed", "true")
			return s.answerTap(w, sess, events[0], true)
		}
	}
	// Once taken, the change is committed even if the operator's phone
	// drops the connection: it must not depend on the request's life.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if attempt > 1 {
			// Several operators keep changing this topic at once: taps
			// that lost spread out a little, so that one of them wins
			// each round. The tap's deadline still bounds it all.
			if err := feed.Sleep(ctx, time.Duration(rand.IntN(attempt*500))*time.Microsecond); err != nil {
				return feed.Errorf(feed.ErrConflict, "%s is changing too fast to apply this change; try again", topic)
			}
		}
		latest, found, err := s.stored.LatestOf(ctx, topic)
		if err != nil {
			return err
		}
		u, err := update(latest, found)
		if err != nil {
			return err
		}
		u.Operator = sess.operator // the audit trail: who pushed it
		events, replayed, err := s.eventLog.AppendIf(ctx, once, latest.ID, u)
		switch {
		case errors.Is(err, feed.ErrConflict) && !found:
			return feed.Errorf(feed.ErrConflict, "%s already has events: choose another topic", topic)
		case errors.Is(err, feed.ErrConflict):
			continue // another operator's change came first: work it out again
		case err != nil:
			return err
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		return s.answerTap(w, sess, events[0], replayed)
	}
}

// tapFingerprint is what makes a tap that tap: the form it posted to path,
// less its CSRF token.
func tapFingerprint(path string, form url.Values) []byte {
	v := make(url.Values, len(form))
	for k, vs := range form {
		if k != csrfField {
			v[k] = vs
		}
	}
	return []byte(path + "?" + v.Encode()) // Encode sorts by name
}

// answerTap answers a tap with the event it published.
func (s *Server) answerTap(w http.ResponseWriter, sess *session, e feed.Event, replayed bool) error {
	if !replayed {
		s.log.Info("operator published", "operator", sess.operator, "id", e.ID, "topic", e.Topic, "type", e.Type)
	}
	body := append([]byte(`{"id":`), strconv.FormatInt(e.ID, 10)...)
	body = append(body, `,"event":`...)
	body = e.AppendAuditJSON(body)
	writeJSONBody(w, http.StatusCreated, append(body, "}\n"...))
	return nil
}

// auditKey marks the context of a request the console makes for its
// history and exports (see operatorRead).
type auditKey struct{}

// operatorRead serves a read of the feed's history for the console, under
// /admin: only to a signed-in operator (the session cookie is scoped to
// /admin, and cross-origin requests are refused there), who sees who
// published each event.
func (s *Server) operatorRead(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := s.liveSession(r); err != nil {
			Error(w, r, s.log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next(w, r.WithContext(context.WithValue(r.Context(), auditKey{}, true)))
	}
}

// isOperatorRead reports whether r is a read of the console's (see
// operatorRead): a signed-in operator's, who sees every topic in real
// time.
func isOperatorRead(r *http.Request) bool { return r.Context().Value(auditKey{}) == true }

// audits reports whether the reader of r may see who published each event
// (the audit trail): everybody where Options.ExposeOperator says so, else
// only an operator, through the console's reads (operatorRead).
func (s *Server) audits(r *http.Request) bool {
	return s.opts.ExposeOperator || isOperatorRead(r)
}

// envelope is the function that appends an event's JSON envelope for the
// reader of r: with its operator where audits says so. Every JSON read
// (history, topics) takes it from here, as the hub's frames take theirs
// from fanout.Options.ExposeOperator, which the node sets from the same
// setting.
func (s *Server) envelope(r *http.Request) func(feed.Event, []byte) []byte {
	if s.audits(r) {
		return feed.Event.AppendAuditJSON
	}
	return feed.Event.AppendJSON
}

// readForm reads a URL-encoded form body of at most maxFormBytes. Values in
// the URL's query are not part of the form.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, formError("send the form as application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		var unread *feed.Error // the body could not be read (see requestBody)
		switch {
		case errors.As(err, &tooBig):
			return nil, tooBig
		case errors.As(err, &unread):
			return nil, unread
		}
		return nil, formError("the form is not valid URL-encoded data")
	}
	return r.PostForm, nil
}

// sameToken compares a token with the one sent, in constant time.
func sameToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// dummyHash returns a bcrypt hash of a random password, with the cost of
// the operators' hashes, made once on first use.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() {
		cost := bcrypt.DefaultCost
		for _, h := range s.creds.Load().operators {
			if c, err := bcrypt.Cost([]byte(h)); err == nil {
				cost = c
				break
			}
		}
		h, err := bcrypt.GenerateFromPassword([]byte(randomToken()), cost)
		if err == nil {
			s.dummy = string(h)
		}
	})
	return s.dummy
}

// setPageHeaders sets the security headers of an HTML page: scripts and
// styles only from files of this server (no inline script can run, so an
// injected tag is inert), and no framing by other pages (no clickjacking;
// sites embed the widget script, not pages).
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; "))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}
