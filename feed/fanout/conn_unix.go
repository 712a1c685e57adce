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

	// The write under way, for writeOut. They live here rather than in a
	// closure made for each write: that closure and what it captured
	// were three allocations per delivery. A subscriber has one writer
	// at a time, so writes never overlap.
	out      []byte
	n        int
	err      error
	writeOut func(fd uintptr) bool // c.writeSome, made once
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
	raw := &rawConn{netConn: netConn{c: c}, rc: rc}
	raw.writeOut = raw.writeSome
	return raw
}

func (c *rawConn) TryWrite(p []byte) (int, error) {
	c.out, c.n, c.err = p, 0, nil
	err := c.rc.Write(c.writeOut)
	n, werr := c.n, c.err
	c.out, c.err = nil, nil // p is the writer's buffer: not kept
	if err == nil {
		err = werr
	}
	return n, err
}

// writeSome writes c.out from c.n on, as far as the socket takes it now.
func (c *rawConn) writeSome(fd uintptr) bool {
	for c.n < len(c.out) {
		m, err := syscall.Write(int(fd), c.out[c.n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			c.err = err
			break
		}
		c.n += m
	}
	return true // never wait for the poller: the caller decides
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
