// Package logtest is the conformance test of livefeed's logs: what every
// implementation of the place where events get their IDs must do, whatever
// keeps them (SQLite on one node, a replicated log in a cluster). A log's
// own tests call Run with a function that opens a fresh, empty one.
package logtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
)

// Open returns a new, empty log that hands every event it commits to
// committed, as the log's Committed hook does (in ID order, each once; it
// may answer the publisher first), and closes it when the test ends.
type Open func(t *testing.T, committed func([]feed.Event)) feed.Log

// sink records what a log hands on.
type sink struct {
	mu     sync.Mutex
	events []feed.Event
}

func (s *sink) add(events []feed.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, events...)
}

// await waits until s holds at least n events (a log may answer its
// publisher before it hands the events on) and returns their IDs.
func (s *sink) await(t *testing.T, n int) []int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := s.ids()
		if len(ids) >= n || time.Now().After(deadline) {
			return ids
		}
		time.Sleep(time.Millisecond)
	}
}

// latestOf returns the ID of the newest event of topic handed on (0:
// none): what a reader of the log's latest events would find, a moment
// behind the log.
func (s *sink) latestOf(topic string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i].Topic == topic {
			return s.events[i].ID
		}
	}
	return 0
}

func (s *sink) ids() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, len(s.events))
	for i, e := range s.events {
		ids[i] = e.ID
	}
	return ids
}

// Checked checks updates as a streaming publish does before AppendEach,
// failing tb on an invalid one.
func Checked(tb testing.TB, updates ...feed.Update) []feed.Checked {
	tb.Helper()
	out := make([]feed.Checked, len(updates))
	for i, u := range updates {
		var err error
		if out[i], err = u.Check(feed.MaxDataBytesLimit); err != nil {
			tb.Fatalf("update %d: %v", i, err)
		}
	}
	return out
}

func note(topic string, n int) feed.Update {
	return feed.Update{Topic: topic, Type: "note", Data: fmt.Appendf(nil, `{"n":%d}`, n)}
}

// Run runs the conformance test on logs from open.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	fresh := func(t *testing.T) (feed.Log, *sink) {
		var s sink
		return open(t, s.add), &s
	}

	t.Run("IDsIncreaseAndAreHandedOnInOrder", func(t *testing.T) {
		l, s := fresh(t)
		var wg sync.WaitGroup
		got := make([][]feed.Event, 16)
		for p := range got {
			wg.Go(func() {
				for i := range 20 {
					events, err := l.Append(ctx, []feed.Update{note(fmt.Sprintf("p/%d", p), i), note("shared", i)})
					if err != nil {
						t.Error(err)
						return
					}
					if events[1].ID != events[0].ID+1 || events[0].Topic != fmt.Sprintf("p/%d", p) {
						t.Errorf("a batch's events: %+v", events)
					}
					got[p] = append(got[p], events...)
				}
			})
		}
		wg.Wait()
		ids := s.await(t, 16*20*2)
		if len(ids) != 16*20*2 {
			t.Fatalf("%d events handed on, want %d", len(ids), 16*20*2)
		}
		for i, id := range ids {
			if id != int64(i+1) {
				t.Fatalf("handed on %d at position %d: IDs must be 1, 2, ... in order", id, i)
			}
		}
		for p, events := range got {
			for i := 1; i < len(events); i++ {
				if events[i].ID <= events[i-1].ID {
					t.Fatalf("publisher %d got ID %d after %d", p, events[i].ID, events[i-1].ID)
				}
			}
		}
	})

	t.Run("BatchAllOrNothing", func(t *testing.T) {
		l, s := fresh(t)
		bad := feed.Update{Topic: "a", Type: "score", Data: []byte(`{"home":"A"}`)}
		if _, err := l.Append(ctx, []feed.Update{note("a", 1), bad}); !errors.Is(err, feed.ErrInvalid) {
			t.Fatalf("a batch with an invalid update: %v, want ErrInvalid", err)
		}
		events, err := l.Append(ctx, []feed.Update{note("a", 2)})
		if ids := s.await(t, 1); err != nil || events[0].ID != 1 || len(ids) != 1 {
			t.Fatalf("after a refused batch: %+v, %v; handed on %v", events, err, ids)
		}
	})

	t.Run("AppendOnce", func(t *testing.T) {
		l, s := fresh(t)
		once := feed.NewIdempotency("publisher", "key", []byte("request"))
		first, replayed, err := l.AppendOnce(ctx, once, []feed.Update{note("a", 1), note("b", 2)})
		if err != nil || replayed {
			t.Fatalf("first: %v, replayed %v", err, replayed)
		}
		for range 3 {
			again, replayed, err := l.AppendOnce(ctx, once, []feed.Update{note("a", 1), note("b", 2)})
			if err != nil || !replayed || len(again) != 2 || again[0].ID != first[0].ID || again[1].ID != first[1].ID {
				t.Fatalf("retry: %+v, replayed %v, %v; want %+v", again, replayed, err, first)
			}
		}
		events, found, err := l.Replay(ctx, once)
		if err != nil || !found || len(events) != 2 || events[0].ID != first[0].ID {
			t.Fatalf("Replay: %+v, %v, %v", events, found, err)
		}
		other := feed.NewIdempotency("publisher", "key", []byte("another request"))
		if _, _, err := l.AppendOnce(ctx, other, []feed.Update{note("a", 9)}); !errors.Is(err, feed.ErrKeyReused) {
			t.Fatalf("the key with another request: %v, want ErrKeyReused", err)
		}
		if _, found, err := l.Replay(ctx, feed.NewIdempotency("publisher", "unused", nil)); err != nil || found {
			t.Fatalf("Replay of an unused key: %v, %v", found, err)
		}
		// The next event is 3: the retries made none.
		if events, err := l.Append(ctx, []feed.Update{note("c", 3)}); err != nil || events[0].ID != 3 {
			t.Fatalf("after the retries: %+v, %v", events, err)
		}
		if ids := s.await(t, 3); !slices.Equal(ids, []int64{1, 2, 3}) {
			t.Fatalf("handed on %v: retries must make no events", ids)
		}
	})

	t.Run("AppendIf", func(t *testing.T) {
		l, _ := fresh(t)
		created, _, err := l.AppendIf(ctx, nil, 0, note("g", 0))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, _, err := l.AppendIf(ctx, nil, 0, note("g", 0)); !errors.Is(err, feed.ErrConflict) {
			t.Fatalf("create again: %v, want ErrConflict", err)
		}
		l.Append(ctx, []feed.Update{note("other", 0)})
		next, _, err := l.AppendIf(ctx, nil, created[0].ID, note("g", 1))
		if err != nil {
			t.Fatalf("after the latest of g, with another topic between: %v", err)
		}
		if _, _, err := l.AppendIf(ctx, nil, created[0].ID, note("g", 2)); !errors.Is(err, feed.ErrConflict) {
			t.Fatalf("after a stale ID: %v, want ErrConflict", err)
		}
		once := feed.NewIdempotency("operator", "tap", []byte("+3"))
		tap, _, err := l.AppendIf(ctx, &once, next[0].ID, note("g", 3))
		if err != nil {
			t.Fatal(err)
		}
		again, replayed, err := l.AppendIf(ctx, &once, next[0].ID, note("g", 3))
		if err != nil || !replayed || again[0].ID != tap[0].ID {
			t.Fatalf("a retried tap: %+v, replayed %v, %v", again, replayed, err)
		}
	})

	// Operators tapping +3 on one game at once, each appending on the
	// latest event it knows and, on a conflict, reading the latest again:
	// every tap is stored, one after another, none lost to another.
	t.Run("AppendIfContended", func(t *testing.T) {
		l, s := fresh(t)
		if _, _, err := l.AppendIf(ctx, nil, 0, note("g", 0)); err != nil {
			t.Fatal(err)
		}
		const operators, taps = 8, 10
		var wg sync.WaitGroup
		for range operators {
			wg.Go(func() {
				for range taps {
					for {
						_, _, err := l.AppendIf(ctx, nil, s.latestOf("g"), note("g", 0))
						if err == nil {
							break
						}
						if !errors.Is(err, feed.ErrConflict) {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if ids := s.await(t, 1+operators*taps); len(ids) != 1+operators*taps {
			t.Fatalf("%d events handed on, want %d: every tap once", len(ids), 1+operators*taps)
		}
	})

	// The operator who published an update from the console is the
	// audit trail: it stays with the event, however it was appended.
	t.Run("Operator", func(t *testing.T) {
		l, s := fresh(t)
		tap := note("g", 0)
		tap.Operator = "ann"
		created, _, err := l.AppendIf(ctx, nil, 0, tap)
		if err != nil || created[0].Operator != "ann" {
			t.Fatalf("AppendIf: %+v, %v", created, err)
		}
		second := note("g", 1)
		second.Operator = "bob"
		batch, err := l.Append(ctx, []feed.Update{note("other", 0), second})
		if err != nil || batch[0].Operator != "" || batch[1].Operator != "bob" {
			t.Fatalf("Append: %+v, %v", batch, err)
		}
		s.await(t, 3)
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, want := range []string{"ann", "", "bob"} {
			if got := s.events[i].Operator; got != want {
				t.Errorf("handed on event %d with operator %q, want %q", s.events[i].ID, got, want)
			}
		}
	})

	t.Run("AppendEach", func(t *testing.T) {
		l, s := fresh(t)
		// A line with more data than the log takes (checked against a
		// higher limit, as a stream checks) is refused alone.
		big := feed.Update{Topic: "a", Type: "note", Data: []byte(`{"n":"` + strings.Repeat("x", feed.MaxDataBytes) + `"}`)}
		once := feed.NewIdempotency("publisher", "line-4", []byte(`line 4`))
		reused := feed.NewIdempotency("publisher", "line-4", []byte(`another line`))
		updates := []feed.Update{note("a", 1), big, note("b", 2), note("a", 3), note("a", 4), note("c", 5)}
		keys := []*feed.Idempotency{nil, nil, nil, &once, &reused, nil}
		out := l.AppendEach(ctx, Checked(t, updates...), keys)
		if len(out) != len(updates) {
			t.Fatalf("%d outcomes for %d updates", len(out), len(updates))
		}
		if !errors.Is(out[1].Err, feed.ErrInvalid) || !errors.Is(out[4].Err, feed.ErrKeyReused) {
			t.Fatalf("refused: %v and %v, want ErrInvalid and ErrKeyReused", out[1].Err, out[4].Err)
		}
		var ids []int64
		for _, i := range []int{0, 2, 3, 5} {
			if out[i].Err != nil || out[i].Replayed || out[i].Event.Topic != updates[i].Topic {
				t.Fatalf("update %d: %+v", i, out[i])
			}
			ids = append(ids, out[i].Event.ID)
		}
		if !slices.Equal(ids, []int64{1, 2, 3, 4}) {
			t.Fatalf("IDs %v: the valid updates get IDs in their order", ids)
		}
		if got := s.await(t, 4); !slices.Equal(got, ids) {
			t.Fatalf("handed on %v, want %v", got, ids)
		}
		again := l.AppendEach(ctx, Checked(t, note("a", 3), note("d", 6)), []*feed.Idempotency{&once, nil})
		if again[0].Err != nil || !again[0].Replayed || again[0].Event.ID != 3 || again[1].Err != nil || again[1].Event.ID != 5 {
			t.Fatalf("a retried line and a new one: %+v", again)
		}
		if none := l.AppendEach(ctx, Checked(t, big), nil); !errors.Is(none[0].Err, feed.ErrInvalid) {
			t.Fatalf("only a line too big: %+v", none)
		}
		if none := l.AppendEach(ctx, []feed.Checked{{}}, nil); !errors.Is(none[0].Err, feed.ErrInvalid) {
			t.Fatalf("an update nobody checked: %+v", none)
		}
	})

	// Streaming publishes on several connections at once, each sending
	// its lines in groups (a log may have many groups in flight): each
	// connection's lines get IDs in their order, every line is stored
	// once, and a group sent again with its keys makes nothing new.
	t.Run("AppendEachConcurrent", func(t *testing.T) {
		l, s := fresh(t)
		const conns, groups, lines = 4, 5, 300
		got := make([][]feed.Outcome, conns)
		var wg sync.WaitGroup
		for c := range conns {
			wg.Go(func() {
				for g := range groups {
					updates := make([]feed.Update, lines)
					keys := make([]*feed.Idempotency, lines)
					for i := range updates {
						updates[i] = note(fmt.Sprintf("c/%d", c), g*lines+i)
						if i%7 == 0 {
							once := feed.NewIdempotency("publisher", fmt.Sprintf("%d-%d-%d", c, g, i), updates[i].Data)
							keys[i] = &once
						}
					}
					group := Checked(t, updates...)
					out := l.AppendEach(ctx, group, keys)
					if again := l.AppendEach(ctx, group[:1], keys[:1]); again[0].Err != nil || !again[0].Replayed || again[0].Event.ID != out[0].Event.ID {
						t.Errorf("connection %d: the first line sent again: %+v, first %+v", c, again[0], out[0])
					}
					got[c] = append(got[c], out...)
				}
			})
		}
		wg.Wait()
		seen := make(map[int64]bool)
		for c, out := range got {
			var prev int64
			for i, o := range out {
				if o.Err != nil || o.Replayed || o.Event.Topic != fmt.Sprintf("c/%d", c) || string(o.Event.Data) != fmt.Sprintf(`{"n":%d}`, i) {
					t.Fatalf("connection %d, line %d: %+v", c, i, o)
				}
				if o.Event.ID <= prev || seen[o.Event.ID] {
					t.Fatalf("connection %d, line %d: ID %d after %d (or given twice): a connection's lines get IDs in their order, once", c, i, o.Event.ID, prev)
				}
				prev, seen[o.Event.ID] = o.Event.ID, true
			}
		}
		ids := s.await(t, conns*groups*lines)
		if len(ids) != conns*groups*lines {
			t.Fatalf("%d events handed on, want %d: every line once, none for a line sent again", len(ids), conns*groups*lines)
		}
		for i, id := range ids {
			if id != int64(i+1) || !seen[id] {
				t.Fatalf("handed on %d at position %d", id, i)
			}
		}
	})
}
