//go:build linux

package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/handlers"
)

// TestExportToSlowReader: an export to a client that reads slowly but
// steadily, taking many write timeouts, arrives whole (it used to be cut
// once one 128 KiB write took longer than the timeout).
func TestExportToSlowReader(t *testing.T) {
	t.Parallel()
	// Long enough that a reader delayed by a loaded machine (the race
	// detector, CI running other tests) is not taken for one that
	// stopped: a piece needs 80 ms of its reading.
	const timeout = 800 * time.Millisecond
	// The server's socket holds little, so its writes wait for the reader
	// (a default one grows to megabytes, more than this export).
	a := newApp(t, handlers.Options{WriteTimeout: timeout}, false, func(c *net.TCPConn) { c.SetWriteBuffer(32 << 10) })
	pad := strings.Repeat("x", 200)
	for i := range 10 {
		batch := make([]feed.Update, 250)
		for j := range batch {
			batch[j] = feed.Update{Topic: "slow/a", Type: "note", Data: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i*250+j, pad))}
		}
		if _, err := a.store.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	// A small receive buffer, so the server's writes wait for the reader,
	// and segments of 4 KiB, not loopback's 64 KiB, so that reading a few
	// KiB opens the window again (on a real network segments are smaller
	// still).
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 4096)
		})
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	resp, err := client.Get(a.URL + "/api/export.csv?topic=slow/a")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	// About 200 KB/s: 16 KB in 80 ms, a 128 KiB write in 640 ms.
	body, err := io.ReadAll(&slowBody{r: resp.Body, chunk: 4 << 10, pause: 20 * time.Millisecond})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the export broke off after %v: %v", took, err)
	}
	if rows := strings.Count(string(body), "\r\n") - 1; rows != 2500 {
		t.Fatalf("%d rows, want 2500", rows)
	}
	if took < 3*timeout {
		t.Fatalf("the export took %v: too fast to test the write timeout", took)
	}
	t.Logf("%d bytes in %v", len(body), took)
}

type slowBody struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *slowBody) Read(p []byte) (int, error) {
	time.Sleep(s.pause) // the point of the test: a client that reads slowly
	return s.r.Read(p[:min(len(p), s.chunk)])
}
