package handlers_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/handlers"
	"livefeed/store"
)

// ingest opens a streaming publish on a raw HTTP/1.1 connection, so that
// the test controls when each line is sent and reads each answer as it
// comes.
type ingestConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func openIngest(t *testing.T, a *app, auth string) (*ingestConn, int) {
	t.Helper()
	conn, err := net.Dial("tcp", a.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", auth)
	c := &ingestConn{conn: conn, br: bufio.NewReader(conn)}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		c.br = bufio.NewReader(resp.Body)
	}
	return c, resp.StatusCode
}

func (c *ingestConn) send(t *testing.T, lines string) {
	t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%x\r\n%s\r\n", len(lines), lines); err != nil {
		t.Fatal(err)
	}
}

func (c *ingestConn) end(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.conn, "0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *ingestConn) recv(t *testing.T) string {
	t.Helper()
	line, err := c.br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading an answer: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func noteLine(topic string, n int) string {
	return fmt.Sprintf(`{"topic":%q,"type":"note","data":{"n":%d}}`+"\n", topic, n)
}

// TestIngest: each line of a stream is answered as soon as it is
// committed, while the stream stays open (full duplex over HTTP/1.1); a
// bad line is answered alone and the stream goes on; the events reach
// subscribers as other publishes do.
func TestIngest(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{MaxBodyBytes: 4096}, false)
	c, status := openIngest(t, a, "Bearer "+token)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for i := range 3 {
		c.send(t, noteLine("a", i))
		if got, want := c.recv(t), fmt.Sprintf(`{"id":%d}`, i+1); got != want {
			t.Fatalf("answer %q, want %q: each line is answered before the next is sent", got, want)
		}
	}
	c.send(t, "\n"+`{"topic":"a","type":"score","data":{}}`+"\n"+noteLine("a", 4)+"{\"topic\":\n"+noteLine("a", 5))
	for _, want := range []string{
		`{"line":5,"status":400,"error":"data.home is required"}`,
		`{"id":4}`,
		`{"line":7,"status":400,"error":"the line is not valid JSON: it ends too early"}`,
		`{"id":5}`,
	} {
		if got := c.recv(t); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
	// A line longer than server.max_body_bytes is refused alone, also
	// when it spans many reads.
	c.send(t, `{"topic":"a","type":"note","data":{"pad":"`+strings.Repeat("x", 70_000)+`"}}`+"\n"+noteLine("a", 6))
	if got := c.recv(t); !strings.HasPrefix(got, `{"line":9,"status":413,`) {
		t.Fatalf("a long line: %q", got)
	}
	if got := c.recv(t); got != `{"id":6}` {
		t.Fatalf("after a long line: %q", got)
	}
	// Keyed lines: a retry is answered with the first ID.
	// The same line written with other spacing or its fields in another
	// order is the same line: a retry too.
	keyed := `{"topic":"a","type":"note","data":{"n":7},"idempotency_key":"k7"}` + "\n"
	respaced := `{ "idempotency_key": "k7", "data": { "n": 7 }, "type": "note", "topic": "a" }` + "\n"
	c.send(t, keyed+respaced+`{"topic":"a","type":"note","data":{"n":8},"idempotency_key":"k7"}`+"\n")
	for _, want := range []string{`{"id":7}`, `{"id":7}`, `{"line":13,"status":422,`} {
		if got := c.recv(t); !strings.HasPrefix(got, want) {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
	// The last line may end without a line break.
	c.send(t, strings.TrimSuffix(noteLine("a", 9), "\n"))
	c.end(t)
	if got := c.recv(t); got != `{"id":8}` {
		t.Fatalf("the last line: %q", got)
	}
	if _, err := c.br.ReadString('\n'); err != io.EOF {
		t.Fatalf("after the last answer: %v, want the end of the response", err)
	}
	if last := a.store.LastID(); last != 8 {
		t.Fatalf("last ID %d, want 8", last)
	}
}

// TestIngestRefused: a stream is refused as a whole for what refuses a
// publish (the token, the key header), and line by line for a scope or a
// rate it exceeds; nothing is stored for a refused line.
func TestIngestRefused(t *testing.T) {
	t.Parallel()
	scope, err := feed.ParseFilter([]string{"partner/*"})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, handlers.Options{
		ScopedPublishTokens: []handlers.ScopedPublishToken{{Token: "scoped-token-0123456789abcdef", Topics: scope}},
		PublishRate:         1, PublishBurst: 2,
	}, false)
	t.Run("ErrUnauthorized", func(t *testing.T) {
		if _, status := openIngest(t, a, "Bearer wrong-token-0123456789"); status != http.StatusUnauthorized {
			t.Fatalf("status %d", status)
		}
	})
	t.Run("ErrKeyHeader", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/publish", strings.NewReader(noteLine("a", 1)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson; charset=utf-8")
		req.Header.Set("Idempotency-Key", `"k"`)
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("ErrForbiddenAndRateLimited", func(t *testing.T) {
		c, status := openIngest(t, a, "Bearer scoped-token-0123456789abcdef")
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		c.send(t, noteLine("other/x", 1)+noteLine("partner/x", 2)+noteLine("partner/x", 3)+noteLine("partner/x", 4))
		for _, want := range []string{`{"line":1,"status":403,`, `{"id":1}`, `{"id":2}`, `{"line":4,"status":429,`} {
			if got := c.recv(t); !strings.HasPrefix(got, want) {
				t.Fatalf("answer %q, want %q", got, want)
			}
		}
		c.end(t)
		if last := a.store.LastID(); last != 2 {
			t.Fatalf("last ID %d, want 2", last)
		}
	})
}

// TestIngestShutdown: a server shutting down ends its streams where they
// are, after answering the lines read, and says so.
func TestIngestShutdown(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	c, status := openIngest(t, a, "Bearer "+token)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	c.send(t, noteLine("s", 1))
	if got := c.recv(t); got != `{"id":1}` {
		t.Fatalf("answer %q", got)
	}
	a.server.StopIngest()
	if got := c.recv(t); !strings.HasPrefix(got, `{"status":503,"error":"the server is shutting down`) {
		t.Fatalf("at shutdown: %q", got)
	}
	if _, err := c.br.ReadString('\n'); err != io.EOF {
		t.Fatalf("after the last answer: %v, want the end of the response", err)
	}
}

// TestIngestHTTP2: over HTTP/2 too, each line is answered while the
// request body is still open.
func TestIngestHTTP2(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, true)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/publish", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		io.WriteString(pw, noteLine("h2", i))
		line, err := br.ReadString('\n')
		if want := fmt.Sprintf("{\"id\":%d}\n", i+1); err != nil || line != want {
			t.Fatalf("answer %q, %v; want %q", line, err, want)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the body ended: %q, %v", rest, err)
	}
}

// TestIngestBackpressure: a publisher that sends and never reads the
// answers is not read without bound: once the answers fill the connection,
// the server stops reading the stream, and the events it holds are
// bounded, while it keeps publishing what it took in.
func TestIngestBackpressure(t *testing.T) {
	t.Parallel()
	// The server's answers wait for this client from when it stopped
	// reading them until it reads again, past its 2 s of stalled writes:
	// a write timeout well beyond that, so that a loaded machine does not
	// turn the test of backpressure into one of the timeout (which ends
	// the stream, and its connection with a reset).
	a := newApp(t, handlers.Options{WriteTimeout: 30 * time.Second}, false, func(c *net.TCPConn) { c.SetWriteBuffer(4096) })
	conn, err := net.Dial("tcp", a.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", token)
	chunk := strings.Repeat(noteLine("bp", 1), 1000)
	chunk = fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk)
	sent := 0
	for {
		conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(conn, chunk); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatal(err)
			}
			break
		}
		if sent += 1000; sent > 5_000_000 {
			t.Fatalf("the server read %d lines while their answers were not read", sent)
		}
	}
	// Stalled: the server holds at most a few groups and socket buffers'
	// worth of lines beyond those it published.
	stored := a.store.LastID()
	if stored == 0 {
		t.Fatal("nothing was published")
	}
	t.Logf("sent about %d lines before the server stopped reading; %d published", sent, stored)
	// Reading the answers lets it go on.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v, %v", resp, err)
	}
	body := bufio.NewReader(resp.Body)
	for i := int64(1); i <= stored; i++ {
		line, err := body.ReadString('\n')
		if want := fmt.Sprintf("{\"id\":%d}\n", i); err != nil || line != want {
			t.Fatalf("answer %d: %q, %v", i, line, err)
		}
	}
}

// refusingLog takes no line of a streaming publish: the cluster's log or
// the disk is away.
type refusingLog struct{ *store.Store }

func (refusingLog) AppendEach(_ context.Context, updates []feed.Checked, _ []*feed.Idempotency) []feed.Outcome {
	out := make([]feed.Outcome, len(updates))
	for i := range out {
		out[i].Err = feed.Errorf(feed.ErrUnavailable, "the cluster's log (NATS) cannot be reached from this node: nothing was stored; try again shortly")
	}
	return out
}

// TestIngestOutageLogged: while the log takes nothing, every line of a
// streaming publish is answered with its failure, and the server's log
// says so once for each group of lines it tried, not once a line: an
// outage under a ticker gateway's stream must not write a line of log
// for each tick.
func TestIngestOutageLogged(t *testing.T) {
	t.Parallel()
	st, hub := storeAndHub(t)
	var logs syncBuffer
	server := handlers.New(handlers.Backends{Log: refusingLog{st}, History: st, Sessions: st, Hub: hub},
		handlers.Options{PublishTokens: []string{token}, MaxBodyBytes: 64 << 10, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := httptest.NewServer(server.Handler())
	t.Cleanup(srv.Close)

	const lines = 2000
	var body strings.Builder
	for i := range lines {
		body.WriteString(noteLine("outage/t", i))
	}
	_, answers := send(t, srv.Client(), "POST", srv.URL+"/api/publish", body.String(),
		"Authorization", "Bearer "+token, "Content-Type", "application/x-ndjson")
	if got := strings.Count(string(answers), `"status":503`); got != lines {
		t.Fatalf("%d of %d lines answered 503:\n%.300s", got, lines, answers)
	}
	// The stream's lines reach the server in groups of what each read of
	// the body brought (hundreds here, a few dozen at the least under the
	// race detector): one line of log each, counting the group's lines.
	logged, counted := 0, 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(l, `msg="streaming publish:`) {
			continue
		}
		logged++
		n := 0
		if _, err := fmt.Sscanf(l[strings.LastIndex(l, " lines=")+1:], "lines=%d", &n); err != nil {
			t.Errorf("a line of log without the count of the lines it stands for: %s", l)
		}
		counted += n
	}
	if logged == 0 || logged > lines/10 || counted != lines {
		t.Errorf("%d lines of log for %d lines refused in one stream, counting %d lines; want one for each group of them", logged, lines, counted)
	}
}
