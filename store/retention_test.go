package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
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
		if err := db.QueryRow(`SELECT COUNT(*) FROM topic_index WHERE id <= 100`).Scan(&stale); err != nil || stale != 0 {
			t.Fatalf("%d topic index entries of pruned events remain (%v)", stale, err)
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
