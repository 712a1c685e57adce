package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
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

// TestTasksUnderSaturatedIngest publishes as streaming connections at full
// speed do: eight publishers of 1,000 events each, while a commit takes
// 4,096 at most, so that publishes are always waiting for the writer. A
// task handed to the writer meanwhile (storing a value in the meta table;
// the checkpoint's finish) must still run after a commit or two, and the
// write-ahead log must still start over. Tasks used to run only when no
// publish was waiting: under such ingest, never.
func TestTasksUnderSaturatedIngest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	s := MustOpenStoreAt(t, path, store.Options{WALRestartPages: 256})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for p := range 8 {
		batch := make([]feed.Update, 1000)
		for i := range batch {
			sym := fmt.Sprintf("S%04d", p*len(batch)+i)
			batch[i] = feed.Update{Topic: "stocks/" + sym, Type: "tick",
				Data: json.RawMessage(`{"symbol":"` + sym + `","price":117.25,"change":-7.75,"volume":1}`)}
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := s.Append(ctx, batch); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A task every 100 ms; after 4 s, until the log started over since
	// the last restart (fewer pages in it than in the database, which
	// holds every second of the ingest: see TestWALStaysBounded).
	var most uint64 // the most commits a task waited for
	var tasks int
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	frames, pages := untilWALRestarted(t, s, path, func() {
		<-tick.C
		before := s.Stats().Commits
		tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.SetMeta(tctx, "probe", fmt.Sprint(tasks))
		cancel()
		if err != nil {
			t.Fatalf("a task handed to the writer while publishes waited: %v (%d commits meanwhile)", err, s.Stats().Commits-before)
		}
		tasks++
		most = max(most, s.Stats().Commits-before)
	})
	st := s.Stats()
	t.Logf("%d events in %d commits in %v; %d tasks, each after %d commits at most; %d pages in the database, %d in the log at the last checkpoint",
		st.Events, st.Commits, time.Since(start).Round(time.Millisecond), tasks, most, pages, frames)
	if most > 10 {
		t.Errorf("a task waited for %d commits while publishes kept waiting", most)
	}
	if frames <= 0 || frames >= pages {
		t.Errorf("the write-ahead log holds %d pages for a %d-page database: it is never started over", frames, pages)
	}
}
