package store

import (
	"fmt"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite keeps the cached pages of every connection of the process in one
// group under one lock (this build of SQLite manages its memory as a whole,
// which joins the groups), taken for every page a statement fetches and
// releases. A read transaction that begins after a commit empties its
// connection's cache, under that lock; freed to the allocator, the pages'
// memory went back to the system a few hundred kilobytes at a time, with
// the lock held, while the writer waited for it to fetch its next page
// (W14 at 20,000 ticks/s with 5 resumes a second: 39.5 ms of such waits in
// 3 s, up to 11.7 ms at once).
//
// So the pages live in one buffer of fixed slots, given to SQLite before it
// initialises: a page freed goes back to the buffer's list of free slots,
// one pointer, and nothing is returned to the system. The buffer holds the
// caches the store opens (the writer's writerCacheKiB, SQLite's default
// cache for each reader, the checkpointer and a backup or restore) with an
// eighth to spare: once all but a few slots are taken, SQLite has every
// cache reuse its own pages rather than take more, and the writer's would
// stop short of its size (TestPageCacheHoldsTheStoresCaches). A page larger
// than a slot (a database with pages over 4 KiB), or one needed when no
// slot is free, is allocated as before. SQLite links every slot into its
// free list when it initialises, at the first connection a process opens:
// from then on the buffer is resident, 52 MB.
//
// W14 at 20,000 ticks/s, 12 minutes, two runs each: the worst minute's
// acknowledgement p99 41.4 and 28.0 ms against 89.1 and 62.4 without the
// buffer, its RSS 38 MB higher; W9 unchanged.
var pageCache struct {
	slots    int   // slots in the buffer; 0 if it could not be set up
	slotSize int   // bytes of one slot: a page and SQLite's header for it
	err      error // why there is no buffer
}

// pageCacheKiB is the memory of the caches the buffer holds, in KiB.
const pageCacheKiB = writerCacheKiB + (defaultReaders+2)*(-sqlite3.SQLITE_DEFAULT_CACHE_SIZE)

func init() {
	pageCache.err = setupPageCache()
}

func setupPageCache() error {
	tls := libc.NewTLS()
	defer tls.Close()
	// The arguments of sqlite3_config (3 at most), then the int it
	// writes SQLite's page header size to.
	va := libc.Xmalloc(tls, 4*8)
	if va == 0 {
		return fmt.Errorf("page cache: out of memory")
	}
	defer libc.Xfree(tls, va)
	hdr := va + 3*8
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PCACHE_HDRSZ, libc.VaList(va, hdr)); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("page cache: SQLite's page header size: error %d", rc)
	}
	slotSize := sqlite3.SQLITE_DEFAULT_PAGE_SIZE + int(libc.AtomicLoadPInt32(hdr))
	slotSize = (slotSize + 7) &^ 7 // SQLite rounds a slot down to 8 bytes
	slots := pageCacheKiB * 1024 / slotSize
	slots += slots / 8

	// Never freed: SQLite uses the buffer until the process exits.
	buf := libc.Xmalloc(tls, types.Size_t(slots*slotSize))
	if buf == 0 {
		return fmt.Errorf("page cache: out of memory for %d slots", slots)
	}
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PAGECACHE, libc.VaList(va, buf, int32(slotSize), int32(slots))); rc != sqlite3.SQLITE_OK {
		libc.Xfree(tls, buf)
		return fmt.Errorf("page cache: error %d (SQLite was initialised before package store)", rc)
	}
	pageCache.slots, pageCache.slotSize = slots, slotSize
	return nil
}

// PageCacheStats is the use of the page cache's buffer by every database
// the process has open.
type PageCacheStats struct {
	Slots int   // slots in the buffer (0: there is none, see Err)
	Used  int64 // slots holding a page
	// Overflow is the bytes of pages that found no slot free (or were
	// larger than a slot) and were allocated outside the buffer.
	Overflow int64
	Err      error
}

// PageCache returns the use of the page cache's buffer.
func PageCache() PageCacheStats {
	st := PageCacheStats{Slots: pageCache.slots, Err: pageCache.err}
	tls := libc.NewTLS()
	defer tls.Close()
	vals := libc.Xmalloc(tls, 2*8)
	if vals == 0 {
		return st
	}
	defer libc.Xfree(tls, vals)
	if sqlite3.Xsqlite3_status64(tls, sqlite3.SQLITE_STATUS_PAGECACHE_USED, vals, vals+8, 0) == sqlite3.SQLITE_OK {
		st.Used = libc.AtomicLoadPInt64(vals)
	}
	if sqlite3.Xsqlite3_status64(tls, sqlite3.SQLITE_STATUS_PAGECACHE_OVERFLOW, vals, vals+8, 0) == sqlite3.SQLITE_OK {
		st.Overflow = libc.AtomicLoadPInt64(vals)
	}
	return st
}
