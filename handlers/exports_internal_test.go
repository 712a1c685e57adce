package handlers

import (
	"context"
	"errors"
	"testing"
	"time"

	"livefeed/feed"
)

// TestExportTurns: one export per client address at a time; when every
// slot is taken, exports wait in line, and a client that comes back at
// once after its export goes behind those already waiting.
func TestExportTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newExportTurns(2)
	doneA, err := q.wait(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.wait(ctx, "a"); !errors.Is(err, feed.ErrRateLimited) {
		t.Fatalf("a second export from a: %v, want rate limited", err)
	}
	doneB, err := q.wait(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	// Both slots taken: c waits.
	cDone := make(chan func(), 1)
	go func() {
		done, err := q.wait(ctx, "c")
		if err != nil {
			t.Error(err)
		}
		cDone <- done
	}()
	waitLine(t, q, 1)
	// a finishes and comes straight back: c, who waited, goes first.
	doneA()
	done := <-cDone
	aDone := make(chan func(), 1)
	go func() {
		done, err := q.wait(ctx, "a")
		if err != nil {
			t.Error(err)
		}
		aDone <- done
	}()
	waitLine(t, q, 1)
	select {
	case <-aDone:
		t.Fatal("a got a slot while both were taken")
	case <-time.After(20 * time.Millisecond):
	}
	doneB()
	(<-aDone)()
	done()
	if q.running != 0 || len(q.clients) != 0 || len(q.line) != 0 {
		t.Fatalf("after every export: running %d, clients %v, line %d", q.running, q.clients, len(q.line))
	}

	// Giving up while waiting leaves no trace.
	d1, _ := q.wait(ctx, "x")
	d2, _ := q.wait(ctx, "y")
	gone, cancel := context.WithCancel(ctx)
	go func() { waitLine(t, q, 1); cancel() }()
	if _, err := q.wait(gone, "z"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled wait: %v", err)
	}
	d1()
	d2()
	if q.running != 0 || len(q.clients) != 0 || len(q.line) != 0 {
		t.Fatalf("after a canceled wait: running %d, clients %v, line %d", q.running, q.clients, len(q.line))
	}
}

func waitLine(t *testing.T, q *exportTurns, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		l := len(q.line)
		q.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d in line, want %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}
