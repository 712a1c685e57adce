package fanout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"livefeed/feed"
)

// How a subscriber's frames get written.
const (
	// modePooled: the writer pool writes without blocking. Only for
	// connections that offer TryWrite.
	modePooled int32 = iota
	// modeParked: the socket was full. The subscriber waits, with no
	// goroutine, for the hub's watcher to see the socket writable again,
	// then goes back to the pool; its unsent bytes are a slice of a shared
	// frame, not a copy.
	modeParked
	// modeBlocking: the socket was full and cannot be watched, so one
	// goroutine drains the subscriber with blocking writes, then hands it
	// back to the pool.
	modeBlocking
	// modeStream: the connection can only be written blocking (an HTTP/2
	// stream); the request's goroutine serves it for its whole life.
	modeStream
)

// writeChunk is about the most a subscriber gets written in one turn: big
// enough that a replay moves in few system calls, small enough that one
// subscriber's replay does not hold up the others for long.
const writeChunk = 64 << 10

// catchUpPage is how many events one Replay read returns.
const catchUpPage = 1000

// Why the server ends streams. errLagged, errWriteTimeout and ErrClosed are
// the server's decisions; errHangup and other write errors are the
// client's doing.
var (
	errLagged       = errors.New("subscriber fell behind the window")
	errWriteTimeout = errors.New("the client accepted nothing for the write timeout")
	errExpired      = errors.New("the subscriber's token expired")
	errRevoked      = errors.New("the subscriber's credential was revoked")
)

// Credential is what let a subscriber see private topics: the key that
// verified its token, the operator session its token was issued for.
// Revoked reports whether it has been withdrawn since, and the frame that
// tells the subscriber so (an "unauthorized" event, see Notice). The hub
// asks when the subscriber joins and at each Revoke, so a stream never
// outlives its credential, however the two race.
type Credential interface {
	Revoked() (notice []byte, revoked bool)
}

// ending is why a subscriber's stream is to end, and the frame that says
// so, which it is sent last.
type ending struct {
	frame  []byte
	reason error
}

// expiredEnding ends a stream whose token expired.
var expiredEnding = &ending{frame: expiredFrame, reason: errExpired}

// Subscriber is one open event stream.
//
// A subscriber reads one window (src): the hub's own, or for a delayed
// subscriber its delay line's, or for a conflated one its conflation
// lane's (see delivery.go).
//
// Delivery to a subscriber is owned by exactly one goroutine at a time: the
// one that set queued from false to true (by waking it) hands it to a pool
// writer or its stream goroutine, and ownership ends when that goroutine
// finds nothing more to send and sets queued back to false. A parked
// subscriber is owned by the watcher until its socket is writable. Only the
// owner touches the cursor, backlog and pending bytes, and it changes the
// cursor under the hub's read lock, so Publish may read it under the write
// lock.
type Subscriber struct {
	hub    *Hub
	filter Filter
	conn   Conn

	cursor
	// src is the window the subscriber reads, set when it is attached
	// (under hub.mu) and never changed after.
	src *window
	// line is its delay line (nil: real time), conflate its conflation
	// interval (0: every event) and lane, once attached, the lane it
	// reads.
	line     *delayLine
	conflate time.Duration
	lane     *lane
	attached bool // in its window's index; guarded by hub.mu
	// only is the index's set of the one topic of a filter of one exact
	// topic (see subSet.key, window.skip); nil for any other filter. Set
	// when attached.
	only     *subSet
	narrowed bool // filter's keys cover topics it refuses (see Narrowed)
	// audience is its group of the audience (see audience.go) under
	// audienceKey; nil when not counted. Guarded by hub.mu.
	audience    *audienceGroup
	audienceKey string

	queued atomic.Bool
	mode   atomic.Int32
	parked atomic.Int64 // when it was parked (Unix ns), 0 if it is not
	unsent atomic.Int64 // bytes its socket held unacknowledged then, or -1
	lagged atomic.Bool  // an event it should receive left the window unsent
	beat   atomic.Bool  // a heartbeat is due
	// notices are the stale and fresh notices not yet sent, at most one
	// per topic (see liveness.go); noticed is set when there may be some.
	// They are written under the hub's lock, or by the owner under its
	// read lock, as the cursor is.
	notices map[string]*notice
	noticed atomic.Bool
	done    atomic.Bool   // closed: it will be written no more
	closed  func()        // Subscription.Closed
	notify  chan struct{} // wakes the goroutine of a stream subscriber

	watchKey atomic.Uint64 // registration with hub.watch, 0 if none

	// ending, once set, is why the stream ends: the token it subscribed
	// with ran out, or its credential was revoked. Its next fill is the
	// ending's notice, after which it is closed.
	ending     atomic.Pointer[ending]
	expiry     *time.Timer // sets ending; nil without an expiry
	credential Credential  // Subscription.Credential
}

// cursor is where a subscriber is in its stream: what it is to be sent
// next. It is a value so that a writer can keep the cursor from before a
// fill and rewind to the byte a partial write stopped at.
type cursor struct {
	seq     uint64   // next window sequence number to consider
	lastID  int64    // the newest ID sent (or skipped as already seen)
	backlog [][]byte // frames to send before the window: reset, snapshot, position
	// pending is the unsent rest of one frame a partial write stopped in:
	// a slice of that frame, which is shared and never modified, so a
	// stuck subscriber holds no copy. If the frame is a window event,
	// pendingNext is its sequence number + 1 and pendingID its ID: the
	// cursor (seq, lastID) stays before the event until pending is out,
	// so that the event leaving the window still counts as lost. Until
	// the stream's head is out, it is the head (Subscription.Head).
	pending     []byte
	pendingNext uint64
	pendingID   int64
	pendingEnds bool // pending completes a frame counted as a delivery
	// A snapshot read from Hub.snap as it is written (see fillSnapshot),
	// while snapFrom is not 0: snapFrom is the lowest ID still to
	// consider, snapTo the newest it covers (the ID it attached at),
	// snapSent the ID of its last frame written, and snapPos the position
	// frame that ends it.
	snapFrom, snapTo, snapSent int64
	snapPos                    []byte
	// own, for a subscriber of one topic (Subscriber.only), is 1 + the
	// sequence number of the last message of its topic the cursor
	// passed, 0 if none since it attached: where window.skip follows
	// the topic's links from.
	own uint64
}

// Subscription is what a new subscriber asked for.
type Subscription struct {
	Filter Filter
	Start  Start
	Replay Replay // the stored events of Filter, for positions behind the window
	// Closed, if set, is called once when the subscriber is gone, which for
	// a connection served by the writer pool is after Serve has returned.
	Closed func()
	// Expires, if set, is when the stream ends: the subscriber's token
	// expires then. It is sent an "expired" event first, so that it fetches
	// a new token before it reconnects, and the close is counted as
	// CloseExpired.
	Expires time.Time
	// Credential, if set, is what let the subscriber see private topics:
	// once it is revoked (see Revoke), the stream is sent its notice and
	// ends, counted as CloseRevoked. Subscribers without one are never
	// ended by a revocation.
	Credential Credential
	// Delay, if set, delays the whole stream: an event reaches it only
	// once its time is that long ago, in every part of it (snapshot,
	// replay, live). It must be one of Options.Delays.
	Delay time.Duration
	// Conflate, if set, sends at most one event per topic per interval
	// of this length, always the latest (see delivery.go), and a resume
	// brings the latest event of each topic that changed since its
	// position.
	Conflate time.Duration
	// Head, if set, is what the stream starts with (the response headers,
	// the retry interval, notices), written before anything else. A
	// subscriber that starts from a snapshot is sent it once its position
	// is fixed, so that a client that has seen the headers misses nothing
	// published afterwards.
	Head []byte
}

// Serve streams events to a new subscriber on c, from sub.Start: the missed
// events (from the window or from Replay), or a snapshot, then live events.
// The response headers are sub.Head, or must already have been sent.
//
// If c supports non-blocking writes (see NetConn), Serve returns as soon as
// the subscriber has caught up with the window and the writer pool has
// taken it over; the caller must not touch c afterwards. Otherwise Serve
// returns when the subscriber disconnects, ctx ends or the hub closes.
func (h *Hub) Serve(ctx context.Context, c Conn, sub Subscription) error {
	f, start, hist := sub.Filter, sub.Start, sub.Replay
	s := &Subscriber{hub: h, filter: f, narrowed: narrowed(f), conn: c, closed: sub.Closed, credential: sub.Credential, conflate: sub.Conflate}
	// The head goes out as the rest of a partly written frame would: first
	// of whatever is written next (see fillLocked, writeHead).
	s.pending = sub.Head
	if sub.Delay > 0 {
		if s.line = h.lines[sub.Delay]; s.line == nil {
			c.Close()
			if s.closed != nil {
				s.closed()
			}
			return fmt.Errorf("fanout: no delay line of %s (Options.Delays)", sub.Delay)
		}
	}
	if _, ok := c.(nonBlocking); !ok {
		s.mode.Store(modeStream)
		s.notify = make(chan struct{}, 1)
	}
	// The caller owns delivery until the subscriber is attached: wakes
	// meanwhile only leave a note (beat) for later.
	s.queued.Store(true)
	if !sub.Expires.IsZero() {
		// Armed before anyone else can see s: close reads s.expiry. An
		// expiry meanwhile only leaves its mark (queued is held).
		if left := time.Until(sub.Expires); left > 0 {
			s.expiry = time.AfterFunc(left, s.expire)
		} else {
			s.ending.Store(expiredEnding) // nothing is to be sent but the notice
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		if s.expiry != nil {
			s.expiry.Stop()
		}
		if s.closed != nil {
			s.closed()
		}
		return feed.ErrClosed
	}
	h.subs[s] = struct{}{}
	h.joinAudience(s)
	if s.credential != nil {
		h.credMu.Lock()
		h.credentialed[s] = struct{}{}
		h.credMu.Unlock()
	}
	h.mu.Unlock()
	// Asked once s is in h.credentialed: a revocation either comes after
	// this and finds s there, or came before and shows here.
	if s.credential != nil {
		if notice, revoked := s.credential.Revoked(); revoked {
			s.ending.CompareAndSwap(nil, &ending{frame: notice, reason: errRevoked}) // queued is held
		}
	}
	if w, ok := c.(watchable); ok {
		s.watchKey.Store(h.watch.add(s, w.syscallConn()))
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
// window, else by writing pages of Replay until it is. A position that
// cannot be resumed gets a reset and the snapshot instead.
//
// A conflated subscriber resumes from the latest event of each topic
// instead (see attachConflated). A delayed one reads only what its delay
// line has released: the replay stops at the line's position.
func (h *Hub) catchUp(ctx context.Context, s *Subscriber, start Start, hist Replay) error {
	reason := start.Invalid
	if reason == "" && start.Resume {
		err := hist.Check(start.After)
		switch {
		case start.After > h.LastID(), errors.Is(err, feed.ErrAhead):
			reason = ResetAhead
		case errors.Is(err, feed.ErrPruned) && s.conflate == 0:
			// A conflated resume needs only the latest event of each
			// topic, which is always kept.
			reason = ResetPruned
		case err != nil && !errors.Is(err, feed.ErrPruned):
			return err
		}
	}
	if reason != "" || !start.Resume {
		return h.attachSnapshot(s, reason)
	}
	if s.conflate > 0 {
		return h.attachConflated(s, start.After)
	}
	after := start.After
	var buf, envelope []byte
	appendEnvelope := h.envelope()
	for {
		// Read what the window covers before reading Replay: every event
		// up to it was committed (and, for a delay line, released) before
		// this point, so a Replay read that comes back short, or with
		// events beyond limit, has seen all of them up to limit.
		covered, limit := h.coverage(s.line)
		if ok, err := h.attachAt(s, after); ok || err != nil {
			return err
		}
		page, err := hist.After(ctx, after, catchUpPage)
		if errors.Is(err, feed.ErrPruned) {
			return h.attachSnapshot(s, ResetPruned)
		}
		if err != nil {
			return err
		}
		full := len(page) == catchUpPage
		if i := sort.Search(len(page), func(i int) bool { return page[i].ID > limit }); i < len(page) {
			page, full = page[:i], false // younger than s's delay allows
			covered = limit
		}
		if err := h.writeHead(s); err != nil {
			return err
		}
		if e := s.ending.Load(); e != nil {
			// The token ran out or was revoked during the replay:
			// nothing more.
			s.conn.Write(e.frame, h.opts.WriteTimeout)
			return e.reason
		}
		for i := 0; i < len(page); {
			buf = buf[:0]
			for ; i < len(page) && len(buf) < writeChunk; i++ {
				e := page[i]
				envelope = appendEnvelope(e, envelope[:0])
				buf = AppendFrame(buf, e.ID, e.Type, envelope)
			}
			if err := s.conn.Write(buf, h.opts.WriteTimeout); err != nil {
				return err
			}
			h.deliveries.Add(uint64(i))
		}
		if len(page) > 0 {
			after = page[len(page)-1].ID
		}
		if !full {
			after = max(after, covered)
		}
	}
}

// nextFor returns the message at s's cursor in w and whether it is for s.
// A subscriber of one topic whose message that is not goes to its topic's
// next message when the links tell where (window.skip), moving s.seq
// there; nil when that is head. s.own goes past a message of s's topic.
func (w *window) nextFor(s *Subscriber, head uint64) (*Message, bool) {
	n := uint64(len(w.ring))
	m := w.ring[s.seq%n]
	set := s.only
	if set == nil {
		return m, s.filter.Match(m.Topic)
	}
	if m.Topic != set.key {
		q, ok := w.skip(set, s.seq, s.own)
		if !ok {
			return m, false
		}
		if s.seq = q; q == head {
			return nil, false
		}
		if m = w.ring[q%n]; m.Topic != set.key {
			return m, false
		}
	}
	s.own = s.seq + 1
	return m, true
}

// writeHead writes the stream's head (Subscription.Head) if it has not
// gone out yet, for catchUp before it writes replayed events itself. A
// resuming subscriber's position is its own, so nothing is missed by
// sending the head before it is attached. The caller owns s.
func (h *Hub) writeHead(s *Subscriber) error {
	head := s.pending
	if len(head) == 0 {
		return nil
	}
	s.pending = nil
	return s.conn.Write(head, h.opts.WriteTimeout)
}

// fill appends to buf what s should be sent next, up to about max more
// bytes, and advances its cursor past it: left-over bytes of a partial
// write, then the backlog, then matching window events. It returns the
// number of frames completed, and whether s must be closed: fillLagged if
// it has lost events (buf then holds only what is begun), fillEnding if its stream
// is to end (buf ends with the ending's notice: write it, then close).
func (h *Hub) fill(s *Subscriber, buf []byte, max int) ([]byte, int, fillEnd) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.fillLocked(s, buf, max, nil)
}

// A mark is where one frame ends in a writer's buffer, and what it was, so
// that a write stopping inside it can leave the subscriber's cursor at that
// byte (see Hub.rewind).
type mark struct {
	end   int    // offset in the buffer just past the frame
	frame []byte // the frame's bytes, shared
	kind  int8
	// A window event's sequence number and ID, and the subscriber's
	// lastID before it; a backlog frame's index in the backlog; a
	// notice's notice.
	seq         uint64
	id, prevID  int64
	backlogItem int
	notice      *notice
}

// Kinds of mark.
const (
	markPending int8 = iota // the rest of a frame a partial write stopped in
	markBacklog
	markSnap    // a snapshot's event read from Hub.snap (id)
	markSnapEnd // the position frame that ends it
	markWindow
	markBeat
	markNotice
)

// fillLocked is fill for a caller holding h.mu for reading, so a writer can
// fill many subscribers under one lock. If marks is not nil, a mark is
// appended to it for each frame added.
func (h *Hub) fillLocked(s *Subscriber, buf []byte, max int, marks *[]mark) ([]byte, int, fillEnd) {
	max += len(buf)
	start := len(buf)
	frames := 0
	begun, begunFrames := len(buf), 0 // the end of the rest of a frame begun, or of the head
	if len(s.pending) > 0 {
		buf = append(buf, s.pending...)
		if marks != nil {
			*marks = append(*marks, mark{end: len(buf), frame: s.pending, kind: markPending})
		}
		if s.pendingEnds {
			frames++
		}
		if s.pendingNext != 0 {
			s.seq, s.lastID = s.pendingNext, s.pendingID
		}
		s.pending, s.pendingNext, s.pendingID, s.pendingEnds = nil, 0, 0, false
		begun, begunFrames = len(buf), frames
	}
	if e := s.ending.Load(); e != nil {
		// After the frame a write stopped in, nothing but the notice.
		return append(buf, e.frame...), frames, fillEnding
	}
	for i := 0; i < len(s.backlog) && len(buf) < max; i++ {
		buf = append(buf, s.backlog[i]...)
		if marks != nil {
			*marks = append(*marks, mark{end: len(buf), frame: s.backlog[i], kind: markBacklog, backlogItem: i})
		}
		frames++
		if i == len(s.backlog)-1 || len(buf) >= max {
			if s.backlog = s.backlog[i+1:]; len(s.backlog) == 0 {
				s.backlog = nil
			}
			break
		}
	}
	if s.snapFrom != 0 && len(s.backlog) == 0 && len(buf) < max {
		buf, frames = h.fillSnapshot(s, buf, max, marks, frames)
	}
	if s.lagged.Load() {
		// Only what is begun goes out: the rest of a frame, or the
		// stream's head (a client must get a whole response before the
		// stream ends, to resume from it).
		return buf[:begun], begunFrames, fillLagged
	}
	// A cursor behind the window skipped only events it does not match:
	// had one matched, eviction would have marked it lagged.
	w := s.src
	s.seq = maxSeq(s.seq, w.base)
	head := w.head.Load()
	for len(s.backlog) == 0 && s.snapFrom == 0 && s.seq < head && len(buf) < max {
		m, match := w.nextFor(s, head)
		if m == nil {
			break
		}
		s.seq++
		if match && m.ID > s.lastID {
			buf = append(buf, m.Frame...)
			if marks != nil {
				*marks = append(*marks, mark{end: len(buf), frame: m.Frame, kind: markWindow, seq: s.seq - 1, id: m.ID, prevID: s.lastID})
			}
			s.lastID = m.ID
			frames++
		}
	}
	// Notices come after the events: a subscriber attaching hears of
	// what is stale after its snapshot or replay.
	if s.noticed.Load() && len(s.backlog) == 0 && s.snapFrom == 0 && s.seq >= head {
		for topic, n := range s.notices {
			if len(buf) >= max {
				break
			}
			buf = append(buf, n.frame...)
			if marks != nil {
				*marks = append(*marks, mark{end: len(buf), frame: n.frame, kind: markNotice, notice: n})
			}
			delete(s.notices, topic)
			frames++
		}
		if len(s.notices) == 0 {
			s.noticed.Store(false)
		}
	}
	if len(buf) > start {
		s.beat.Store(false) // data keeps the connection alive as well
	} else if s.beat.Swap(false) {
		buf = append(buf, heartbeat...)
		if marks != nil {
			*marks = append(*marks, mark{end: len(buf), frame: heartbeat, kind: markBeat})
		}
	}
	return buf, frames, fillMore
}

// fillSnapshot appends to buf, up to about max bytes, the frames of s's
// snapshot read from h.snap: the latest event of each topic s matches
// that is not archived, up to s.snapTo, in ID order, then the position
// frame. An event replaced since s attached is passed: the newer one is
// in the snapshot further on, or (newer than snapTo) reaches s from the
// window after the position. It returns buf and frames counted on.
func (h *Hub) fillSnapshot(s *Subscriber, buf []byte, max int, marks *[]mark, frames int) ([]byte, int) {
	snap := h.snap
	i := sort.Search(len(snap), func(i int) bool { return snap[i].ID >= s.snapFrom })
	for ; i < len(snap) && snap[i].ID <= s.snapTo && len(buf) < max; i++ {
		m := snap[i]
		s.snapFrom = m.ID + 1
		if m.replaced || m.Archive || !s.filter.Match(m.Topic) {
			continue
		}
		buf = append(buf, m.Frame...)
		if marks != nil {
			*marks = append(*marks, mark{end: len(buf), frame: m.Frame, kind: markSnap, id: m.ID})
		}
		s.snapSent = m.ID
		frames++
	}
	if len(buf) >= max || i < len(snap) && snap[i].ID <= s.snapTo {
		return buf, frames // more of it next time
	}
	pos := s.snapPos
	if s.snapSent == s.snapTo {
		pos = withoutID(pos) // the client is there already
	}
	buf = append(buf, pos...)
	if marks != nil {
		*marks = append(*marks, mark{end: len(buf), frame: pos, kind: markSnapEnd})
	}
	s.snapFrom, s.snapPos = 0, nil
	return buf, frames + 1
}

// fillEnd is what a fill says of the subscriber's stream.
type fillEnd int8

const (
	fillMore   fillEnd = iota // it goes on
	fillLagged                // it lost events: write what is begun (the rest of a frame, or the stream's head), then close it
	fillEnding                // its token ran out or was revoked: write the notice, then close it (see Subscriber.ending)
)

// rewind leaves s's cursor at the first byte of its fill that a write did
// not take: written bytes of the fill went out, from from (the cursor
// before the fill), described by marks, starting at offset start of the
// buffer. It returns the number of frames completed. The frame the write
// stopped in stays referenced, not copied; the frames after it are filled
// again on the next turn.
func (s *Subscriber) rewind(from cursor, marks []mark, start, written int) int {
	pos := start + written
	frames := 0
	prevEnd := start
	for i, m := range marks {
		if m.end <= pos {
			if m.kind != markBeat && (m.kind != markPending || from.pendingEnds) {
				frames++
			}
			prevEnd = m.end
			continue
		}
		rest := m.frame[pos-prevEnd:]
		switch m.kind {
		case markPending:
			s.cursor = from
			s.pending = rest
		case markBacklog, markSnap, markSnapEnd:
			s.backlog = nil
			s.snapFrom, s.snapSent, s.snapPos = from.snapFrom, from.snapSent, from.snapPos
			switch m.kind {
			case markBacklog:
				s.backlog = from.backlog[m.backlogItem+1:]
				if len(s.backlog) == 0 {
					s.backlog = nil
				}
			case markSnap:
				s.snapFrom, s.snapSent = m.id+1, m.id // the snapshot goes on after it
			case markSnapEnd:
				s.snapFrom, s.snapPos = 0, nil // the snapshot is over
			}
			s.seq, s.lastID = from.seq, from.lastID
			if from.pendingNext != 0 {
				s.seq, s.lastID = from.pendingNext, from.pendingID
			}
			s.pending, s.pendingNext, s.pendingID, s.pendingEnds = rest, 0, 0, true
		case markWindow:
			s.backlog = nil
			s.seq, s.lastID = m.seq, m.prevID
			s.pending, s.pendingNext, s.pendingID, s.pendingEnds = rest, m.seq+1, m.id, true
		case markBeat:
			s.pending, s.pendingNext, s.pendingID, s.pendingEnds = rest, 0, 0, false
		case markNotice:
			// The events before it went out: the cursor stays past them.
			s.pending, s.pendingNext, s.pendingID, s.pendingEnds = rest, 0, 0, true
		}
		// The notices after it were taken from s.notices, but not sent:
		// they go back, unless a newer flip of their topic came since
		// (then the client's state is what it was, and neither is sent).
		for _, m := range marks[i+1:] {
			if m.kind == markNotice {
				s.putNotice(m.notice)
			}
		}
		return frames
	}
	return frames
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
	if s.src.head.Load() > seq || s.beat.Load() || s.noticed.Load() || s.lagged.Load() || s.done.Load() || s.ending.Load() != nil {
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
// goroutine. The reason is counted (see Stats.Closed) and, when it is the
// server's decision, logged.
func (s *Subscriber) close(reason error) {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	if s.lagged.Load() && !errors.Is(reason, feed.ErrClosed) {
		reason = errLagged // whatever ended it, it had lost events
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	h := s.hub
	why := closeReason(reason)
	h.closes[why].Add(1)
	switch why {
	case CloseLagged:
		h.dropped.Add(1)
		h.log.Info("event stream closed", "reason", closeNames[why], "filter", describeFilter(s.filter))
	case CloseWriteTimeout:
		h.log.Info("event stream closed", "reason", closeNames[why], "filter", describeFilter(s.filter), "write_timeout", h.opts.WriteTimeout)
	case CloseExpired, CloseRevoked: // Revoke's caller logs how many it ended
		h.log.Debug("event stream closed", "reason", closeNames[why], "filter", describeFilter(s.filter))
	}
	h.forget(s)
	h.watch.forget(s.watchKey.Load())
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

// Why streams end, as counted in Stats.Closed. All but CloseClientGone are
// the server's decisions.
const (
	CloseLagged       = iota // fell out of the window: resumes from history on reconnect
	CloseWriteTimeout        // accepted nothing for the write timeout
	CloseShutdown            // the server is shutting down
	CloseClientGone          // the client closed the connection, or it failed
	CloseExpired             // the subscriber's token expired (Subscription.Expires)
	CloseRevoked             // the subscriber's credential was revoked (Subscription.Credential)
	numCloseReasons
)

// closeNames are the reasons' names in metrics and logs.
var closeNames = [numCloseReasons]string{"lag", "write_timeout", "shutdown", "client", "token_expired", "revoked"}

// CloseReasonName returns the name of a close reason (CloseLagged, …).
func CloseReasonName(reason int) string { return closeNames[reason] }

func closeReason(err error) int {
	switch {
	case errors.Is(err, errLagged):
		return CloseLagged
	case errors.Is(err, errWriteTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return CloseWriteTimeout
	case errors.Is(err, feed.ErrClosed):
		return CloseShutdown
	case errors.Is(err, errExpired):
		return CloseExpired
	case errors.Is(err, errRevoked):
		return CloseRevoked
	}
	return CloseClientGone
}

// expire ends a subscriber whose token ran out.
func (s *Subscriber) expire() { s.end(expiredEnding) }

// end ends a subscriber's stream for e: its owner sends it e's notice and
// closes it, or, if nobody owns it, a pool writer does at once. A parked
// one, whose socket is full, is closed at once (a notice would not get
// through). The first ending set is the one that counts: end reports
// whether e is.
func (s *Subscriber) end(e *ending) bool {
	if !s.ending.CompareAndSwap(nil, e) {
		return false
	}
	if s.queued.CompareAndSwap(false, true) {
		s.hub.dispatch([]*Subscriber{s})
		return true
	}
	if s.mode.Load() == modeParked {
		s.close(e.reason)
	}
	return true
}

// describeFilter names what a subscriber asked for, for logs.
func describeFilter(f Filter) string {
	topics, prefixes, all := f.Keys()
	if all {
		return "*"
	}
	parts := make([]string, 0, len(topics)+len(prefixes))
	for _, p := range prefixes {
		parts = append(parts, p+"*")
	}
	parts = append(parts, topics...)
	if len(parts) > 4 {
		parts = append(parts[:4], "…")
	}
	return strings.Join(parts, " ")
}
