package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
	"livefeed/store"
	"livefeed/store/cluster"
)

// TestNodesStartedTogether: nodes started at the same moment on a
// JetStream without the stream all come up, on the one stream one of them
// created, and mirror it. Each round uses a stream of its own, so every
// round starts from nothing. (One of two nodes used to exit with "stream
// name already in use" half the time: each created the stream with an ID
// of its own in its metadata, and the second creation differed.)
func TestNodesStartedTogether(t *testing.T) {
	t.Parallel()
	const rounds, nodes = 20, 6
	ns := startNATS(t)
	dir := t.TempDir()
	ctx := context.Background()
	for round := range rounds {
		stream, subjects := fmt.Sprintf("ROUND%d", round), fmt.Sprintf("round%d.>", round)
		var (
			opened = make([]*node, nodes)
			errs   = make([]error, nodes)
			start  = make(chan struct{})
			ready  sync.WaitGroup // the stores are open
			wg     sync.WaitGroup
		)
		ready.Add(nodes)
		for i := range nodes {
			wg.Go(func() {
				// Opening a store takes longer than opening a node:
				// the nodes wait for one another.
				st, err := store.Open(filepath.Join(dir, fmt.Sprintf("%d-%d.db", round, i)), store.Options{})
				ready.Done()
				if err != nil {
					errs[i] = err
					return
				}
				t.Cleanup(func() { st.Close() })
				<-start
				n, err := cluster.Open(ctx, st, cluster.Options{URLs: []string{ns.url()}, Stream: stream, Subjects: subjects,
					Node: fmt.Sprint(i), CatchUpWait: 2 * time.Second})
				if err != nil {
					errs[i] = err
					return
				}
				opened[i] = &node{Node: n, st: st}
				t.Cleanup(func() { n.Close() })
			})
		}
		ready.Wait()
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: node %d of %d started together: %v", round, i, nodes, err)
			}
		}
		events, err := opened[round%nodes].Append(ctx, []feed.Update{note("x", round)})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, n := range opened {
			waitApplied(t, n, events[0].ID)
		}
		for _, n := range opened {
			n.Node.Close()
		}
	}
}

// TestNodesRestartedTogetherOnADeletedStream: two nodes with the history of
// a stream that was deleted, started together, do not both create it: one
// creates it anew after its newest event and comes up, the other refuses
// to mix its history with the new stream, saying so, and no ID is given
// out twice. (The second used to exit with "stream name already in use".)
func TestNodesRestartedTogetherOnADeletedStream(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	ctx := context.Background()
	paths := []string{filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")}
	a, b := mustNode(t, ns, paths[0], "a", nil), mustNode(t, ns, paths[1], "b", nil)
	for i := range 3 {
		if _, err := a.Append(ctx, []feed.Update{note("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, b, 3)
	a.close()
	b.close()
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, cluster.DefaultStream); err != nil {
		t.Fatal(err)
	}

	var (
		opened []*node
		errs   []error
		mu     sync.Mutex
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for i, path := range paths {
		st := MustOpenStore(t, path)
		wg.Go(func() {
			<-start
			n, err := cluster.Open(ctx, st, cluster.Options{URLs: []string{ns.url()}, Node: fmt.Sprint(i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			t.Cleanup(func() { n.Close() })
			opened = append(opened, &node{Node: n, st: st})
		})
	}
	close(start)
	wg.Wait()
	if len(opened) != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "it was deleted and created anew") {
		t.Fatalf("%d nodes came up; errors: %v; want one, and the other refusing the new stream", len(opened), errs)
	}
	events, err := opened[0].Append(ctx, []feed.Update{note("x", 4)})
	if err != nil || events[0].ID != 4 {
		t.Fatalf("the node that came up published %+v, %v; want ID 4", events, err)
	}
}

// TestStreamConfigDiffers: a node that finds the stream made with another
// configuration than its own says exactly what differs: it refuses a stream
// that does not take its subjects (its publishes would go nowhere) or
// deletes what was consumed, and goes on with a warning naming each other
// setting the stream keeps.
func TestStreamConfigDiffers(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	const dataBytes = 1 << 20 // the node's stream would take messages of 1114112 bytes
	for _, c := range []struct {
		name     string
		subjects string                 // the node's
		config   jetstream.StreamConfig // the stream's
		refused  string                 // the error, or "" to start
		warned   string                 // a line of the log
	}{
		{"Subjects", "s0.>", jetstream.StreamConfig{Subjects: []string{"other.>"}, MaxMsgSize: 1000},
			"cluster: stream Subjects exists with a configuration livefeed cannot use: subjects other.> (this node's: s0.>); give another cluster.stream, or change the stream", ""},
		{"Retention", "s1.>", jetstream.StreamConfig{Subjects: []string{"s1.>"}, Retention: jetstream.WorkQueuePolicy},
			"cluster: stream Retention exists with a configuration livefeed cannot use: retention workqueue (this node's: limits); give another cluster.stream, or change the stream", ""},
		{"Both", "s2.>", jetstream.StreamConfig{Subjects: []string{"other2.>"}, Retention: jetstream.InterestPolicy},
			"cluster: stream Both exists with a configuration livefeed cannot use: subjects other2.> (this node's: s2.>); retention interest (this node's: limits); give another cluster.stream, or change the stream", ""},
		{"Limits", "s3.>", jetstream.StreamConfig{Subjects: []string{"s3.>", "more.>"}, MaxAge: time.Hour, MaxBytes: 1 << 30, Discard: jetstream.DiscardNew, MaxMsgSize: 1000},
			"", `level=WARN msg="the stream exists with another configuration than this node's; it keeps its own" node=a stream=Limits differences="subjects s3.>, more.> (this node's: s3.>); discard new (this node's: old); max_age 1h0m0s (this node's: none); max_bytes 1073741824 (this node's: none); max_msg_size 1000 (this node's: 1114112)"`},
		{"Same", "s4.>", jetstream.StreamConfig{Subjects: []string{"s4.>"}, MaxMsgSize: dataBytes + 64<<10}, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.config.Name, c.config.AllowAtomicPublish = c.name, true
			if _, err := js.CreateStream(ctx, c.config); err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			st, err := store.Open(filepath.Join(t.TempDir(), "feed.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			n, err := cluster.Open(ctx, st, cluster.Options{URLs: []string{ns.url()}, Stream: c.name, Subjects: c.subjects, Node: "a",
				MaxDataBytes: dataBytes, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err == nil {
				n.Close()
			}
			switch {
			case c.refused != "" && (err == nil || err.Error() != c.refused):
				t.Errorf("Open = %v\nwant %s", err, c.refused)
			case c.refused == "" && err != nil:
				t.Errorf("Open = %v", err)
			case c.warned != "" && !strings.Contains(logs.String(), c.warned+"\n"):
				t.Errorf("the log says:\n%s\nwant a line with %s", logs.String(), c.warned)
			case c.warned == "" && strings.Contains(logs.String(), "level=WARN"):
				t.Errorf("the log says:\n%s\nwant no warning", logs.String())
			}
		})
	}
}

// TestConnectionMessages: the node says NATS is unreachable when it is,
// with the error; it says nothing of the kind when it closes its own
// connection (at Close, or when Open fails), and no message carries a
// nil error. (Both used to log "NATS unreachable ... err=<nil>".)
func TestConnectionMessages(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	var logs logBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	open := func(stream string) (*cluster.Node, *store.Store, error) {
		st, err := store.Open(filepath.Join(t.TempDir(), "feed.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		n, err := cluster.Open(ctx, st, cluster.Options{URLs: []string{ns.url()}, Stream: stream, Subjects: strings.ToLower(stream) + ".>", Logger: logger})
		return n, st, err
	}
	// A nil error would be logged by the connection's callbacks, which
	// run on a goroutine of their own: Close and a failed Open wait for
	// them, and the test waits a moment more, for the code before.
	quiet := func(what string) {
		t.Helper()
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			if s := logs.String(); strings.Contains(s, "<nil>") || strings.Contains(s, "unreachable") {
				t.Fatalf("after %s the log says:\n%s", what, s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	n, _, err := open("CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	quiet("Close")

	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "NOATOMIC", Subjects: []string{"noatomic.>"}})
	nc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := open("NOATOMIC"); err == nil || !strings.Contains(err.Error(), "does not allow atomic batches") {
		t.Fatalf("Open on a stream without atomic batches = %v", err)
	}
	quiet("a failed Open")

	n, _, err = open("AWAY")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ns.stop()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "NATS unreachable") {
		if time.Now().After(deadline) {
			t.Fatalf("NATS stopped, and the log says:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := logs.String(); strings.Contains(s, "<nil>") || !strings.Contains(s, "err=") {
		t.Fatalf("NATS stopped, and the log says:\n%s\nwant the error", s)
	}
}

// MustOpenStore opens the store at path, closed at the end of the test.
func MustOpenStore(tb testing.TB, path string) *store.Store {
	tb.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// logBuffer is a log's output, safe to read while it is written.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
