package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/logtest"
	"livefeed/feed/poll"
	"livefeed/store/cluster"
)

// acked is what a publisher was told was stored: the event, as answered.
type acked struct {
	mu     sync.Mutex
	events map[int64]feed.Event
}

func (a *acked) add(t *testing.T, events ...feed.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range events {
		if was, ok := a.events[e.ID]; ok && (was.Topic != e.Topic || string(was.Data) != string(e.Data)) {
			t.Errorf("ID %d acknowledged for %s %s and for %s %s", e.ID, was.Topic, was.Data, e.Topic, e.Data)
		}
		a.events[e.ID] = e
	}
}

// readOwn fails t unless n applied every one of events already: a
// publish is answered only after the node that took it applied it.
func readOwn(t *testing.T, n *node, events []feed.Event) {
	t.Helper()
	last := events[len(events)-1].ID
	if applied := n.LastID(); applied < last {
		t.Errorf("node %s answered a publish of event %d before applying it (it is at %d)", n.Status().Node, last, applied)
	}
}

// holdsAll fails t unless n's history holds exactly the events of a, in
// ID order, each once.
func holdsAll(t *testing.T, n *node, a *acked) {
	t.Helper()
	want := slices.Sorted(func(yield func(int64) bool) {
		for id := range a.events {
			if !yield(id) {
				return
			}
		}
	})
	waitApplied(t, n, want[len(want)-1])
	var got []feed.Event
	for after := int64(0); ; {
		page, err := n.st.After(context.Background(), after, feed.Filter{All: true}, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	j := 0
	for i, e := range got {
		if i > 0 && e.ID <= got[i-1].ID {
			t.Fatalf("node %s: event %d after %d", n.Status().Node, e.ID, got[i-1].ID)
		}
		if j < len(want) && e.ID == want[j] {
			if w := a.events[e.ID]; w.Topic != e.Topic || string(w.Data) != string(e.Data) {
				t.Fatalf("node %s: event %d is %s %s, acknowledged as %s %s", n.Status().Node, e.ID, e.Topic, e.Data, w.Topic, w.Data)
			}
			j++
		}
	}
	if j != len(want) {
		t.Fatalf("node %s holds %d of the %d acknowledged events (first missing: %d)", n.Status().Node, j, len(want), want[j])
	}
}

// TestPipelinedPublishes: 16 publishers and 4 streaming publishes spread
// over three nodes, all at once. Every acknowledged event is stored once,
// in ID order, on every node, with what was acknowledged; each
// publisher's events and each streaming publish's lines get increasing
// IDs; and no publish is answered before the node that took it applied
// it (read-your-writes).
func TestPipelinedPublishes(t *testing.T) {
	ns := startNATS(t)
	dir := t.TempDir()
	var nodes []*node
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, mustNode(t, ns, filepath.Join(dir, name+".db"), name, nil))
	}
	ctx := context.Background()
	a := &acked{events: make(map[int64]feed.Event)}
	var wg sync.WaitGroup
	const publishers, publishes, streams, groups, lines = 16, 40, 4, 4, 500
	for p := range publishers {
		wg.Go(func() {
			n := nodes[p%len(nodes)]
			var prev int64
			for i := range publishes {
				events, err := n.Append(ctx, []feed.Update{note(fmt.Sprintf("pub/%d", p), i)})
				if err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
				readOwn(t, n, events)
				if events[0].ID <= prev {
					t.Errorf("publisher %d: ID %d after %d", p, events[0].ID, prev)
				}
				prev = events[0].ID
				a.add(t, events...)
			}
		})
	}
	for c := range streams {
		wg.Go(func() {
			n := nodes[c%len(nodes)]
			var prev int64
			for g := range groups {
				updates := make([]feed.Update, lines)
				for i := range updates {
					updates[i] = note(fmt.Sprintf("ingest/%d", c), g*lines+i)
				}
				for i, o := range n.AppendEach(ctx, logtest.Checked(t, updates...), nil) {
					if o.Err != nil {
						t.Errorf("stream %d, line %d: %v", c, g*lines+i, o.Err)
						return
					}
					readOwn(t, n, []feed.Event{o.Event})
					if o.Event.ID <= prev || o.Event.Topic != updates[i].Topic || string(o.Event.Data) != string(updates[i].Data) {
						t.Errorf("stream %d, line %d: %+v after ID %d", c, g*lines+i, o.Event, prev)
						return
					}
					prev = o.Event.ID
					a.add(t, o.Event)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if want := publishers*publishes + streams*groups*lines; len(a.events) != want {
		t.Fatalf("%d events acknowledged, want %d", len(a.events), want)
	}
	for _, n := range nodes {
		holdsAll(t, n, a)
	}
}

// TestNATSAwayMidPipeline: NATS stops while publishes and streaming
// publishes are in flight. Every caller is answered (an error or an
// acknowledgement) within the publish's bound, none hangs, and every
// event acknowledged is in the node's history and in the stream once
// NATS is back.
func TestNATSAwayMidPipeline(t *testing.T) {
	ns := startNATS(t)
	var logs logBuffer
	n := nodeWith(t, filepath.Join(t.TempDir(), "a.db"), cluster.Options{URLs: []string{ns.url()}, Node: "a", CatchUpWait: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	a := &acked{events: make(map[int64]feed.Event)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int
		refused  int
	)
	stop := make(chan struct{})
	var stopOnce sync.Once
	for p := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				events, err := n.Append(ctx, []feed.Update{note(fmt.Sprintf("pub/%d", p), i)})
				mu.Lock()
				answered++
				if err != nil {
					refused++
				}
				mu.Unlock()
				if err == nil {
					a.add(t, events...)
				}
			}
		})
	}
	for c := range 3 {
		wg.Go(func() {
			for g := 0; ; g++ {
				select {
				case <-stop:
					return
				default:
				}
				updates := make([]feed.Update, 1000)
				keys := make([]*feed.Idempotency, len(updates))
				for i := range updates {
					updates[i] = note(fmt.Sprintf("ingest/%d", c), g*len(updates)+i)
					once := feed.NewIdempotency("publisher", fmt.Sprintf("%d-%d-%d", c, g, i), updates[i].Data)
					keys[i] = &once
				}
				start := time.Now()
				out := n.AppendEach(ctx, logtest.Checked(t, updates...), keys)
				if took := time.Since(start); took > 15*time.Second {
					t.Errorf("a streaming publish's group was answered after %v", took)
				}
				mu.Lock()
				answered++
				mu.Unlock()
				for _, o := range out {
					if o.Err == nil {
						a.add(t, o.Event)
					} else {
						mu.Lock()
						refused++
						mu.Unlock()
					}
				}
			}
		})
	}
	// NATS goes away once publishes have been acknowledged, while more
	// are in flight, and stays away until every caller has been refused
	// at least once.
	poll.Until(t, "publishes acknowledged", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.events) > 3000
	})
	ns.stop()
	poll.Until(t, "publishes refused with NATS away", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refused > 20
	})
	stopOnce.Do(func() { close(stop) })
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("callers still waiting 30 s after NATS went away")
	}
	// The lines in flight when the connection went fail together, and
	// are logged together: at most a line of log for each call refused,
	// not one for each line of a group.
	if warned := strings.Count(logs.String(), "publish into the cluster's log failed"); warned > answered {
		t.Errorf("%d warnings of failed publishes for %d calls", warned, answered)
	}
	ns.start(t)
	holdsAll(t, n, a)
	// The stream holds them too: a node on an empty database gets them all.
	b := mustNode(t, ns, filepath.Join(t.TempDir(), "b.db"), "b", nil)
	holdsAll(t, b, a)
	t.Logf("%d answers, %d refused, %d events acknowledged", answered, refused, len(a.events))
}
