package client_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
)

// TestIngest: a streaming publish gets one acknowledgement per line, in
// order, while it goes on: each is read before the next line is sent. A
// refused line is answered alone; a keyed line sent again is answered
// with its first ID.
func TestIngest(t *testing.T) {
	s := startServer(t)
	c := client.New(s.url(), token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := c.Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	sendAndRecv := func(u feed.Update, key string) client.Ack {
		t.Helper()
		if err := in.Send(u, key); err != nil {
			t.Fatal(err)
		}
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		ack, err := in.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	for i := range 5 {
		if ack := sendAndRecv(note("a", i), ""); ack.Err != nil || ack.ID != int64(i+1) {
			t.Fatalf("line %d: %+v", i+1, ack)
		}
	}
	ack := sendAndRecv(feed.Update{Topic: "a", Type: "score", Data: []byte(`{}`)}, "")
	if !errors.Is(ack.Err, feed.ErrInvalid) || ack.Line != 6 {
		t.Fatalf("a bad line: %+v", ack)
	}
	multiline := feed.Update{Topic: "a", Type: "note", Data: []byte("{\n  \"n\": 7\n}")}
	if ack := sendAndRecv(multiline, "k-7"); ack.Err != nil || ack.ID != 6 {
		t.Fatalf("data with line breaks, keyed: %+v", ack)
	}
	if ack := sendAndRecv(multiline, "k-7"); ack.Err != nil || ack.ID != 6 {
		t.Fatalf("the keyed line again: %+v", ack)
	}
	for i := range 1000 {
		if err := in.Send(note("b", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		ack, err := in.Recv()
		if err != nil || ack.Err != nil || ack.ID != int64(7+i) {
			t.Fatalf("ack %d of the burst: %+v, %v", i, ack, err)
		}
	}
	if _, err := in.Recv(); err != io.EOF {
		t.Fatalf("after the last ack: %v, want io.EOF", err)
	}
	if last := s.st.LastID(); last != 1006 {
		t.Fatalf("last ID %d, want 1006", last)
	}
	refused, err := client.New(s.url(), "wrong-token-0123456789abcdef").Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if _, err := refused.Recv(); !errors.Is(err, feed.ErrUnauthorized) {
		t.Fatalf("a wrong token: %v", err)
	}
	if err := refused.Send(note("a", 0), ""); err == nil {
		if err := refused.Flush(); !errors.Is(err, feed.ErrUnauthorized) {
			t.Fatalf("a line sent on a refused stream: %v", err)
		}
	}
}

// TestIngestBehindProxy: a streaming publish works through a proxy that
// passes the server's answer on only with its first bytes, as nginx does
// over HTTP/2 (with proxy_buffering off): the answer to a stream comes
// with the first acknowledgement, which comes only once a line is sent.
func TestIngestBehindProxy(t *testing.T) {
	s := startServer(t)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, s.url()+r.URL.RequestURI(), r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 32<<10)
		n, err := resp.Body.Read(buf) // the answer waits for its first bytes
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		for ; ; n, err = resp.Body.Read(buf) {
			w.Write(buf[:n])
			rc.Flush()
			if err != nil {
				return
			}
		}
	}))
	defer proxy.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := client.New(proxy.URL, token).Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for i := range 3 {
		if err := in.Send(note("a", i), ""); err != nil {
			t.Fatal(err)
		}
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		if ack, err := in.Recv(); err != nil || ack.Err != nil || ack.ID != int64(i+1) {
			t.Fatalf("line %d: %+v, %v", i+1, ack, err)
		}
	}
	if err := in.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if ack, err := in.Recv(); err != io.EOF {
		t.Fatalf("after the last line: %+v, %v; want io.EOF", ack, err)
	}
}

// TestIngestDeadline: a stream the server never answers ends with its
// context: the transport would wait for the body's end first.
func TestIngestDeadline(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer silent.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	in, err := client.New(silent.URL, token).Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := in.Recv()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Recv: %v, want the context's deadline", err)
		}
	case <-time.After(poll.Deadline):
		t.Fatalf("Recv did not return %v after its context's deadline", poll.Deadline)
	}
	in.Close()
}
