package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed/bench"
	"livefeed/feed/client"
	"livefeed/feed/fanout"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

const token = "test-publish-token-0123456789"

// app is a whole node (handlers/node, started by nodetest) serving the
// test's handlers.Options, on a real listener.
type app struct {
	URL    string
	TLS    bool // HTTPS and HTTP/2
	node   *nodetest.Node
	store  *store.Store
	hub    *fanout.Hub
	server *handlers.Server
}

// Client is a client of the node (trusting its certificate, with TLS).
func (a *app) Client() *http.Client { return a.node.Client }

// addr is the node's host:port.
func (a *app) addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(a.URL, "https://"), "http://")
}

// newApp starts a node whose server has opts (with the defaults below);
// tune, if given, is applied to each connection it accepts.
func newApp(t *testing.T, opts handlers.Options, tlsHTTP2 bool, tune ...func(*net.TCPConn)) *app {
	t.Helper()
	return newAppWith(t, nodetest.Config(t), node.Options{}, opts, tlsHTTP2, tune...)
}

// newAppWith is newApp with a configuration and node options of the
// test's (the server's options are opts all the same).
func newAppWith(t *testing.T, cfg config.Config, nodeOpts node.Options, opts handlers.Options, tlsHTTP2 bool, tune ...func(*net.TCPConn)) *app {
	t.Helper()
	if opts.PublishTokens == nil {
		opts.PublishTokens = []string{token}
	}
	if opts.Retry == 0 {
		opts.Retry = 1500 * time.Millisecond
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	if tlsHTTP2 {
		cfg = nodetest.WithTLS(t, cfg)
	}
	nodeOpts.Server = func(o *handlers.Options) { *o = opts }
	if len(tune) > 0 {
		nodeOpts.Listener = func(ln net.Listener) net.Listener { return tunedListener{ln, tune} }
	}
	n := nodetest.Start(t, cfg, nodeOpts)
	return &app{URL: n.URL, TLS: tlsHTTP2, node: n, store: n.Store(), hub: n.Hub(), server: n.Server()}
}

// tunedListener applies tune to each connection it accepts.
type tunedListener struct {
	net.Listener
	tune []func(*net.TCPConn)
}

func (l tunedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		for _, f := range l.tune {
			f(tc)
		}
	}
	return c, err
}

func (a *app) publish(t *testing.T, auth, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.URL+"/api/publish", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const scoreBody = `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0}}`

func TestPublish(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	t.Run("OK", func(t *testing.T) {
		resp, body := a.publish(t, "Bearer "+token, scoreBody)
		if resp.StatusCode != http.StatusCreated || body != "{\"id\":1}\n" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("OKBatch", func(t *testing.T) {
		resp, body := a.publish(t, "bearer "+token, `[`+scoreBody+`,{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":1.5}}]`)
		if resp.StatusCode != http.StatusCreated || body != "{\"ids\":[2,3]}\n" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestPublishRejected sends bad requests: each gets its status and a JSON
// error message, and the database is unchanged.
func TestPublishRejected(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, scoreBody) // ID 1
	big := `{"topic":"a","type":"note","data":{"x":"` + strings.Repeat("y", 70<<10) + `"}}`
	for _, tc := range []struct {
		name   string
		auth   string
		body   string
		status int
		msg    string
	}{
		{"ErrNoToken", "", scoreBody, 401, "publish token is required"},
		{"ErrWrongToken", "Bearer wrong-token-0123456789", scoreBody, 401, "not valid"},
		{"ErrBasicAuth", "Basic dXNlcjpwYXNz", scoreBody, 401, "publish token is required"},
		{"ErrEmptyBody", "Bearer " + token, "", 400, "empty"},
		{"ErrMalformed", "Bearer " + token, `{"topic":`, 400, "not valid JSON"},
		{"ErrNotObject", "Bearer " + token, `"hello"`, 400, "JSON object or a JSON array"},
		{"ErrWrongType", "Bearer " + token, `{"topic":5,"type":"score","data":{}}`, 400, `field "topic" must be a string`},
		{"ErrUnknownField", "Bearer " + token, `{"topic":"a","type":"note","data":{},"colour":"red"}`, 400, `unknown field "colour"`},
		{"ErrTrailing", "Bearer " + token, scoreBody + `{}`, 400, "after the JSON value"},
		{"ErrEmptyArray", "Bearer " + token, `[]`, 400, "empty"},
		{"ErrTopic", "Bearer " + token, `{"topic":"nba lal","type":"score","data":{}}`, 400, "not allowed"},
		{"ErrSchema", "Bearer " + token, `{"topic":"nba/x","type":"score","data":{"home":"A","away":"B","home_score":-1,"away_score":0}}`, 400, "home_score"},
		{"ErrReservedType", "Bearer " + token, `{"topic":"a","type":"reset","data":{}}`, 400, "reserved"},
		{"ErrBatchAllOrNothing", "Bearer " + token, `[` + scoreBody + `,{"topic":"a","type":"note","data":[]}]`, 400, "event 1"},
		{"ErrTooLarge", "Bearer " + token, big, 413, "larger than"},
		{"ErrFieldCase", "Bearer " + token, `{"topic":"ok/a","type":"note","data":{},"Topic":"evil/b"}`, 400, `unknown field "Topic"`},
		{"ErrFieldTwice", "Bearer " + token, `{"topic":"ok/a","type":"note","data":{},"topic":"evil/b"}`, 400, `field "topic" is given twice`},
		{"ErrDataKeyTwice", "Bearer " + token, `{"topic":"a","type":"note","data":{"a":{"b":[{"c":1,"c":2}]}}}`, 400, `data.a.b[0] has the key "c" twice`},
		{"ErrHugeNumber", "Bearer " + token, `{"topic":"a","type":"note","data":{"a":1e999}}`, 400, "data.a is 1e999, beyond the range of an IEEE 754 double"},
		{"ErrTooDeep", "Bearer " + token, `{"topic":"a","type":"note","data":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`, 400, "nested too deeply"},
		{"ErrLoneSurrogate", "Bearer " + token, `{"topic":"nba/x","type":"score","data":{"home":"\ud800","away":"B","home_score":1,"away_score":0}}`, 400, "data.home holds a lone surrogate"},
		{"ErrBidiTeamName", "Bearer " + token, `{"topic":"nba/x","type":"score","data":{"home":"\u202eslekaL","away":"B","home_score":1,"away_score":0}}`, 400, "data.home contains a bidirectional control character"},
		{"ErrTeamAbbr", "Bearer " + token, `{"topic":"nba/x","type":"score","data":{"home":"A","away":"B","home_score":1,"away_score":0,"home_abbr":"<b>x</b>"}}`, 400, "data.home_abbr must be 2 to 5 letters or digits"},
		{"ErrTeamColor", "Bearer " + token, `{"topic":"nba/x","type":"score","data":{"home":"A","away":"B","home_score":1,"away_score":0,"away_color":"red;background:url(x)"}}`, 400, "data.away_color must be a colour written #rrggbb"},
		{"ErrTeamLogoHTTP", "Bearer " + token, `{"topic":"nba/x","type":"score","data":{"home":"A","away":"B","home_score":1,"away_score":0,"home_logo":"http://example.com/a.png"}}`, 400, "data.home_logo must be an https:// URL"},
		{"ErrTeamLogoCredentials", "Bearer " + token, `[` + scoreBody + `,{"topic":"nba/x","type":"score","data":{"home":"A","away":"B","home_score":1,"away_score":0,"away_logo":"https://me:pw@example.com/a.png"}}]`, 400, "event 1: data.away_logo must not hold credentials"},
		{"ErrDotSegment", "Bearer " + token, `{"topic":"nba/../admin","type":"note","data":{}}`, 400, `segment ".."`},
		{"ErrBatchNamesPath", "Bearer " + token, `[` + scoreBody + `,{"topic":"a","type":"note","data":{"x":[0,1e400]}}]`, 400, "event 1: data.x[1] is 1e400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := a.publish(t, tc.auth, tc.body)
			var e struct{ Error string }
			if resp.StatusCode != tc.status || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.msg)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if got := a.store.LastID(); got != 1 {
				t.Fatalf("the database changed: LastID = %d", got)
			}
		})
	}
	t.Run("ErrMethod", func(t *testing.T) {
		resp, err := a.Client().Get(a.URL + "/api/publish")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /api/publish = %d", resp.StatusCode)
		}
	})
}

// stream opens GET /events and returns the response and a reader on it.
func (a *app) stream(t *testing.T, query string, header http.Header) (*http.Response, *client.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, client.NewReader(resp.Body)
}

func TestEventsHeaders(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	resp, rd := a.stream(t, "topic=nba/*", http.Header{"Accept-Encoding": {"gzip"}})
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no",
		"Content-Encoding":  "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	a.publish(t, "Bearer "+token, scoreBody)
	ev, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "0" && ev.ID != "1" {
		t.Fatalf("first event %+v", ev)
	}
	if rd.Retry() != 1500*time.Millisecond || rd.Comments() < 1 {
		t.Fatalf("preamble: retry %v, %d comments", rd.Retry(), rd.Comments())
	}
}

func TestEventsBadTopic(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	for _, q := range []string{"", "topic=", "topic=nba/*/x", "topic=a%20b"} {
		resp, err := a.Client().Get(a.URL + "/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("?%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

// TestEventsHTTP2 checks streams over HTTP/2, which cannot be taken over:
// many subscriptions share one TLS connection.
func TestEventsHTTP2(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, true)
	var readers []*client.Reader
	for i := range 3 {
		resp, rd := a.stream(t, fmt.Sprintf("topic=t/%d&topic=all", i), nil)
		if resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
		}
		readers = append(readers, rd)
	}
	a.publish(t, "Bearer "+token, `[{"topic":"t/0","type":"x","data":{}},{"topic":"all","type":"x","data":{}},{"topic":"t/2","type":"x","data":{}}]`)
	want := [][]string{{"1", "2"}, {"2"}, {"2", "3"}}
	for i, rd := range readers {
		for _, id := range want[i] {
			ev, err := nodetest.NextEvent(rd)
			if err != nil || ev.ID != id {
				t.Fatalf("stream %d: got %+v, %v; want event %s", i, ev, err, id)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{AllowedOrigins: []string{"https://scores.example"}}, false)
	t.Run("Allowed", func(t *testing.T) {
		resp, _ := a.stream(t, "topic=*", http.Header{"Origin": {"https://scores.example"}})
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://scores.example" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("NotListed", func(t *testing.T) {
		resp, _ := a.stream(t, "topic=*", http.Header{"Origin": {"https://evil.example"}})
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("non-listed origin got %s", k)
			}
		}
	})
	t.Run("Preflight", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, a.URL+"/events?topic=*", nil)
		req.Header.Set("Origin", "https://scores.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "last-event-id")
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") ||
			resp.Header.Get("Access-Control-Allow-Origin") != "https://scores.example" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, scoreBody)
	get := func(path string) (int, string) {
		resp, err := a.Client().Get(a.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// The publisher hears of the commit first; the hub, whose figures
	// these are, a moment later.
	deadline := time.Now().Add(5 * time.Second)
	status, body := get("/healthz")
	for !strings.Contains(body, `"last_id":1`) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		status, body = get("/healthz")
	}
	if status != 200 || !strings.Contains(body, `"last_id":1`) || !strings.Contains(body, fmt.Sprintf(`"pid":%d`, os.Getpid())) {
		t.Fatalf("healthz: %d %s", status, body)
	}
	_, body = get("/metrics")
	for _, want := range []string{"livefeed_last_event_id 1\n", "livefeed_published_events_total 1\n", "# TYPE livefeed_subscribers gauge"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestStreamsShed: over the per-IP limit a client gets a 200 stream that
// asks it to come back later and ends, not an error status (which would
// make an EventSource give up for good); once a place frees up, it gets in.
func TestStreamsShed(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{MaxStreamsPerIP: 2, BusyRetry: 20 * time.Second}, false)
	var open []*http.Response
	for range 2 {
		resp, _ := a.stream(t, "topic=a", nil)
		open = append(open, resp)
	}
	resp, rd := a.stream(t, "topic=a", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("shed stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("shed stream did not end: %v", err)
	}
	if rd.Retry() < 10*time.Second || rd.Retry() > 30*time.Second {
		t.Fatalf("retry %v, want 10s-30s around busy_retry", rd.Retry())
	}
	open[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, rd := a.stream(t, "topic=a", nil)
		a.publish(t, "Bearer "+token, `{"topic":"a","type":"x","data":{}}`)
		ev, err := rd.Next()
		resp.Body.Close()
		if err == nil && ev.Type == "x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the place of a closed stream was never freed")
		}
	}
}

func TestPublishRateLimited(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{PublishRate: 0.5, PublishBurst: 2}, false)
	for range 2 {
		if resp, body := a.publish(t, "Bearer "+token, scoreBody); resp.StatusCode != 201 {
			t.Fatalf("within the burst: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := a.publish(t, "Bearer "+token, scoreBody)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "faster") {
		t.Fatalf("over the rate: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if a.store.LastID() != 2 {
		t.Fatalf("a refused publish was stored: LastID %d", a.store.LastID())
	}
}

// TestNoSecretsInLogs: publish tokens and passwords never reach the log,
// whatever the request.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newApp(t, handlers.Options{Logger: logger}, false)
	const wrongToken = "wrong-token-but-secret-0123456789"
	a.publish(t, "Bearer "+wrongToken, scoreBody)
	a.publish(t, "Bearer "+token, scoreBody)
	a.publish(t, "Bearer "+token, `{"topic":"a","type":"note","data":{"password":"hunter2-in-data"}}`)
	resp, err := a.Client().PostForm(a.URL+"/admin/login", url.Values{"name": {"admin"}, "password": {"hunter2-password"}})
	if err == nil {
		resp.Body.Close()
	}
	for _, secret := range []string{token, wrongToken, "hunter2-password"} {
		if strings.Contains(log.String(), secret) {
			t.Fatalf("the log holds a secret:\n%s", log.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metricValue reads the figure name from the /metrics of the server at
// base, with c (0 if it has none).
func metricValue(t *testing.T, c *http.Client, base, name string) float64 {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return bench.ParseMetrics(string(b))[name]
}
