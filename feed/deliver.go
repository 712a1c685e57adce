package feed

import (
	"sync"
	"time"
)

// A writer takes up to writeBatch subscribers from the run queue at a time
// and gathers what they are to be sent, at most batchBytes, under one read
// lock of the hub: with 10,000 subscribers woken by one event, a lock and a
// queue operation per subscriber were a fifth of the cost of the writes
// themselves.
const (
	writeBatch = 64
	batchBytes = 256 << 10
)

// runWriter is one of the pool's writers: it serves subscribers from the run
// queue with non-blocking writes, so a subscriber that stops reading never
// holds up the others.
func (h *Hub) runWriter() {
	defer h.writers.Done()
	w := &writer{buf: make([]byte, 0, batchBytes+2*writeChunk)}
	for {
		w.subs = h.queue.popBatch(w.subs[:0], writeBatch)
		if len(w.subs) == 0 {
			return
		}
		h.writeBatch(w)
	}
}

// writer is the reusable state of a pool writer.
type writer struct {
	subs  []*Subscriber
	buf   []byte // what the batch's subscribers are sent, back to back
	parts []part // each subscriber's piece of buf
	again []*Subscriber
}

type part struct {
	start, end, frames int
	ok                 bool // false: the subscriber lost events
}

// writeBatch fills the subscribers of w.subs (owned by this writer), then
// writes each its piece without blocking and without holding the lock.
func (h *Hub) writeBatch(w *writer) {
	w.buf, w.parts, w.again = w.buf[:0], w.parts[:0], w.again[:0]
	h.mu.RLock()
	for _, s := range w.subs {
		if len(w.buf) >= batchBytes {
			break // the rest waits for the next batch
		}
		start := len(w.buf)
		p := part{start: start, ok: true}
		if !s.done.Load() {
			w.buf, p.frames, p.ok = h.fillLocked(s, w.buf, writeChunk)
		}
		p.end = len(w.buf)
		w.parts = append(w.parts, p)
	}
	h.mu.RUnlock()
	for i, s := range w.subs {
		if i >= len(w.parts) {
			w.again = append(w.again, s) // not filled this time; still owned
			continue
		}
		if s.done.Load() {
			continue // ownership is moot once closed
		}
		p := w.parts[i]
		if !p.ok {
			s.close(errLagged)
			continue
		}
		out := w.buf[p.start:p.end]
		if len(out) > 0 {
			n, err := s.conn.(nonBlocking).TryWrite(out)
			if err != nil {
				s.close(err)
				continue
			}
			h.deliveries.Add(uint64(p.frames))
			if n < len(out) {
				// The socket is full. A goroutine of its own waits for
				// it to drain (bounded by WriteTimeout), then hands the
				// subscriber back to the pool.
				s.pending = append(s.pending[:0], out[n:]...)
				s.mode.Store(modeBlocking)
				go h.drainBlocking(s)
				continue
			}
			if len(out) >= writeChunk {
				w.again = append(w.again, s) // more to send: others get a turn first
				continue
			}
		}
		if !h.release(s) {
			w.again = append(w.again, s) // news arrived meanwhile
		}
	}
	h.queue.push(w.again...)
	clear(w.subs)
}

// drainBlocking writes what s has pending with blocking writes until it is
// idle, then releases it. A subscriber in modeBlocking goes back to the pool.
// It returns false if s was closed.
func (h *Hub) drainBlocking(s *Subscriber) bool {
	var buf []byte
	for !s.done.Load() {
		out, frames, ok := h.fill(s, buf[:0], writeChunk)
		buf = out
		if !ok {
			s.close(errLagged)
			return false
		}
		if len(out) == 0 {
			if s.mode.Load() == modeBlocking {
				s.mode.Store(modePooled)
			}
			if h.release(s) {
				return true
			}
			continue
		}
		if err := s.conn.Write(out, time.Now().Add(h.opts.WriteTimeout)); err != nil {
			s.close(err)
			return false
		}
		h.deliveries.Add(uint64(frames))
	}
	return false
}

// runQueue is the FIFO of subscribers waiting for a pool writer. Every
// subscriber in it is owned by the queue (see Subscriber), so it appears at
// most once.
type runQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	items  []*Subscriber
	head   int
	closed bool
}

func (q *runQueue) init() { q.cond.L = &q.mu }

func (q *runQueue) push(subs ...*Subscriber) {
	if len(subs) == 0 {
		return
	}
	q.mu.Lock()
	if q.head > 4096 && q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, subs...)
	q.mu.Unlock()
	if len(subs) == 1 {
		q.cond.Signal()
	} else {
		q.cond.Broadcast()
	}
}

// popBatch appends up to n subscribers to dst, waiting for one; it returns
// dst unchanged once the queue is closed.
func (q *runQueue) popBatch(dst []*Subscriber, n int) []*Subscriber {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return dst
	}
	k := min(n, len(q.items)-q.head)
	dst = append(dst, q.items[q.head:q.head+k]...)
	clear(q.items[q.head : q.head+k])
	q.head += k
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return dst
}

func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
