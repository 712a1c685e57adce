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
	batch := TickBatch(1000, 100)
	ctx := context.Background()
	finishes := func() uint64 { return s.pauses[workCheckpoint].snapshot("").Count }
	for deadline := time.Now().Add(30 * time.Second); finishes() < 3; {
		if _, err := s.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint finished on the writer in 30 s")
		}
	}
	// Read in this order: each finish comes after its sync.
	finished := finishes()
	if synced := s.syncedAhead.Load(); synced < int64(finished) {
		t.Fatalf("%d checkpoints finished on the writer, the database file synced ahead of %d", finished, synced)
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
