//go:build unix

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// flock takes an exclusive lock on f without waiting, reporting whether it
// got it. The lock is the kernel's (flock(2)): it ends with the process
// however that ends, and on Linux is independent of SQLite's own (fcntl)
// locks on the database file.
func flock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}

// lockDatabase takes what a livefeed holds for as long as it has the
// database at path open (a server, a restore), real being its real path
// (see realPath); a second one fails with a LockedError naming the first
// by its process ID, whichever path to the file each was given.
//
// It holds two flocks. One is on the lock file beside the real name,
// real + ".lock", which holds the holder's process ID: it stands for the
// name, which SQLite's -wal and -shm files are named after, and for a
// database not created yet. The other is on the database file itself,
// which every name of the file reaches, hard links included: create makes
// the file if it is missing (a server; SQLite would), and without create a
// missing file is covered by the lock file alone (a restore, which creates
// it by renaming its copy to it, as its last step). The second is only
// taken where flock leaves SQLite's locks alone (see lockFollowsFile).
func lockDatabase(path, real string, create bool) (*dbLock, error) {
	if err := checkFile(path, real); err != nil {
		return nil, err
	}
	lockPath := real + ".lock" // LockFile(path)
	_, err := os.Lstat(lockPath)
	existed := err == nil
	name, ok, err := lockFile(lockPath, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("database %s: cannot lock it: %w", path, err)
	}
	if !ok {
		holder := holderOf(name, true)
		name.Close()
		return nil, &LockedError{Path: path, Holder: holder}
	}
	l := &dbLock{name: name}
	// Refused after all: the lock file this made goes (removed while
	// locked, so that whoever opened it meanwhile finds it gone once it
	// has the lock, and takes the new one).
	refuse := func(err error) (*dbLock, error) {
		if !existed {
			os.Remove(lockPath)
		}
		l.Close()
		return nil, err
	}
	flags := os.O_RDONLY
	if create {
		flags |= os.O_CREATE
	}
	if lockFollowsFile(real) {
		file, ok, err := lockFile(real, flags)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !create:
		case err != nil:
			return refuse(fmt.Errorf("database %s: %w", path, err))
		case !ok:
			// Held under another name of the file (a hard link).
			holder := holderOf(file, false)
			file.Close()
			return refuse(&LockedError{Path: path, Holder: holder})
		default:
			l.file = file
		}
	}
	// Who holds it, for the message of the next one that tries.
	l.write(LockHolder{PID: os.Getpid()})
	return l, nil
}

// checkBackupName refuses a backup of the database at path (real being
// its real path) while a livefeed holds the file under another of its
// names (a hard link): SQLite finds a database's write-ahead log by the
// name it was opened by, so through this one the backup would miss what
// the server committed last, or fail.
func checkBackupName(path, real string) error {
	if !lockFollowsFile(real) {
		return nil
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil // SQLite says why
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink < 2 {
		return nil
	}
	pid := flockHolder(fi)
	if pid == 0 {
		return nil
	}
	if name, err := os.Stat(real + ".lock"); err == nil && flockHolder(name) == pid {
		return nil // under this name
	}
	return fmt.Errorf("database %s is open in livefeed (process %d) under another of its names (a hard link), and SQLite finds the write-ahead log of what it committed last only by that name: back up through the path the server was given", path, pid)
}

// lockOpened is called between opening a file to lock and locking it
// (tests replace the file there).
var lockOpened = func(path string) {}

// lockFile opens the file at path with flag and takes an exclusive flock
// on it without waiting. It returns the file either way, reporting whether
// it holds the lock. A file renamed over path (a restore) or removed while
// this one was being locked is not the one path names: it is let go, and
// the file path names now is opened and locked.
func lockFile(path string, flag int) (*os.File, bool, error) {
	for range 100 {
		f, err := os.OpenFile(path, flag, 0o644)
		if err != nil {
			return nil, false, err
		}
		lockOpened(path)
		ok, err := flock(f)
		if err != nil {
			f.Close()
			return nil, false, err
		}
		if !ok {
			return f, false, nil
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, false, err
		}
		now, err := os.Stat(path)
		if err == nil && os.SameFile(held, now) {
			return f, true, nil
		}
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("%s is replaced again and again", path)
}

// holderOf names the process holding the flock on f: by the process ID
// written in it if pidFile (a lock file), else as the kernel lists it.
func holderOf(f *os.File, pidFile bool) string {
	if pidFile {
		b := make([]byte, maxLockFile)
		n, _ := f.ReadAt(b, 0)
		if h, ok := parseLockFile(b[:n]); ok {
			return fmt.Sprintf("livefeed (process %d)", h.PID)
		}
	}
	if fi, err := f.Stat(); err == nil {
		if pid := flockHolder(fi); pid > 0 {
			return fmt.Sprintf("livefeed (process %d)", pid)
		}
	}
	return "another livefeed process"
}

// holds reports whether process pid holds the flock on the file fi
// describes: as the kernel lists flocks where it does (Linux), else
// whether the process is alive (its ID may have been given to another
// since, which a caller finds out when it gets no answer).
func holds(fi os.FileInfo, pid int) bool {
	if holder, listed := flockListed(fi); listed {
		return holder == pid
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// flockWait takes an exclusive lock on f, waiting for it.
func flockWait(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
