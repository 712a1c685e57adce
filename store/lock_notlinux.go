//go:build unix && !linux

package store

import "os"

// lockFollowsFile reports whether the database file is locked itself (see
// lockDatabase): not here, where flock and SQLite's fcntl locks on one file
// may stop each other. The lock file alone is taken, beside the file's
// real name: symlinks and ".." are covered, hard links are not.
func lockFollowsFile(real string) bool { return false }

// flockHolder is not known here.
func flockHolder(fi os.FileInfo) int { return 0 }

// flockListed says that the holders of flocks are not listed here.
func flockListed(fi os.FileInfo) (pid int, listed bool) { return 0, false }
