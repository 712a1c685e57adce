package fanout

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"livefeed/feed"
)

// Conn is a subscriber's connection once the response headers are sent.
type Conn interface {
	// Write writes all of p, blocking. It fails only once the client has
	// accepted nothing for timeout: a client that reads slowly but steadily
	// is never cut off. No deadline is left set when it returns.
	Write(p []byte, timeout time.Duration) error
	Close() error
}

// nonBlocking is the ability to write without blocking, which lets the
// writer pool serve a connection without a goroutine of its own.
type nonBlocking interface {
	// TryWrite writes as much of p as the socket accepts right now.
	TryWrite(p []byte) (int, error)
}

// watchable is a connection whose socket the hub can watch for the client
// hanging up.
type watchable interface {
	syscallConn() syscall.RawConn
}

// NetConn wraps a connection taken over from the HTTP server with
// http.Hijacker. On Unix it supports non-blocking writes.
func NetConn(c net.Conn) Conn {
	if rc := newRawConn(c); rc != nil {
		return rc
	}
	return &netConn{c: c}
}

// Replay is where a subscriber reads stored events older than the hub's
// window: the events of one subscription's filter.
type Replay interface {
	// Check reports whether a client that has seen every event up to ID
	// after can be given exactly what it missed: an error wrapping
	// ErrPruned if retention removed some of it, ErrAhead if the position
	// is an ID that was never stored (the database was replaced).
	Check(after int64) error
	// After returns up to limit matching events with an ID greater than
	// after, in ID order, or an error wrapping ErrPruned if retention
	// removed events after that position.
	After(ctx context.Context, after int64, limit int) ([]feed.Event, error)
}

type netConn struct{ c net.Conn }

var _ Conn = (*netConn)(nil)

func (c *netConn) Write(p []byte, timeout time.Duration) error {
	// A deadline left on the socket would also fail the writer pool's
	// non-blocking writes once it passed (Go checks it before every write,
	// raw ones included): hours later, on a stream that is fine.
	defer c.c.SetWriteDeadline(time.Time{})
	for {
		if err := c.c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		n, err := c.c.Write(p)
		p = p[n:]
		if err == nil || n == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		// The client took some of it: it is reading, only slowly.
	}
}

func (c *netConn) Close() error { return c.c.Close() }

// StreamConn wraps a response that cannot be taken over, such as an HTTP/2
// stream: each write is flushed, and Close is a no-op because the stream
// ends when the handler returns (after Serve does). The server's own write
// timeout must be cleared or renewed by the first Write: on HTTP/2 it
// resets the stream when it fires, even between writes.
func StreamConn(w http.ResponseWriter) Conn {
	return &streamConn{w: w, rc: http.NewResponseController(w)}
}

type streamConn struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

var _ Conn = (*streamConn)(nil)

// streamPiece is how much of a write goes to an HTTP/2 stream per deadline:
// the progress a client must make within the write timeout. It is the
// default HTTP/2 frame size, so a client that reads at all keeps up.
const streamPiece = 16 << 10

func (c *streamConn) Write(p []byte, timeout time.Duration) error {
	// With no deadline left behind, an idle stream lives for as long as
	// the client keeps it (http2 resets a stream whose deadline passes).
	defer c.rc.SetWriteDeadline(time.Time{})
	for len(p) > 0 {
		piece := p[:min(len(p), streamPiece)]
		p = p[len(piece):]
		if err := c.rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := c.w.Write(piece); err != nil {
			return err
		}
		if err := c.rc.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func (c *streamConn) Close() error { return nil }
