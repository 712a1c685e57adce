package client_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
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
