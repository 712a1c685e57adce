package fanout_test

import (
	"context"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
)

// TestAwait: a new subscriber can wait for the hub to hear of what the
// log has committed; the wait ends with the news, at its bound, with its
// context, or when the hub closes.
func TestAwait(t *testing.T) {
	t.Parallel()
	h := fanout.NewHub(fanout.Options{})
	defer h.Close()
	ctx := context.Background()
	note := func(id int64) []feed.Event {
		return []feed.Event{{ID: id, Topic: "a", Type: "note", Time: time.Now(), Data: []byte(`{}`)}}
	}
	h.Publish(note(1))
	if !h.Await(ctx, 1, time.Millisecond) {
		t.Fatal("Await of an event heard of: false")
	}
	if h.Await(ctx, 2, 10*time.Millisecond) {
		t.Fatal("Await of an event not published: true")
	}
	done := make(chan bool)
	go func() { done <- h.Await(ctx, 3, 10*time.Second) }()
	h.Publish(note(2)) // not yet
	select {
	case <-done:
		t.Fatal("Await returned before the event came")
	case <-time.After(20 * time.Millisecond):
	}
	h.Publish(note(3))
	if !<-done {
		t.Fatal("Await of an event published while waiting: false")
	}
	cancelled, cancel := context.WithCancel(ctx)
	go func() { done <- h.Await(cancelled, 4, 10*time.Second) }()
	cancel()
	if <-done {
		t.Fatal("Await whose context ended: true")
	}
	go func() { done <- h.Await(ctx, 4, 10*time.Second) }()
	time.Sleep(10 * time.Millisecond)
	h.Close()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("Await on a closed hub: true")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Await did not return when the hub closed")
	}
}
