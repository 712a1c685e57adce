package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/handlers"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// do sends a request with a body and header pairs and returns the
// response with its body read.
func (a *app) do(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, a.Client(), method, a.URL+path, body, header...)
}

// send is app.do for a server the test built itself: c sends the request
// to url.
func send(t *testing.T, c *http.Client, method, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// wantJSONError fails unless the answer has the status and a JSON error
// containing msg.
func wantJSONError(t *testing.T, what string, resp *http.Response, body []byte, status int, msg string) {
	t.Helper()
	var e struct{ Error string }
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, msg) {
		t.Fatalf("%s: got %d %q %s, want %d with a JSON error containing %q", what, resp.StatusCode, resp.Header.Get("Content-Type"), body, status, msg)
	}
}

// TestMalformedQuery: on every endpoint, a query string that does not
// parse is a 400, never silently cut short: "topic=ok/a;" would otherwise
// read every topic, and "topic=ok/a;limit=5" ignore the limit.
func TestMalformedQuery(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	a.publish(t, "Bearer "+token, scoreBody)
	auth := []string{"Authorization", "Bearer " + token, "Content-Type", "application/json"}
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		method, path, body string
		header             []string
	}{
		{"GET", "/api/export.csv?topic=ok/a;", "", nil},
		{"GET", "/api/history?topic=ok/a;limit=5", "", nil},
		{"GET", "/api/history?x=%zz", "", nil},
		{"GET", "/api/topics?topic=nba/*;", "", nil},
		{"GET", "/api/topics?topic=%zz", "", nil},
		{"GET", "/events?topic=nba/*;topic=evil/*", "", nil},
		{"GET", "/events?topic=nba/*&lastEventId=%zz", "", nil},
		{"HEAD", "/events?topic=%", "", nil},
		{"GET", "/healthz?a;b", "", nil},
		{"GET", "/metrics?%zz", "", nil},
		{"GET", "/admin?x=%2", "", nil},
		{"GET", "/admin/session?;", "", nil},
		{"GET", "/?x=%zz", "", nil},
		{"GET", "/widget.js?v=1;2", "", nil},
		{"POST", "/api/publish?x=%zz", scoreBody, auth},
		{"POST", "/admin/login?a;b", "name=ann&password=x", form},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := a.do(t, tc.method, tc.path, tc.body, tc.header...)
			if tc.method == http.MethodHead {
				if resp.StatusCode != 400 {
					t.Fatalf("got %d", resp.StatusCode)
				}
				return
			}
			wantJSONError(t, tc.path, resp, body, 400, "the query string is malformed")
		})
	}
	if got := a.store.LastID(); got != 1 {
		t.Fatalf("a refused request changed the database: LastID %d", got)
	}
	t.Run("Messages", func(t *testing.T) {
		for q, want := range map[string]string{
			"x=%zz":  `"%zz" is not a percent-encoded byte (write a % in a value as %25)`,
			"a=1;b":  "it has a ';'; separate parameters with & (write a ; in a value as %3B)",
			"a=%e9%": `"%" is not a percent-encoded byte`,
		} {
			if _, err := handlers.ParseQuery(q); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ParseQuery(%q) = %v, want %q", q, err, want)
			}
		}
		if v, err := handlers.ParseQuery("topic=a%2Fb&topic=c%3Bd&x="); err != nil || len(v["topic"]) != 2 || v["topic"][1] != "c;d" {
			t.Errorf("ParseQuery = %v, %v", v, err)
		}
	})
}

// TestHead: HEAD is answered wherever GET is, with GET's status and
// headers and no body (an event stream is not opened, an export not run).
func TestHead(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	a.publish(t, "Bearer "+token, scoreBody)
	for _, path := range []string{"/healthz", "/events?topic=nba/*", "/api/topics", "/api/history?limit=1", "/api/export.csv", "/metrics", "/admin", "/admin/session", "/", "/widget.js"} {
		t.Run(path, func(t *testing.T) {
			resp, body := a.do(t, http.MethodHead, path, "")
			if resp.StatusCode != 200 || len(body) != 0 {
				t.Fatalf("HEAD %s: %d, %d bytes", path, resp.StatusCode, len(body))
			}
			ct := resp.Header.Get("Content-Type")
			if path == "/events?topic=nba/*" {
				if ct != "text/event-stream; charset=utf-8" {
					t.Fatalf("HEAD %s: Content-Type %q", path, ct)
				}
				return
			}
			get, _ := a.get(t, path)
			if want := get.Header.Get("Content-Type"); ct != want {
				t.Fatalf("HEAD %s: Content-Type %q, GET's is %q", path, ct, want)
			}
		})
	}
	t.Run("ErrTopic", func(t *testing.T) {
		if resp, _ := a.do(t, http.MethodHead, "/events?topic=a%20b", ""); resp.StatusCode != 400 {
			t.Fatalf("HEAD with a bad topic: %d", resp.StatusCode)
		}
	})
}

// TestWrongMethod: a method a path does not take is a JSON 405 whose Allow
// header lists the ones it does take (RFC 9110 §15.5.6).
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/api/history", "GET, HEAD, OPTIONS"},
		{"POST", "/events", "GET, HEAD, OPTIONS"},
		{"PUT", "/api/export.csv", "GET, HEAD, OPTIONS"},
		{"GET", "/api/publish", "POST"},
		{"OPTIONS", "/api/publish", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"DELETE", "/metrics", "GET, HEAD"},
		{"GET", "/admin/login", "POST"},
		{"PATCH", "/admin", "GET, HEAD"},
		{"POST", "/widget.js", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := a.do(t, tc.method, tc.path, "")
			wantJSONError(t, tc.path, resp, body, 405, tc.method+" is not allowed on "+tc.path)
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

// TestUnknownAPIPath: an unknown path under /api/ is a JSON 404 whatever
// the method, not the static file server's text page or a 405.
func TestUnknownAPIPath(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/"},
		{"GET", "/api/histroy"},
		{"POST", "/api/histroy"},
		{"DELETE", "/api/publish/1"},
		{"GET", "/api/export.csv/x"},
	} {
		resp, body := a.do(t, tc.method, tc.path, "")
		wantJSONError(t, tc.method+" "+tc.path, resp, body, 404, "no such endpoint: "+tc.path)
	}
}

// TestPreflight: every endpoint read cross-origin answers a CORS preflight
// from an allowed origin, and says nothing to another one.
func TestPreflight(t *testing.T) {
	t.Parallel()
	const origin = "https://scores.example"
	a := newApp(t, handlers.Options{AllowedOrigins: []string{origin}}, false)
	for _, path := range []string{"/events", "/api/topics", "/api/history", "/api/export.csv"} {
		t.Run(path, func(t *testing.T) {
			resp, _ := a.do(t, http.MethodOptions, path, "", "Origin", origin,
				"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "last-event-id")
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
				h.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") {
				t.Fatalf("preflight: %d %v", resp.StatusCode, h)
			}
			resp, _ = a.do(t, http.MethodOptions, path, "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("preflight of another origin: %v", resp.Header)
			}
		})
	}
}

// TestBeforeZero: before=0 asks for the events before ID 0, which are
// none; it is not the same as leaving before out.
func TestBeforeZero(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, `[`+scoreBody+`,`+scoreBody+`]`)
	for _, path := range []string{"/api/history?before=0", "/api/history?before=0&order=desc", "/api/history?before=0&topic=nba/*"} {
		resp, body := a.get(t, path)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"events":[]}` {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body := a.get(t, "/api/export.csv?before=0")
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(records) != 1 {
		t.Fatalf("export before=0: %d, %d records, %v", resp.StatusCode, len(records), err)
	}
	if resp, body := a.get(t, "/api/history?before=2"); resp.StatusCode != 200 || !strings.Contains(string(body), `"id":1`) || strings.Contains(string(body), `"id":2`) {
		t.Fatalf("before=2: %d %s", resp.StatusCode, body)
	}
}

// TestBrokenRequestBodies sends bodies that cannot be read, over a raw
// socket: each is the client's error (400, or 408 for a body slower than
// the read timeout), logged below ERROR if at all, and nothing is stored.
func TestBrokenRequestBodies(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Server.ReadTimeout = 500 * time.Millisecond
	cfg.Log.Level = "debug"
	n := nodetest.Start(t, cfg, node.Options{Server: func(o *handlers.Options) {
		o.PublishTokens, o.MaxBodyBytes = []string{token}, 64<<10
		o.Operators = []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}
	}})
	st, log := n.Store(), n.Log
	u, _ := url.Parse(n.URL)
	publish := "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\n"
	login := "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"MalformedChunked", publish + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + scoreBody + "\r\n0\r\n\r\n", 400},
		{"ChunkCutOff", publish + "Transfer-Encoding: chunked\r\n\r\nff\r\n" + scoreBody + "\r\n0\r\n\r\n", 408},
		// A request smuggling probe (CL.TE): the length is ignored for
		// the chunked encoding, which this body does not follow.
		{"ContentLengthAndChunked", publish + "Content-Length: " + strconv.Itoa(len(scoreBody)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + scoreBody + "\r\n", 400},
		{"ContentLengthAndEmptyChunked", publish + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400},
		{"SlowBody", publish + "Content-Length: 500\r\n\r\n" + scoreBody[:20], 408},
		{"SlowForm", login + "Content-Length: 500\r\n\r\nname=ann", 408},
		{"MalformedChunkedForm", login + "Transfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, tc.request); err != nil {
				t.Fatal(err)
			}
			// The slow bodies send nothing more: the server's read
			// timeout ends them.
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
	if st.LastID() != 0 {
		t.Fatalf("a broken request stored an event: LastID %d", st.LastID())
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("a client's broken request was logged as an error:\n%s", log.String())
	}
}
