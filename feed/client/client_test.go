package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

const token = "client-test-token-0123456789abcdef"

// server is a whole livefeed node (handlers/node, through nodetest), on
// a port it keeps across restarts, for the client to talk to.
type server struct {
	*nodetest.Node
	db string
	st *store.Store // as it is now: a restart opens it anew
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	s, err := openServer(filepath.Join(tb.TempDir(), "feed.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	return s
}

// openServer starts a server on a free loopback port with its database at
// db, and a retry of 100 ms for the client's reconnections.
func openServer(db string) (*server, error) {
	cfg := nodetest.ConfigAt(db)
	cfg.Auth.PublishTokens = []config.PublishToken{{Token: token}}
	cfg.Feed.Window = 100
	n, err := nodetest.Open(cfg, node.Options{Server: func(o *handlers.Options) { o.Retry = 100 * time.Millisecond }})
	if err != nil {
		return nil, err
	}
	return &server{Node: n, db: db, st: n.Store()}, nil
}

func (s *server) url() string { return s.URL }

func (s *server) stop() { s.Stop() }

// restart stops the server and serves again on the same address and
// database.
func (s *server) restart(tb testing.TB) {
	tb.Helper()
	if err := s.Restart(nil); err != nil {
		tb.Fatal(err)
	}
	s.st = s.Store()
}

func note(topic string, n int) feed.Update {
	return feed.Update{Topic: topic, Type: "note", Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
}

func TestPublish(t *testing.T) {
	s := startServer(t)
	c := client.New(s.url(), token)
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		id, err := c.Publish(ctx, note("a", 1), "")
		if err != nil || id != 1 {
			t.Fatalf("Publish = %d, %v", id, err)
		}
		ids, err := c.PublishBatch(ctx, []feed.Update{note("a", 2), note("b", 3)}, "")
		if err != nil || len(ids) != 2 || ids[0] != 2 || ids[1] != 3 {
			t.Fatalf("PublishBatch = %v, %v", ids, err)
		}
	})
	t.Run("OKRetry", func(t *testing.T) {
		first, err := c.Publish(ctx, note("a", 4), "retry-1")
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Publish(ctx, note("a", 4), "retry-1")
		if err != nil || again != first || s.st.LastID() != first {
			t.Fatalf("retry = %d, %v; first %d, last %d", again, err, first, s.st.LastID())
		}
	})
	t.Run("OKReplayed", func(t *testing.T) {
		batch := []feed.Update{note("a", 5), note("b", 6)}
		first, err := c.PublishBatchAck(ctx, batch, "batch-1")
		if err != nil || first.Replayed || len(first.IDs) != 2 {
			t.Fatalf("PublishBatchAck = %+v, %v", first, err)
		}
		again, err := c.PublishBatchAck(ctx, batch, "batch-1")
		if err != nil || !again.Replayed || again.IDs[0] != first.IDs[0] || again.IDs[1] != first.IDs[1] {
			t.Fatalf("the retry = %+v, %v; want replayed with the first's IDs %v", again, err, first.IDs)
		}
	})
	for _, tc := range []struct {
		name   string
		client *client.Client
		update feed.Update
		key    string
		kind   error
	}{
		{"ErrInvalid", c, feed.Update{Topic: "a", Type: "score", Data: []byte(`{}`)}, "", feed.ErrInvalid},
		{"ErrUnauthorized", client.New(s.url(), "wrong-token-0123456789abcdef"), note("a", 1), "", feed.ErrUnauthorized},
		{"ErrKeyReused", c, note("a", 99), "retry-1", feed.ErrKeyReused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Publish(ctx, tc.update, tc.key)
			var fe *feed.Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &fe) || fe.Message == "" {
				t.Fatalf("Publish = %v, want a %v error with the server's message", err, tc.kind)
			}
		})
	}
}

func TestHistoryAndTopics(t *testing.T) {
	s := startServer(t)
	c := client.New(s.url(), token)
	ctx := context.Background()
	for i := range 25 {
		if _, err := c.Publish(ctx, note(fmt.Sprintf("t/%d", i%3), i), ""); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	q := &client.HistoryQuery{Topics: []string{"t/1", "t/2"}, Limit: 4}
	for q != nil {
		page, err := c.History(ctx, *q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			got = append(got, e.ID)
		}
		q = page.Next
	}
	var want []int64
	for i := range 25 {
		if i%3 != 0 {
			want = append(want, int64(i+1))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	latest, err := c.Topics(ctx, "t/*")
	if err != nil || len(latest) != 3 || latest[0].Topic != "t/0" || latest[0].ID != 25 {
		t.Fatalf("Topics = %+v, %v", latest, err)
	}
	// More topics than a page of the server's holds: every one, once.
	for first := 0; first < 1_203; first += 600 {
		var batch []feed.Update
		for i := first; i < min(first+600, 1_203); i++ {
			batch = append(batch, note(fmt.Sprintf("many/%04d", i), i))
		}
		if _, err := c.PublishBatch(ctx, batch, ""); err != nil {
			t.Fatal(err)
		}
	}
	many, err := c.Topics(ctx, "many/*")
	if err != nil || len(many) != 1_203 || many[0].Topic != "many/0000" || many[1_202].Topic != "many/1202" {
		t.Fatalf("Topics of 1,203: %d, %v", len(many), err)
	}
	for i := 1; i < len(many); i++ {
		if many[i].Topic <= many[i-1].Topic {
			t.Fatalf("Topics gave %s after %s", many[i].Topic, many[i-1].Topic)
		}
	}
	if _, err := c.History(ctx, client.HistoryQuery{Topics: []string{"bad topic"}}); !errors.Is(err, feed.ErrInvalid) {
		t.Fatalf("a bad topic: %v", err)
	}
}

// TestStream: a fresh stream gets the snapshot, then live events; one
// resuming from an ID gets exactly what followed; across a server restart
// the stream reconnects by itself with its position and misses nothing;
// a position the server cannot resume is a reset, then the snapshot.
func TestStream(t *testing.T) {
	s := startServer(t)
	c := client.New(s.url(), token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		c.Publish(ctx, note("g/a", i), "") // 1, 2, 3
	}
	c.Publish(ctx, note("g/b", 9), "") // 4

	next := func(st *client.Stream) client.Item {
		t.Helper()
		item, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		return item
	}
	ids := func(st *client.Stream, n int) []int64 {
		t.Helper()
		var got []int64
		for range n {
			item := next(st)
			if item.Reset != "" {
				t.Fatalf("unexpected reset %q", item.Reset)
			}
			got = append(got, item.Event.ID)
		}
		return got
	}

	fresh := c.Subscribe(ctx, []string{"g/*"}, "")
	defer fresh.Close()
	if got := ids(fresh, 2); fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("snapshot %v, want the latest of each topic [3 4]", got)
	}
	resumed := c.Subscribe(ctx, []string{"g/a"}, "1")
	defer resumed.Close()
	if got := ids(resumed, 2); fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("resumed after 1: %v", got)
	}

	c.Publish(ctx, note("g/a", 5), "") // 5
	if got := ids(fresh, 1); got[0] != 5 {
		t.Fatalf("live: %v", got)
	}
	s.restart(t)
	for i := range 3 {
		if _, err := c.Publish(ctx, note("g/a", 6+i), ""); err != nil { // 6, 7, 8
			t.Fatal(err)
		}
	}
	if got := ids(fresh, 3); fmt.Sprint(got) != "[6 7 8]" {
		t.Fatalf("after the restart: %v", got)
	}
	if got := ids(resumed, 4); fmt.Sprint(got) != "[5 6 7 8]" {
		t.Fatalf("after the restart, resumed: %v", got)
	}
	if fresh.LastEventID() != "8" {
		t.Fatalf("LastEventID = %q", fresh.LastEventID())
	}

	bad := c.Subscribe(ctx, []string{"g/b"}, "abc")
	defer bad.Close()
	if item := next(bad); item.Reset != "invalid" {
		t.Fatalf("first item %+v, want a reset", item)
	}
	if got := ids(bad, 1); got[0] != 4 {
		t.Fatalf("after the reset: %v, want the snapshot [4]", got)
	}

	refused := c.Subscribe(ctx, []string{"no spaces"}, "")
	if _, err := refused.Next(); !errors.Is(err, feed.ErrInvalid) {
		t.Fatalf("a stream of a bad topic: %v, want ErrInvalid", err)
	}
	fresh.Close()
	if _, err := fresh.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// TestStreamPosition: a stream whose snapshot is empty hands nothing over,
// yet has a position (the server's position event) from the moment it is
// attached, which LastEventID reports while Next waits in another
// goroutine; after a restart it resumes from there, so the events
// published while the server was down reach it, once each.
func TestStreamPosition(t *testing.T) {
	s := startServer(t)
	c := client.New(s.url(), token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, note("other", 0), ""); err != nil { // 1
		t.Fatal(err)
	}
	st := c.Subscribe(ctx, []string{"quiet/*"}, "")
	items := make(chan client.Item, 16)
	go func() {
		defer close(items)
		for {
			item, err := st.Next()
			if err != nil {
				return
			}
			items <- item
		}
	}()
	defer func() {
		st.Close()
		for range items {
		}
	}()
	// The position is 1, or 0 if event 1 had not reached the hub yet
	// (its publisher is answered a moment before): either way the stream
	// resumes from before the events below.
	for st.LastEventID() == "" {
		if ctx.Err() != nil {
			t.Fatal("the stream never got its position")
		}
		time.Sleep(5 * time.Millisecond) // polling the stream
	}

	s.stop()
	// Published while the server is down, by another instance on the
	// same database: the stream gets them only by resuming.
	down, err := store.Open(s.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Append(ctx, []feed.Update{note("quiet/a", 1), note("quiet/b", 2)}); err != nil { // 2, 3
		t.Fatal(err)
	}
	if err := down.Close(); err != nil {
		t.Fatal(err)
	}
	s.restart(t)
	if _, err := c.Publish(ctx, note("quiet/a", 3), ""); err != nil { // 4
		t.Fatal(err)
	}
	for _, want := range []int64{2, 3, 4} {
		select {
		case item := <-items:
			if item.Event.ID != want {
				t.Fatalf("got %+v, want event %d", item, want)
			}
		case <-ctx.Done():
			t.Fatalf("event %d never came", want)
		}
	}
}

// TestStreamConflatedAndDelayed: Conflate asks the server for conflated
// delivery (the first event of a quiet topic, then the latest per
// interval; a resume the latest of each topic changed since), and a
// delayed stream hands over its delay first.
func TestStreamConflatedAndDelayed(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Auth.PublishTokens = []config.PublishToken{{Token: token}}
	cfg.Feed.Delayed = []config.DelayedTier{{Topics: []string{"late/*"}, Delay: time.Second}}
	n := nodetest.Start(t, cfg, node.Options{})
	c := client.New(n.URL, token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	st := c.Subscribe(ctx, []string{"g/*"}, "0", client.Conflate(300*time.Millisecond))
	defer st.Close()
	items := make(chan client.Item, 8)
	go func() {
		for {
			item, err := st.Next()
			if err != nil {
				close(items)
				return
			}
			items <- item
		}
	}()
	poll.Until(t, "the stream to be attached", func() bool { return n.Hub().Stats().Subscribers == 1 })
	ids, err := c.PublishBatch(ctx, []feed.Update{note("g/a", 1), note("g/a", 2), note("g/a", 3), note("g/b", 4)}, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for item := range items {
		if got = append(got, item.Event.ID); len(got) == 3 {
			break
		}
	}
	if want := fmt.Sprint([]int64{ids[0], ids[2], ids[3]}); fmt.Sprint(got) != want {
		t.Fatalf("conflated: %v, want %s (the first at once, the latest of each at the tick)", got, want)
	}
	resumed := c.Subscribe(ctx, []string{"g/*"}, "0", client.Conflate(time.Second))
	defer resumed.Close()
	for _, want := range []int64{ids[2], ids[3]} {
		if item, err := resumed.Next(); err != nil || item.Event.ID != want {
			t.Fatalf("conflated resume: %+v, %v; want %d", item, err, want)
		}
	}

	late := c.Subscribe(ctx, []string{"late/*"}, "")
	defer late.Close()
	if item, err := late.Next(); err != nil || item.Delayed != time.Second {
		t.Fatalf("first item of a delayed stream: %+v, %v", item, err)
	}
}
