package fanout

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
	buf   []byte        // what the batch's subscribers are sent, back to back
	parts []part        // each subscriber's piece of buf
	marks []mark        // the frames in buf, for rewinding after a partial write
	again []*Subscriber // to queue again for live delivery
	bulk  []*Subscriber // to queue again as catching up
}

type part struct {
	start, stop, frames int
	marks, marksEnd     int     // the part's marks in writer.marks
	from                cursor  // the subscriber's cursor before the fill
	end                 fillEnd // whether the subscriber is to be closed (see Hub.fill)
}

// writeBatch fills the subscribers of w.subs (owned by this writer), then
// writes each its piece without blocking and without holding the lock.
func (h *Hub) writeBatch(w *writer) {
	w.buf, w.parts, w.marks, w.again, w.bulk = w.buf[:0], w.parts[:0], w.marks[:0], w.again[:0], w.bulk[:0]
	var newestSeq uint64 // of the window events filled, plus one; 0: none
	h.mu.RLock()
	for _, s := range w.subs {
		if len(w.buf) >= batchBytes {
			break // the rest waits for the next batch
		}
		p := part{start: len(w.buf), marks: len(w.marks), from: s.cursor}
		if !s.done.Load() {
			w.buf, p.frames, p.end = h.fillLocked(s, w.buf, writeChunk, &w.marks)
		}
		p.stop, p.marksEnd = len(w.buf), len(w.marks)
		// A part's window events come last, in order: its last mark is
		// its newest.
		if p.marksEnd > p.marks && s.src == &h.window {
			if m := w.marks[p.marksEnd-1]; m.kind == markWindow && m.seq >= newestSeq {
				newestSeq = m.seq + 1
			}
		}
		w.parts = append(w.parts, p)
	}
	var published int64 // of the batch's newest event, for DeliveryLag
	if newestSeq > 0 && h.opts.DeliveryLag != nil {
		published = h.ring[(newestSeq-1)%uint64(len(h.ring))].published // in the window while the lock is held
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
		out := w.buf[p.start:p.stop]
		if p.end == fillLagged {
			if len(out) > 0 {
				s.conn.(nonBlocking).TryWrite(out) // what is begun, as far as the socket takes it
			}
			s.close(errLagged)
			continue
		}
		if len(out) > 0 {
			n, err := s.conn.(nonBlocking).TryWrite(out)
			if err != nil {
				s.close(err)
				continue
			}
			if p.end == fillEnding {
				s.close(s.ending.Load().reason) // its notice is written, as far as the socket took it
				continue
			}
			if n < len(out) {
				// The socket is full: keep the cursor at the first byte
				// it did not take, and wait for it to drain. The cursor
				// changes under the read lock, as in fill: Publish reads
				// it under the write lock to tell whether an evicted
				// event was lost.
				h.mu.RLock()
				frames := s.rewind(p.from, w.marks[p.marks:p.marksEnd], p.start, n)
				h.mu.RUnlock()
				h.deliveries.Add(uint64(frames))
				h.park(s)
				continue
			}
			h.deliveries.Add(uint64(p.frames))
			if len(out) >= writeChunk {
				w.bulk = append(w.bulk, s) // more to send: others get a turn first
				continue
			}
		}
		if !h.release(s) {
			w.again = append(w.again, s) // news arrived meanwhile
		}
	}
	h.queue.push(w.again...)
	h.queue.pushBulk(w.bulk...)
	clear(w.subs)
	clear(w.marks) // they reference frames the window may drop
	if published != 0 {
		h.opts.DeliveryLag.Observe(float64(time.Now().UnixNano()-published) / 1e9)
	}
}

// park sets aside s, whose socket is full, until the client reads: the
// watcher hands it back to the pool once the socket is writable, and the
// write-timeout sweep closes it if the client reads nothing at all for
// WriteTimeout. A
// parked subscriber has no goroutine and no buffer of its own. Where the
// socket cannot be watched, a goroutine drains it with blocking writes
// instead.
func (h *Hub) park(s *Subscriber) {
	h.stalls.Add(1)
	key := s.watchKey.Load()
	s.mode.Store(modeParked)
	s.unsent.Store(h.watch.unsent(key))
	s.parked.Store(time.Now().UnixNano())
	if key != 0 && h.watch.writable(key) {
		return // the watcher owns s now
	}
	s.parked.Store(0)
	s.mode.Store(modeBlocking)
	go h.drainBlocking(s)
}

// unpark hands a parked subscriber whose socket is writable back to the
// pool.
func (h *Hub) unpark(s *Subscriber) {
	s.parked.Store(0)
	s.mode.Store(modePooled)
	if !s.done.Load() {
		h.queue.push(s)
	}
}

// drainBlocking writes what s has pending with blocking writes until it is
// idle, then releases it. A subscriber in modeBlocking goes back to the pool.
// It returns false if s was closed.
func (h *Hub) drainBlocking(s *Subscriber) bool {
	var buf []byte
	for !s.done.Load() {
		out, frames, end := h.fill(s, buf[:0], writeChunk)
		buf = out
		if end == fillLagged {
			if len(out) > 0 {
				s.conn.Write(out, h.opts.WriteTimeout) // what is begun
			}
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
		if err := s.conn.Write(out, h.opts.WriteTimeout); err != nil {
			s.close(err)
			return false
		}
		if end == fillEnding {
			s.close(s.ending.Load().reason) // its notice is written
			return false
		}
		h.deliveries.Add(uint64(frames))
	}
	return false
}

// runQueue holds the subscribers waiting for a pool writer, in two lanes:
// live, for subscribers with a few fresh events, and bulk, for subscribers
// catching up, which had a full turn and want more. When both lanes have
// subscribers the writers alternate between them, so a replay storm (a
// thousand clients each thousands of events behind) delays live delivery
// by one bulk batch at a time instead of by every replaying subscriber's
// turn, and a stream of live events cannot starve catching up either.
// Every subscriber in the queue is owned by it (see Subscriber), so it is
// in at most one lane, once.
type runQueue struct {
	mu         sync.Mutex
	cond       sync.Cond
	live, bulk fifo
	bulkTurn   bool // when both lanes wait, the next batch comes from bulk
	closed     bool
}

func (q *runQueue) init() { q.cond.L = &q.mu }

// push queues subscribers for live delivery.
func (q *runQueue) push(subs ...*Subscriber) { q.add(&q.live, subs) }

// pushBulk queues subscribers that are catching up.
func (q *runQueue) pushBulk(subs ...*Subscriber) { q.add(&q.bulk, subs) }

func (q *runQueue) add(lane *fifo, subs []*Subscriber) {
	if len(subs) == 0 {
		return
	}
	q.mu.Lock()
	lane.push(subs)
	q.mu.Unlock()
	if len(subs) == 1 {
		q.cond.Signal()
	} else {
		q.cond.Broadcast()
	}
}

// popBatch appends up to n subscribers of one lane to dst, waiting for
// one; it returns dst unchanged once the queue is closed.
func (q *runQueue) popBatch(dst []*Subscriber, n int) []*Subscriber {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.live.len() == 0 && q.bulk.len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return dst
	}
	lane := &q.live
	if q.bulk.len() > 0 && (q.live.len() == 0 || q.bulkTurn) {
		lane = &q.bulk
	}
	q.bulkTurn = lane == &q.live
	return lane.pop(dst, n)
}

// fifo is a first-in first-out list of subscribers.
type fifo struct {
	items []*Subscriber
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(subs []*Subscriber) {
	if f.head > 4096 && f.head > len(f.items)/2 {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	f.items = append(f.items, subs...)
}

func (f *fifo) pop(dst []*Subscriber, n int) []*Subscriber {
	k := min(n, f.len())
	dst = append(dst, f.items[f.head:f.head+k]...)
	clear(f.items[f.head : f.head+k])
	f.head += k
	if f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	}
	return dst
}

func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
