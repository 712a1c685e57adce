//go:build linux

package feed

import (
	"errors"
	"sync"
	"syscall"
)

// errHangup closes a subscriber whose client closed the connection.
var errHangup = errors.New("client closed the connection")

// hangups notices subscribers whose client has gone. A connection taken
// over from the HTTP server has no goroutine reading it, so without this a
// departed client would be noticed only when the next heartbeat fails,
// holding its socket and its place in the hub until then. One epoll set
// watches every such connection for the peer's FIN or RST (EPOLLRDHUP,
// EPOLLHUP, EPOLLERR); Go's own poller keeps its registration of the same
// sockets for writing.
type hangups struct {
	epfd int
	wake [2]int // a pipe whose read end is in the set, to stop run

	mu   sync.Mutex
	subs map[uint64]*Subscriber // by watch key; 0 is the wake pipe
	next uint64
}

func newHangups() *hangups {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil // fall back to noticing at the next heartbeat
	}
	h := &hangups{epfd: epfd, subs: make(map[uint64]*Subscriber)}
	if err := syscall.Pipe2(h.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, h.wake[0], &ev); err != nil {
		h.closeFDs()
		return nil
	}
	go h.run()
	return h
}

// watch starts watching the connection of s and returns the key to give to
// forget, or 0 if it cannot be watched. Keys are never reused, so a late
// event for a socket whose descriptor number was reused finds nothing.
func (h *hangups) watch(s *Subscriber, c syscall.RawConn) uint64 {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	h.next++
	key := h.next
	h.subs[key] = s
	h.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(key)),
		Pad:    int32(uint32(key >> 32)),
	}
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.EpollCtl(h.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		h.forget(key)
		return 0
	}
	return key
}

// forget stops watching; the kernel drops the socket from the set when it
// is closed.
func (h *hangups) forget(key uint64) {
	if h == nil || key == 0 {
		return
	}
	h.mu.Lock()
	delete(h.subs, key)
	h.mu.Unlock()
}

func (h *hangups) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(h.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if key == 0 {
				h.closeFDs()
				return
			}
			h.mu.Lock()
			s := h.subs[key]
			delete(h.subs, key)
			h.mu.Unlock()
			if s != nil {
				s.close(errHangup)
			}
		}
	}
}

// stop ends run, which then closes the descriptors.
func (h *hangups) stop() {
	if h != nil {
		syscall.Write(h.wake[1], []byte{0})
	}
}

func (h *hangups) closeFDs() {
	syscall.Close(h.wake[0])
	syscall.Close(h.wake[1])
	syscall.Close(h.epfd)
}
