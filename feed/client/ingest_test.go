package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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
	if _, err := client.New(s.url(), "wrong-token-0123456789abcdef").Ingest(ctx); !errors.Is(err, feed.ErrUnauthorized) {
		t.Fatalf("a wrong token: %v", err)
	}
}

// TestIngestBehindProxy: a streaming publish opens through a proxy that
// passes a request on only once its body begins, as nginx does over
// HTTP/2 (with proxy_request_buffering off): the server's answer to the
// stream cannot come before its first line. Ingest returns all the same,
// and acknowledgements count the lines as sent.
func TestIngestBehindProxy(t *testing.T) {
	s := startServer(t)
	target, err := url.Parse(s.url())
	if err != nil {
		t.Fatal(err)
	}
	upstream := httputil.NewSingleHostReverseProxy(target)
	upstream.FlushInterval = -1
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 1)
		if _, err := io.ReadFull(r.Body, first); err != nil {
			http.Error(w, "no body", http.StatusBadRequest)
			return
		}
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(first), r.Body), r.Body}
		upstream.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := client.New(proxy.URL, token).Ingest(ctx)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	defer in.Close()
	for i, u := range []feed.Update{{Topic: "a", Type: "score", Data: []byte(`{}`)}, note("a", 1)} {
		if err := in.Send(u, ""); err != nil {
			t.Fatal(err)
		}
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		ack, err := in.Recv()
		switch {
		case err != nil:
			t.Fatalf("line %d: %v", i+1, err)
		case i == 0 && (!errors.Is(ack.Err, feed.ErrInvalid) || ack.Line != 1):
			t.Errorf("the bad first line: %+v, want refused as line 1", ack)
		case i == 1 && (ack.Err != nil || ack.ID != 1):
			t.Errorf("the second line: %+v, want event 1", ack)
		}
	}
}

// TestIngestDeadline: Ingest returns when its context ends, though the
// server never answers.
func TestIngestDeadline(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer silent.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		in, err := client.New(silent.URL, token).Ingest(ctx)
		if err == nil {
			in.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Ingest: %v, want the context's deadline", err)
		}
	case <-time.After(poll.Deadline):
		t.Fatalf("Ingest did not return %v after its context's deadline", poll.Deadline)
	}
}
