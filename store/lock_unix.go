//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// flock takes an exclusive lock on f without waiting, reporting whether it
// got it. The lock is the kernel's (flock(2)): it ends with the process
// however that ends, and is independent of SQLite's own (fcntl) locks on
// the database file.
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

// lockDatabase takes the lock beside the database at path that a livefeed
// holds for as long as it has the database open (a server, a restore): a
// second one fails, naming the first by its process ID.
func lockDatabase(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the database: %w", err)
	}
	ok, err := flock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the database: %w", err)
	}
	if !ok {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		holder := "another livefeed process"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
			holder = fmt.Sprintf("livefeed (process %d)", pid)
		}
		return nil, &LockedError{Path: path, Holder: holder}
	}
	// Who holds it, for the message of the next one that tries.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
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
