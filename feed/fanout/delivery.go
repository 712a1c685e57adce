package fanout

// Two delivery policies beside real time: conflation (at most one event
// per topic per interval, always the latest) and delayed tiers (an event
// reaches a subscriber only once it is as old as its delay). Both keep the
// hub's shape: a subscriber is a cursor into one shared window of frames
// encoded once, and they only add windows for cursors to read.
//
// Delay lines. There is one line per distinct delay (Options.Delays),
// shared by every subscriber with that delay. It is a window of its own,
// of the same *Message values as the hub's: a goroutine per line releases
// the hub's events into it, in ID order, once each is as old as the
// delay by the event's time (Message.Time, the time the log gave it, so
// that every node of a cluster releases the same events at the same
// moment), waking the line's subscribers exactly as Publish wakes the
// hub's. One timer per line is armed for the next event due; a line with
// nothing pending waits for the next publish. Event times never go back
// with IDs, so what a line has released is always every event up to one
// ID (released): a delayed stream is the real-time stream cut at that
// position, and one Last-Event-ID resumes it exactly. Events of the last
// delay period come from the hub's window while it holds them; a line
// that falls behind the window reads them from storage (SetStored), a
// page at a time, encoding them once for all its subscribers (more events
// due in one instant than a line's window holds, 1,024, would cut the
// subscribers that had not read them, which then resume from storage, as
// on any window). Everything
// a delayed subscriber reads goes through its line: the snapshot is the
// line's latest event of each topic, the position event the line's
// position, a replay stops at the line's position, and live events come
// from the line's window.
//
// Conflation lanes. Conflated subscribers that read the same source (the
// hub, or one delay line), at the same interval, with the same filter
// keys, share a lane: a window of its own, fed under the hub's lock with
// each event of the source it takes. A lane keeps, per topic, only the
// latest event not yet sent (pending) and the topics sent in the current
// interval (sent): its memory is bounded by topics, never by events. At
// each tick of its interval (one ticker goroutine per interval, shared by
// all the lanes of that interval, none per subscriber) it sends every
// pending event, in ID order. The subscribers of one filter and interval
// are spread over up to ten lanes (phases) whose ticks are spread over
// the interval, so that a thousand subscribers of two hundred symbols are
// not all written to in the same instant once a second, the last of them
// a wave's length late, but a tenth of them every tenth of a second. An event whose topic was not sent in the
// current interval goes out at once, as long as nothing else is pending
// in the lane; otherwise it waits for the tick, at most one interval.
// That is what keeps the stream's IDs increasing and its resume exact:
// when an event with ID X goes out, every topic's latest event up to X
// has gone out (or was replaced by a later one that goes out after), so
// a client at position X has, for each topic, the latest event up to X.
// A conflated resume from X therefore needs only, for each topic that
// changed since X, its latest event (the hub's latest, or the line's), in
// ID order, and then joins the lane: never a stale value, never an event
// twice. Event types that must not be merged away (archive, and
// Options.NeverMerge) go out at once, after whatever is pending.
//
// A stream has one delay, so that its IDs increase and one position
// resumes it: a request mixing delayed and real-time topics is delayed as
// a whole (the server picks the longest delay of its topics), and a
// widget asks for the topics of each delay on a stream of their own.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"livefeed/feed"
)

// delayLine is the window of the events old enough for one delay.
type delayLine struct {
	delay time.Duration
	window
	// released is the position of the line: every event up to this ID
	// has been released, none after it.
	released int64
	// next is the sequence number in the hub's window from which to look
	// for the next event to release, while released >= the hub's covered.
	next uint64
	// page holds events read from storage (when the line fell behind the
	// hub's window) that are not yet due.
	page []*Message
	// latest is the latest released event of each topic, archives
	// included.
	latest map[string]*Message
	// position is the feed.EventPosition frame of positionID.
	position   []byte
	positionID int64
	// lanes are the conflation lanes that read this line.
	lanes []*lane
	// waiting is set when the line has nothing pending and waits for a
	// publish; kick wakes it.
	waiting bool
	kick    chan struct{}
}

// The windows of delay lines and lanes hold what their subscribers need
// to resume from memory; a quarter of the hub's window (at least 1,024
// events) is ample for cursors that only fall behind when slow.
func sideWindow(opts Options) (limit, bytes int) {
	return max(opts.Window/4, 1024), max(opts.WindowBytes/4, 1<<20)
}

func newDelayLine(d time.Duration, opts Options) *delayLine {
	l := &delayLine{delay: d, latest: make(map[string]*Message), kick: make(chan struct{}, 1)}
	limit, bytes := sideWindow(opts)
	l.window.init(64, limit, bytes)
	return l
}

// SetStored gives the hub every stored event, for delay lines that fall
// behind its window: their events then come from storage. Without it, a
// line that falls behind skips what the window lost.
func (h *Hub) SetStored(r Replay) {
	h.mu.Lock()
	h.stored = r
	h.mu.Unlock()
	for _, l := range h.lines {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// PreloadDelayed sets the delay line of delay d where storage has it when
// the hub starts: released is the newest event at least d old, latest the
// latest event of each topic up to it (see Preload).
func (h *Hub) PreloadDelayed(d time.Duration, latest []feed.Event, released int64) {
	l := h.lines[d]
	if l == nil {
		return
	}
	msgs := h.Encode(latest)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		if m.ID <= released {
			l.latest[m.Topic] = m
		}
	}
	l.released, l.covered, l.next = released, released, h.base
	l.page = nil
}

// Delays returns the delays the hub has lines for.
func (h *Hub) Delays() []time.Duration {
	out := make([]time.Duration, 0, len(h.lines))
	for d := range h.lines {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Released returns the position of the delay line of d: every event up
// to this ID is as old as d, and has reached its subscribers' windows.
// It is -1 if the hub has no such line.
func (h *Hub) Released(d time.Duration) int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if l := h.lines[d]; l != nil {
		return l.released
	}
	return -1
}

// kickLinesLocked wakes the delay lines waiting for a publish. h.mu must
// be held for writing: a line sets waiting under it, so a publish either
// comes before the line looked (and the line saw it) or sees waiting.
func (h *Hub) kickLinesLocked() {
	for _, l := range h.lines {
		if l.waiting {
			l.waiting = false
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	}
}

// runLine releases the events of l as they become due, until the hub
// closes.
func (h *Hub) runLine(l *delayLine) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		due, fetch := h.releaseDue(l)
		if fetch {
			if !h.fetch(l) {
				return
			}
			continue
		}
		var at <-chan time.Time
		if due != 0 {
			timer.Reset(time.Until(time.Unix(0, due)))
			at = timer.C
		}
		select {
		case <-h.stop:
			return
		case <-l.kick:
		case <-at:
		}
		timer.Stop()
	}
}

// releaseDue releases the events of l that are due, and returns when the
// next one is (Unix ns; 0 if none is pending), or fetch when the line must
// first read events from storage that the hub's window no longer holds.
func (h *Hub) releaseDue(l *delayLine) (due int64, fetch bool) {
	var wk wakes
	h.mu.Lock()
	due, fetch = h.releaseLocked(l, time.Now().UnixNano(), &wk)
	h.mu.Unlock()
	h.finish(&wk)
	return due, fetch
}

func (h *Hub) releaseLocked(l *delayLine, now int64, wk *wakes) (due int64, fetch bool) {
	if h.closed {
		return 0, false
	}
	for len(l.page) > 0 {
		m := l.page[0]
		if m.ID > l.released {
			if d := m.due(l.delay); d > now {
				return d, false
			}
			h.releaseOne(l, m, wk)
		}
		l.page[0] = nil
		l.page = l.page[1:]
	}
	l.page = nil
	if l.released < h.covered {
		return 0, true
	}
	l.next = maxSeq(l.next, h.base)
	for head := h.head.Load(); l.next < head; l.next++ {
		m := h.window.at(l.next)
		if m.ID <= l.released {
			continue
		}
		if d := m.due(l.delay); d > now {
			return d, false
		}
		h.releaseOne(l, m, wk)
	}
	l.waiting = true
	return 0, false
}

// releaseOne releases m, the event after l's position, to l's
// subscribers and lanes. h.mu must be held for writing.
func (h *Hub) releaseOne(l *delayLine, m *Message, wk *wakes) {
	l.released = m.ID
	l.latest[m.Topic] = m
	wk.push(&l.window, m)
	for _, ln := range l.lanes {
		if ln.takes(m.Topic) {
			h.offerLocked(ln, m, wk)
		}
	}
}

// fetch reads the events after l's position from storage, for release.
// It returns false once the hub is closed.
func (h *Hub) fetch(l *delayLine) bool {
	h.mu.RLock()
	after, stored := l.released, h.stored
	h.mu.RUnlock()
	var page []feed.Event
	var err error
	if stored != nil {
		page, err = stored.After(context.Background(), after, catchUpPage)
	}
	switch {
	case err != nil && !errors.Is(err, feed.ErrPruned):
		h.log.Warn("a delay line could not read stored events; trying again", "delay", l.delay, "err", err)
		select {
		case <-h.stop:
			return false
		case <-time.After(time.Second):
		}
		return true
	case stored == nil, errors.Is(err, feed.ErrPruned), len(page) == 0:
		// What the window lost is not to be had (never stored, or pruned
		// by retention): the line goes on from what the window holds.
		h.mu.Lock()
		if l.released < h.covered {
			h.log.Warn("a delay line skipped events no longer stored", "delay", l.delay, "after", l.released, "through", h.covered)
			l.released = h.covered
			l.covered = max(l.covered, h.covered)
		}
		h.mu.Unlock()
		return true
	}
	msgs := h.Encode(page)
	h.mu.Lock()
	l.page = msgs
	h.mu.Unlock()
	return true
}

// due returns when m is as old as delay (Unix ns).
func (m *Message) due(delay time.Duration) int64 {
	return m.Time*int64(time.Millisecond) + int64(delay)
}

// laneKey identifies a lane: its source (the delay of its line; 0: the
// hub), its interval and its filter's keys.
type laneKey struct {
	delay, every time.Duration
	keys         string
	phase        int // of the interval's ticks (see phasesOf)
}

// phasesOf is the number of phases of an interval: its ticks are every
// 100 ms, or a tenth of it when it is longer than a second.
func phasesOf(every time.Duration) int {
	return int(min(max(every/(100*time.Millisecond), 1), 10))
}

// lane is the window of conflated events of its subscribers (see the top
// of this file).
type lane struct {
	key  laneKey
	line *delayLine // its source; nil: the hub
	window
	// keyTopics, keyPrefixes and keyAll are the keys of its subscribers'
	// filter: the events it takes. (A narrowed subscriber's own filter is
	// checked as it reads, as on any window.)
	keyTopics, keyPrefixes []string
	keyAll                 bool
	pending                map[string]*Message // the latest unsent event of each topic
	sent                   map[string]bool     // the topics sent in the current interval
	subs                   int
}

// takes reports whether the lane takes events on topic.
func (l *lane) takes(topic string) bool {
	if l.keyAll {
		return true
	}
	for _, t := range l.keyTopics {
		if t == topic {
			return true
		}
	}
	for _, p := range l.keyPrefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

// ticker ticks for the lanes of one interval: phases times an interval,
// each tick for the lanes of the next phase.
type ticker struct {
	every  time.Duration
	phases int
	lanes  []*lane
	stop   chan struct{}
}

// laneFor returns the lane s is to read, made if needed, and counts s
// in. h.mu must be held for writing.
func (h *Hub) laneFor(s *Subscriber) *lane {
	topics, prefixes, all := s.filter.Keys()
	key := laneKey{every: s.conflate, keys: strings.Join(topics, " ") + "\x00" + strings.Join(prefixes, " ")}
	if all {
		key.keys = "*"
	}
	if s.line != nil {
		key.delay = s.line.delay
	}
	// The phase with the fewest of the filter's subscribers.
	fewest := -1
	for phase := range phasesOf(s.conflate) {
		k := key
		k.phase = phase
		n := 0
		if l := h.lanes[k]; l != nil {
			n = l.subs
		}
		if fewest < 0 || n < fewest {
			key, fewest = k, n
		}
	}
	l := h.lanes[key]
	if l == nil {
		l = &lane{key: key, line: s.line, keyTopics: topics, keyPrefixes: prefixes, keyAll: all,
			pending: make(map[string]*Message), sent: make(map[string]bool)}
		limit, bytes := sideWindow(h.opts)
		l.window.init(64, limit, bytes)
		h.lanes[key] = l
		if s.line != nil {
			s.line.lanes = append(s.line.lanes, l)
		} else {
			h.mainLanes = append(h.mainLanes, l)
		}
		t := h.ticks[s.conflate]
		if t == nil {
			t = &ticker{every: s.conflate, phases: phasesOf(s.conflate), stop: make(chan struct{})}
			h.ticks[s.conflate] = t
			go h.runTicker(t)
		}
		t.lanes = append(t.lanes, l)
	}
	l.subs++
	s.lane = l
	return l
}

// leaveLane counts a subscriber of l out, and drops l (and its ticker)
// once none is left. h.mu must be held for writing.
func (h *Hub) leaveLane(l *lane) {
	if l.subs--; l.subs > 0 {
		return
	}
	delete(h.lanes, l.key)
	drop := func(lanes []*lane) []*lane { return slices.DeleteFunc(lanes, func(x *lane) bool { return x == l }) }
	if l.line != nil {
		l.line.lanes = drop(l.line.lanes)
	} else {
		h.mainLanes = drop(h.mainLanes)
	}
	if t := h.ticks[l.key.every]; t != nil {
		if t.lanes = drop(t.lanes); len(t.lanes) == 0 {
			close(t.stop)
			delete(h.ticks, l.key.every)
		}
	}
}

// runTicker sends the pending events of t's lanes at each tick, until
// the last of them is gone or the hub closes.
func (h *Hub) runTicker(t *ticker) {
	tick := time.NewTicker(t.every / time.Duration(t.phases))
	defer tick.Stop()
	for phase := 0; ; phase = (phase + 1) % t.phases {
		select {
		case <-h.stop:
			return
		case <-t.stop:
			return
		case <-tick.C:
		}
		var wk wakes
		h.mu.Lock()
		for _, l := range t.lanes {
			if l.key.phase == phase {
				clear(l.sent) // a new interval
				h.flushLocked(l, &wk)
			}
		}
		h.mu.Unlock()
		h.finish(&wk)
	}
}

// offerLocked hands l an event of its source that it takes: it goes out
// at once if its topic was not sent in this interval and nothing else is
// pending (or, for a type never merged away, after what is pending);
// else it replaces its topic's pending event. h.mu must be held for
// writing.
func (h *Hub) offerLocked(l *lane, m *Message, wk *wakes) {
	switch {
	case m.keep:
		h.flushLocked(l, wk)
		h.emitLocked(l, m, wk)
	case len(l.pending) == 0 && !l.sent[m.Topic]:
		h.emitLocked(l, m, wk)
	default:
		l.pending[m.Topic] = m
	}
}

// flushLocked sends l's pending events, in ID order.
func (h *Hub) flushLocked(l *lane, wk *wakes) {
	if len(l.pending) == 0 {
		return
	}
	msgs := make([]*Message, 0, len(l.pending))
	for _, m := range l.pending {
		msgs = append(msgs, m)
	}
	clear(l.pending)
	slices.SortFunc(msgs, func(a, b *Message) int { return cmp.Compare(a.ID, b.ID) })
	for _, m := range msgs {
		h.emitLocked(l, m, wk)
	}
}

// emitLocked sends m to l's subscribers.
func (h *Hub) emitLocked(l *lane, m *Message, wk *wakes) {
	l.sent[m.Topic] = true
	wk.push(&l.window, m)
}

// attachConflated attaches a conflated subscriber s resuming after ID
// after: it is sent, in ID order, the latest event of each of its topics
// that changed since (archives included; for a delayed subscriber, as its
// line has them), then joins its lane. Under the lock, nothing is
// published or released between the two.
func (h *Hub) attachConflated(s *Subscriber, after int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return feed.ErrClosed
	}
	latest, _ := h.latestOf(s.line)
	changed := snapshotOf(s, latest, func(m *Message) bool { return m.ID > after })
	s.backlog = make([][]byte, 0, len(changed))
	s.lastID = after
	for _, m := range changed {
		s.backlog = append(s.backlog, m.Frame)
		s.lastID = m.ID
	}
	l := h.laneFor(s)
	s.src = &l.window
	s.seq = l.head.Load()
	l.index(s)
	h.staleOnAttachLocked(s)
	return nil
}
