package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// TestShutdown: once the node's context ends (SIGINT, SIGTERM), open
// streams end, Serve returns, and the database is closed with every
// acknowledged event in it.
func TestShutdown(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	n := nodetest.Start(t, cfg, node.Options{})
	c, br := nodetest.Stream(t, n.URL, "/events?topic=*")
	rd := client.NewReader(br)
	nodetest.MustPublish(t, n.URL, nodetest.Note("a", 1))
	if ev, err := nodetest.NextEvent(rd); err != nil || ev.ID != "1" {
		t.Fatalf("%+v %v", ev, err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("shut down: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := rd.Next(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("stream after shutdown: %v, want end of stream", err)
	}
	st, err := store.Open(cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.LastID() != 1 {
		t.Fatalf("LastID after shutdown = %d", st.LastID())
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	n := nodetest.StartServing(t, nodetest.Config(t), node.Options{}, node.ServeOptions{Demo: true})
	c, br := nodetest.Stream(t, n.URL, "/events?topic=*")
	rd := client.NewReader(br)
	seen := map[string]bool{}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for !seen["score"] || !seen["tick"] {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("demo events so far %v: %v", seen, err)
		}
		seen[ev.Type] = true
	}
}

// TestDemoOverTLS: the simulation publishes through the API like any
// publisher, also when the server speaks only HTTPS.
func TestDemoOverTLS(t *testing.T) {
	t.Parallel()
	n := nodetest.StartServing(t, nodetest.WithTLS(t, nodetest.Config(t)), node.Options{}, node.ServeOptions{Demo: true})
	c := client.New(n.URL, "")
	c.HTTP = n.Client
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream := c.Subscribe(ctx, []string{"stocks/*"}, "")
	defer stream.Close()
	for range 6 { // more than the snapshot of the four symbols: live ones too
		item, err := stream.Next()
		if err != nil {
			t.Fatal(err)
		}
		if item.Event.Type != "tick" {
			t.Fatalf("got %+v", item)
		}
	}
}

// TestSlowAndOversizedRequests: a client that trickles its headers
// (slowloris) is cut off after read_header_timeout, and oversized headers
// are refused, so neither can hold a connection or memory.
func TestSlowAndOversizedRequests(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Server.ReadHeaderTimeout = 300 * time.Millisecond
	n := nodetest.Start(t, cfg, node.Options{})
	u, _ := url.Parse(n.URL)
	t.Run("SlowHeaders", func(t *testing.T) {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n") // and nothing more
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		_, err = io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept a connection with unfinished headers open")
		}
		t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
	})
	t.Run("HugeHeaders", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, n.URL+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("x", 200<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // the server closed the connection: refused as well
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("200 KiB of headers: %d", resp.StatusCode)
		}
	})
}

// TestTLSServesHTTP2: with a certificate configured, a node serves HTTPS
// and HTTP/2, so a browser's many event streams share one connection
// instead of being held to six; events published over it reach every
// stream.
func TestTLSServesHTTP2(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.WithTLS(t, nodetest.Config(t)), node.Options{})
	if !strings.HasPrefix(n.URL, "https://") {
		t.Fatalf("serving on %s, want https", n.URL)
	}
	httpClient := n.Client
	defer httpClient.CloseIdleConnections()

	const streams = 8 // more than a browser's six HTTP/1.1 connections
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		conns[info.Conn] = true
		mu.Unlock()
	}}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(t.Context(), trace), 10*time.Second)
	defer cancel()
	var readers []*client.Reader
	for range streams {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/events?topic=tls/*", nil)
		req.Header.Set("Last-Event-ID", "0")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("stream: %s %s, Content-Type %q", resp.Proto, resp.Status, resp.Header.Get("Content-Type"))
		}
		readers = append(readers, client.NewReader(resp.Body))
	}
	mu.Lock()
	used := len(conns)
	mu.Unlock()
	if used != 1 {
		t.Fatalf("%d streams used %d connections, want 1", streams, used)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.URL+"/api/publish", strings.NewReader(nodetest.Note("tls/game", 1)))
	req.Header.Set("Authorization", "Bearer "+nodetest.Token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || strings.TrimSpace(string(body)) != `{"id":1}` {
		t.Fatalf("publish over TLS: %s %s", resp.Status, body)
	}
	for i, rd := range readers {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if ev.ID != "1" || ev.Type != "note" {
			t.Fatalf("stream %d received %+v, want event 1", i, ev)
		}
	}
}

// TestStreamsOutliveTimeouts holds an idle and a busy stream open through
// several heartbeats and several server and feed write timeouts, over
// HTTP/1.1 and over HTTP/2: a stream ends only when its client stops
// reading (streams used to be cut after the first write timeout).
func TestStreamsOutliveTimeouts(t *testing.T) {
	t.Parallel()
	const hold = 6 * time.Second
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			cfg := nodetest.Config(t)
			cfg.Server.ReadTimeout = time.Second
			cfg.Server.WriteTimeout = time.Second
			cfg.Server.IdleTimeout = time.Second
			cfg.Feed.Heartbeat = time.Second
			cfg.Feed.WriteTimeout = 1500 * time.Millisecond
			if proto == "HTTP/2.0" {
				cfg = nodetest.WithTLS(t, cfg)
			}
			n := nodetest.Start(t, cfg, node.Options{})
			httpClient := n.Client
			if proto == "HTTP/2.0" {
				defer httpClient.CloseIdleConnections()
			}
			open := func(topic string) (*client.Reader, func()) {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, n.URL+"/events?topic="+topic, nil)
				req.Header.Set("Last-Event-ID", "0")
				resp, err := httpClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Proto != proto || resp.StatusCode != http.StatusOK {
					t.Fatalf("stream: %s %s, want %s 200", resp.Proto, resp.Status, proto)
				}
				return client.NewReader(resp.Body), func() { resp.Body.Close() }
			}
			idle, closeIdle := open("quiet/*")
			defer closeIdle()
			busy, closeBusy := open("busy/*")
			defer closeBusy()

			// The idle stream is read in the background: it sees only
			// heartbeats until the end.
			idleEvents := make(chan error, 1)
			go func() {
				ev, err := idle.Next()
				if err == nil && ev.ID != "" {
					err = fmt.Errorf("event %s", ev.ID)
				}
				idleEvents <- err
			}()
			var last int64
			deadline := time.Now().Add(hold)
			for time.Now().Before(deadline) {
				ids, err := nodetest.Publish(httpClient, n.URL, nodetest.Note("busy/game", int(last)))
				if err != nil {
					t.Fatal(err)
				}
				ev, err := busy.Next()
				if err != nil {
					t.Fatalf("busy stream after %d events: %v", last, err)
				}
				if ev.ID != strconv.FormatInt(ids[0], 10) {
					t.Fatalf("busy stream: event %s, want %d", ev.ID, ids[0])
				}
				last = ids[0]
				time.Sleep(200 * time.Millisecond) // an event every 200 ms, as a busy game does
			}
			ids, err := nodetest.Publish(httpClient, n.URL, nodetest.Note("quiet/game", 1))
			if err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-idleEvents:
				if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("event %d", ids[0])) {
					t.Fatalf("idle stream after %v: %v", hold, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the idle stream did not get the event")
			}
			if got := idle.Comments(); got < int(hold/time.Second)-1 {
				t.Fatalf("idle stream: %d heartbeats in %v", got, hold)
			}
			resp, err := httpClient.Get(n.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, reason := range []string{"lag", "write_timeout"} {
				want := fmt.Sprintf(`livefeed_streams_closed_total{reason=%q} 0`, reason)
				if !strings.Contains(string(metrics), want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}

// TestSessionsSurviveRestart: an operator signed in before a restart (a
// deploy) is still signed in after it, with the same cookie and form
// token; signing out still ends the session at once, and the database
// holds no session ID a copy of it could sign in with.
func TestSessionsSurviveRestart(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pitch-side-password"), config.MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodetest.Config(t)
	cfg.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: string(hash)}}
	n := nodetest.Start(t, cfg, node.Options{})
	jar, _ := cookiejar.New(nil)
	httpClient := &http.Client{Jar: jar}
	post := func(path string, kv ...string) (int, map[string]any) {
		t.Helper()
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		resp, err := httpClient.PostForm(n.URL+path, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	session := func() map[string]any {
		t.Helper()
		resp, err := httpClient.Get(n.URL + "/admin/session")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return body
	}
	loginCSRF, _ := session()["csrf"].(string)
	status, body := post("/admin/login", "name", "ann", "password", "pitch-side-password", "csrf", loginCSRF)
	if status != http.StatusOK {
		t.Fatalf("sign-in: %d %v", status, body)
	}
	csrf, _ := body["csrf"].(string)
	if status, body := post("/admin/games", "csrf", csrf, "topic", "nba/g1", "home", "Lakers", "away", "Celtics"); status != http.StatusCreated {
		t.Fatalf("new game: %d %v", status, body)
	}

	if err := n.Restart(nil); err != nil {
		t.Fatal(err)
	}
	if got := session(); got["signed_in"] != true || got["operator"] != "ann" || got["csrf"] != csrf {
		t.Fatalf("after the restart the session is %v", got)
	}
	if status, body := post("/admin/score", "csrf", csrf, "topic", "nba/g1", "home_points", "3"); status != http.StatusCreated {
		t.Fatalf("a tap after the restart: %d %v", status, body)
	}

	// The database holds the session ID's hash, not the ID.
	var cookie string
	admin, err := url.Parse(n.URL + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range jar.Cookies(admin) {
		if c.Name == "livefeed_session" {
			cookie = c.Value
		}
	}
	db, _ := os.ReadFile(cfg.Store.Path)
	wal, _ := os.ReadFile(cfg.Store.Path + "-wal")
	if cookie == "" || bytes.Contains(db, []byte(cookie)) || bytes.Contains(wal, []byte(cookie)) {
		t.Fatalf("the session ID (%q) is stored in the database", cookie)
	}

	if status, _ := post("/admin/logout", "csrf", csrf); status != http.StatusOK {
		t.Fatalf("sign-out: %d", status)
	}
	// A copy of the cookie is worthless now, also after another restart.
	stolen := &http.Client{}
	if err := n.Restart(nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, n.URL+"/admin/score", strings.NewReader(url.Values{"csrf": {csrf}, "topic": {"nba/g1"}, "home_points": {"3"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "livefeed_session", Value: cookie})
	resp, err := stolen.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the signed-out session's cookie: %s, want 401", resp.Status)
	}
}

// TestDemoTiers: the demo's prices are delayed for a reader without a
// token, as a free tier's, and /demo/token hands the demo page's own
// widgets a token that reads them in real time; a configuration with
// keys of its own gets neither (the demo never mints with an operator's
// keys).
func TestDemoTiers(t *testing.T) {
	t.Parallel()
	n := nodetest.StartServing(t, nodetest.Config(t), node.Options{Demo: true}, node.ServeOptions{Demo: true})
	_, br := nodetest.Stream(t, n.URL, "/events?topic=stocks/*")
	if ev, err := client.NewReader(br).Next(); err != nil || ev.Type != feed.EventDelayed || !strings.Contains(ev.Data, `"delay_ms":15000`) {
		t.Fatalf("first event without a token: %+v, %v", ev, err)
	}
	resp, err := http.Get(n.URL + "/demo/token")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.Token == "" {
		t.Fatalf("/demo/token: %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	c, br := nodetest.Stream(t, n.URL, "/events?topic=stocks/*&token="+tok.Token)
	rd := client.NewReader(br)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range 6 { // the snapshot of the four symbols, and live ones
		if ev, err := rd.Next(); err != nil || ev.Type != "tick" && ev.Type != feed.EventPosition {
			t.Fatalf("with the demo's token: %+v, %v", ev, err)
		}
	}

	cfg := nodetest.Config(t)
	cfg.Auth.SubscriberKeys = []string{"the-operators-own-subscriber-key-0123456789"}
	own := nodetest.StartServing(t, cfg, node.Options{Demo: true}, node.ServeOptions{Demo: true})
	if resp, err := http.Get(own.URL + "/demo/token"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("/demo/token with keys of the configuration's: %v, %v", resp, err)
	}
	_, br = nodetest.Stream(t, own.URL, "/events?topic=stocks/*")
	if ev, err := client.NewReader(br).Next(); err != nil || ev.Type == feed.EventDelayed {
		t.Fatalf("with keys of the configuration's, the demo delays nothing: %+v, %v", ev, err)
	}
}
