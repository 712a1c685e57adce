package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

// TestWriterPauses: each kind of work the writer takes up between commits
// is counted and timed in its own histogram — the checkpoint's finish and
// a pass of the topic index under steady publishing, each chunk of a
// prune, and any other task (a meta value) — and a histogram's buckets
// add up: cumulative, never above its count, its sum the time the pauses
// took.
func TestWriterPauses(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{WALRestartPages: 256})
	ctx := context.Background()
	pauses := func() map[string]store.Pauses {
		m := make(map[string]store.Pauses)
		for _, p := range s.Stats().Pauses {
			m[p.Work] = p
		}
		return m
	}
	if got := pauses(); len(got) != 4 || got[store.WorkCheckpoint].Count+got[store.WorkPrune].Count+got[store.WorkIndex].Count != 0 {
		t.Fatalf("a fresh store's pauses: %+v", got)
	}

	// Publishing past the log's restart size has the writer finish a
	// checkpoint (the checkpointer asks once a second), and past the
	// topic index's backlog (or 10 s) has it write a pass.
	batch := store.TickBatch(1000, 100)
	published := 0
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := s.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		published += len(batch)
		p := pauses()
		if p[store.WorkCheckpoint].Count > 0 && p[store.WorkIndex].Count > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d events in 30 s: %+v", published, p)
		}
	}
	if _, err := s.Prune(ctx, store.Retention{MaxRows: 1000}); err != nil {
		t.Fatal(err)
	}
	before := pauses()[store.WorkOther].Count
	if err := s.SetMeta(ctx, "note", "x"); err != nil {
		t.Fatal(err)
	}

	got := pauses()
	if got[store.WorkPrune].Count == 0 {
		t.Errorf("a prune of %d events made no pause", published-1000)
	}
	if n := got[store.WorkOther].Count; n != before+1 {
		t.Errorf("one meta value: %d other pauses, %d before", n, before)
	}
	bounds := store.PauseBounds()
	for work, p := range got {
		if len(p.AtMost) != len(bounds) {
			t.Fatalf("%s: %d buckets for %d bounds", work, len(p.AtMost), len(bounds))
		}
		for i := 1; i < len(p.AtMost); i++ {
			if p.AtMost[i] < p.AtMost[i-1] {
				t.Errorf("%s: buckets %v are not cumulative", work, p.AtMost)
			}
		}
		if last := p.AtMost[len(p.AtMost)-1]; last > p.Count {
			t.Errorf("%s: %d pauses in the buckets, %d counted", work, last, p.Count)
		}
		if (p.Count > 0) != (p.Sum > 0) {
			t.Errorf("%s: %d pauses took %s", work, p.Count, p.Sum)
		}
	}
	t.Logf("%d events; pauses %+v", published, got)
}

// TestApplyIsACommit: a cluster node applying its log commits events
// through a task of the writer; that counts as a commit (Stats.Commits
// and Busy), not as a pause publishes waited behind.
func TestApplyIsACommit(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	before := s.Stats()
	events := []feed.Event{
		{ID: 1, Topic: "stocks/S001", Type: "tick", Time: time.Now(), Data: json.RawMessage(`{"symbol":"S001","price":1.5,"change":0,"volume":7}`)},
		{ID: 2, Topic: "stocks/S002", Type: "tick", Time: time.Now(), Data: json.RawMessage(`{"symbol":"S002","price":2.5,"change":0,"volume":7}`)},
	}
	if _, err := s.Apply(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.Commits != before.Commits+1 || after.Events != before.Events+2 || after.Busy <= before.Busy {
		t.Errorf("applying 2 events: commits %d → %d, events %d → %d, busy %s → %s", before.Commits, after.Commits, before.Events, after.Events, before.Busy, after.Busy)
	}
	// (A pass of the topic index may follow the new events: that one is
	// a pause.)
	for i, p := range after.Pauses {
		if p.Work != store.WorkIndex && p.Count != before.Pauses[i].Count {
			t.Errorf("applying events counted a %s pause", p.Work)
		}
	}
}
