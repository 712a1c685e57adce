//go:build !unix

package store

import "os"

// flock is not available here: nothing is locked.
func flock(f *os.File) (bool, error) { return true, nil }

// lockDatabase does nothing here: a second livefeed on the same database
// is not detected.
func lockDatabase(path string) (*os.File, error) { return nil, nil }

// flockWait does nothing here.
func flockWait(f *os.File) error { return nil }
