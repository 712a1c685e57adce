package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestPageCacheHoldsTheStoresCaches: the page cache's buffer has a slot
// for every page the connections of a store (and a backup beside it) may
// cache, by their cache_size as set, with SQLite's reserve to spare. Once
// fewer than the reserve are free, SQLite has every cache reuse its own
// pages rather than take more: the writer's would stop short of its 32 MiB.
func TestPageCacheHoldsTheStoresCaches(t *testing.T) {
	if pageCache.err != nil {
		t.Fatal(pageCache.err)
	}
	if hdr := pageCache.slotSize - 4096; hdr <= 0 || hdr > 1024 {
		t.Fatalf("slot of %d bytes: a 4 KiB page and a header of %d", pageCache.slotSize, hdr)
	}
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pages := func(db *sql.DB) (int, error) {
		var n int
		if err := db.QueryRowContext(context.Background(), `PRAGMA cache_size`).Scan(&n); err != nil {
			return 0, err
		}
		if n < 0 { // KiB
			return -n * 1024 / pageCache.slotSize, nil
		}
		return n, nil
	}
	var writer int
	err = s.runTask(context.Background(), func() (err error) { writer, err = pages(s.db); return err })
	if err != nil {
		t.Fatal(err)
	}
	reader, err := pages(s.rdb)
	if err != nil {
		t.Fatal(err)
	}
	checkpointer, err := pages(s.cdb)
	if err != nil {
		t.Fatal(err)
	}
	want := writer + s.opts.Readers*reader + checkpointer + reader // and a backup's
	const reserve = 10                                             // SQLite's, for a buffer of more than 90 slots
	if pageCache.slots < want+reserve {
		t.Fatalf("%d slots for the %d pages of the writer (%d), %d readers (%d each), the checkpointer and a backup", pageCache.slots, want, writer, s.opts.Readers, reader)
	}
	t.Logf("%d slots of %d bytes (%.1f MB) for %d pages", pageCache.slots, pageCache.slotSize, float64(pageCache.slots*pageCache.slotSize)/1e6, want)
}
