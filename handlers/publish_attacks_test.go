package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"livefeed/feed/poll"
	"livefeed/handlers"
)

// TestPublishConnectionAttacks: what a connection can do to a publish —
// ask to continue, pipeline, reset mid-body, close before the reply —
// ends in a clear answer or nothing stored, never a 2xx for nothing and
// never a stored event answered with an error it did not have.
func TestPublishConnectionAttacks(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	addr := strings.TrimPrefix(a.URL, "http://")
	head := "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\n"
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	read := func(br *bufio.Reader) (int, string) {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("ExpectContinue", func(t *testing.T) {
		c, br := dial()
		fmt.Fprintf(c, "%sExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", head, len(scoreBody))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusContinue {
			t.Fatalf("interim answer: %v %v, want 100 Continue", resp, err)
		}
		io.WriteString(c, scoreBody)
		if status, body := read(br); status != http.StatusCreated || !strings.HasPrefix(body, `{"id":`) {
			t.Fatalf("%d %q", status, body)
		}
	})
	t.Run("ExpectContinueRefused", func(t *testing.T) {
		// A publish refused for its token is refused before its body
		// is asked for.
		c, br := dial()
		fmt.Fprintf(c, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(scoreBody))
		if status, _ := read(br); status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401 without a 100 Continue first", status)
		}
	})
	t.Run("Pipelined", func(t *testing.T) {
		c, br := dial()
		before := a.store.LastID()
		var both strings.Builder
		for range 2 {
			fmt.Fprintf(&both, "%sContent-Length: %d\r\n\r\n%s", head, len(scoreBody), scoreBody)
		}
		io.WriteString(c, both.String())
		for i := range 2 {
			status, body := read(br)
			if want := fmt.Sprintf("{\"id\":%d}\n", before+int64(i)+1); status != http.StatusCreated || body != want {
				t.Fatalf("pipelined publish %d: %d %q, want %q", i, status, body, want)
			}
		}
	})
	t.Run("ResetMidBody", func(t *testing.T) {
		before := a.store.LastID()
		c, _ := dial()
		fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", head, len(scoreBody), scoreBody[:20])
		c.(*net.TCPConn).SetLinger(0) // close with a reset
		c.Close()
		time.Sleep(100 * time.Millisecond) // the server sees the reset
		if got := a.store.LastID(); got != before {
			t.Fatalf("a body cut off by a reset was stored (%d events, was %d)", got, before)
		}
	})
	t.Run("ClosedBeforeReply", func(t *testing.T) {
		// The body arrived whole: the event is stored even though
		// nobody reads the reply (a retry with a key finds it).
		before := a.store.LastID()
		c, _ := dial()
		fmt.Fprintf(c, "%sIdempotency-Key: \"gone-1\"\r\nContent-Length: %d\r\n\r\n%s", head, len(scoreBody), scoreBody)
		c.Close()
		poll.Until(t, "the event stored", func() bool { return a.store.LastID() == before+1 })
		c2, br := dial()
		fmt.Fprintf(c2, "%sIdempotency-Key: \"gone-1\"\r\nContent-Length: %d\r\n\r\n%s", head, len(scoreBody), scoreBody)
		if status, body := read(br); status != http.StatusCreated || body != fmt.Sprintf("{\"id\":%d}\n", before+1) {
			t.Fatalf("the retry: %d %q", status, body)
		}
	})
}

// TestPublishHTTP2StreamReset: an HTTP/2 publish whose client resets its
// stream before the body is whole stores nothing; the connection serves
// the next publish.
func TestPublishHTTP2StreamReset(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, true)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/api/publish", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	done := make(chan error, 1)
	go func() {
		resp, err := a.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %s", resp.Status)
		}
		done <- err
	}()
	pw.Write([]byte(scoreBody[:20]))
	time.Sleep(50 * time.Millisecond)
	cancel() // RST_STREAM
	if err := <-done; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("the reset publish: %v", err)
	}
	resp, body := a.publish(t, "Bearer "+token, scoreBody)
	if resp.StatusCode != http.StatusCreated || resp.ProtoMajor != 2 || body != "{\"id\":1}\n" {
		t.Fatalf("the next publish: %s %s %q, want 201 over HTTP/2 with ID 1 (the reset one stored nothing)", resp.Status, resp.Proto, body)
	}
}

// TestPublishBodiesBounded: publishes whose bodies arrive slowly hold
// memory while they are read; a token may have 16 of the largest at once
// (64 in all), and one more is refused with 429 before its body is read.
// Small bodies take only their length. Before, any number could be open.
func TestPublishBodiesBounded(t *testing.T) {
	t.Parallel()
	other := "other-publish-token-0123456789"
	a := newApp(t, handlers.Options{PublishTokens: []string{token, other}, MaxBodyBytes: 1 << 20}, false)
	addr := strings.TrimPrefix(a.URL, "http://")
	slow := func(bearer string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// No length: the most a body may be is reserved for it.
		fmt.Fprintf(c, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{\"to\r\n", bearer)
		return c, bufio.NewReader(c)
	}
	held := make([]net.Conn, 0, 16)
	for range 16 {
		c, _ := slow(token)
		held = append(held, c)
	}
	// Let the server take all 16 before the one over the limit (a
	// publish to probe it would race them for the last place).
	poll.Until(t, "16 publishes being read", func() bool {
		return metricValue(t, a.Client(), a.URL, "livefeed_publish_body_bytes") == 16<<20
	})
	c, br := slow(token)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a 17th slow publish of the token: %v %v, want 429 with Retry-After at once", resp, err)
	}
	if resp, body := a.publish(t, "Bearer "+other, scoreBody); resp.StatusCode != http.StatusCreated {
		t.Fatalf("another token's publish: %d %s", resp.StatusCode, body)
	}
	for _, c := range held {
		c.Close()
	}
	poll.Until(t, "the token's publishes taken again", func() bool {
		resp, _ := a.publish(t, "Bearer "+token, scoreBody)
		return resp.StatusCode == http.StatusCreated
	})
}
