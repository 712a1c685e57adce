//go:build !unix

package store

import "os"

// flock is not available here: nothing is locked.
func flock(f *os.File) (bool, error) { return true, nil }

// lockDatabase only checks that path names a file here: a second livefeed
// on the same database is not detected.
func lockDatabase(path, real string, create bool) (*dbLock, error) {
	return nil, checkFile(path, real)
}

// holds reports that nobody holds a lock here, where nothing is locked:
// no lock file names a holder.
func holds(fi os.FileInfo, pid int) bool { return false }

// flockWait does nothing here.
func flockWait(f *os.File) error { return nil }

// checkBackupName has nothing to check here.
func checkBackupName(path, real string) error { return nil }
