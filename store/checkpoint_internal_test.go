package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"livefeed/feed"
)

// TestSyncAhead: before the writer finishes a checkpoint, the checkpointer
// has synced the database file (through the lock's descriptor), so that
// the finish, which syncs it again, writes only its own pages while
// publishes wait.
func TestSyncAhead(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{WALRestartPages: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.lock.file == nil {
		t.Skip("this file system is locked through the lock file alone: the database file is not synced ahead")
	}
	publishUntil(t, s, "three checkpoints finished on the writer", func() bool { return finishes(s) >= 3 })
	// Read in this order: each finish comes after its sync.
	finished := finishes(s)
	if synced := s.syncedAhead.Load(); synced < int64(finished) {
		t.Fatalf("%d checkpoints finished on the writer, the database file synced ahead of %d", finished, synced)
	}
}

// TestFinishAgain: a reader still reading an old part of the write-ahead
// log when the writer finishes a checkpoint keeps the log from starting
// over (the finish cannot copy the pages written after the reader's
// snapshot). While it stays, the writer is not asked to copy nothing
// again; once it has left, the checkpointer finishes again within
// milliseconds, not at the next second, and the log starts over.
func TestFinishAgain(t *testing.T) {
	t.Parallel()
	const restartPages = 256
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{WALRestartPages: restartPages})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, TickBatch(1000, 100)); err != nil {
		t.Fatal(err)
	}
	reader, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	var n int64
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	publishUntil(t, s, "a finish while a reader holds its snapshot", func() bool { return finishes(s) >= 1 })
	// Longer than the checkpoints' interval, and until the log is past
	// the size at which the writer would copy whatever the passes left.
	since := time.Now()
	publishUntil(t, s, "the log growing past four times its restart size", func() bool {
		return time.Since(since) > 2*checkpointInterval && s.walFrames.Load() > 4*restartPages
	})
	if got := finishes(s); got != 1 {
		t.Fatalf("%d finishes while the reader that held the first one back was still there: the writer was asked to copy what it could not", got)
	}
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	publishUntil(t, s, "the log starting over once the reader left", func() bool {
		return finishes(s) > 1 && s.walFrames.Load() <= restartPages
	})
	if again := s.finishedAgain.Load(); again == 0 {
		t.Fatalf("the log started over after %d finishes, none of them soon after the one before", finishes(s))
	}
	t.Logf("%d finishes, %d of them soon after the one before; the log started over %s after the reader left (%d events in its snapshot)",
		finishes(s), s.finishedAgain.Load(), time.Since(left).Round(time.Millisecond), n)
}

// finishes returns how many checkpoints the writer of s has finished.
func finishes(s *Store) uint64 { return s.pauses[workCheckpoint].snapshot("").Count }

// publishUntil publishes batches of ticks to s until done, for 30 s at
// most: what tests of the writer's background work wait for.
func publishUntil(t *testing.T, s *Store, what string, done func() bool) {
	t.Helper()
	batch := TickBatch(1000, 100)
	for deadline := time.Now().Add(30 * time.Second); !done(); {
		if _, err := s.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in 30 s of publishing (%d finishes, %d pages in the log)", what, finishes(s), s.walFrames.Load())
		}
	}
}

// TickBatch returns n tick updates of symbols symbols in turn, each on its
// topic stocks/S000 ...: a batch for tests that publish until the writer's
// background work (checkpoints, index passes) shows.
func TickBatch(n, symbols int) []feed.Update {
	batch := make([]feed.Update, n)
	for i := range batch {
		batch[i] = feed.Update{Topic: fmt.Sprintf("stocks/S%03d", i%symbols), Type: "tick",
			Data: json.RawMessage(fmt.Sprintf(`{"symbol":"S%03d","price":117.25,"change":-7.75,"volume":1}`, i%symbols))}
	}
	return batch
}

// TestNextLook: the checkpointer looks at the log again when it would
// reach its limit at the pace it grew since the last look, within the
// checkpoint's interval and no sooner than lookSoonest.
func TestNextLook(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, c := range []struct {
		frames, grew int
		since        time.Duration
		want         time.Duration
	}{
		{frames: 0, grew: 0, since: time.Second, want: checkpointInterval},       // idle
		{frames: 100, grew: -5, since: time.Second, want: checkpointInterval},    // no growth to go by
		{frames: 1000, grew: 1000, since: time.Second, want: checkpointInterval}, // slow: a second at most
		{frames: 2048, grew: 2048, since: time.Second, want: time.Second},        // half way in a second
		{frames: 3072, grew: 3072, since: 600 * ms, want: 200 * ms},              // 1,024 pages to go at 5.12 a ms
		{frames: 4000, grew: 4000, since: 100 * ms, want: lookSoonest},           // nearly there: the soonest
		{frames: 4096, grew: 10, since: 100 * ms, want: checkpointInterval},      // at the limit: the checkpoint takes it
		{frames: 10, grew: 10, since: 5 * ms, want: checkpointInterval},          // just started over, slowly
		{frames: 400, grew: 400, since: 5 * ms, want: 46200 * time.Microsecond},  // just started over, fast
	} {
		if got := nextLook(c.frames, c.grew, c.since, walRestartPages); got != c.want {
			t.Errorf("nextLook(%d pages, grew %d in %s) = %s, want %s", c.frames, c.grew, c.since, got, c.want)
		}
	}
}
