package handlers_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"livefeed/handlers"
)

// halfClosed sends a request on a raw socket, half-closes the socket's
// sending side (shutdown(SHUT_WR), as some HTTP clients and proxies do
// once a request is sent) and reads the whole reply.
func halfClosed(t *testing.T, addr, head string, body []byte) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	return resp, string(b)
}

// TestPublishHalfClosed: a publish whose body was sent whole is stored
// and answered 201 even though its client half-closed the connection
// (net/http cancels the request's context when it reads the EOF); no
// publish is ever answered with a 2xx that stored nothing. Before, 17 of
// 30 such batches were answered "200 OK" with an empty body, and not
// stored.
func TestPublishHalfClosed(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{MaxBodyBytes: 1 << 20}, false)
	addr := strings.TrimPrefix(a.URL, "http://")
	var batch strings.Builder
	batch.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"topic":"stocks/S%d","type":"tick","data":{"symbol":"S%d","price":%d.5}}`, i%50, i%50, i)
	}
	batch.WriteByte(']')
	head := "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\n"
	const requests = 30
	for i := range requests {
		resp, body := halfClosed(t, addr, head, []byte(batch.String()))
		if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(body, `{"ids":[`) {
			t.Fatalf("publish %d: %s %q, want 201 with the IDs", i, resp.Status, body)
		}
	}
	if got := a.store.LastID(); got != requests*1000 {
		t.Fatalf("%d events stored, want %d", got, requests*1000)
	}

	// One event, with a key, and a refused one: a key's publish is
	// stored too; a refusal is answered with its own status.
	keyed := head + "Idempotency-Key: \"half-1\"\r\n"
	resp, body := halfClosed(t, addr, keyed, []byte(scoreBody))
	if resp.StatusCode != http.StatusCreated || body != fmt.Sprintf("{\"id\":%d}\n", requests*1000+1) {
		t.Fatalf("keyed publish: %s %q", resp.Status, body)
	}
	resp, body = halfClosed(t, addr, head, []byte(`{"topic":"a","type":"score","data":{}}`))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
		t.Fatalf("invalid publish: %s %q", resp.Status, body)
	}
}

// TestIngestHalfClosed: every line of a streaming publish that was read
// is committed and answered, when its publisher half-closed the
// connection after the last line. Before, about a quarter of the lines
// were answered {"status":499}.
func TestIngestHalfClosed(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{MaxBodyBytes: 1 << 20}, false)
	addr := strings.TrimPrefix(a.URL, "http://")
	const lines = 20000
	var body strings.Builder
	for i := range lines {
		fmt.Fprintf(&body, `{"topic":"stocks/S%d","type":"tick","data":{"symbol":"S%d","price":%d.5}}`+"\n", i%50, i%50, i)
	}
	head := "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/x-ndjson\r\n"
	resp, acks := halfClosed(t, addr, head, []byte(body.String()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %q", resp.Status, acks)
	}
	answers := strings.Split(strings.TrimSuffix(acks, "\n"), "\n")
	if len(answers) != lines {
		t.Fatalf("%d answers, want %d; the last: %q", len(answers), lines, answers[len(answers)-1])
	}
	for i, ack := range answers {
		if want := fmt.Sprintf(`{"id":%d}`, i+1); ack != want {
			t.Fatalf("line %d answered %q, want %q", i+1, ack, want)
		}
	}
	if got := a.store.LastID(); got != lines {
		t.Fatalf("%d events stored, want %d", got, lines)
	}
}
