package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

// TestCheckpointUnderLoad publishes without a pause, as streaming ingest
// does, past the write-ahead log's restart size: the log must still start
// over (the writer finishes each checkpoint between two commits). How long
// publishes wait is logged, not checked: on a machine whose cores are
// busy elsewhere the longest wait is the scheduler's (838 ms once, with
// a p50 of 3 ms); the benchmarks' acknowledgement p99 (W9, W14) measure
// what the checkpoints cost publishers.
func TestCheckpointUnderLoad(t *testing.T) {
	const restartPages = 256
	s := MustOpenStore(t, store.Options{WALRestartPages: restartPages})
	ctx := context.Background()
	batch := make([]feed.Update, 200)
	for i := range batch {
		batch[i] = feed.Update{Topic: fmt.Sprintf("w9/S%04d", i), Type: "tick",
			Data: json.RawMessage(fmt.Sprintf(`{"symbol":"S%04d","price":117.25,"change":-7.75,"volume":1}`, i))}
	}
	// A checkpoint each second records the pages in the log: about a
	// second's writes when it starts over, all of them when it does not.
	var waits []time.Duration
	var seen []int64                             // the figure at each checkpoint
	tick := time.NewTicker(5 * time.Millisecond) // a steady 40,000 events/s
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); <-tick.C {
		start := time.Now()
		if _, err := s.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		waits = append(waits, time.Since(start))
		if f := s.Stats().WALFrames; f > 0 && (len(seen) == 0 || f != seen[len(seen)-1]) {
			seen = append(seen, f)
		}
	}
	slices.Sort(waits)
	t.Logf("%d publishes of %d events; pages in the log at each checkpoint %v; publish p50 %s, p99 %s, the longest %s",
		len(waits), len(batch), seen, waits[len(waits)/2], waits[len(waits)*99/100], waits[len(waits)-1])
	if len(seen) < 3 {
		t.Fatalf("%d checkpoints in 5 s", len(seen))
	}
	if first, last := seen[0], seen[len(seen)-1]; last > 3*first {
		t.Fatalf("the write-ahead log did not start over: %d pages at the first checkpoint, %d at the last (restart at %d)", first, last, restartPages)
	}
}
