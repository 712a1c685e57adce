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
	"runtime"
	"slices"
	"sort"
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
	// The window: the message with sequence number q is ring[q%len(ring)],
	// for base <= q < head. Sequence numbers count messages published to
	// this hub; IDs come from the store.
	ring    []*Message
	base    uint64
	head    atomic.Uint64 // written under mu; read without it to check for news
	bytes   int           // frame bytes in the window
	covered int64         // every event with a greater ID is in the window
	lastID  int64         // the newest published ID
	// heard, when someone waits for news (Await), is closed and set to
	// nil at the next Publish.
	heard  chan struct{}
	latest map[string]*Message
	// position is the feed.EventPosition frame of positionID, the newest ID
	// when a snapshot last needed it (see positionLocked).
	position   []byte
	positionID int64
	// The index of attached subscribers by what they asked for.
	exact  map[string]*subSet
	prefix map[string]*subSet
	all    subSet
	subs   map[*Subscriber]struct{} // every open subscriber, attached or not
	closed bool
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
		ring:   make([]*Message, opts.Window),
		latest: make(map[string]*Message),
		exact:  make(map[string]*subSet),
		prefix: make(map[string]*subSet),
		subs:   make(map[*Subscriber]struct{}),
		stop:   make(chan struct{}),

		credentialed: make(map[*Subscriber]struct{}),
	}
	h.queue.init()
	h.watch = newWatcher()
	for range opts.Writers {
		h.writers.Add(1)
		go h.runWriter()
	}
	go h.beat()
	go h.sweep()
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
	for _, m := range latest {
		if !m.Archive {
			h.latest[m.Topic] = m
		}
	}
	h.lastID = max(h.lastID, lastID)
	h.covered = h.lastID
	if len(recent) > 0 {
		// Every event from recent[0] on is in recent, so the window
		// covers everything after the ID before it.
		h.covered = recent[0].ID - 1
	}
	for _, m := range recent {
		h.push(m, nil)
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
	var woken, lost []*Subscriber
	wake := func(s *Subscriber) {
		if s.queued.CompareAndSwap(false, true) {
			woken = append(woken, s)
		}
	}
	h.mu.Lock()
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
		if m.Archive {
			delete(h.latest, m.Topic)
		} else {
			h.latest[m.Topic] = m
		}
		h.push(m, func(old *Message, seq uint64) {
			// A subscriber that had not yet passed an evicted event it
			// should receive has lost continuity: wake it so its owner
			// closes it (it resumes from SQLite on reconnect).
			h.eachMatching(old.Topic, func(s *Subscriber) {
				if s.seq <= seq && s.lastID < old.ID && !s.lagged.Swap(true) {
					wake(s)
					switch s.mode.Load() {
					case modeBlocking:
						// Its goroutine is stuck in a write: closing the
						// socket ends the write now rather than at
						// WriteTimeout, and frees its buffers.
						s.conn.Close()
					case modeParked:
						lost = append(lost, s) // nobody else would close it before WriteTimeout
					}
				}
			})
		})
		h.matching(exact, m.Topic, wake)
	}
	if h.heard != nil {
		close(h.heard)
		h.heard = nil
	}
	h.mu.Unlock()
	h.dispatch(woken)
	for _, s := range lost {
		s.close(errLagged)
	}
}

// push appends m to the window, first evicting the oldest messages while
// the window is full, calling evicted (if not nil) for each with its
// sequence number. h.mu must be held.
func (h *Hub) push(m *Message, evicted func(old *Message, seq uint64)) {
	head := h.head.Load()
	n := uint64(len(h.ring))
	for head > h.base && (head-h.base == n || h.bytes+len(m.Frame) > h.opts.WindowBytes) {
		old := h.ring[h.base%n]
		h.ring[h.base%n] = nil
		h.bytes -= len(old.Frame)
		h.covered = old.ID
		if evicted != nil {
			evicted(old, h.base)
		}
		h.base++
	}
	h.ring[head%n] = m
	h.bytes += len(m.Frame)
	h.head.Store(head + 1)
}

// eachMatching calls fn for every attached subscriber whose filter matches
// topic. h.mu must be held.
func (h *Hub) eachMatching(topic string, fn func(*Subscriber)) {
	h.matching(h.exact[topic], topic, fn)
}

// matching is eachMatching with the topic's exact set already looked up
// (nil: none).
func (h *Hub) matching(exact *subSet, topic string, fn func(*Subscriber)) {
	if exact != nil {
		exact.each(topic, fn)
	}
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			if set := h.prefix[topic[:i+1]]; set != nil {
				set.each(topic, fn)
			}
		}
	}
	h.all.each(topic, fn)
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

// attachAt attaches s to the window right after ID after, if the window
// holds every event after it. It reports false when s must first read more
// history. Under the lock no event can be published between choosing the
// position and joining the index, which is what makes the hand-over from
// replay to live delivery exact.
func (h *Hub) attachAt(s *Subscriber, after int64) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, feed.ErrClosed
	}
	if after < h.covered {
		return false, nil
	}
	base, head := h.base, h.head.Load()
	n := uint64(len(h.ring))
	i := sort.Search(int(head-base), func(i int) bool { return h.ring[(base+uint64(i))%n].ID > after })
	s.seq = base + uint64(i)
	s.lastID = after
	h.index(s)
	return true, nil
}

// attachSnapshot attaches s at the head of the window after queueing, in
// order: a reset event if reason is set, the latest event of each matching
// topic, and the position event (feed.EventPosition) so the client
// resumes from now.
func (h *Hub) attachSnapshot(s *Subscriber, reason string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return feed.ErrClosed
	}
	var snap []*Message
	topics, prefixes, all := s.filter.Keys()
	if !all && len(prefixes) == 0 {
		for _, t := range topics {
			if m := h.latest[t]; m != nil && (!s.narrowed || s.filter.Match(t)) {
				snap = append(snap, m)
			}
		}
	} else {
		for t, m := range h.latest {
			if s.filter.Match(t) {
				snap = append(snap, m)
			}
		}
	}
	slices.SortFunc(snap, func(a, b *Message) int { return cmp.Compare(a.ID, b.ID) })
	s.backlog = make([][]byte, 0, len(snap)+2)
	if reason != "" {
		s.backlog = append(s.backlog, resetFrames[reason])
	}
	for _, m := range snap {
		s.backlog = append(s.backlog, m.Frame)
	}
	pos := h.positionLocked()
	if n := len(snap); n > 0 && snap[n-1].ID == h.lastID {
		pos = withoutID(pos) // the client is there already
	}
	s.backlog = append(s.backlog, pos)
	s.seq = h.head.Load()
	s.lastID = h.lastID
	h.index(s)
	return nil
}

// positionLocked returns the feed.EventPosition frame of the newest ID, encoded
// once for all the subscribers that attach until the next publish, like
// every frame the hub sends to many. h.mu must be held for writing.
func (h *Hub) positionLocked() []byte {
	if h.position == nil || h.positionID != h.lastID {
		h.position, h.positionID = positionFrame(h.lastID), h.lastID
	}
	return h.position
}

// coveredID returns the ID above which the window holds every event.
func (h *Hub) coveredID() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.covered
}

// index adds s to the topic index. h.mu must be held.
func (h *Hub) index(s *Subscriber) {
	topics, prefixes, all := s.filter.Keys()
	if all {
		h.all.add(s)
	}
	for _, t := range topics {
		set := setFor(h.exact, t)
		set.add(s)
		if !all && len(topics) == 1 && len(prefixes) == 0 && !s.narrowed {
			s.only = set.key
		}
	}
	for _, p := range prefixes {
		setFor(h.prefix, p).add(s)
	}
	s.attached = true
}

// forget removes s from the hub.
func (h *Hub) forget(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	if s.credential != nil {
		h.credMu.Lock()
		delete(h.credentialed, s)
		h.credMu.Unlock()
	}
	if !s.attached {
		return
	}
	topics, prefixes, all := s.filter.Keys()
	if all {
		h.all.remove(s)
	}
	for _, t := range topics {
		if set := h.exact[t]; set != nil && set.remove(s) {
			delete(h.exact, t)
		}
	}
	for _, p := range prefixes {
		if set := h.prefix[p]; set != nil && set.remove(s) {
			delete(h.prefix, p)
		}
	}
}

func setFor(m map[string]*subSet, key string) *subSet {
	set := m[key]
	if set == nil {
		set = &subSet{key: key}
		m[key] = set
	}
	return set
}

// subSet is a set of subscribers that is cheap to iterate: publishing walks
// it for every event. Narrowed subscribers (see Narrowed) are kept apart,
// so that only they are asked whether they match.
type subSet struct {
	// key is the set's topic or prefix. Events on an exact topic carry
	// this string as their topic, and its subscribers of that one topic
	// as theirs (Subscriber.only): comparing the two is then comparing
	// two pointers, without reading either's bytes.
	key             string
	plain, narrowed subList
}

func (s *subSet) add(sub *Subscriber) {
	if sub.narrowed {
		s.narrowed.add(sub)
	} else {
		s.plain.add(sub)
	}
}

// remove deletes sub and reports whether the set is now empty.
func (s *subSet) remove(sub *Subscriber) bool {
	if sub.narrowed {
		s.narrowed.remove(sub)
	} else {
		s.plain.remove(sub)
	}
	return len(s.plain.list) == 0 && len(s.narrowed.list) == 0
}

// each calls fn for the set's subscribers that match topic: all plain ones,
// and the narrowed ones whose filter accepts it.
func (s *subSet) each(topic string, fn func(*Subscriber)) {
	for _, sub := range s.plain.list {
		fn(sub)
	}
	for _, sub := range s.narrowed.list {
		if sub.filter.Match(topic) {
			fn(sub)
		}
	}
}

// subList is a list of subscribers with their positions, for removal in
// constant time.
type subList struct {
	list []*Subscriber
	pos  map[*Subscriber]int
}

func (s *subList) add(sub *Subscriber) {
	if s.pos == nil {
		s.pos = make(map[*Subscriber]int)
	}
	if _, ok := s.pos[sub]; ok {
		return
	}
	s.pos[sub] = len(s.list)
	s.list = append(s.list, sub)
}

func (s *subList) remove(sub *Subscriber) {
	i, ok := s.pos[sub]
	if ok {
		last := len(s.list) - 1
		s.list[i] = s.list[last]
		s.pos[s.list[i]] = i
		s.list[last] = nil
		s.list = s.list[:last]
		delete(s.pos, sub)
	}
}
