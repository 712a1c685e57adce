//go:build unix

package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"livefeed/store"
)

// TestOpenLocked: one livefeed at a time has a database open; a second
// (another server, a restore) is refused, naming the first by its process.
func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	first := MustOpenStoreAt(t, path, store.Options{})
	_, err := store.Open(path, store.Options{})
	var locked *store.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second Open = %v, want a LockedError naming process %d", err, os.Getpid())
	}
	first.Close()
	MustOpenStoreAt(t, path, store.Options{}) // free again once closed
}

// TestRestoreRefusedWhileOpen: a restore while the database is open
// changes neither file.
func TestRestoreRefusedWhileOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, backupPath := filepath.Join(dir, "feed.db"), filepath.Join(dir, "backup.db")
	s := MustOpenStoreAt(t, path, store.Options{})
	MustAppend(t, s, note("a", 1))
	if err := s.Backup(context.Background(), backupPath); err != nil {
		t.Fatal(err)
	}
	MustAppend(t, s, note("a", 2))
	backupBefore, _ := os.ReadFile(backupPath)
	_, err := store.Restore(context.Background(), backupPath, path, 0)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Restore while open = %v", err)
	}
	if after, _ := os.ReadFile(backupPath); string(after) != string(backupBefore) {
		t.Fatal("the backup was changed")
	}
	if matches, _ := filepath.Glob(path + ".re*"); len(matches) > 0 {
		t.Fatalf("the refused restore left %v", matches)
	}
	MustAppend(t, s, note("a", 3)) // still the database in use
	if s.LastID() != 3 {
		t.Fatalf("LastID = %d", s.LastID())
	}
}

// TestRestoreKeepsMode: the restored database has the permissions of the
// one it replaces.
func TestRestoreKeepsMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, backupPath := filepath.Join(dir, "feed.db"), filepath.Join(dir, "backup.db")
	s := MustOpenStoreAt(t, path, store.Options{})
	MustAppend(t, s, note("a", 1))
	if err := s.Backup(context.Background(), backupPath); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(backupPath, 0o600)
	if _, err := store.Restore(context.Background(), backupPath, path, 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("restored file mode %v (%v), want -rw-r-----", fi.Mode(), err)
	}
}

// TestKilledBackupCleanedUp: the temporary file of a backup that was
// killed (so its lock is gone) is removed by the next backup, wherever
// that one writes, and by the next start of the server; that of a backup
// still running is left alone.
func TestKilledBackupCleanedUp(t *testing.T) {
	t.Parallel()
	for _, next := range []string{"Backup", "Open"} {
		t.Run(next, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "feed.db")
			s := MustOpenStoreAt(t, path, store.Options{})
			MustAppend(t, s, note("a", 1))
			// What a backup killed while writing leaves: its temporary
			// file, listed beside the database, no longer locked.
			dead := filepath.Join(t.TempDir(), "killed.db.partial")
			os.WriteFile(dead, []byte("half a copy"), 0o644)
			// And one still being written by a live process.
			running := filepath.Join(t.TempDir(), "running.db.partial")
			f, err := os.Create(running)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path+".backups", []byte(dead+"\n"+running+"\n"), 0o644)

			switch next {
			case "Backup":
				if err := store.BackupFile(context.Background(), path, filepath.Join(t.TempDir(), "elsewhere.db")); err != nil {
					t.Fatal(err)
				}
			case "Open":
				s.Close()
				MustOpenStoreAt(t, path, store.Options{})
			}
			if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the killed backup's file is still there (%v)", err)
			}
			if _, err := os.Stat(running); err != nil {
				t.Errorf("the running backup's file was removed: %v", err)
			}
			if list, _ := os.ReadFile(path + ".backups"); strings.TrimSpace(string(list)) != running {
				t.Errorf("backups listed: %q, want only the running one", list)
			}
		})
	}
}
