package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// realPath is the name the file at path goes by once every symlink on the
// way is followed, absolute: the name SQLite itself opens and gives its
// -wal and -shm files, and the one the lock file and the list of backups
// are kept beside, whichever path to the file was given. ".." is taken
// as the kernel takes it, after the symlink before it. The file need not
// exist (a first start), but its directory must.
func realPath(path string) (string, error) {
	if path == "" {
		return "", errors.New("no path given")
	}
	if !filepath.IsAbs(path) {
		// Not filepath.Abs: it would take "link/.." out as text.
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		path = wd + string(filepath.Separator) + path
	}
	for range 40 { // symlinks to missing files followed, at most
		real, err := filepath.EvalSymlinks(path)
		if err == nil {
			return real, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		// Missing: a symlink to a file not created yet, or the file.
		dir, base := splitLast(path)
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return "", err
			}
			if !filepath.IsAbs(target) {
				target = dir + string(filepath.Separator) + target
			}
			path = target
			continue
		}
		if base == "" || base == "." || base == ".." {
			return "", fmt.Errorf("%s names a directory", path)
		}
		real, err = filepath.EvalSymlinks(dir)
		if err != nil {
			return "", err
		}
		return filepath.Join(real, base), nil
	}
	return "", fmt.Errorf("%s: too many symlinks", path)
}

// LockFile is the lock file of the database at path: the same by every
// symlinked, relative or ".." path to the database (not by a hard link,
// whose name has a lock file of its own). While a livefeed has the
// database open, the file holds its process ID, on a line of its own,
// and once a server listens, where it serves, on the next line (see
// Store.Advertise): "1234\nhttp://localhost:8080\n".
func LockFile(path string) string { return realOr(path) + ".lock" }

// LockHolder is the livefeed that has a database open, as the database's
// lock file says.
type LockHolder struct {
	PID int
	// URL is where it serves, as a user on this machine reaches it
	// ("http://localhost:8080", "https://127.0.0.1:8443"); "" when it
	// does not serve (a restore) or does not listen yet.
	URL string
}

// maxLockFile bounds what is read of a lock file: a process ID and a URL.
const maxLockFile = 4 << 10

// HolderOf returns the livefeed that has the database at path open now,
// from the database's lock file, found by any path to it (see LockFile).
// ok is false when none has: there is no lock file, or no process holds
// its lock any more (it stopped, or was killed, leaving the file).
func HolderOf(path string) (h LockHolder, ok bool) {
	f, err := os.Open(LockFile(path))
	if err != nil {
		return LockHolder{}, false
	}
	defer f.Close()
	b := make([]byte, maxLockFile)
	n, _ := f.ReadAt(b, 0)
	if h, ok = parseLockFile(b[:n]); !ok {
		return LockHolder{}, false
	}
	fi, err := f.Stat()
	if err != nil || !holds(fi, h.PID) {
		return LockHolder{}, false
	}
	return h, true
}

// parseLockFile reads what a lock file holds: a process ID on the first
// line, and on the second, if there is one, the URL its server serves at.
// Anything else is no holder.
func parseLockFile(b []byte) (LockHolder, bool) {
	first, rest, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return LockHolder{}, false
	}
	url, rest, _ := strings.Cut(rest, "\n")
	url = strings.TrimSpace(url)
	if strings.TrimSpace(rest) != "" || strings.ContainsFunc(url, unicode.IsControl) {
		return LockHolder{}, false
	}
	return LockHolder{PID: pid, URL: url}, true
}

// lockFileText is what a lock file holds for h (see parseLockFile).
func lockFileText(h LockHolder) []byte {
	b := strconv.AppendInt(nil, int64(h.PID), 10)
	b = append(b, '\n')
	if h.URL != "" {
		b = append(append(b, h.URL...), '\n')
	}
	return b
}

// splitLast splits path at its last separator, as text only (filepath.Dir
// would also clean "..", before the kernel follows the symlink it comes
// after).
func splitLast(path string) (dir, base string) {
	i := strings.LastIndexByte(path, filepath.Separator)
	if i < 0 {
		return ".", path
	}
	if i == 0 {
		return string(filepath.Separator), path[1:]
	}
	return path[:i], path[i+1:]
}

// realOr is the real path of path, or path itself if it has none (its
// directory is missing): for names derived from the database's that must
// be the same by every path to it.
func realOr(path string) string {
	if real, err := realPath(path); err == nil {
		return real
	}
	return path
}

// checkFile refuses a database path (real being where it leads) that
// names something other than a file: SQLite would fail on it with an
// obscure message, after livefeed created its lock file beside it.
func checkFile(path, real string) error { return notAFile("database", path, real) }

// notAFile says that the database or backup (what) at path, real being
// where it leads, is not a file, if it exists and is not.
func notAFile(what, path, real string) error {
	fi, err := os.Stat(real)
	if err != nil || fi.Mode().IsRegular() {
		return nil // missing: it is created, or its absence reported
	}
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("%s %s is %s, not a database file", what, path, kind)
}

// dbLock is what a livefeed holds while it has a database open: see
// lockDatabase.
type dbLock struct {
	name *os.File // the lock file beside the database's real name
	file *os.File // the database file, if it is locked itself
}

// write writes what the lock file says of its holder, h: the new text
// over the old in one write, then cut to its length, so that a reader
// never finds it empty.
func (l *dbLock) write(h LockHolder) error {
	if l == nil || l.name == nil {
		return nil
	}
	b := lockFileText(h)
	if _, err := l.name.WriteAt(b, 0); err != nil {
		return err
	}
	return l.name.Truncate(int64(len(b)))
}

// Close lets the database go. A nil lock holds nothing. The lock file is
// emptied first: it names no holder once there is none.
func (l *dbLock) Close() {
	if l == nil {
		return
	}
	if l.name != nil {
		l.name.Truncate(0)
		l.name.Close()
	}
	if l.file != nil {
		l.file.Close()
	}
}
