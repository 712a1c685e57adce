package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ByRows", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "feed.db")
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			MustAppend(t, s, note([]string{"a", "b", "c"}[i%3], i))
		}
		MustAppend(t, s, note("old-topic", 0)) // 101
		for i := range 29 {
			MustAppend(t, s, note("a", i)) // 102..130
		}
		removed, err := s.Prune(ctx, store.Retention{MaxRows: 30})
		if err != nil || removed != 100 || s.Floor() != 100 {
			t.Fatalf("Prune = %d, %v; floor %d", removed, err, s.Floor())
		}
		if _, err := s.After(ctx, 99, all(t), 10); !errors.Is(err, feed.ErrPruned) {
			t.Fatalf("After(99) = %v, want feed.ErrPruned", err)
		}
		if got, err := s.After(ctx, 100, mustFilter(t, "a", "old-topic"), 3); err != nil || ids(got) != "101,102,103" {
			t.Fatalf("After(100) = [%s], %v", ids(got), err)
		}
		latest, _ := s.Latest(ctx)
		if len(latest) != 4 {
			t.Fatalf("the snapshot lost topics: %d left", len(latest))
		}
		if e := MustAppend(t, s, note("a", 0)); e[0].ID != 131 {
			t.Fatalf("new ID %d after pruning, want 131", e[0].ID)
		}
		s.Close()
		db, _ := sql.Open("sqlite", path)
		defer db.Close()
		var stale int
		if err := db.QueryRow(`SELECT COUNT(*) FROM topic_runs WHERE last <= 100`).Scan(&stale); err != nil || stale != 0 {
			t.Fatalf("%d runs of pruned events remain in the topic index (%v)", stale, err)
		}
		s = MustOpenStoreAt(t, path, store.Options{})
		if s.Floor() != 100 || s.LastID() != 131 {
			t.Fatalf("after reopen: floor %d, last %d", s.Floor(), s.LastID())
		}
	})
	t.Run("ByAge", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		for i := range 20 {
			MustAppend(t, s, note("a", i))
		}
		if n, err := s.Prune(ctx, store.Retention{MaxAge: time.Hour}); err != nil || n != 0 {
			t.Fatalf("Prune(1h) = %d, %v; nothing is an hour old", n, err)
		}
		// Everything was stored before now, so a retention of 1ns keeps
		// nothing stored before the last millisecond.
		deadline := time.Now().Add(10 * time.Second)
		for s.Floor() < 20 && time.Now().Before(deadline) {
			if _, err := s.Prune(ctx, store.Retention{MaxAge: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
		}
		if s.Floor() != 20 {
			t.Fatalf("floor %d after pruning by age, want 20", s.Floor())
		}
	})
	t.Run("NoPolicy", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		MustAppend(t, s, note("a", 1))
		if n, err := s.Prune(ctx, store.Retention{}); n != 0 || err != nil || s.Floor() != 0 {
			t.Fatalf("Prune with no limits removed %d (%v)", n, err)
		}
	})
}

func TestBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := MustOpenStoreAt(t, filepath.Join(dir, "feed.db"), store.Options{})
	for i := range 50 {
		MustAppend(t, s, note("a", i), note("b", i))
	}
	check := func(path string) {
		t.Helper()
		b := MustOpenStoreAt(t, path, store.Options{})
		got, err := b.After(ctx, 0, all(t), 1000)
		if err != nil || len(got) != 100 || b.LastID() != 100 {
			t.Fatalf("backup %s: %d events, last %d, %v", path, len(got), b.LastID(), err)
		}
		if latest, _ := b.Latest(ctx); len(latest) != 2 {
			t.Fatalf("backup %s: %d latest", path, len(latest))
		}
	}
	t.Run("OK", func(t *testing.T) {
		path := filepath.Join(dir, "backup.db")
		if err := s.Backup(ctx, path); err != nil {
			t.Fatal(err)
		}
		check(path)
	})
	t.Run("OKFromAnotherProcessView", func(t *testing.T) {
		path := filepath.Join(dir, "backup2.db")
		if err := store.BackupFile(ctx, filepath.Join(dir, "feed.db"), path); err != nil {
			t.Fatal(err)
		}
		check(path)
	})
	t.Run("ErrExists", func(t *testing.T) {
		if err := s.Backup(ctx, filepath.Join(dir, "backup.db")); err == nil {
			t.Fatal("Backup overwrote an existing file")
		}
	})
}

func TestRetentionApplied(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{Retention: store.Retention{MaxRows: 10}, PruneEvery: 10 * time.Millisecond})
	for i := range 50 {
		MustAppend(t, s, note("a", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Floor() != 40 {
		if time.Now().After(deadline) {
			t.Fatalf("floor %d, want 40", s.Floor())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetentionMet: Stats.RetainedAt, the operator's sign that retention
// keeps up, is zero without a policy; with one it is set at opening,
// moved by each prune that removes all the policy asks for, and left
// behind while prunes fail — here because another process holds the
// database's write lock when events are due to go. The test follows the
// retention schedule's ticks by what it logs while the lock is held.
func TestRetentionMet(t *testing.T) {
	t.Parallel()
	const every = 20 * time.Millisecond
	const purgeFailed, pruneFailed = "removing old idempotency keys failed", "pruning failed"
	t.Run("NoPolicy", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "feed.db")
		logs := newLogCounts()
		s := MustOpenStoreAt(t, path, store.Options{PruneEvery: every, BusyTimeout: every, Logger: slog.New(logs)})
		unlock := writeLock(t, path)
		defer unlock()
		logs.await(t, purgeFailed, 3) // three ticks of the schedule
		if at := s.Stats().RetainedAt; !at.IsZero() {
			t.Fatalf("RetainedAt = %v without a policy; want zero", at)
		}
	})
	t.Run("Policy", func(t *testing.T) {
		t.Parallel()
		const age = time.Second
		path := filepath.Join(t.TempDir(), "feed.db")
		logs := newLogCounts()
		opened := time.Now()
		s := MustOpenStoreAt(t, path, store.Options{Retention: store.Retention{MaxAge: age}, PruneEvery: every, BusyTimeout: every, Logger: slog.New(logs)})
		if at := s.Stats().RetainedAt; at.Before(opened) || at.After(time.Now()) {
			t.Fatalf("RetainedAt = %v right after opening at %v; want the opening", at, opened)
		}
		waitRetained := func(after time.Time, why string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for !s.Stats().RetainedAt.After(after) {
				if time.Now().After(deadline) {
					t.Fatalf("RetainedAt still %v 10 s on (%s)", s.Stats().RetainedAt, why)
				}
				time.Sleep(every / 4)
			}
		}
		waitRetained(opened, "prunes with nothing to remove meet the policy")
		for i := range 3 {
			MustAppend(t, s, note("a", i))
		}

		// Until the events are due, a prune has nothing to remove and
		// meets the policy without writing; after, each one fails.
		unlock := writeLock(t, path)
		logs.await(t, pruneFailed, 1)
		held := s.Stats().RetainedAt
		logs.await(t, pruneFailed, 3)
		if at := s.Stats().RetainedAt; !at.Equal(held) || s.Floor() != 0 {
			t.Fatalf("with the write lock held elsewhere: RetainedAt %v (was %v), floor %d; want it unmoved and floor 0", at, held, s.Floor())
		}
		unlock()
		waitRetained(held, "the lock released, a prune removes the events")
		if s.Floor() != 3 {
			t.Fatalf("floor %d once the policy was met again; want 3", s.Floor())
		}
	})
}

// writeLock takes the write lock of the database at path from a
// connection of its own, as another process would, and returns what
// releases it (also when the test ends).
func writeLock(t *testing.T, path string) (unlock func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			if err := tx.Rollback(); err != nil {
				t.Error(err)
			}
			db.Close()
		})
	}
	t.Cleanup(unlock)
	return unlock
}

// logCounts is a slog.Handler that counts the lines logged by their
// message, for a test to wait on.
type logCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func newLogCounts() *logCounts { return &logCounts{n: map[string]int{}} }

func (l *logCounts) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounts) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounts) WithGroup(string) slog.Handler            { return l }
func (l *logCounts) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}

// await waits until n lines beginning with prefix were logged.
func (l *logCounts) await(t *testing.T, prefix string, n int) {
	t.Helper()
	count := func() (c int) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for msg, k := range l.n {
			if strings.HasPrefix(msg, prefix) {
				c += k
			}
		}
		return c
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines %q… logged in 10 s; want %d", count(), prefix, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRestoreOverUnreadableDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := MustOpenStoreAt(t, filepath.Join(dir, "live.db"), store.Options{})
	MustAppend(t, s, note("a", 1), note("a", 2))
	backupPath := filepath.Join(dir, "backup.db")
	if err := s.Backup(ctx, backupPath); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "broken.db")
	os.WriteFile(target, []byte("garbage garbage garbage"), 0o600)
	if _, err := store.Restore(ctx, backupPath, target, 0); err == nil {
		t.Fatal("restored over an unreadable database without being told the next ID")
	}
	r, err := store.Restore(ctx, backupPath, target, 500)
	if err != nil || r.BackupLastID != 2 || r.NextID != 500 || r.Replaced == "" {
		t.Fatalf("Restore = %+v, %v", r, err)
	}
	restored := MustOpenStoreAt(t, target, store.Options{})
	if err := restored.Resumable(300); !errors.Is(err, feed.ErrAhead) {
		t.Fatalf("Resumable(300) = %v, want feed.ErrAhead", err)
	}
	if err := restored.Resumable(2); err != nil {
		t.Fatalf("Resumable(2) = %v", err)
	}
	if e := MustAppend(t, restored, note("a", 3)); e[0].ID != 500 {
		t.Fatalf("first ID after the restore %d, want 500", e[0].ID)
	}
}

// TestPruneBacklogUnderLoad prunes a large backlog (a retention lowered,
// or a server that was down past its retention) while a publisher
// publishes one event at a time, as a ticker gateway does all day: no
// publish may wait on the prune for more than a few milliseconds. Each
// prune transaction holds the single writer; one of 10,000 events and
// their topic index entries held it (and every acknowledgement) for tens
// of milliseconds.
func TestPruneBacklogUnderLoad(t *testing.T) {
	backlog := 300_000 // a prune of 2 s; enough for the old prune's p99 (above)
	if testing.Short() || raceEnabled {
		backlog = 50_000 // SQLite itself runs under the race detector
	}
	// The events of many topics, and of one: its topic index entries
	// are one range.
	for _, tc := range []struct {
		name   string
		topics int
	}{{"Topics1600", 1_600}, {"OneTopic", 1}} {
		t.Run(tc.name, func(t *testing.T) { pruneUnderLoad(t, backlog, tc.topics) })
	}
}

func pruneUnderLoad(t *testing.T, backlog, topics int) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "feed.db")
	s := MustOpenStoreAt(t, path, store.Options{})
	MustAppend(t, s, note("w9/S0000", 0))
	s.Close()
	fillHistory(t, path, backlog, topics)

	s = MustOpenStoreAt(t, path, store.Options{})
	if s.LastID() != int64(backlog)+1 {
		t.Fatalf("last ID %d after filling, want %d", s.LastID(), backlog+1)
	}
	// The publisher measures each acknowledgement while the prune runs.
	pruned := make(chan struct{})
	measured := make(chan []time.Duration)
	go func() {
		var waits []time.Duration
		for n := 0; ; n++ {
			select {
			case <-pruned:
				measured <- waits
				return
			default:
			}
			start := time.Now()
			if _, err := s.Append(ctx, []feed.Update{note("w9/S0000", n)}); err != nil {
				t.Error(err)
			}
			waits = append(waits, time.Since(start))
		}
	}()
	start := time.Now()
	removed, err := s.Prune(ctx, store.Retention{MaxRows: 1_000})
	took := time.Since(start)
	close(pruned)
	waits := <-measured
	if err != nil || removed < int64(backlog)-1_000 {
		t.Fatalf("Prune = %d, %v", removed, err)
	}
	slices.Sort(waits)
	p99, worst := waits[len(waits)*99/100], waits[len(waits)-1]
	t.Logf("pruned %d events in %s; %d publishes meanwhile, p50 %s, p99 %s, the longest %s",
		removed, took, len(waits), waits[len(waits)/2], p99, worst)
	// A publish waits for one prune transaction of a few milliseconds
	// and its own commit. The bounds are loose: a shared, loaded machine
	// stalls any goroutine now and then for tens of milliseconds, and
	// the end of a checkpoint (copying the last of the log, starting it
	// over) for about 100 ms. Before, a publish waited for a transaction
	// of 10,000 events (p99 65–125 ms, the longest up to 1.1 s, with a
	// backlog of a million; 59–95 ms with 300,000, where now p99 is
	// 1.6–1.8 ms).
	p99Bound := 25 * time.Millisecond
	if raceEnabled {
		p99Bound = 75 * time.Millisecond // before: p99 3 s
	}
	if p99 > p99Bound || worst > 500*time.Millisecond {
		t.Errorf("publishes waited up to %s (p99 %s) during the prune; the bounds are 500 ms and %s", worst, p99, p99Bound)
	}
	// What remains resumes exactly; what is gone gets a reset.
	if _, err := s.After(ctx, s.Floor()-1, all(t), 10); !errors.Is(err, feed.ErrPruned) {
		t.Fatalf("After(floor-1) = %v, want feed.ErrPruned", err)
	}
	if got, err := s.After(ctx, s.Floor(), all(t), 10); err != nil || len(got) != 10 || got[0].ID != s.Floor()+1 {
		t.Fatalf("After(floor) = [%s], %v", ids(got), err)
	}
	if latest, err := s.Latest(ctx); err != nil || len(latest) != topics {
		t.Fatalf("the snapshot holds %d topics (%v), want %d", len(latest), err, topics)
	}
	// The topic index kept no run of pruned events only.
	floor := s.Floor()
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stale int
	if err := db.QueryRow(`SELECT COUNT(*) FROM topic_runs WHERE last <= ?`, floor).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d runs of pruned events remain in the topic index (%v)", stale, err)
	}
}

// fillHistory adds n tick events over topics topics to the database at
// path (closed), after its last one, as the store would have stored them
// an hour ago, with their latest rows; the store writes their topic index
// when it opens, as after a crash. SQL makes a million events in seconds,
// where appending them would take minutes.
func fillHistory(tb testing.TB, path string, n, topics int) {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var last int64
	if err := db.QueryRow(`SELECT MAX(id) FROM events`).Scan(&last); err != nil {
		tb.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UnixMilli()
	for _, q := range []string{
		`INSERT INTO events (id, topic, type, time, data)
			WITH RECURSIVE n(i) AS (SELECT ?1 + 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 + ?2)
			SELECT i, printf('w9/S%04d', i % ?3), 'tick', ?4,
				printf('{"symbol":"S%04d","price":117.25,"change":-7.75,"volume":%d}', i % ?3, i / ?3)
			FROM n`,
		`INSERT OR REPLACE INTO latest (topic, id, type, time, data)
			SELECT topic, MAX(id), type, time, data FROM events WHERE id > ?1 GROUP BY topic`,
		`UPDATE counters SET value = ?1 + ?2 WHERE name = 'last_id'`,
	} {
		if _, err := db.Exec(q, last, n, topics, at); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
}

// TestPruneKeepsTheLogSmall prunes a backlog while events are published,
// with a write-ahead log that starts over at 1 MiB: the prune's deletions
// must not take the log past a few times that. Before a prune waited for
// the checkpointer between its transactions, the log grew by up to a
// second of the prune's writes before the checkpointer looked (W14: to
// 64-96 MB for a restart size of 16). With a reader holding the log
// meanwhile, the log cannot start over; the prune must still end.
func TestPruneKeepsTheLogSmall(t *testing.T) {
	t.Parallel()
	const restartPages, pageSize, topics = 256, 4096, 2000
	backlog := 200_000
	if raceEnabled {
		backlog = 50_000
	}
	for _, tc := range []struct {
		name string
		held bool // a reader holds the log through the prune
	}{{"Free", false}, {"ReaderHolds", true}} {
		held := tc.held
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "feed.db")
			opts := store.Options{WALRestartPages: restartPages}
			s := MustOpenStoreAt(t, path, opts)
			MustAppend(t, s, note("w9/S0000", 0))
			s.Close()
			fillHistory(t, path, backlog, topics)
			// The first open indexes the history (writing its events to
			// topic_data), which is not what this measures.
			s = MustOpenStoreAt(t, path, opts)
			s.Close()
			s = MustOpenStoreAt(t, path, opts)
			defer s.Close()
			if held {
				// A read transaction that began before the prune, kept
				// to its end, as a backup's is.
				db, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				tx, err := db.Begin()
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				var n int
				if err := tx.QueryRow(`SELECT COUNT(*) FROM latest`).Scan(&n); err != nil {
					t.Fatal(err)
				}
			}
			stop := make(chan struct{})
			published := make(chan error, 1)
			go func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						published <- nil
						return
					case <-time.After(5 * time.Millisecond):
					}
					batch := make([]feed.Update, 50)
					for i := range batch {
						batch[i] = note(fmt.Sprintf("w9/S%04d", (n*len(batch)+i)%topics), n)
					}
					if _, err := s.Append(ctx, batch); err != nil {
						published <- err
						return
					}
				}
			}()
			start := time.Now()
			removed, err := s.Prune(ctx, store.Retention{MaxRows: 1_000})
			took := time.Since(start)
			close(stop)
			if perr := <-published; perr != nil {
				t.Fatal(perr)
			}
			if err != nil || removed < int64(backlog)-1_000 {
				t.Fatalf("Prune = %d, %v", removed, err)
			}
			fi, err := os.Stat(path + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("pruned %d events in %s; the log's file reached %d pages", removed, took, fi.Size()/pageSize)
			if held {
				// The log grows while the reader holds it, whatever the
				// prune does; the prune goes on. (It waited for the log
				// at each transaction before it learnt not to: 30 s.)
				if took > 20*time.Second {
					t.Errorf("the prune took %s with a reader holding the log", took)
				}
				return
			}
			// The file keeps the largest size the log reached (it is
			// truncated only past journal_size_limit, 64 MiB).
			if most := int64(4 * restartPages * pageSize); fi.Size() > most {
				t.Errorf("the write-ahead log reached %d pages during the prune; want at most %d (4× its restart size)", fi.Size()/pageSize, most/pageSize)
			}
		})
	}
}
