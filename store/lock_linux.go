package store

import (
	"fmt"
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
	// The kernel makes the list a page at a time, each from the list as it
	// is then: a lock before ours going between two pages makes it skip
	// an entry, which may be ours (other processes take and drop locks
	// all the time: SQLite's commits). An entry is never made up, so a
	// lock not found is looked for again before it is taken for gone.
	for range listReads {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			return 0, false
		}
		// "3: FLOCK  ADVISORY  WRITE 14917 fe:00:9979571 0 EOF"; a
		// waiter's line has "->" after the number.
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) >= 6 && f[1] == "FLOCK" && f[5] == file {
				pid, _ := strconv.Atoi(f[4])
				return pid, true
			}
		}
	}
	return 0, true
}

// listReads is how many times flockListed reads the list of locks before
// it takes a lock for gone.
const listReads = 8
