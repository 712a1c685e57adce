package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFollowsFile reports whether the database file at real is locked
// itself (see lockDatabase). On Linux flock and SQLite's fcntl locks are
// apart, except on network file systems, which make flock a lock of the
// whole file of fcntl's kind: there it would stop SQLite, so the lock file
// alone is taken, and hard links are not covered.
func lockFollowsFile(real string) bool {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(real, &fs); err != nil {
		// Missing: it is created in its directory's file system.
		if err := syscall.Statfs(filepath.Dir(real), &fs); err != nil {
			return true
		}
	}
	switch uint32(fs.Type) {
	case 0x6969, // NFS
		0x517b,     // SMB
		0xff534d42, // CIFS
		0xfe534d42, // SMB2
		0x00c36400, // Ceph
		0x01021997: // 9P
		return false
	}
	return true
}

// flockHolder is the process that holds an flock on the file fi
// describes, as /proc/locks lists it; 0 if it is not listed.
func flockHolder(fi os.FileInfo) int {
	pid, _ := flockListed(fi)
	return pid
}

// flockListed is flockHolder, and whether the kernel's list of locks
// could be read at all (if not, 0 says nothing).
func flockListed(fi os.FileInfo) (pid int, listed bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	dev := uint64(st.Dev)
	major, minor := (dev>>8)&0xfff|(dev>>32)&^0xfff, dev&0xff|(dev>>12)&^0xff
	file := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	b, err := readProcLocks()
	if err != nil {
		return 0, false
	}
	// "3: FLOCK  ADVISORY  WRITE 14917 fe:00:9979571 0 EOF"; a waiter's
	// line has "->" after the number.
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == file {
			pid, _ := strconv.Atoi(f[4])
			return pid, true
		}
	}
	return 0, true
}

// readProcLocks returns the kernel's list of locks in one read: the
// kernel makes each read of /proc/locks from the list as it is then, and
// a file read in several (as os.ReadFile does, from 512 bytes on) skips
// an entry when one before it goes between two reads — with other
// processes locking and unlocking (SQLite's commits), a holder's lock
// could be missed, and its server taken for stopped.
func readProcLocks() ([]byte, error) {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for size := 256 << 10; ; size *= 4 {
		b := make([]byte, size)
		n, err := f.ReadAt(b, 0)
		if n < size || size >= 64<<20 {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return b[:n], nil
		}
	}
}
