package feed

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// How a subscriber's frames get written.
const (
	// modePooled: the writer pool writes without blocking. Only for
	// connections that offer TryWrite.
	modePooled int32 = iota
	// modeBlocking: the socket was full, so one goroutine drains the
	// subscriber with blocking writes, then hands it back to the pool.
	modeBlocking
	// modeStream: the connection can only be written blocking (an HTTP/2
	// stream); the request's goroutine serves it for its whole life.
	modeStream
)

// writeChunk is about the most a subscriber gets written in one turn: big
// enough that a replay moves in few system calls, small enough that one
// subscriber's replay does not hold up the others for long.
const writeChunk = 64 << 10

// catchUpPage is how many events one History read returns.
const catchUpPage = 1000

// errLagged closes a subscriber that fell out of the window.
var errLagged = errors.New("subscriber fell behind the window")

// Subscriber is one open event stream.
//
// Delivery to a subscriber is owned by exactly one goroutine at a time: the
// one that set queued from false to true (by waking it) hands it to a pool
// writer or its stream goroutine, and ownership ends when that goroutine
// finds nothing more to send and sets queued back to false. Only the owner
// touches the cursor, backlog and pending bytes, and it changes the cursor
// under the hub's read lock, so Publish may read it under the write lock.
type Subscriber struct {
	hub    *Hub
	filter Filter
	conn   Conn

	seq      uint64   // next window sequence number to consider
	lastID   int64    // the newest ID sent (or skipped as already seen)
	backlog  [][]byte // frames to send before the window: reset, snapshot, position
	pending  []byte   // accepted bytes a partial write left over
	attached bool     // in the hub's index; guarded by hub.mu

	queued atomic.Bool
	mode   atomic.Int32
	lagged atomic.Bool   // an event it should receive left the window unsent
	beat   atomic.Bool   // a heartbeat is due
	done   atomic.Bool   // closed: it will be written no more
	closed func()        // Subscription.Closed
	notify chan struct{} // wakes the goroutine of a stream subscriber

	watchKey atomic.Uint64 // registration with hub.hangups, 0 if none
}

// Subscription is what a new subscriber asked for.
type Subscription struct {
	Filter  Filter
	Start   Start
	History History // the stored events of Filter, for positions behind the window
	// Closed, if set, is called once when the subscriber is gone, which for
	// a connection served by the writer pool is after Serve has returned.
	Closed func()
}

// Serve streams events to a new subscriber on c, from sub.Start: the missed
// events (from the window or from History), or a snapshot, then live events.
// The response headers must already have been sent.
//
// If c supports non-blocking writes (see NetConn), Serve returns as soon as
// the subscriber has caught up with the window and the writer pool has
// taken it over; the caller must not touch c afterwards. Otherwise Serve
// returns when the subscriber disconnects, ctx ends or the hub closes.
func (h *Hub) Serve(ctx context.Context, c Conn, sub Subscription) error {
	f, start, hist := sub.Filter, sub.Start, sub.History
	s := &Subscriber{hub: h, filter: f, conn: c, closed: sub.Closed}
	if _, ok := c.(nonBlocking); !ok {
		s.mode.Store(modeStream)
		s.notify = make(chan struct{}, 1)
	}
	// The caller owns delivery until the subscriber is attached: wakes
	// meanwhile only leave a note (beat) for later.
	s.queued.Store(true)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		if s.closed != nil {
			s.closed()
		}
		return ErrClosed
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	if w, ok := c.(watchable); ok {
		s.watchKey.Store(h.hangups.watch(s, w.syscallConn()))
	}

	stop := context.AfterFunc(ctx, func() { s.close(ctx.Err()) })
	defer stop()
	if err := h.catchUp(ctx, s, start, hist); err != nil {
		s.close(err)
		return err
	}
	if s.mode.Load() == modePooled {
		h.queue.push(s) // still owned: the pool writer takes over
		return nil
	}
	for !s.done.Load() {
		if !h.drainBlocking(s) {
			break
		}
		select {
		case <-s.notify:
		case <-h.stop:
		}
	}
	return nil
}

// catchUp brings s to the window: straight away if its position is in the
// window, else by writing pages of History until it is. A position that
// cannot be resumed gets a reset and the snapshot instead.
func (h *Hub) catchUp(ctx context.Context, s *Subscriber, start Start, hist History) error {
	reason := start.Invalid
	if reason == "" && start.Resume {
		err := hist.Check(start.After)
		switch {
		case start.After > h.LastID(), errors.Is(err, ErrAhead):
			reason = ResetAhead
		case errors.Is(err, ErrPruned):
			reason = ResetPruned
		case err != nil:
			return err
		}
	}
	if reason != "" || !start.Resume {
		return h.attachSnapshot(s, reason)
	}
	after := start.After
	var buf []byte
	for {
		// Read what the window covers before reading History: every event
		// up to it was committed before this point, so a History read
		// that comes back short has seen all of them.
		covered := h.coveredID()
		if ok, err := h.attachAt(s, after); ok || err != nil {
			return err
		}
		page, err := hist.After(ctx, after, catchUpPage)
		if errors.Is(err, ErrPruned) {
			return h.attachSnapshot(s, ResetPruned)
		}
		if err != nil {
			return err
		}
		for i := 0; i < len(page); {
			buf = buf[:0]
			for ; i < len(page) && len(buf) < writeChunk; i++ {
				buf = append(buf, page[i].Frame...)
			}
			if err := s.conn.Write(buf, time.Now().Add(h.opts.WriteTimeout)); err != nil {
				return err
			}
			h.deliveries.Add(uint64(i))
		}
		if len(page) > 0 {
			after = page[len(page)-1].ID
		}
		if len(page) < catchUpPage {
			after = max(after, covered)
		}
	}
}

// fill appends to buf what s should be sent next, up to about max more
// bytes, and advances its cursor past it: left-over bytes of a partial
// write, then the backlog, then matching window events. It returns the
// number of frames added, and false if s has lost events and must be
// disconnected.
func (h *Hub) fill(s *Subscriber, buf []byte, max int) ([]byte, int, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.fillLocked(s, buf, max)
}

// fillLocked is fill for a caller holding h.mu for reading, so a writer can
// fill many subscribers under one lock.
func (h *Hub) fillLocked(s *Subscriber, buf []byte, max int) ([]byte, int, bool) {
	max += len(buf)
	start := len(buf)
	buf = append(buf, s.pending...)
	s.pending = s.pending[:0]
	frames := 0
	for len(s.backlog) > 0 && len(buf) < max {
		buf = append(buf, s.backlog[0]...)
		s.backlog[0] = nil
		s.backlog = s.backlog[1:]
		frames++
	}
	if len(s.backlog) == 0 {
		s.backlog = nil
	}
	if s.lagged.Load() {
		return buf, frames, false
	}
	// A cursor behind the window skipped only events it does not match:
	// had one matched, eviction would have marked it lagged.
	s.seq = maxSeq(s.seq, h.base)
	head, n := h.head.Load(), uint64(len(h.ring))
	for s.seq < head && len(buf) < max {
		m := h.ring[s.seq%n]
		s.seq++
		if m.ID > s.lastID && s.filter.Match(m.Topic) {
			buf = append(buf, m.Frame...)
			s.lastID = m.ID
			frames++
		}
	}
	if len(buf) > start {
		s.beat.Store(false) // data keeps the connection alive as well
	} else if s.beat.Swap(false) {
		buf = append(buf, heartbeat...)
	}
	return buf, frames, true
}

func maxSeq(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// release ends the caller's ownership of s, which had nothing left to send.
// It reports false if news arrived meanwhile and the caller owns s again.
func (h *Hub) release(s *Subscriber) bool {
	seq := s.seq // read while still the owner
	s.queued.Store(false)
	// A publisher advances head before trying to take ownership, so either
	// it saw queued false and dispatched s, or this check sees its event.
	if h.head.Load() > seq || s.beat.Load() || s.lagged.Load() || s.done.Load() {
		return !s.queued.CompareAndSwap(false, true)
	}
	return true
}

// dispatch hands subscribers that were just taken ownership of to whoever
// writes them.
func (h *Hub) dispatch(subs []*Subscriber) {
	if len(subs) == 0 {
		return
	}
	pooled := subs[:0:0]
	for _, s := range subs {
		if s.mode.Load() == modeStream {
			select {
			case s.notify <- struct{}{}:
			default:
			}
			continue
		}
		pooled = append(pooled, s)
	}
	h.queue.push(pooled...)
}

// close disconnects s; it is safe to call more than once and from any
// goroutine.
func (s *Subscriber) close(reason error) {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	if errors.Is(reason, errLagged) || s.lagged.Load() {
		s.hub.dropped.Add(1)
	}
	s.hub.forget(s)
	s.hub.hangups.forget(s.watchKey.Load())
	s.conn.Close()
	if s.closed != nil {
		s.closed()
	}
	if s.notify != nil {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}
