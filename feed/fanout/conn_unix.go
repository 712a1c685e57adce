//go:build unix

package fanout

import (
	"errors"
	"net"
	"syscall"
)

// rawConn writes to the socket's file descriptor directly when asked not to
// block: Go keeps sockets in non-blocking mode, so write(2) returns EAGAIN
// instead of waiting when the send buffer is full.
type rawConn struct {
	netConn
	rc syscall.RawConn
}

var (
	_ Conn        = (*rawConn)(nil)
	_ nonBlocking = (*rawConn)(nil)
)

func newRawConn(c net.Conn) Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &rawConn{netConn: netConn{c: c}, rc: rc}
}

func (c *rawConn) TryWrite(p []byte) (int, error) {
	var n int
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, err := syscall.Write(int(fd), p[n:])
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if errors.Is(err, syscall.EAGAIN) {
				break
			}
			if err != nil {
				werr = err
				break
			}
			n += m
		}
		return true // never wait for the poller: the caller decides
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// syscallConn gives the hub the socket, to watch it for hang-ups.
func (c *rawConn) syscallConn() syscall.RawConn { return c.rc }

// OpenFileLimit returns the process's limit on open files (RLIMIT_NOFILE),
// or 0 if it is unknown. Every subscriber holds one.
func OpenFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 0
	}
	return int(l.Cur)
}
