package cluster_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/store"
	"livefeed/store/cluster"
)

// TestConnectionMessages: the node says NATS is unreachable when it is,
// with the error; it says nothing of the kind when it closes its own
// connection (at Close, or when Open fails), and no message carries a
// nil error. (Both used to log "NATS unreachable ... err=<nil>".)
func TestConnectionMessages(t *testing.T) {
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
