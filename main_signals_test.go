package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// TestSigtermEndsStreamingPublish: SIGTERM ends a streaming publish that
// is still sending at once: reading stops, every line read is committed
// and answered, the stream says the server is shutting down, and the
// process exits 0 well within shutdown_timeout with no ERROR line. Before,
// the server went on reading and committing for the whole timeout, then
// closed the store under the stream (about 20,000 lines answered 503 and
// as many ERROR lines) and exited 1.
func TestSigtermEndsStreamingPublish(t *testing.T) {
	bin := builtBinary(t)
	dir := t.TempDir()
	logs := t.TempDir()
	t.Setenv("LIVEFEED_SERVER_LOGS", logs)
	cfg := filepath.Join(dir, "config.toml")
	const shutdownTimeout = 20 * time.Second
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[server]\nshutdown_timeout = %q\n", shutdownTimeout.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "feed.db")
	srv, base := startBinary(t, bin, cfg, db)

	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", nodetest.Token)
	var lines strings.Builder
	for i := range 500 {
		fmt.Fprintf(&lines, `{"topic":"stocks/S%d","type":"tick","data":{"symbol":"S%d","price":%d.5}}`+"\n", i%20, i%20, i)
	}
	chunk := fmt.Sprintf("%x\r\n%s\r\n", lines.Len(), lines.String())
	go func() { // a publisher that goes on sending
		for {
			if _, err := c.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the stream: %v %v", resp, err)
	}
	answers := bufio.NewScanner(resp.Body)
	acked := 0
	for acked < 5000 && answers.Scan() {
		acked++
	}
	stopped := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- srv.Stop() }()
	last := ""
	for answers.Scan() {
		if strings.HasPrefix(answers.Text(), `{"id":`) {
			acked++
		} else {
			last = answers.Text()
		}
	}
	if !strings.Contains(last, `"status":503`) || !strings.Contains(last, "shutting down") {
		t.Fatalf("the stream ended with %q (%v), want it to say the server is shutting down", last, answers.Err())
	}
	if err := <-exited; err != nil {
		t.Fatalf("the server exited with %v, want status 0", err)
	}
	took := time.Since(stopped)
	t.Logf("%d lines acknowledged; the server exited %v after SIGTERM", acked, took.Round(time.Millisecond))
	if took > shutdownTimeout/2 {
		t.Fatalf("the server took %v to exit after SIGTERM (shutdown_timeout %v)", took, shutdownTimeout)
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := st.LastID(); got != int64(acked) {
		t.Fatalf("%d lines acknowledged, %d events stored", acked, got)
	}
	files, _ := filepath.Glob(filepath.Join(logs, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "level=ERROR") {
			t.Fatalf("the server logged errors:\n%s", b)
		}
	}
}
