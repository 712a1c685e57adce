// Package fanout fans committed events out to Server-Sent Events subscribers.
// It owns their framing: the hub is handed committed events and encodes
// each once (Hub.Encode), in the one envelope its options choose, whether
// a subscriber gets it live, from the window or replayed from storage.
//
// The hub keeps a window of recent events in ID order, each with its SSE frame
// encoded once. A subscriber is a cursor into that window plus a topic
// filter: it owns no queue, so an idle or stuck subscriber costs a few
// hundred bytes whatever the publish rate. Publishing appends to the window
// and wakes only the subscribers whose filter matches; a small pool of writer
// goroutines then copies each woken subscriber's frames into one buffer and
// writes it to its socket without blocking.
//
// A subscriber resuming from a position inside the window is attached to it
// atomically, under the hub's lock, so no event published meanwhile can fall
// between replay and live delivery. One resuming from further back is first
// fed pages from its Replay (SQLite) until its position reaches the window.
package fanout

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"livefeed/feed"
)

// Filter selects the topics a subscriber receives. feed.Filter implements
// it. Keys are what the hub indexes the subscriber under: every topic Match
// accepts is one of the topics or under one of the prefixes (or all is
// set), and unless the filter is Narrowed, Match accepts every such topic.
type Filter interface {
	Match(topic string) bool
	Keys() (topics, prefixes []string, all bool)
}

// Narrowed is a Filter whose Keys may cover topics its Match refuses
// (feed.Visible: "*" for a subscriber that may see only the public topics);
// Exact reports that they do not, after all. The hub asks Match about
// every event that reaches such a subscriber through its keys, and only
// for such subscribers, so that the others pay nothing for it.
type Narrowed interface {
	Filter
	Exact() bool
}

// narrowed reports whether f's keys cover topics it refuses.
func narrowed(f Filter) bool {
	n, ok := f.(Narrowed)
	return ok && !n.Exact()
}

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	// Window is how many recent events are kept in memory for replay
	// (default DefaultWindow); WindowBytes bounds their frames (default
	// DefaultWindowBytes).
	// A subscriber that falls further behind than the window is
	// disconnected and catches up from SQLite when it reconnects.
	Window      int
	WindowBytes int
	// Heartbeat is the interval of keep-alive comments (default
	// DefaultHeartbeat).
	Heartbeat time.Duration
	// WriteTimeout is how long a subscriber may accept no data before it
	// is disconnected (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// Writers is the number of writer goroutines (default GOMAXPROCS).
	Writers int
	Logger  *slog.Logger
	// DeliveryLag, if set, observes how long after its publication to
	// the hub an event was written to a subscriber's socket, in seconds.
	// It is sampled, once per writer batch (the batch's newest event), so
	// that its cost is per batch of up to 64 subscribers, not per
	// delivery.
	DeliveryLag Observer
	// ExposeOperator sends every subscriber the name of the operator who
	// published each event from the console (feed.expose_operator): the
	// envelope of every frame is chosen here, by the hub, in Encode.
	ExposeOperator bool
	// Delays are the delays subscribers may ask for (Subscription.Delay):
	// the hub keeps one delay line for each (see delivery.go).
	Delays []time.Duration
	// NeverMerge are event types conflation never merges away: like
	// archive events, each is delivered to conflated subscribers.
	NeverMerge []string
	// Stale are the rules of the watched topics (see liveness.go): their
	// subscribers are told when one goes stale, and fresh again.
	Stale []StaleRule
	// Audience is how long a count of the audience (Hub.Audience) is
	// kept before the next caller counts again; 0: the audience is not
	// counted, and subscribers are not grouped for it.
	Audience time.Duration
}

// Observer takes a measurement (a Prometheus histogram is one).
type Observer interface {
	Observe(float64)
}

// The defaults of Options: the server's unless its configuration says
// otherwise (config.Default uses these).
const (
	DefaultWindow       = 50_000
	DefaultWindowBytes  = 64 << 20
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	// DefaultAudience is how long a count of the audience is kept: a
	// few seconds, as a cluster's nodes share theirs.
	DefaultAudience = 2 * time.Second
)

func (o *Options) setDefaults() {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.WindowBytes <= 0 {
		o.WindowBytes = DefaultWindowBytes
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Writers <= 0 {
		o.Writers = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Hub fans committed events out to subscribers.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu sync.RWMutex
	// The window of every published event, and the index of the
	// subscribers that read it: those in real time, not conflated.
	window
	lastID int64 // the newest published ID
	// heard, when someone waits for news (Await), is closed and set to
	// nil at the next Publish.
	heard chan struct{}
	// latest is the latest event of each topic, archive events included
	// (a snapshot leaves their topics out; a conflated resume sends
	// them).
	latest map[string]*Message
	// snap holds latest's messages in ID order, with those replaced since
	// (snapDead of them) until it is compacted: the snapshot of a
	// subscriber of a prefix or of every topic is read from it as it is
	// written (see fillSnapshot), so that such a subscriber holds a place
	// in it, not a list of a frame per topic (a subscriber of "*" that
	// never read held 32 bytes a topic, 3 MB with 100,000 topics, and
	// its attach sorted them all under the lock).
	snap     []*Message
	snapDead int
	// position is the feed.EventPosition frame of positionID, the newest ID
	// when a snapshot last needed it (see positionLocked).
	position   []byte
	positionID int64
	subs       map[*Subscriber]struct{} // every open subscriber, attached or not
	closed     bool
	// The delivery policies of delivery.go: a delay line per delay, the
	// conflation lanes of subscribers (those reading this window in
	// mainLanes), and a tick per interval they conflate to.
	lines     map[time.Duration]*delayLine
	lanes     map[laneKey]*lane
	mainLanes []*lane
	ticks     map[time.Duration]*ticker
	stored    Replay          // every stored event, for delay lines (SetStored)
	keep      map[string]bool // the types conflation never merges away
	live      liveness        // the watched topics (see liveness.go)
	aud       audience        // the groups of subscribers (see audience.go)
	// credentialed are the open subscribers with a Credential, for
	// Revoke. They are guarded by credMu, taken inside mu where both are
	// needed: a revocation's pass holds only credMu, so it never holds up
	// publishing.
	credMu       sync.Mutex
	credentialed map[*Subscriber]struct{}

	queue   runQueue // subscribers waiting for a pool writer
	watch   *watcher // nil where sockets are not watched
	stop    chan struct{}
	writers sync.WaitGroup

	deliveries atomic.Uint64 // frames written to subscribers
	dropped    atomic.Uint64 // subscribers disconnected for falling behind
	stalls     atomic.Uint64 // writes that found a subscriber's socket full
	closes     [numCloseReasons]atomic.Uint64
}

// NewHub returns a hub and starts its writers and heartbeat.
func NewHub(opts Options) *Hub {
	opts.setDefaults()
	h := &Hub{
		opts:   opts,
		log:    opts.Logger,
		latest: make(map[string]*Message),
		subs:   make(map[*Subscriber]struct{}),
		stop:   make(chan struct{}),
		lines:  make(map[time.Duration]*delayLine),
		lanes:  make(map[laneKey]*lane),
		ticks:  make(map[time.Duration]*ticker),
		keep:   map[string]bool{feed.TypeArchive: true},

		credentialed: make(map[*Subscriber]struct{}),
	}
	h.window.init(opts.Window, opts.Window, opts.WindowBytes)
	if opts.Audience > 0 {
		h.aud = audience{every: opts.Audience, groups: make(map[string]*audienceGroup)}
	}
	for _, t := range opts.NeverMerge {
		h.keep[t] = true
	}
	if len(opts.Stale) > 0 {
		h.live = liveness{rules: opts.Stale, topics: make(map[string]*watchedTopic), stale: make(map[string]*notice)}
		go h.watchLiveness()
	}
	h.queue.init()
	h.watch = newWatcher()
	for range opts.Writers {
		h.writers.Add(1)
		go h.runWriter()
	}
	go h.beat()
	go h.sweep()
	for _, d := range opts.Delays {
		if d > 0 && h.lines[d] == nil {
			l := newDelayLine(d, opts)
			h.lines[d] = l
			go h.runLine(l)
		}
	}
	return h
}

// Preload fills the hub from storage before it serves: latest holds the
// latest event of each topic (those of archived topics are left out of
// the snapshot), recent the newest stored events in ID order
// (at most the window), lastID the newest stored ID.
func (h *Hub) Preload(latestEvents, recentEvents []feed.Event, lastID int64) {
	latest, recent := h.Encode(latestEvents), h.Encode(recentEvents)
	h.mu.Lock()
	defer h.mu.Unlock()
	var wk wakes // none: nothing is stale yet, and nobody subscribed
	now := time.Now().UnixMilli()
	for _, m := range latest {
		if old := h.latest[m.Topic]; old != nil {
			old.replaced = true
		}
		h.latest[m.Topic] = m
		if h.live.rules != nil {
			h.heardLocked(m, now, &wk)
		}
	}
	h.snap, h.snapDead = h.snap[:0], 0
	for _, m := range h.latest {
		h.snap = append(h.snap, m)
	}
	slices.SortFunc(h.snap, func(a, b *Message) int { return cmp.Compare(a.ID, b.ID) })
	h.lastID = max(h.lastID, lastID)
	h.covered = h.lastID
	if len(recent) > 0 {
		// Every event from recent[0] on is in recent, so the window
		// covers everything after the ID before it.
		h.covered = recent[0].ID - 1
	}
	for _, m := range recent {
		h.push(m, h.exact[m.Topic], nil)
	}
}

// Publish hands committed events, in ID order, to the subscribers whose
// filter matches, each encoded once (see Encode) and the same frame
// written to all of them. It never blocks on a subscriber.
func (h *Hub) Publish(events []feed.Event) { h.PublishFrames(h.Encode(events)) }

// PublishFrames is Publish for events already encoded as this hub
// encodes them (Encode), in ID order.
func (h *Hub) PublishFrames(msgs []*Message) {
	now := time.Now().UnixNano()
	var wk wakes
	h.mu.Lock()
	watching := h.live.rules != nil
	for _, m := range msgs {
		if m.ID <= h.lastID {
			continue // already published
		}
		h.lastID = m.ID
		m.published = now // read by the writers under the read lock
		exact := h.exact[m.Topic]
		if exact != nil {
			m.Topic = exact.key // see subSet.key
		}
		if old := h.latest[m.Topic]; old != nil {
			old.replaced = true
			h.snapDead++
		}
		h.latest[m.Topic] = m
		h.snap = append(h.snap, m)
		h.window.push(m, exact, wk.evicted(&h.window))
		h.window.matching(exact, m.Topic, wk.wake)
		for _, l := range h.mainLanes {
			if l.takes(m.Topic) {
				h.offerLocked(l, m, &wk)
			}
		}
		if watching {
			h.heardLocked(m, now/int64(time.Millisecond), &wk)
		}
	}
	if h.heard != nil {
		close(h.heard)
		h.heard = nil
	}
	h.compactSnapLocked()
	h.kickLinesLocked()
	h.mu.Unlock()
	h.finish(&wk)
}

// snapCompactAt is how many replaced messages snap holds at least before
// it is compacted (and at least half of it).
const snapCompactAt = 2048

// compactSnapLocked drops the replaced messages from snap once they are
// half of it: amortized, a copy of a pointer per event published.
// Subscribers reading a snapshot from it hold IDs, not places, so they
// find their way in the compacted one. h.mu must be held for writing.
func (h *Hub) compactSnapLocked() {
	if h.snapDead < snapCompactAt || 2*h.snapDead < len(h.snap) {
		return
	}
	live := make([]*Message, 0, len(h.snap)-h.snapDead+len(h.snap)/4)
	for _, m := range h.snap {
		if !m.replaced {
			live = append(live, m)
		}
	}
	h.snap, h.snapDead = live, 0
}

// wakes gathers, under the hub's lock, the subscribers that news took
// ownership of (to dispatch) and those that lost events while parked (to
// close), for finish to act on once the lock is released.
type wakes struct {
	woken, lost []*Subscriber
}

// wake takes ownership of s, unless someone has it already.
func (wk *wakes) wake(s *Subscriber) {
	if s.queued.CompareAndSwap(false, true) {
		wk.woken = append(wk.woken, s)
	}
}

// push appends m to w (a delay line's or a lane's window) and wakes w's
// subscribers of its topic. The hub's own window does the same in
// PublishFrames, where m's topic also takes the index's string.
func (wk *wakes) push(w *window, m *Message) {
	exact := w.exact[m.Topic]
	w.push(m, exact, wk.evicted(w))
	w.matching(exact, m.Topic, wk.wake)
}

// evicted returns what w.push calls for each message it evicts: a
// subscriber of w that had not yet passed an evicted event it should
// receive has lost continuity, and is woken so that its owner closes it
// (it resumes from SQLite on reconnect).
func (wk *wakes) evicted(w *window) func(old *Message, seq uint64) {
	return func(old *Message, seq uint64) {
		w.eachMatching(old.Topic, func(s *Subscriber) {
			if s.seq <= seq && s.lastID < old.ID && !s.lagged.Swap(true) {
				wk.wake(s)
				switch s.mode.Load() {
				case modeBlocking:
					// Its goroutine is stuck in a write: closing the
					// socket ends the write now rather than at
					// WriteTimeout, and frees its buffers.
					s.conn.Close()
				case modeParked:
					wk.lost = append(wk.lost, s) // nobody else would close it before WriteTimeout
				}
			}
		})
	}
}

// finish dispatches the subscribers of wk and closes those that lost
// events. h.mu must not be held.
func (h *Hub) finish(wk *wakes) {
	h.dispatch(wk.woken)
	for _, s := range wk.lost {
		s.close(errLagged)
	}
}

// LastID returns the newest published ID.
func (h *Hub) LastID() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.lastID
}

// Await waits until the hub has heard of every event up to id, or for at
// most bound, and reports whether it has. A log hands committed events to
// the hub a moment after their publishers are answered: a subscriber that
// comes after such an answer waits here for what the log has committed,
// so that its snapshot or replay includes that event (read-your-writes).
func (h *Hub) Await(ctx context.Context, id int64, bound time.Duration) bool {
	var timeout <-chan time.Time
	for {
		h.mu.Lock()
		if heard := h.lastID >= id; heard || h.closed {
			h.mu.Unlock()
			return heard
		}
		if h.heard == nil {
			h.heard = make(chan struct{})
		}
		heard := h.heard
		h.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(bound)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-heard:
		case <-ctx.Done():
			return false
		case <-timeout:
			return false
		}
	}
}

// Stats describe the hub for monitoring.
type Stats struct {
	Subscribers int    // open connections
	Window      int    // events in memory
	WindowBytes int    // their frame bytes
	Deliveries  uint64 // frames written to subscribers since start
	Dropped     uint64 // subscribers disconnected for falling behind
	// Stalls counts the writes that found a subscriber's socket full, so
	// that it waited for its client to read.
	Stalls uint64
	LastID int64
	// Closed counts the streams that ended since start, by reason
	// (CloseLagged, CloseWriteTimeout, ...).
	Closed [numCloseReasons]uint64
}

// Stats returns current figures.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	st := Stats{
		Subscribers: len(h.subs),
		Window:      int(h.head.Load() - h.base),
		WindowBytes: h.bytes,
		Deliveries:  h.deliveries.Load(),
		Dropped:     h.dropped.Load(),
		Stalls:      h.stalls.Load(),
		LastID:      h.lastID,
	}
	for i := range st.Closed {
		st.Closed[i] = h.closes[i].Load()
	}
	return st
}

// Close disconnects every subscriber (they reconnect and resume elsewhere
// or after a restart) and stops the writers.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	if h.heard != nil {
		close(h.heard) // Await returns
		h.heard = nil
	}
	subs := make([]*Subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	close(h.stop)
	for _, s := range subs {
		s.close(feed.ErrClosed)
	}
	if len(subs) > 0 {
		h.log.Info("event streams closed", "reason", closeNames[CloseShutdown], "streams", len(subs))
	}
	h.queue.close()
	h.watch.stop()
	h.writers.Wait()
}

// Revoke ends the streams whose credential has been withdrawn (see
// Credential): each is sent the notice its credential gives, then closed,
// counted as CloseRevoked, within a writer's turn (a parked one, whose
// socket is full, at once). Subscribers without a credential are not
// looked at. It returns how many streams it ended (not counting those
// that were ending already, their token expired).
//
// Revoke costs one pass over the subscribers with a credential, under a
// lock of their own (publishing goes on meanwhile), and no goroutine or
// timer of any subscriber's: it is for what is rare, a reload of the keys
// or a sign-out.
func (h *Hub) Revoke() int {
	var ended []*Subscriber
	var endings []*ending
	h.credMu.Lock()
	for s := range h.credentialed {
		if s.done.Load() {
			continue
		}
		if notice, revoked := s.credential.Revoked(); revoked {
			ended = append(ended, s)
			endings = append(endings, &ending{frame: notice, reason: errRevoked})
		}
	}
	h.credMu.Unlock()
	n := 0
	for i, s := range ended {
		if s.end(endings[i]) {
			n++
		}
	}
	return n
}

// sweep closes parked subscribers whose client has read nothing for
// WriteTimeout. It looks a few times per timeout, so a stream is closed
// within a quarter of WriteTimeout after it is due. A client that reads,
// however slowly, is not cut off: the kernel reports the socket writable
// only once half of what it holds has gone, which a slow reader can take
// longer than WriteTimeout to take, so the bytes its socket holds are
// compared with those it held when parked.
func (h *Hub) sweep() {
	t := time.NewTicker(min(max(h.opts.WriteTimeout/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	var due []*Subscriber
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		limit := now.Add(-h.opts.WriteTimeout).UnixNano()
		h.mu.RLock()
		for s := range h.subs {
			if at := s.parked.Load(); at != 0 && at < limit {
				due = append(due, s)
			}
		}
		h.mu.RUnlock()
		for _, s := range due {
			at, was := s.parked.Load(), s.unsent.Load()
			if at == 0 || at >= limit {
				continue // unparked (and maybe parked again) meanwhile
			}
			if n := h.watch.unsent(s.watchKey.Load()); n >= 0 && n < was {
				// Progress: the client is reading.
				s.unsent.Store(n)
				s.parked.CompareAndSwap(at, now.UnixNano())
				continue
			}
			s.close(errWriteTimeout)
		}
		clear(due)
		due = due[:0]
	}
}

// beat marks a heartbeat due on every subscriber at each interval; a
// subscriber that sent data meanwhile skips it.
func (h *Hub) beat() {
	t := time.NewTicker(h.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		var woken []*Subscriber
		h.mu.RLock()
		for s := range h.subs {
			s.beat.Store(true)
			if s.queued.CompareAndSwap(false, true) {
				woken = append(woken, s)
			}
		}
		h.mu.RUnlock()
		h.dispatch(woken)
	}
}

// attachAt attaches s to its window right after ID after, if the window
// holds every event after it that s is to be sent. It reports false when s
// must first read more history. Under the lock no event can be published
// (or released by s's delay line) between choosing the position and
// joining the index, which is what makes the hand-over from replay to live
// delivery exact.
func (h *Hub) attachAt(s *Subscriber, after int64) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, feed.ErrClosed
	}
	w := h.sourceWindow(s.line)
	if after < w.covered {
		return false, nil
	}
	s.src = w
	s.seq = w.after(after)
	s.lastID = after
	w.index(s)
	h.staleOnAttachLocked(s)
	return true, nil
}

// attachSnapshot attaches s at the head of its window after queueing, in
// order: a reset event if reason is set, the latest event of each matching
// topic, and the position event (feed.EventPosition) so the client
// resumes from now. For a delayed subscriber, "latest" and "now" are its
// delay line's: the latest event at least that old.
func (h *Hub) attachSnapshot(s *Subscriber, reason string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return feed.ErrClosed
	}
	latest, lastID := h.latestOf(s.line)
	if _, prefixes, all := s.filter.Keys(); s.line == nil && lastID > 0 && (all || len(prefixes) > 0) {
		// Read from h.snap as it is written (fillSnapshot).
		s.backlog = nil
		if reason != "" {
			s.backlog = [][]byte{resetFrames[reason]}
		}
		s.snapFrom, s.snapTo, s.snapSent, s.snapPos = 1, lastID, 0, h.positionLocked(nil)
		h.attachLocked(s, lastID)
		return nil
	}
	snap := snapshotOf(s, latest, func(m *Message) bool { return !m.Archive })
	s.backlog = make([][]byte, 0, len(snap)+2)
	if reason != "" {
		s.backlog = append(s.backlog, resetFrames[reason])
	}
	for _, m := range snap {
		s.backlog = append(s.backlog, m.Frame)
	}
	pos := h.positionLocked(s.line)
	if n := len(snap); n > 0 && snap[n-1].ID == lastID {
		pos = withoutID(pos) // the client is there already
	}
	s.backlog = append(s.backlog, pos)
	h.attachLocked(s, lastID)
	return nil
}

// attachLocked joins s, whose snapshot is under way, to its window from
// now on, lastID the newest ID its snapshot covers. h.mu must be held for
// writing.
func (h *Hub) attachLocked(s *Subscriber, lastID int64) {
	s.lastID = lastID
	w := h.sourceWindow(s.line)
	if s.conflate > 0 {
		w = &h.laneFor(s).window
	}
	s.src = w
	s.seq = w.head.Load()
	w.index(s)
	h.staleOnAttachLocked(s)
}

// snapshotOf returns the messages of latest that s's filter matches and
// keep accepts, in ID order. h.mu must be held.
func snapshotOf(s *Subscriber, latest map[string]*Message, keep func(*Message) bool) []*Message {
	var snap []*Message
	topics, prefixes, all := s.filter.Keys()
	if !all && len(prefixes) == 0 {
		for _, t := range topics {
			if m := latest[t]; m != nil && keep(m) && (!s.narrowed || s.filter.Match(t)) {
				snap = append(snap, m)
			}
		}
	} else {
		for t, m := range latest {
			if keep(m) && s.filter.Match(t) {
				snap = append(snap, m)
			}
		}
	}
	slices.SortFunc(snap, func(a, b *Message) int { return cmp.Compare(a.ID, b.ID) })
	return snap
}

// positionLocked returns the feed.EventPosition frame of the newest ID
// there is for the subscribers of line (nil: in real time), encoded once
// for all the subscribers that attach until it moves, like every frame
// the hub sends to many. h.mu must be held for writing.
func (h *Hub) positionLocked(line *delayLine) []byte {
	if line != nil {
		if line.position == nil || line.positionID != line.released {
			line.position, line.positionID = positionFrame(line.released), line.released
		}
		return line.position
	}
	if h.position == nil || h.positionID != h.lastID {
		h.position, h.positionID = positionFrame(h.lastID), h.lastID
	}
	return h.position
}

// sourceWindow returns the window that line's subscribers read (nil: the
// hub's own). h.mu must be held.
func (h *Hub) sourceWindow(line *delayLine) *window {
	if line != nil {
		return &line.window
	}
	return &h.window
}

// latestOf returns the latest event of each topic for the subscribers of
// line (nil: in real time), and the newest ID they may know of. h.mu
// must be held.
func (h *Hub) latestOf(line *delayLine) (map[string]*Message, int64) {
	if line != nil {
		return line.latest, line.released
	}
	return h.latest, h.lastID
}

// coverage returns, for the subscribers of line (nil: in real time), the
// ID above which their window holds every event they are to be sent, and
// the newest ID they may be sent: a replay must stop there.
func (h *Hub) coverage(line *delayLine) (covered, limit int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if line != nil {
		return line.covered, line.released
	}
	return h.covered, math.MaxInt64
}

// forget removes s from the hub.
func (h *Hub) forget(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	h.leaveAudience(s)
	if s.credential != nil {
		h.credMu.Lock()
		delete(h.credentialed, s)
		h.credMu.Unlock()
	}
	if !s.attached {
		return
	}
	s.src.unindex(s)
	if s.lane != nil {
		h.leaveLane(s.lane)
	}
}
