package feed

import (
	"sync"
	"time"
)

// runWriter is one of the pool's writers: it serves subscribers from the run
// queue with non-blocking writes, so a subscriber that stops reading never
// holds up the others.
func (h *Hub) runWriter() {
	defer h.writers.Done()
	buf := make([]byte, 0, 2*writeChunk)
	for {
		s := h.queue.pop()
		if s == nil {
			return
		}
		buf = h.writePooled(s, buf)
	}
}

// writePooled writes what s has pending until it is idle, its socket is
// full or it has had its turn. It returns buf for reuse.
func (h *Hub) writePooled(s *Subscriber, buf []byte) []byte {
	nb := s.conn.(nonBlocking)
	for !s.done.Load() {
		out, frames, ok := h.fill(s, buf[:0], writeChunk)
		if cap(out) <= 4*writeChunk {
			buf = out[:0]
		}
		if !ok {
			s.close(errLagged)
			break
		}
		if len(out) == 0 {
			if h.release(s) {
				break
			}
			continue
		}
		n, err := nb.TryWrite(out)
		if err != nil {
			s.close(err)
			break
		}
		h.deliveries.Add(uint64(frames))
		if n < len(out) {
			// The socket is full. A goroutine of its own waits for it
			// to drain (bounded by WriteTimeout), then hands the
			// subscriber back to the pool.
			s.pending = append(s.pending[:0], out[n:]...)
			s.mode.Store(modeBlocking)
			go h.drainBlocking(s)
			break
		}
		if len(out) >= writeChunk {
			h.queue.push(s) // more to send: others get a turn first
			break
		}
	}
	return buf
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

// pop returns the next subscriber, waiting for one; nil once closed.
func (q *runQueue) pop() *Subscriber {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	s := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return s
}

func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
