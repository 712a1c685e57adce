package bench_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed/bench"
)

// TestIngestAbuseRSS measures, on a built server in its own process, the
// memory that hostile streaming publishers can make it hold: 20 that send
// lines the server refuses (not JSON) as fast as they can and never read
// the answers, then 100 that each trickle an unfinished line of 1 MB a
// byte a second. The first are bounded by the groups' limits, the second
// by server.read_timeout, which bounds a whole line. Before, the first
// grew the server by about a gigabyte a minute and the second held their
// lines for as long as they liked. The figures are in web/docs/security.md,
// "Faults and attacks".
func TestIngestAbuseRSS(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	const readTimeout = 4 * time.Second
	url, pid := startLivefeedWith(t, fmt.Sprintf("[server]\nread_timeout = %q\nmax_body_bytes = 2097152\n[feed]\nmax_publish_streams = 200\nmax_publish_streams_per_token = 200\n", readTimeout.String()))
	addr := strings.TrimPrefix(url, "http://")
	proc := bench.Process{PID: pid}
	rss := func() int64 {
		kb, err := proc.RSS()
		if err != nil {
			t.Fatal(err)
		}
		return kb
	}
	open := func(tiny bool) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if tiny {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		fmt.Fprintf(c, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", testToken)
		return c
	}
	chunk := func(p []byte) []byte { return append(fmt.Appendf(nil, "%x\r\n", len(p)), append(p, "\r\n"...)...) }

	base := rss()
	// 20 publishers of refused lines that never read.
	refused := chunk(bytes.Repeat([]byte("x\n"), 32<<10))
	stop := make(chan struct{})
	var senders sync.WaitGroup
	var conns []net.Conn
	for range 20 {
		c := open(true)
		conns = append(conns, c)
		senders.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				c.Write(refused)
			}
		})
	}
	peak := base
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		peak = max(peak, rss())
	}
	close(stop)
	senders.Wait()
	for _, c := range conns {
		c.Close()
	}
	refusedGrowth := float64(peak-base) / 1024
	t.Logf("20 publishers of refused lines, not reading, 6 s: server RSS %.1f MiB → peak %.1f MiB (+%.1f MiB, %.2f MiB each)",
		float64(base)/1024, float64(peak)/1024, refusedGrowth, refusedGrowth/20)
	if refusedGrowth > 20*6 {
		t.Errorf("the server grew by %.0f MiB for 20 streams; the bound is about 4 MiB a stream", refusedGrowth)
	}

	// 100 publishers trickling an unfinished 1 MB line, a byte a second.
	base = rss()
	line := chunk([]byte(`{"topic":"a","type":"note","data":{"x":"` + strings.Repeat("y", 1<<20)))
	ended := make(chan string, 100)
	start := time.Now()
	for range 100 {
		c := open(false)
		defer c.Close()
		if _, err := c.Write(line); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				time.Sleep(time.Second)
				if _, err := c.Write(chunk([]byte("y"))); err != nil {
					return
				}
			}
		}()
		go func() {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				ended <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			ended <- string(b)
		}()
	}
	peak = base
	done := 0
	for done < 100 {
		select {
		case answer := <-ended:
			if !strings.Contains(answer, `"status":408`) {
				t.Fatalf("a trickled line ended with %q, want 408", answer)
			}
			done++
		case <-time.After(250 * time.Millisecond):
			peak = max(peak, rss())
		}
	}
	took := time.Since(start)
	t.Logf("100 publishers trickling a 1 MB line: server RSS %.1f MiB → peak %.1f MiB (+%.1f MiB); all ended after %v (read_timeout %v)",
		float64(base)/1024, float64(peak)/1024, float64(peak-base)/1024, took.Round(100*time.Millisecond), readTimeout)
	if took > 3*readTimeout {
		t.Errorf("the trickled lines were held %v; read_timeout is %v", took, readTimeout)
	}
}
