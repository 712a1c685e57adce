package bench

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// publishUnpaced runs publishers that each publish one event per request
// as fast as acknowledgements come back (W4), until the time until, all
// from this one goroutine with epoll. A goroutine per connection costs the
// tool a scheduler wake-up and an extra read(2) per request; measured on
// loopback at 16 publishers, that was about 26 µs of the tool's CPU per
// publish, too much to measure a server doing tens of thousands a second
// on the same two cores. Here a publish costs a write(2), a read(2) and a
// share of an epoll_wait(2). It returns the time of the last
// acknowledgement.
func publishUnpaced(ctx context.Context, pubs []*Publisher, until time.Time, perRequest int) (time.Time, error) {
	var lastAck time.Time
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return lastAck, err
	}
	defer syscall.Close(epfd)
	fds := make([]int, len(pubs))
	sent := make([]time.Time, len(pubs))
	for i, p := range pubs {
		fds[i] = -1
		fd, err := p.detach(ctx)
		if err != nil {
			p.failed(err)
			continue
		}
		defer syscall.Close(fd)
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}); err != nil {
			p.failed(err)
			continue
		}
		fds[i] = fd
	}
	active := 0
	send := func(i int) bool {
		sent[i] = pubs[i].prepare(perRequest)
		if err := writeAll(fds[i], pubs[i].req); err != nil {
			pubs[i].failed(err)
			return false
		}
		return true
	}
	for i := range pubs {
		if fds[i] >= 0 && send(i) {
			active++
		}
	}
	events := make([]syscall.EpollEvent, len(pubs))
	for active > 0 {
		n, err := syscall.EpollWait(epfd, events, 1000)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return lastAck, err
		}
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			p := pubs[i]
			done, err := p.readReady(fds[i], sent[i], perRequest)
			if err != nil {
				p.failed(err)
			}
			if !done && err == nil {
				continue // more of the reply to come
			}
			if err == nil {
				lastAck = time.Now()
			}
			if err != nil || ctx.Err() != nil || !lastAck.Before(until) || !send(i) {
				syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, fds[i], nil)
				active--
			}
		}
	}
	return lastAck, nil
}

// readReady reads what arrived on fd and reports whether the reply to the
// request of n events sent at sent is complete (and counted).
func (p *Publisher) readReady(fd int, sent time.Time, n int) (bool, error) {
	if err := p.compact(); err != nil {
		return false, err
	}
	m, err := syscall.Read(fd, p.resp[p.end:])
	switch {
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
		return false, nil
	case err != nil:
		return false, err
	case m == 0:
		return false, errors.New("publish: the server closed the connection")
	}
	p.end += m
	resp, used, ok, err := ParseResponse(p.resp[p.start:p.end])
	if !ok || err != nil {
		return false, err
	}
	p.start += used
	if resp.Close {
		return true, fmt.Errorf("publish: the server closes the connection after status %d", resp.Status)
	}
	_, _, err = p.acknowledged(resp, sent, n)
	return true, err
}

// detach connects if needed and takes the connection's socket out of Go's
// poller: it returns a duplicate of its descriptor (non-blocking, like the
// original) and closes the net.Conn.
func (p *Publisher) detach(ctx context.Context) (int, error) {
	if p.conn == nil {
		c, err := p.target.Dial(ctx, p.index, 0)
		if err != nil {
			return -1, err
		}
		p.conn = c
	}
	defer p.Close()
	sc, ok := p.conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("publish: not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	syscall.CloseOnExec(fd)
	return fd, nil
}

// writeAll writes b to the non-blocking socket fd. A request of a few
// hundred bytes fits in an empty send buffer, so EAGAIN is not expected;
// it is retried briefly rather than waited for with the poller.
func writeAll(fd int, b []byte) error {
	for tries := 0; len(b) > 0; {
		n, err := syscall.Write(fd, b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if tries++; tries > 1000 {
				return errors.New("publish: the socket's send buffer stays full")
			}
			time.Sleep(100 * time.Microsecond)
			continue
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}
