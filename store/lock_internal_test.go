//go:build unix

package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"livefeed/feed"
)

// TestLockRetriesAReplacedFile: a database replaced (renamed over) between
// the moment Open opens the file to lock it and the moment it has the lock
// is locked again as the file it now is: the lock is on the file SQLite
// opens, so a second Open through a hard link to it is refused.
func TestLockRetriesAReplacedFile(t *testing.T) {
	if !lockFollowsFile(t.TempDir()) {
		t.Skip("the database file itself is not locked here")
	}
	dir := t.TempDir()
	path, replacement := filepath.Join(dir, "feed.db"), filepath.Join(dir, "new.db")
	for _, db := range []struct {
		path   string
		events int
	}{{path, 1}, {replacement, 3}} {
		s, err := Open(db.path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range db.events {
			if _, err := s.Append(context.Background(), []feed.Update{{Topic: "a", Type: "note", Data: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	renamed := false
	lockOpened = func(p string) {
		if p == path && !renamed {
			renamed = true
			if err := os.Rename(replacement, path); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { lockOpened = func(string) {} })
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !renamed {
		t.Fatal("the file was not replaced")
	}
	if s.LastID() != 3 {
		t.Fatalf("LastID = %d, want the replacement's 3", s.LastID())
	}
	// Through the same name the lock file refuses it anyway: through
	// another, only the lock on the file itself does.
	hard := filepath.Join(dir, "hard.db")
	if err := os.Link(path, hard); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	second, err := Open(hard, Options{})
	var locked *LockedError
	if !errors.As(err, &locked) {
		if err == nil {
			second.Close()
		}
		t.Fatalf("a second Open through a hard link = %v, want a LockedError: the lock is not on the file in use", err)
	}
}

// TestKilledBackupSweptFromAnyPath: a backup listed through a symlink to
// the database is swept by a start through the database's own path.
func TestKilledBackupSweptFromAnyPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, link := filepath.Join(dir, "data", "feed.db"), filepath.Join(dir, "link.db")
	os.Mkdir(filepath.Dir(path), 0o755)
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(t.TempDir(), "killed.db.partial")
	os.WriteFile(dead, []byte("half a copy"), 0o644)
	listPartial(link, dead) // what a backup through link.db, killed, leaves
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed backup's file is still there (%v)", err)
	}
}

// TestParseLockFile: a lock file names a holder only as livefeed writes
// it: a positive process ID, then, if it serves, a URL, a line each.
func TestParseLockFile(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       LockHolder
		ok         bool
	}{
		{"PIDOnly", "1234\n", LockHolder{PID: 1234}, true},
		{"PIDNoNewline", "1234", LockHolder{PID: 1234}, true},
		{"WithURL", "1234\nhttp://localhost:8080\n", LockHolder{PID: 1234, URL: "http://localhost:8080"}, true},
		{"WithURLNoNewline", "1234\nhttps://127.0.0.1:8443", LockHolder{PID: 1234, URL: "https://127.0.0.1:8443"}, true},
		{"CRLF", "1234\r\nhttp://localhost:8080\r\n", LockHolder{PID: 1234, URL: "http://localhost:8080"}, true},
		{"ErrEmpty", "", LockHolder{}, false},
		{"ErrZero", "0\n", LockHolder{}, false},
		{"ErrNegative", "-5\nhttp://x\n", LockHolder{}, false},
		{"ErrWord", "abc\n", LockHolder{}, false},
		{"ErrHuge", "99999999999999999999999\n", LockHolder{}, false},
		{"ErrThirdLine", "1234\nhttp://a\nhttp://b\n", LockHolder{}, false},
		{"ErrControl", "1234\nhttp://a\x00b\n", LockHolder{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseLockFile([]byte(tc.text))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseLockFile(%q) = %+v, %v; want %+v, %v", tc.text, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseLockFile: whatever a lock file holds, the holder it names has
// a positive process ID and a URL of one line, and reads back the same
// once written as livefeed writes it.
func FuzzParseLockFile(f *testing.F) {
	for _, seed := range []string{"1234\n", "1234\nhttp://localhost:8080\n", "", "-1\n", "1\n\n\n", "7\r\nhttps://[::1]:1\r\n", "1\nhttp://a\x85b\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseLockFile(b)
		if !ok {
			return
		}
		if h.PID <= 0 || strings.ContainsFunc(h.URL, unicode.IsControl) {
			t.Fatalf("parseLockFile(%q) = %+v", b, h)
		}
		if again, ok := parseLockFile(lockFileText(h)); !ok || again != h {
			t.Fatalf("%+v written and read back: %+v, %v", h, again, ok)
		}
	})
}
