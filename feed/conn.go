package feed

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Conn is a subscriber's connection once the response headers are sent.
type Conn interface {
	// Write writes all of p, or fails once deadline has passed.
	Write(p []byte, deadline time.Time) error
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

// History is where a subscriber reads stored events older than the hub's
// window: the events of one subscription's filter.
type History interface {
	// Check reports whether a client that has seen every event up to ID
	// after can be given exactly what it missed: an error wrapping
	// ErrPruned if retention removed some of it, ErrAhead if the position
	// is an ID that was never stored (the database was replaced).
	Check(after int64) error
	// After returns up to limit matching events with an ID greater than
	// after, in ID order, or an error wrapping ErrPruned if retention
	// removed events after that position.
	After(ctx context.Context, after int64, limit int) ([]*Message, error)
}

// ErrPruned is wrapped by History.After when the position is older than the
// retained history.
var ErrPruned = errors.New("feed: position older than retained history")

// ErrAhead is wrapped by History.Check for a position no stored event has.
var ErrAhead = errors.New("feed: position beyond the stored events")

type netConn struct{ c net.Conn }

var _ Conn = (*netConn)(nil)

func (c *netConn) Write(p []byte, deadline time.Time) error {
	if err := c.c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.c.Write(p)
	return err
}

func (c *netConn) Close() error { return c.c.Close() }

// StreamConn wraps a response that cannot be taken over, such as an HTTP/2
// stream: each write is flushed, and Close is a no-op because the stream
// ends when the handler returns (after Serve does).
func StreamConn(w http.ResponseWriter) Conn {
	return &streamConn{w: w, rc: http.NewResponseController(w)}
}

type streamConn struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

var _ Conn = (*streamConn)(nil)

func (c *streamConn) Write(p []byte, deadline time.Time) error {
	if err := c.rc.SetWriteDeadline(deadline); err != nil && err != http.ErrNotSupported {
		return err
	}
	if _, err := c.w.Write(p); err != nil {
		return err
	}
	return c.rc.Flush()
}

func (c *streamConn) Close() error { return nil }
