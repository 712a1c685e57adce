//go:build linux

package fanout

import (
	"errors"
	"sync"
	"syscall"
	"unsafe"
)

// errHangup closes a subscriber whose client closed the connection.
var errHangup = errors.New("client closed the connection")

// watcher watches the sockets of subscribers served by the writer pool,
// with one epoll set for all of them and one goroutine:
//
//   - for the client hanging up (EPOLLRDHUP, EPOLLHUP, EPOLLERR). A
//     connection taken over from the HTTP server has no goroutine reading
//     it, so without this a departed client would be noticed only when a
//     write fails, holding its socket and its place until then;
//   - for a full socket becoming writable again (EPOLLOUT), while its
//     subscriber is parked: a client that stops reading then costs no
//     goroutine and no buffer, however long it stays.
//
// Every registration is one-shot, re-armed after each event, so an event
// is handled by one owner at a time. Go's own poller keeps its
// registration of the same sockets.
type watcher struct {
	epfd int
	wake [2]int // a pipe whose read end is in the set, to stop run

	mu   sync.Mutex
	subs map[uint64]watched // by watch key; 0 is the wake pipe
	next uint64
}

type watched struct {
	s *Subscriber
	c syscall.RawConn
}

const hangupEvents = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR

func newWatcher() *watcher {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil // fall back to noticing at the next write
	}
	w := &watcher{epfd: epfd, subs: make(map[uint64]watched)}
	if err := syscall.Pipe2(w.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, w.wake[0], &ev); err != nil {
		w.closeFDs()
		return nil
	}
	go w.run()
	return w
}

// add starts watching the connection of s for hang-ups and returns the key
// to give to writable and forget, or 0 if it cannot be watched. Keys are
// never reused, so a late event for a socket whose descriptor number was
// reused finds nothing.
func (w *watcher) add(s *Subscriber, c syscall.RawConn) uint64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	w.next++
	key := w.next
	w.subs[key] = watched{s, c}
	w.mu.Unlock()
	if err := w.ctl(syscall.EPOLL_CTL_ADD, key, c, hangupEvents); err != nil {
		w.forget(key)
		return 0
	}
	return key
}

// writable asks to hand the subscriber of key back to the pool once its
// socket can take more (see Hub.park). It reports false if the socket
// cannot be watched for it.
func (w *watcher) writable(key uint64) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	ws, ok := w.subs[key]
	w.mu.Unlock()
	// Were the socket writable already, epoll reports it at once.
	return ok && w.ctl(syscall.EPOLL_CTL_MOD, key, ws.c, hangupEvents|syscall.EPOLLOUT) == nil
}

// unsent returns how many bytes the socket of key holds that the client
// has not acknowledged yet (SIOCOUTQ), or -1 if that is unknown. While it
// goes down, the client is reading, however slowly.
func (w *watcher) unsent(key uint64) int64 {
	if w == nil {
		return -1
	}
	w.mu.Lock()
	ws, ok := w.subs[key]
	w.mu.Unlock()
	if !ok {
		return -1
	}
	n := int64(-1)
	ws.c.Control(func(fd uintptr) {
		var v int32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v))); errno == 0 {
			n = int64(v)
		}
	})
	return n
}

func (w *watcher) ctl(op int, key uint64, c syscall.RawConn, events uint32) error {
	ev := syscall.EpollEvent{
		Events: events | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(key)),
		Pad:    int32(uint32(key >> 32)),
	}
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.EpollCtl(w.epfd, op, int(fd), &ev)
	}); cerr != nil {
		err = cerr
	}
	return err
}

// forget stops watching; the kernel drops the socket from the set when it
// is closed.
func (w *watcher) forget(key uint64) {
	if w == nil || key == 0 {
		return
	}
	w.mu.Lock()
	delete(w.subs, key)
	w.mu.Unlock()
}

func (w *watcher) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if key == 0 {
				w.closeFDs()
				return
			}
			w.mu.Lock()
			ws, ok := w.subs[key]
			if ok && ev.Events&hangupEvents != 0 {
				delete(w.subs, key)
			}
			w.mu.Unlock()
			switch {
			case !ok:
			case ev.Events&hangupEvents != 0:
				ws.s.close(errHangup)
			case ev.Events&syscall.EPOLLOUT != 0:
				// Watch for hang-ups only again, then let the pool
				// write; it parks the subscriber anew if the socket
				// fills up again.
				if err := w.ctl(syscall.EPOLL_CTL_MOD, key, ws.c, hangupEvents); err != nil {
					w.forget(key)
				}
				ws.s.hub.unpark(ws.s)
			}
		}
	}
}

// stop ends run, which then closes the descriptors.
func (w *watcher) stop() {
	if w != nil {
		syscall.Write(w.wake[1], []byte{0})
	}
}

func (w *watcher) closeFDs() {
	syscall.Close(w.wake[0])
	syscall.Close(w.wake[1])
	syscall.Close(w.epfd)
}
