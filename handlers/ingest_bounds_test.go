package handlers_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed/poll"
	"livefeed/handlers"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// dialIngest opens a streaming publish on a raw socket and returns the
// connection once the request's head is sent. A publisher that does not
// read its answers is given a tiny receive buffer (tiny), which it fills
// at once.
func dialIngest(t testing.TB, addr, bearer string, tiny bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tiny {
		c.(*net.TCPConn).SetReadBuffer(4096)
	}
	head := "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bearer +
		"\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// chunk frames p as one chunk of a chunked body.
func chunk(p []byte) []byte {
	return append(fmt.Appendf(nil, "%x\r\n", len(p)), append(p, "\r\n"...)...)
}

// liveHeap is what the process's heap holds once garbage is collected:
// the bytes still reachable, not the spans they happen to be spread over
// (which the collector may leave half empty, and which made the figure
// swing by tens of MiB between runs).
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestIngestMemoryBounded: streaming publishers that never read their
// answers hold bounded memory, whether their lines are stored or refused
// (not JSON, out of their token's scope). Refused lines did not count
// toward a stream's bounds: one such publisher took the server from 23 MiB
// to 1.46 GiB in 16 s.
func TestIngestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sends for seconds")
	}
	const streams = 20
	scoped := "scoped-publish-token-0123456789"
	tick := []byte(`{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.5}}` + "\n")
	for _, tc := range []struct {
		name   string
		bearer string
		line   []byte
	}{
		{"Refused", token, []byte("x\n")},
		{"OutOfScope", scoped, tick},
		{"Stored", token, tick},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// At the end, the lines the streams have read (two groups of
			// 4,096 each) are committed before the node shuts down: with
			// the race detector on a loaded machine, more than the 10 s
			// shutdown timeout.
			cfg := nodetest.Config(t)
			cfg.Server.ShutdownTimeout = 2 * time.Minute
			// The hub's window of recent events is the server's, not a
			// stream's: at its smallest, so that what grows is what the
			// streams hold.
			cfg.Feed.Window, cfg.Feed.WindowBytes = 100, 1<<20
			a := newAppWith(t, cfg, node.Options{}, handlers.Options{
				MaxBodyBytes:        1 << 20,
				WriteTimeout:        time.Minute, // not what ends them here
				ScopedPublishTokens: []handlers.ScopedPublishToken{{Token: scoped, Topics: mustFilter(t, "partner/*")}},
			}, false)
			addr := strings.TrimPrefix(a.URL, "http://")
			before := liveHeap()
			body := chunk(bytes.Repeat(tc.line, (64<<10)/len(tc.line)))
			stop := make(chan struct{})
			var sent sync.WaitGroup
			conns := make([]net.Conn, streams)
			for i := range conns {
				conns[i] = dialIngest(t, addr, tc.bearer, true)
				c := conns[i]
				sent.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
						c.Write(body) // blocks once the server stops reading
					}
				})
			}
			time.Sleep(3 * time.Second) // the time to fill what they can
			grown := int64(liveHeap()) - int64(before)
			close(stop)
			sent.Wait()
			for _, c := range conns {
				c.Close()
			}
			t.Logf("%d publishers not reading: heap +%.1f MiB (%.2f MiB each)", streams, float64(grown)/(1<<20), float64(grown)/(1<<20)/streams)
			// Two groups of at most 1 MiB or 4,096 lines each, what they
			// hold beside (lines, refusals, outcomes, answers) and a read
			// buffer: about 4 MiB a stream at most.
			if limit := int64(streams * 6 << 20); grown > limit {
				t.Fatalf("heap grew by %d MiB with %d streams; the bound is %d MiB", grown>>20, streams, limit>>20)
			}
		})
	}
}

// TestIngestLineDeadline: server.read_timeout bounds each line, however
// often a byte of it arrives. Before, the deadline moved on at every read,
// so a publisher sending one byte of an unfinished 1 MB line every few
// seconds held it (and its memory) for as long as it liked.
func TestIngestLineDeadline(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{MaxBodyBytes: 2 << 20, ReadTimeout: time.Second}, false)
	addr := strings.TrimPrefix(a.URL, "http://")
	const conns = 20
	ended := make(chan string, conns)
	for range conns {
		c := dialIngest(t, addr, token, false)
		defer c.Close()
		line := `{"topic":"a","type":"note","data":{"x":"` + strings.Repeat("y", 1<<20)
		if _, err := c.Write(chunk([]byte(line))); err != nil {
			t.Fatal(err)
		}
		go func() {
			// A byte every 200 ms, well within the read timeout.
			for {
				time.Sleep(200 * time.Millisecond)
				if _, err := c.Write(chunk([]byte("y"))); err != nil {
					break
				}
			}
		}()
		go func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				ended <- "no reply: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			ended <- string(b)
		}()
	}
	start := time.Now()
	for range conns {
		answer := <-ended
		if !strings.Contains(answer, `"status":408`) || !strings.Contains(answer, "line 1 did not arrive whole within 1s") {
			t.Fatalf("the stream ended with %q, want the line refused for its time", answer)
		}
	}
	t.Logf("%d trickled lines ended after %v", conns, time.Since(start).Round(time.Millisecond))
	if a.store.LastID() != 0 {
		t.Fatal("an unfinished line was stored")
	}
}

// TestIngestStreamLimits: streaming publishes are capped per token and in
// all; one over a cap is refused with 429 before a line is read, and the
// place comes back when a stream ends.
func TestIngestStreamLimits(t *testing.T) {
	t.Parallel()
	other := "other-publish-token-0123456789"
	a := newApp(t, handlers.Options{PublishTokens: []string{token, other}, MaxPublishStreams: 3, MaxPublishStreamsPerToken: 2}, false)
	open := func(bearer string, want int) *ingestConn {
		t.Helper()
		c, status := openIngest(t, a, "Bearer "+bearer)
		if status != want {
			t.Fatalf("a stream of %s: status %d, want %d", bearer[:5], status, want)
		}
		return c
	}
	first := open(token, http.StatusOK)
	open(token, http.StatusOK)
	refused := open(token, http.StatusTooManyRequests)
	if body := refused.recv(t); !strings.Contains(body, "max_publish_streams_per_token") {
		t.Fatalf("a third stream of a token: %q", body)
	}
	open(other, http.StatusOK)
	open(other, http.StatusTooManyRequests) // a fourth in all
	first.send(t, noteLine("a", 1))
	if got := first.recv(t); got != `{"id":1}` {
		t.Fatalf("a stream within the limits: %q", got)
	}
	first.end(t)
	poll.Until(t, "a place back", func() bool {
		c, status := openIngest(t, a, "Bearer "+token)
		c.conn.Close()
		return status == http.StatusOK
	})
}

// TestIngestTokenRevoked: a publish token the server no longer accepts
// (removed by a reload) ends the streams it opened: the next line is
// refused with 401 and nothing after it is read. Before, the stream went
// on publishing.
func TestIngestTokenRevoked(t *testing.T) {
	t.Parallel()
	other := "other-publish-token-0123456789"
	a := newApp(t, handlers.Options{PublishTokens: []string{token, other}}, false)
	c, _ := openIngest(t, a, "Bearer "+token)
	c.send(t, noteLine("a", 1))
	if got := c.recv(t); got != `{"id":1}` {
		t.Fatalf("first line: %q", got)
	}
	a.server.SetCredentials(handlers.Credentials{PublishTokens: []string{other}})
	c.send(t, noteLine("a", 2)+noteLine("a", 3))
	if got := c.recv(t); !strings.HasPrefix(got, `{"line":2,"status":401`) || !strings.Contains(got, "no longer accepted") {
		t.Fatalf("after the token was removed: %q", got)
	}
	if rest, err := io.ReadAll(c.br); len(rest) > 0 || err != nil {
		t.Fatalf("after the refusal: %q, %v; want the stream to end", rest, err)
	}
	if n := a.store.LastID(); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

// TestIngestStopsAtShutdown: StopIngest (the server shutting down) ends a
// stream that is still sending at once: the lines read are committed and
// answered, the stream says why it ended, and nothing more is read.
// Before, the deadline meant to stop the read was moved on by the next
// read, and the stream went on for the whole shutdown timeout.
func TestIngestStopsAtShutdown(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{MaxBodyBytes: 1 << 20, ReadTimeout: 30 * time.Second}, false)
	addr := strings.TrimPrefix(a.URL, "http://")
	c := dialIngest(t, addr, token, false)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	lines := chunk(bytes.Repeat([]byte(`{"topic":"a","type":"note","data":{"x":1}}`+"\n"), 1000))
	stop := make(chan struct{})
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(lines); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-sending }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	answers := bufio.NewScanner(resp.Body)
	if !answers.Scan() {
		t.Fatal("no answer")
	}
	stopped := time.Now()
	a.server.StopIngest()
	acked, last := 1, ""
	for answers.Scan() {
		if strings.HasPrefix(answers.Text(), `{"id":`) {
			acked++
			continue
		}
		last = answers.Text()
	}
	took := time.Since(stopped)
	if !strings.Contains(last, `"status":503`) || !strings.Contains(last, "shutting down") {
		t.Fatalf("the stream ended with %q, want it to say the server is shutting down", last)
	}
	if took > 3*time.Second {
		t.Fatalf("the stream took %v to end after StopIngest", took)
	}
	if n := a.store.LastID(); n != int64(acked) {
		t.Fatalf("%d lines answered with an ID, %d events stored", acked, n)
	}
}

// TestIngestTopicQuotaReloaded: a streaming publish open across a change
// of its token's max_topics is held to the new limit from the next line.
func TestIngestTopicQuotaReloaded(t *testing.T) {
	t.Parallel()
	partner := "partner-publish-token-0123456789"
	scoped := func(limit int) []handlers.ScopedPublishToken {
		return []handlers.ScopedPublishToken{{Token: partner, Topics: mustFilter(t, "p/*"), MaxTopics: limit}}
	}
	a := newApp(t, handlers.Options{ScopedPublishTokens: scoped(1)}, false)
	c, _ := openIngest(t, a, "Bearer "+partner)
	c.send(t, noteLine("p/1", 1))
	if got := c.recv(t); got != `{"id":1}` {
		t.Fatalf("first line: %q", got)
	}
	c.send(t, noteLine("p/2", 1))
	if got := c.recv(t); !strings.HasPrefix(got, `{"line":2,"status":507`) || !strings.Contains(got, "its max_topics: 1") {
		t.Fatalf("a second topic over 1: %q", got)
	}
	a.server.SetCredentials(handlers.Credentials{PublishTokens: []string{token}, ScopedPublishTokens: scoped(2)})
	c.send(t, noteLine("p/2", 2))
	if got := c.recv(t); got != `{"id":2}` {
		t.Fatalf("the second topic once the limit is 2: %q", got)
	}
	c.send(t, noteLine("p/3", 1))
	if got := c.recv(t); !strings.HasPrefix(got, `{"line":4,"status":507`) || !strings.Contains(got, "its max_topics: 2") {
		t.Fatalf("a third topic over 2: %q", got)
	}
}
