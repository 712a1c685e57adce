package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// TestFlockHolderWhileOthersLock: the holder of a lock is found in the
// kernel's list of locks however much other locks come and go meanwhile
// (SQLite's commits take and drop theirs all the time): the kernel makes
// the list a page at a time, and skipped the entry of a holder when one
// before it went between two pages, and a running server was taken for
// stopped (read once: 2 of 5 runs of 3,000 reads missed it, under -race).
func TestFlockHolderWhileOthersLock(t *testing.T) {
	dir := t.TempDir()
	ours, err := os.Create(filepath.Join(dir, "ours"))
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	if err := syscall.Flock(int(ours.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	fi, err := ours.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// Newer locks come first in the list: ours is behind all of these.
	others := make([]*os.File, 200)
	for i := range others {
		if others[i], err = os.Create(filepath.Join(dir, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		defer others[i].Close()
		syscall.Flock(int(others[i].Fd()), syscall.LOCK_EX)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i = (i + 1) % len(others) {
			select {
			case <-stop:
				return
			default:
			}
			fd := int(others[i].Fd())
			syscall.Flock(fd, syscall.LOCK_UN)
			syscall.Flock(fd, syscall.LOCK_EX)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for i := range 3_000 {
		if pid := flockHolder(fi); pid != os.Getpid() {
			t.Fatalf("read %d of the list: the holder is %d, want this process (%d)", i, pid, os.Getpid())
		}
	}
}
