//go:build unix

package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"livefeed/store"
)

// otherPaths are ways to name data/real.db (under a test's directory)
// other than by its absolute path: each is given relative to that
// directory, which is the working directory while the test runs, and
// made by its setup (the database exists by then only for the hard link).
var otherPaths = []struct {
	name  string
	path  string
	setup func(t *testing.T)
}{
	{"SymlinkToTheFile", "link.db", func(t *testing.T) { mustSymlink(t, "data/real.db", "link.db") }},
	{"SymlinkToTheDirectory", "dirlink/real.db", func(t *testing.T) { mustSymlink(t, "data", "dirlink") }},
	{"SymlinkChain", "link2.db", func(t *testing.T) {
		mustSymlink(t, "data/real.db", "link.db")
		mustSymlink(t, "link.db", "link2.db")
	}},
	{"DotDot", "data/sub/../real.db", func(t *testing.T) { mustMkdir(t, "data/sub") }},
	// The kernel follows up to data/sub, then goes up to data; read as
	// text, the path would be x/real.db.
	{"DotDotAfterASymlink", "x/up/../real.db", func(t *testing.T) {
		mustMkdir(t, "data/sub")
		mustMkdir(t, "x")
		mustSymlink(t, "../data/sub", "x/up")
	}},
	{"Relative", "data/real.db", func(t *testing.T) {}},
	{"HardLinkInAnotherDirectory", "other/hard.db", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("the database file itself is locked on Linux only")
		}
		mustMkdir(t, "other")
		if err := os.Link("data/real.db", "other/hard.db"); err != nil {
			t.Skipf("no hard links here: %v", err)
		}
	}},
}

func mustSymlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// lockDir makes a test's directory with data/ in it, and makes it the
// working directory; it returns its absolute path.
func lockDir(t *testing.T) string {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	mustMkdir(t, "data")
	return dir
}

// files describes every file under dir: its name, and its contents'
// hash (the write-ahead log and its index aside, which SQLite changes
// while a database is open).
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "-> " + target
		case d.IsDir():
			got[rel] = "dir"
		case !d.Type().IsRegular():
			got[rel] = d.Type().String()
		case strings.HasSuffix(p, "-wal"), strings.HasSuffix(p, "-shm"):
			got[rel] = "sqlite"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameFiles(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for name, was := range before {
		if now, ok := after[name]; !ok {
			t.Errorf("%s: %s is gone", what, name)
		} else if now != was {
			t.Errorf("%s: %s changed", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: left %s", what, name)
		}
	}
}

// TestLockFollowsTheFile: while a store has the database open by one path,
// every other path to the same file — a symlink to it or to its directory,
// a hard link, a path through "..", a relative one — is refused to a
// second store and to a restore, which change no file; a backup through
// it works. Both ways round, and from the first start (the database does
// not exist yet) except for the hard link. (The lock used to be a file
// named after the path given: each path had a lock of its own.)
func TestLockFollowsTheFile(t *testing.T) {
	for _, other := range otherPaths {
		for _, holderBy := range []string{"absolute", "other"} {
			t.Run(other.name+"/HeldBy_"+holderBy, func(t *testing.T) {
				dir := lockDir(t)
				real := filepath.Join(dir, "data", "real.db")
				hardLink := strings.HasPrefix(other.name, "HardLink")
				if hardLink {
					s := MustOpenStoreAt(t, real, store.Options{})
					MustAppend(t, s, note("a", 1))
					s.Close()
				}
				other.setup(t)
				held, refused := real, other.path
				if holderBy == "other" {
					held, refused = other.path, real
				}
				s := MustOpenStoreAt(t, held, store.Options{})
				MustAppend(t, s, note("a", 2))
				backupPath := filepath.Join(t.TempDir(), "backup.db")
				if err := s.Backup(context.Background(), backupPath); err != nil {
					t.Fatal(err)
				}
				last := s.LastID()
				before := files(t, dir)

				_, err := store.Open(refused, store.Options{})
				var locked *store.LockedError
				if !errors.As(err, &locked) || !strings.Contains(err.Error(), fmt.Sprintf("livefeed (process %d)", os.Getpid())) ||
					!strings.Contains(err.Error(), "database "+refused+" is open in") {
					t.Errorf("Open(%s) while open as %s = %v; want a LockedError naming %s and process %d", refused, held, err, refused, os.Getpid())
				}
				sameFiles(t, "the refused Open", before, files(t, dir))

				_, err = store.Restore(context.Background(), backupPath, refused, 0)
				if !errors.As(err, &locked) || !strings.HasSuffix(err.Error(), "nothing was changed") {
					t.Errorf("Restore(%s) while open as %s = %v; want a LockedError, nothing changed", refused, held, err)
				}
				sameFiles(t, "the refused Restore", before, files(t, dir))

				// A backup through a hard link would miss the
				// write-ahead log, named after the other name.
				copyPath := filepath.Join(t.TempDir(), "copy.db")
				err = store.BackupFile(context.Background(), refused, copyPath)
				if hardLink {
					want := fmt.Sprintf("database %s is open in livefeed (process %d) under another of its names (a hard link)", refused, os.Getpid())
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("BackupFile(%s) while open as %s = %v; want %q", refused, held, err, want)
					}
					if _, err := os.Stat(copyPath); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("the refused backup wrote %s", copyPath)
					}
				} else if err != nil {
					t.Errorf("BackupFile(%s) while open as %s: %v", refused, held, err)
				} else {
					c := MustOpenStoreAt(t, copyPath, store.Options{})
					if c.LastID() != last {
						t.Errorf("the backup through %s ends at %d, want %d", refused, c.LastID(), last)
					}
				}

				if got := MustAppend(t, s, note("a", 3)); got[0].ID != last+1 {
					t.Errorf("the open store went on at ID %d, want %d", got[0].ID, last+1)
				}
				s.Close()
				MustOpenStoreAt(t, refused, store.Options{}) // free once closed
			})
		}
	}
}

// TestRestoreThroughASymlink: a restore through a symlink to the database
// replaces the file it points to and leaves the symlink a symlink. (It
// used to rename the restored copy onto the symlink, so the database the
// server opens by its own path was not restored.)
func TestRestoreThroughASymlink(t *testing.T) {
	dir := lockDir(t)
	real := filepath.Join(dir, "data", "real.db")
	s := MustOpenStoreAt(t, real, store.Options{})
	MustAppend(t, s, note("a", 1))
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(context.Background(), backupPath); err != nil {
		t.Fatal(err)
	}
	MustAppend(t, s, note("a", 2), note("a", 3))
	s.Close()
	mustSymlink(t, "data/real.db", "link.db")
	r, err := store.Restore(context.Background(), backupPath, "link.db", 0)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat("link.db"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("link.db after the restore: %v, %v; want the symlink", fi.Mode(), err)
	}
	if !strings.HasPrefix(r.Replaced, real+".replaced-") {
		t.Errorf("the replaced database was kept as %q, want beside %s", r.Replaced, real)
	}
	if r.BackupLastID != 1 || r.NextID != 4 {
		t.Errorf("restored %+v, want the backup's 1 and next ID 4", r)
	}
	s = MustOpenStoreAt(t, real, store.Options{})
	if got := MustAppend(t, s, note("a", 4)); got[0].ID != 4 {
		t.Errorf("after the restore the database at %s goes on at ID %d, want 4 (restored, IDs 2 and 3 skipped)", real, got[0].ID)
	}
}

// TestRestoreTempBesideTheFile: the file a restore writes is beside the
// database it replaces, by whatever path it is named (a progress display
// watches it).
func TestRestoreTempBesideTheFile(t *testing.T) {
	dir := lockDir(t)
	mustSymlink(t, "data", "dirlink")
	if got, want := store.RestoreTemp("dirlink/feed.db"), filepath.Join(dir, "data", "feed.db.restoring"); got != want {
		t.Errorf("RestoreTemp = %q, want %q", got, want)
	}
}

// TestOpenNotAFile: a directory, or something else that is not a file
// (a named pipe here; a device would be refused alike), given as the
// database is refused by name, and nothing is created beside it. (SQLite
// used to fail with "unable to open database file" or "disk I/O error",
// after a lock file, or a journal beside a device, was created.)
func TestOpenNotAFile(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, want string }{
		{"Directory", "is a directory, not a database file"},
		{"NamedPipe", "is a named pipe, not a database file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "feed.db")
			var err error
			if c.name == "Directory" {
				err = os.Mkdir(path, 0o755)
			} else {
				err = syscall.Mkfifo(path, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			before := files(t, dir)
			_, err = store.Open(path, store.Options{})
			if err == nil || err.Error() != "database "+path+" "+c.want {
				t.Errorf("Open(%s) = %v; want %q", path, err, "database "+path+" "+c.want)
			}
			sameFiles(t, "the refused Open", before, files(t, dir))
			_, err = store.Restore(context.Background(), filepath.Join(dir, "backup.db"), path, 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Restore onto %s = %v; want %q", path, err, c.want)
			}
			sameFiles(t, "the refused Restore", before, files(t, dir))
		})
	}
}

// TestOpenReadOnlyDirectory: a database in a directory livefeed may not
// write to is refused, naming the lock file it could not create, and
// left as it was.
func TestOpenReadOnlyDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root may write to a read-only directory")
	}
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "feed.db")
	s := MustOpenStoreAt(t, path, store.Options{})
	MustAppend(t, s, note("a", 1))
	s.Close()
	os.Remove(path + ".lock")
	before := files(t, dir)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	_, err := store.Open(path, store.Options{})
	if err == nil || !strings.Contains(err.Error(), path+".lock") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open in a read-only directory = %v; want a permission error naming %s.lock", err, path)
	}
	sameFiles(t, "Open in a read-only directory", before, files(t, dir))
}

// TestBackupNeverOverwritesTheDatabase: a backup whose temporary file
// (FILE.partial) would be the database itself, by its name or a hard link,
// is refused and the database is left as it was. (It used to empty the
// database to write the copy into it.)
func TestBackupNeverOverwritesTheDatabase(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"Name", "HardLink"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "feed.db")
			out := filepath.Join(dir, "copy")
			if how == "Name" {
				path = out + ".partial"
			}
			s := MustOpenStoreAt(t, path, store.Options{})
			MustAppend(t, s, note("a", 1))
			s.Close()
			if how == "HardLink" {
				if err := os.Link(path, out+".partial"); err != nil {
					t.Skipf("no hard links here: %v", err)
				}
			}
			before := files(t, dir)
			err := store.BackupFile(context.Background(), path, out)
			if err == nil || !strings.Contains(err.Error(), "is the database itself") {
				t.Errorf("BackupFile = %v; want a refusal", err)
			}
			sameFiles(t, "the refused backup", before, files(t, dir))
		})
	}
}

// TestBackupAndRestoreNotAFile: a directory given where a backup or a
// restore takes or writes a file is refused by name, and no file is left
// or changed. (A restore from a directory failed halfway with "write
// ...restoring: copy_file_range: is a directory" and left that file; a
// backup into one said "the file exists already"; a backup of one failed
// with "disk I/O error" and left a list of backups beside it.)
func TestBackupAndRestoreNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, aDir := filepath.Join(dir, "feed.db"), filepath.Join(dir, "backups")
	s := MustOpenStoreAt(t, path, store.Options{})
	MustAppend(t, s, note("a", 1))
	s.Close()
	mustMkdir(t, aDir)
	before := files(t, dir)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"RestoreFromADirectory", func() error { _, err := store.Restore(ctx, aDir, path, 0); return err }(),
			"backup " + aDir + " is a directory, not a database file"},
		{"BackupIntoADirectory", store.BackupFile(ctx, path, aDir),
			"backup " + aDir + " is a directory: name the file to write, in it or elsewhere"},
		{"BackupOfADirectory", store.BackupFile(ctx, aDir, filepath.Join(dir, "copy.db")),
			"database " + aDir + " is a directory, not a database file"},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("%s = %v; want %q", c.name, c.err, c.want)
		}
	}
	sameFiles(t, "the refusals", before, files(t, dir))
}

// TestRestoreFailingToCopyLeavesNothing: a restore whose backup cannot be
// read to the end fails, naming the cause, and leaves no temporary file.
// (It left DATABASE.restoring behind.) The backup here is a file of the
// kernel's that fails every read.
func TestRestoreFailingToCopyLeavesNothing(t *testing.T) {
	t.Parallel()
	const unreadable = "/proc/self/mem" // offset 0 is never mapped
	if f, err := os.Open(unreadable); err != nil {
		t.Skipf("no %s here: %v", unreadable, err)
	} else {
		_, err := f.Read(make([]byte, 1))
		f.Close()
		if err == nil {
			t.Skipf("%s can be read here", unreadable)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "feed.db")
	s := MustOpenStoreAt(t, path, store.Options{})
	MustAppend(t, s, note("a", 1))
	s.Close()
	before := files(t, dir)
	_, err := store.Restore(context.Background(), unreadable, path, 0)
	if err == nil || !errors.Is(err, syscall.EIO) {
		t.Errorf("Restore from %s = %v; want an I/O error", unreadable, err)
	}
	after := files(t, dir)
	delete(after, "feed.db-wal") // the newest ID was read: SQLite's read-only files
	delete(after, "feed.db-shm")
	sameFiles(t, "the failed restore", before, after)
}

// TestLockFileFromAnyPath: the lock file, which names the process that
// has the database open and, once it advertises, where it serves, is
// found by every symlinked, relative or ".." path to the database
// (HolderOf); a closed store, or a lock file left by a process that holds
// no lock on it (killed), names nobody.
func TestLockFileFromAnyPath(t *testing.T) {
	for _, other := range otherPaths {
		if strings.HasPrefix(other.name, "HardLink") {
			continue
		}
		t.Run(other.name, func(t *testing.T) {
			dir := lockDir(t)
			db := filepath.Join(dir, "data", "real.db")
			s := MustOpenStoreAt(t, db, store.Options{})
			other.setup(t)
			if b, err := os.ReadFile(store.LockFile(other.path)); err != nil || string(b) != fmt.Sprintf("%d\n", os.Getpid()) {
				t.Errorf("LockFile(%s) = %s, holding %q (%v); want this process's ID", other.path, store.LockFile(other.path), b, err)
			}
			if h, ok := store.HolderOf(other.path); !ok || h.PID != os.Getpid() || h.URL != "" {
				t.Fatalf("HolderOf(%s) before it serves = %+v, %v; want process %d, no URL", other.path, h, ok, os.Getpid())
			}
			const url = "https://127.0.0.1:43210"
			if err := s.Advertise(url); err != nil {
				t.Fatal(err)
			}
			if h, ok := store.HolderOf(other.path); !ok || h.PID != os.Getpid() || h.URL != url {
				t.Fatalf("HolderOf(%s) = %+v, %v; want process %d at %s", other.path, h, ok, os.Getpid(), url)
			}
			if b, err := os.ReadFile(store.LockFile(db)); err != nil || string(b) != fmt.Sprintf("%d\n%s\n", os.Getpid(), url) {
				t.Fatalf("the lock file holds %q (%v)", b, err)
			}
			s.Close()
			if h, ok := store.HolderOf(other.path); ok {
				t.Fatalf("HolderOf(%s) once closed = %+v; want none", other.path, h)
			}
		})
	}
	t.Run("LeftByAKilledServer", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("only Linux lists who holds a lock: elsewhere a live process ID is taken for the holder")
		}
		dir := lockDir(t)
		db := filepath.Join(dir, "data", "real.db")
		// What a killed server leaves: its ID (this live process's here)
		// and address, and no lock held.
		if err := os.WriteFile(store.LockFile(db), fmt.Appendf(nil, "%d\nhttp://127.0.0.1:9\n", os.Getpid()), 0o644); err != nil {
			t.Fatal(err)
		}
		if h, ok := store.HolderOf(db); ok {
			t.Fatalf("HolderOf a lock file nobody locks = %+v; want none", h)
		}
	})
	t.Run("NoLockFile", func(t *testing.T) {
		dir := lockDir(t)
		if h, ok := store.HolderOf(filepath.Join(dir, "data", "real.db")); ok {
			t.Fatalf("HolderOf a database nobody opened = %+v; want none", h)
		}
	})
	t.Run("AdvertiseRefusesControls", func(t *testing.T) {
		s := MustOpenStoreAt(t, filepath.Join(t.TempDir(), "feed.db"), store.Options{})
		if err := s.Advertise("http://127.0.0.1:1\n99\nhttp://evil"); err == nil {
			t.Fatal("Advertise took a URL with line breaks")
		}
	})
}
