package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"livefeed/handlers"
	"livefeed/handlers/node/nodetest"
	"livefeed/web"
)

// The operator of the tests, with a cheap hash so sign-ins are fast.
const (
	operatorName     = "ann"
	operatorPassword = "pitch-side-password"
)

var operatorHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(operatorPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// newAdminApp is a test server with the web files and one operator.
func newAdminApp(t *testing.T, tlsHTTP2 bool) *app {
	t.Helper()
	return newApp(t, handlers.Options{
		Web:       web.Files(),
		Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}},
	}, tlsHTTP2)
}

// console is a browser-like client of the admin console: it keeps cookies
// and the CSRF token the console's page would put in its forms.
type console struct {
	t      *testing.T
	a      *app
	client *http.Client
	csrf   string
}

// formAnswer is what a console form that publishes answers: the new
// event's ID and the event.
type formAnswer struct {
	ID    int64
	Event struct {
		ID    int64
		Topic string
		Type  string
		Data  map[string]any
	}
}

// push posts a form and fails unless it answers want; a 201 must carry
// the event it made, the store's newest.
func (c *console) push(t *testing.T, want int, path string, kv ...string) formAnswer {
	t.Helper()
	status, body := c.post(path, kv...)
	var ans formAnswer
	if status != want || (want == 201 && (json.Unmarshal(body, &ans) != nil || ans.ID != ans.Event.ID || ans.ID != c.a.store.LastID())) {
		t.Fatalf("POST %s %v: %d %s, want %d", path, kv, status, body, want)
	}
	return ans
}

func newConsole(t *testing.T, a *app) *console {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := *a.Client()
	client.Jar = jar
	c := &console{t: t, a: a, client: &client}
	var s struct {
		SignedIn bool `json:"signed_in"`
		CSRF     string
	}
	if status, body := c.do(http.MethodGet, "/admin/session", nil); status != 200 || json.Unmarshal(body, &s) != nil || s.SignedIn || s.CSRF == "" {
		t.Fatalf("GET /admin/session: %d %s", status, body)
	}
	c.csrf = s.CSRF
	return c
}

// do sends a request, a form if v is not nil, and returns the status and
// body.
func (c *console) do(method, path string, v url.Values, header ...string) (int, []byte) {
	c.t.Helper()
	var body io.Reader
	if v != nil {
		body = strings.NewReader(v.Encode())
	}
	req, err := http.NewRequest(method, c.a.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// post sends a form with the console's CSRF token.
func (c *console) post(path string, kv ...string) (int, []byte) {
	c.t.Helper()
	v := form(kv...)
	v.Set("csrf", c.csrf)
	return c.do(http.MethodPost, path, v)
}

// login signs in and keeps the session's CSRF token.
func (c *console) login(name, password string) (int, []byte) {
	c.t.Helper()
	status, body := c.post("/admin/login", "name", name, "password", password)
	if status == 200 {
		var s struct{ CSRF string }
		json.Unmarshal(body, &s)
		c.csrf = s.CSRF
	}
	return status, body
}

// wantStatus fails unless the answer has the status and a JSON error
// containing msg (for an error status).
func wantStatus(t *testing.T, status int, body []byte, want int, msg string) {
	t.Helper()
	var e struct{ Error string }
	if status != want || (want >= 400 && (json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, msg))) {
		t.Fatalf("got %d %s, want %d with %q", status, body, want, msg)
	}
}

func TestAdminLogin(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	t.Run("OK", func(t *testing.T) {
		c := newConsole(t, a)
		status, body := c.login(operatorName, operatorPassword)
		wantStatus(t, status, body, 200, "")
		var s struct {
			SignedIn bool `json:"signed_in"`
			Operator string
			CSRF     string
		}
		if status, body := c.do(http.MethodGet, "/admin/session", nil); status != 200 || json.Unmarshal(body, &s) != nil ||
			!s.SignedIn || s.Operator != operatorName || s.CSRF != c.csrf {
			t.Fatalf("session after sign-in: %d %s", status, body)
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		status, body := newConsole(t, a).login(operatorName, "not-the-password")
		wantStatus(t, status, body, 401, "wrong operator name or password")
	})
	t.Run("ErrUnknownOperator", func(t *testing.T) {
		status, body := newConsole(t, a).login("mallory", operatorPassword)
		wantStatus(t, status, body, 401, "wrong operator name or password")
	})
	t.Run("ErrNoLoginToken", func(t *testing.T) {
		c := newConsole(t, a)
		c.csrf = ""
		status, body := c.login(operatorName, operatorPassword)
		wantStatus(t, status, body, 403, "sign-in form is stale")
	})
	t.Run("ErrForeignLoginToken", func(t *testing.T) {
		// A token from another browser (an attacker's) does not match
		// this browser's cookie: login CSRF fails.
		c := newConsole(t, a)
		c.csrf = newConsole(t, a).csrf
		status, body := c.login(operatorName, operatorPassword)
		wantStatus(t, status, body, 403, "sign-in form is stale")
	})
	t.Run("ErrCrossOrigin", func(t *testing.T) {
		c := newConsole(t, a)
		v := form("name", operatorName, "password", operatorPassword, "csrf", c.csrf)
		status, body := c.do(http.MethodPost, "/admin/login", v, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		wantStatus(t, status, body, 403, "cross-origin")
	})
}

// TestAdminLoginThrottled fails five sign-ins: the sixth is refused with
// 429 and Retry-After, even with the right password.
func TestAdminLoginThrottled(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	c := newConsole(t, a)
	for range 5 {
		status, body := c.login(operatorName, "guess")
		wantStatus(t, status, body, 401, "wrong")
	}
	resp, body, err := c.signIn(operatorName, operatorPassword)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp.StatusCode, body, 429, "too many failed sign-ins")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	for _, cookie := range resp.Cookies() {
		if cookie.Name == "livefeed_session" {
			t.Fatal("a throttled sign-in got a session")
		}
	}
}

// TestAdminLoginThrottledAtOnce: guesses sent all at once are counted
// before their passwords are checked, so no more of them get a check than
// one after another would.
func TestAdminLoginThrottledAtOnce(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	c := newConsole(t, a)
	const guesses = 20
	statuses := make(chan int, guesses)
	var wg sync.WaitGroup
	for range guesses {
		wg.Go(func() {
			resp, _, err := c.signIn(operatorName, "guess")
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for status := range statuses {
		count[status]++
	}
	if count[401] != 5 || count[429] != guesses-5 {
		t.Fatalf("statuses %v, want 5 × 401 and %d × 429", count, guesses-5)
	}
}

// TestAdminLoginThrottlePerClientBehindProxy: behind a reverse proxy the
// failures are counted per client address from the configured header, not
// per proxy, so one client's guesses do not lock the others out.
func TestAdminLoginThrottlePerClientBehindProxy(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{
		Web:       web.Files(),
		Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}},
		Proxies:   loopbackProxy, // the test client is the proxy
	}, false)
	c := newConsole(t, a)
	guess := func(client, name string) int {
		t.Helper()
		resp, _, err := c.signIn(name, "guess", "X-Forwarded-For", client)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	for i := range 5 {
		if status := guess("203.0.113.1", "nobody-"+strconv.Itoa(i)); status != 401 {
			t.Fatalf("guess: %d, want 401", status)
		}
	}
	if status := guess("203.0.113.1", "nobody-5"); status != 429 {
		t.Fatalf("sixth guess from the same client: %d, want 429", status)
	}
	if status := guess("203.0.113.2", "nobody-6"); status != 401 {
		t.Fatalf("first guess from another client: %d, want 401", status)
	}
}

// TestAdminLoginThrottlesUnknownNames: a name no operator has is throttled
// exactly like a real one, so the answers do not tell which names exist.
// Each guess comes from another client, so only the per-name count can
// refuse the sixth.
func TestAdminLoginThrottlesUnknownNames(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{
		Web:       web.Files(),
		Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}},
		Proxies:   loopbackProxy, // the test client is the proxy
	}, false)
	c := newConsole(t, a)
	type answer struct {
		statuses   []int
		retryAfter bool
		last       string
	}
	answers := map[string]answer{}
	for n, name := range []string{operatorName, "nobody"} {
		var ans answer
		for i := range 6 {
			resp, body, err := c.signIn(name, "guess", "X-Forwarded-For", "198.51.100."+strconv.Itoa(10*n+i+1))
			if err != nil {
				t.Fatal(err)
			}
			ans.statuses = append(ans.statuses, resp.StatusCode)
			ans.retryAfter, ans.last = resp.Header.Get("Retry-After") != "", string(body)
		}
		answers[name] = ans
	}
	real, unknown := answers[operatorName], answers["nobody"]
	if real.statuses[5] != 429 || !real.retryAfter {
		t.Fatalf("real name: statuses %v, Retry-After %v", real.statuses, real.retryAfter)
	}
	if fmt.Sprint(unknown.statuses) != fmt.Sprint(real.statuses) || unknown.retryAfter != real.retryAfter ||
		strings.SplitN(unknown.last, " in ", 2)[0] != strings.SplitN(real.last, " in ", 2)[0] {
		t.Fatalf("unknown name answered %v %q, a real one %v %q", unknown.statuses, unknown.last, real.statuses, real.last)
	}
}

// signIn posts the sign-in form with extra header pairs and returns the
// response with its body read. Unlike login it keeps no state, so it is
// safe to call from several goroutines.
func (c *console) signIn(name, password string, header ...string) (*http.Response, []byte, error) {
	v := form("name", name, "password", password, "csrf", c.csrf)
	req, err := http.NewRequest(http.MethodPost, c.a.URL+"/admin/login", strings.NewReader(v.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestAdminCookies(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run("TLS="+strconv.FormatBool(tls), func(t *testing.T) {
			a := newAdminApp(t, tls)
			c := newConsole(t, a)
			resp, _, err := c.signIn(operatorName, operatorPassword)
			if err != nil {
				t.Fatal(err)
			}
			var session *http.Cookie
			for _, cookie := range resp.Cookies() {
				if cookie.Name == "livefeed_session" {
					session = cookie
				}
			}
			if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode ||
				session.Path != "/admin" || session.Secure != tls || session.MaxAge <= 0 || len(session.Value) < 26 {
				t.Fatalf("session cookie %+v", session)
			}
		})
	}
}

// TestAdminForms pushes updates through the console's forms: each goes
// through the store, like a publish, and answers with its ID.
func TestAdminForms(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	_, stream := a.stream(t, "topic=*", nil)
	c := newConsole(t, a)
	if status, body := c.login(operatorName, operatorPassword); status != 200 {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	push := c.push
	g := push(t, 201, "/admin/games", "topic", "nba/lal-bos", "home", "Lakers", "away", "Celtics")
	if g.ID != 1 || g.Event.Data["home"] != "Lakers" || g.Event.Data["home_score"] != 0.0 || g.Event.Data["status"] != "scheduled" {
		t.Fatalf("game %+v", g)
	}
	push(t, 409, "/admin/games", "topic", "nba/lal-bos", "home", "X", "away", "Y")
	if s := push(t, 201, "/admin/score", "topic", "nba/lal-bos", "home_points", "3"); s.Event.Data["home_score"] != 3.0 {
		t.Fatalf("after +3: %+v", s)
	}
	if s := push(t, 201, "/admin/score", "topic", "nba/lal-bos", "away_points", "2", "period", "2", "clock", "7:45", "status", "live"); s.Event.Data["away_score"] != 2.0 ||
		s.Event.Data["home_score"] != 3.0 || s.Event.Data["period"] != 2.0 || s.Event.Data["status"] != "live" {
		t.Fatalf("after +2: %+v", s)
	}
	push(t, 400, "/admin/score", "topic", "nba/lal-bos", "away_points", "-3")
	push(t, 404, "/admin/score", "topic", "nba/nope", "home_points", "1")
	sym := push(t, 201, "/admin/symbols", "symbol", "msft", "price", "400.5", "currency", "USD")
	if sym.Event.Topic != "stocks/MSFT" || sym.Event.Type != "tick" {
		t.Fatalf("symbol %+v", sym)
	}
	if p := push(t, 201, "/admin/price", "topic", "stocks/MSFT", "price", "398.25"); p.Event.Data["change"] != -2.25 {
		t.Fatalf("price %+v", p)
	}
	push(t, 400, "/admin/price", "topic", "nba/lal-bos", "price", "1")
	// Every update went out on the feed, in order.
	for want := 1; want <= 5; want++ {
		ev, err := nodetest.NextEvent(stream)
		if err != nil || ev.ID != strconv.Itoa(want) {
			t.Fatalf("stream: %+v, %v; want event %d", ev, err, want)
		}
	}
}

// TestAdminRefusesForgedForms: a form without the session's CSRF token,
// from another origin, without a session, or with the session of an
// operator who signed out, is refused and publishes nothing.
func TestAdminRefusesForgedForms(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	c := newConsole(t, a)
	if status, body := c.login(operatorName, operatorPassword); status != 200 {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	push := form("topic", "nba/x", "home", "A", "away", "B")
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range push {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	t.Run("ErrNoToken", func(t *testing.T) {
		status, body := c.do(http.MethodPost, "/admin/games", with())
		wantStatus(t, status, body, 403, "security token")
	})
	t.Run("ErrWrongToken", func(t *testing.T) {
		status, body := c.do(http.MethodPost, "/admin/games", with("csrf", c.csrf+"x"))
		wantStatus(t, status, body, 403, "security token")
	})
	t.Run("ErrTokenInURL", func(t *testing.T) {
		status, body := c.do(http.MethodPost, "/admin/games?csrf="+url.QueryEscape(c.csrf), with())
		wantStatus(t, status, body, 403, "security token")
	})
	t.Run("ErrCrossSite", func(t *testing.T) {
		status, body := c.do(http.MethodPost, "/admin/games", with("csrf", c.csrf), "Sec-Fetch-Site", "cross-site")
		wantStatus(t, status, body, 403, "cross-origin")
	})
	t.Run("ErrNoSession", func(t *testing.T) {
		other := newConsole(t, a)
		status, body := other.do(http.MethodPost, "/admin/games", with("csrf", c.csrf))
		wantStatus(t, status, body, 401, "not signed in")
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		status, body := c.do(http.MethodPost, "/admin/games", with("csrf", c.csrf, "home", strings.Repeat("x", 20<<10)))
		wantStatus(t, status, body, 413, "larger than")
	})
	t.Run("ErrNotAForm", func(t *testing.T) {
		status, body := c.do(http.MethodPost, "/admin/games", nil, "Content-Type", "application/json")
		wantStatus(t, status, body, 400, "x-www-form-urlencoded")
	})
	t.Run("ErrSignedOut", func(t *testing.T) {
		oldToken := c.csrf
		cookies := c.client.Jar.Cookies(mustURL(t, a.URL+"/admin"))
		if status, body := c.post("/admin/logout"); status != 200 {
			t.Fatalf("sign-out: %d %s", status, body)
		}
		// Replay the signed-out session's cookie and token by hand.
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/admin/games", strings.NewReader(with("csrf", oldToken).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, cookie := range cookies {
			req.AddCookie(cookie)
		}
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantStatus(t, resp.StatusCode, body, 401, "not signed in")
	})
	if id := a.store.LastID(); id != 0 {
		t.Fatalf("a refused form published: last ID %d", id)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAdminTapRetried: a tap the console sends again with its
// Idempotency-Key (the network failed before the answer came) is
// answered with the first one's event and adds no points; a new tap with
// a new key does.
func TestAdminTapRetried(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	c := newConsole(t, a)
	if status, body := c.login(operatorName, operatorPassword); status != 200 {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	post := func(key, path string, kv ...string) (int, map[string]any) {
		t.Helper()
		v := form(kv...)
		v.Set("csrf", c.csrf)
		status, body := c.do(http.MethodPost, path, v, "Idempotency-Key", key)
		var ans map[string]any
		json.Unmarshal(body, &ans)
		return status, ans
	}
	score := func(ans map[string]any) any {
		event, _ := ans["event"].(map[string]any)
		data, _ := event["data"].(map[string]any)
		return data["home_score"]
	}
	if status, ans := post("new-game", "/admin/games", "topic", "nba/g", "home", "A", "away", "B"); status != 201 {
		t.Fatalf("new game: %d %v", status, ans)
	}
	if status, ans := post("new-game", "/admin/games", "topic", "nba/g", "home", "A", "away", "B"); status != 201 || ans["id"] != 1.0 {
		t.Fatalf("the new game sent again: %d %v, want its first answer (not 409)", status, ans)
	}
	status, first := post("tap-1", "/admin/score", "topic", "nba/g", "home_points", "3")
	if status != 201 || score(first) != 3.0 {
		t.Fatalf("tap: %d %v", status, first)
	}
	for range 3 {
		status, again := post("tap-1", "/admin/score", "topic", "nba/g", "home_points", "3")
		if status != 201 || again["id"] != first["id"] || score(again) != 3.0 {
			t.Fatalf("the tap sent again: %d %v, want %v", status, again, first)
		}
	}
	if status, ans := post("tap-1", "/admin/score", "topic", "nba/g", "home_points", "2"); status != http.StatusUnprocessableEntity {
		t.Fatalf("another tap with the same key: %d %v", status, ans)
	}
	if status, ans := post("tap-2", "/admin/score", "topic", "nba/g", "home_points", "3"); status != 201 || score(ans) != 6.0 {
		t.Fatalf("the next tap: %d %v", status, ans)
	}
	if last := a.store.LastID(); last != 3 {
		t.Fatalf("LastID = %d, want 3", last)
	}
}

// TestAdminTapsAtOnce: operators tapping +3 on one game at the same time
// all count: each tap is appended only on the score it was worked out
// from, and worked out again when another came first.
func TestAdminTapsAtOnce(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	consoles := make([]*console, 4)
	for i := range consoles {
		consoles[i] = newConsole(t, a)
		if status, body := consoles[i].login(operatorName, operatorPassword); status != 200 {
			t.Fatalf("sign-in: %d %s", status, body)
		}
	}
	if status, body := consoles[0].post("/admin/games", "topic", "nba/busy", "home", "A", "away", "B"); status != 201 {
		t.Fatalf("new game: %d %s", status, body)
	}
	const taps = 15
	var wg sync.WaitGroup
	for _, c := range consoles {
		wg.Go(func() {
			for range taps {
				v := form("topic", "nba/busy", "home_points", "3", "csrf", c.csrf)
				req, _ := http.NewRequest(http.MethodPost, a.URL+"/admin/score", strings.NewReader(v.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Errorf("tap: %d %s", resp.StatusCode, body)
					return
				}
			}
		})
	}
	wg.Wait()
	latest, _, err := a.store.LatestOf(t.Context(), "nba/busy")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"home_score":` + strconv.Itoa(3*taps*len(consoles)); !strings.Contains(string(latest.Data), want) {
		t.Fatalf("after %d taps of +3: %s", taps*len(consoles), latest.Data)
	}
	if last := a.store.LastID(); last != int64(1+taps*len(consoles)) {
		t.Fatalf("LastID = %d, want %d", last, 1+taps*len(consoles))
	}
}
