package store_test

import (
	"context"
	"fmt"
	"testing"

	"livefeed/feed"
	"livefeed/store"
)

// TestPageCacheBuffer: SQLite keeps a store's pages in the process's fixed
// buffer (store.PageCache) — the writer's, and the readers' that a read
// after each commit empties and fills again — with none allocated outside
// it, and they go back to the buffer when the store closes. Not parallel:
// parallel tests wait until it ends, so the buffer is this store's alone.
func TestPageCacheBuffer(t *testing.T) {
	before := store.PageCache()
	if before.Err != nil || before.Slots == 0 {
		t.Fatalf("no page cache buffer: %+v", before)
	}
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	var used int64
	for round := range 20 {
		updates := make([]feed.Update, 500)
		for i := range updates {
			updates[i] = note(fmt.Sprintf("stocks/S%03d", i), round)
		}
		MustAppend(t, s, updates...)
		// Reads on every reader, each after the commit.
		for i := range 8 {
			f, err := feed.ParseFilter([]string{fmt.Sprintf("stocks/S%03d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.After(ctx, 0, f, 100); err != nil {
				t.Fatal(err)
			}
		}
		st := store.PageCache()
		if st.Overflow != before.Overflow {
			t.Fatalf("round %d: %d bytes of pages outside the buffer, %d before the store opened", round, st.Overflow, before.Overflow)
		}
		used = max(used, st.Used-before.Used)
	}
	if used < 20 {
		t.Fatalf("the store used %d of the buffer's slots", used)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := store.PageCache(); after.Used > before.Used {
		t.Fatalf("after Close, %d slots in use, %d before Open", after.Used, before.Used)
	}
}
