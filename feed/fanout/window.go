package fanout

import (
	"sort"
	"sync/atomic"
)

// window is a run of messages in ID order, each frame encoded once, that
// subscribers read as cursors, with the index of those subscribers by
// what they asked for. The hub has one of every published event; a delay
// line one of the events old enough for its delay, and a conflation lane
// one of the latest event of each topic per interval (see delivery.go):
// the same frames, the same cursors, the same writers.
//
// Everything but head is guarded by the hub's mu.
type window struct {
	// The message with sequence number q is ring[q%len(ring)], for base
	// <= q < head. Sequence numbers count the messages pushed to this
	// window; IDs come from the store.
	ring []*Message
	// next links the messages of a topic that subscribers of that one
	// topic read: next[q%len(ring)] is 1 + the sequence number of the
	// next message of the topic of message q (0: none yet), for the
	// topics of the index's exact sets, from when the set began (see
	// skip). A subscriber of one symbol among thousands then goes from
	// one of its events to the next instead of reading every message in
	// between.
	next  []uint64
	base  uint64
	head  atomic.Uint64 // written under mu; read without it to check for news
	bytes int           // frame bytes in the window
	// limit and maxBytes bound the window: the ring grows (doubling) up
	// to limit messages, and holds at most maxBytes of frames.
	limit, maxBytes int
	covered         int64 // every event with a greater ID is in the window
	// The index of the subscribers reading this window.
	exact  map[string]*subSet
	prefix map[string]*subSet
	all    subSet
}

// init sets up an empty window of at most limit messages and maxBytes of
// frames; start is the ring's first size.
func (w *window) init(start, limit, maxBytes int) {
	w.ring = make([]*Message, max(start, 1))
	w.next = make([]uint64, len(w.ring))
	w.limit, w.maxBytes = max(limit, 1), maxBytes
	w.exact = make(map[string]*subSet)
	w.prefix = make(map[string]*subSet)
}

// push appends m to the window, first evicting the oldest messages while
// the window is full, calling evicted (if not nil) for each with its
// sequence number. exact is the index's set of m's topic (nil if none).
func (w *window) push(m *Message, exact *subSet, evicted func(old *Message, seq uint64)) {
	head := w.head.Load()
	n := uint64(len(w.ring))
	if head-w.base == n && len(w.ring) < w.limit {
		w.grow()
		n = uint64(len(w.ring))
	}
	for head > w.base && (head-w.base == n || w.bytes+len(m.Frame) > w.maxBytes) {
		old := w.ring[w.base%n]
		w.ring[w.base%n] = nil
		w.bytes -= len(old.Frame)
		w.covered = old.ID
		if evicted != nil {
			evicted(old, w.base)
		}
		w.base++
	}
	w.ring[head%n] = m
	w.next[head%n] = 0
	if exact != nil {
		if exact.last > w.base {
			w.next[(exact.last-1)%n] = head + 1
		}
		exact.last = head + 1
	}
	w.bytes += len(m.Frame)
	w.head.Store(head + 1)
}

// grow doubles the ring (up to limit), keeping every message at its
// sequence number.
func (w *window) grow() {
	ring := make([]*Message, min(2*len(w.ring), w.limit))
	next := make([]uint64, len(ring))
	for q := w.base; q < w.head.Load(); q++ {
		ring[q%uint64(len(ring))] = w.ring[q%uint64(len(w.ring))]
		next[q%uint64(len(next))] = w.next[q%uint64(len(w.next))]
	}
	w.ring, w.next = ring, next
}

// skip returns where the next message of set's topic is at or after
// sequence number seq (head if there is none), for a subscriber of that
// one topic reading there: own is 1 + the sequence number of the last
// message of the topic it passed (0: none since it attached). It reports
// false when the links cannot tell — the subscriber reads from before
// they began, or passed none of the topic's messages still in the window
// — and the subscriber reads on one message at a time until it passes
// one.
func (w *window) skip(set *subSet, seq, own uint64) (uint64, bool) {
	if seq < set.from {
		return 0, false
	}
	if set.last <= seq {
		return w.head.Load(), true // the topic's newest message is behind seq
	}
	if own <= max(w.base, set.from) || own > seq {
		return 0, false
	}
	if next := w.next[(own-1)%uint64(len(w.next))]; next > seq {
		return next - 1, true
	}
	return 0, false
}

// at returns the message with sequence number q, which must be in the
// window.
func (w *window) at(q uint64) *Message { return w.ring[q%uint64(len(w.ring))] }

// after returns the sequence number of the first message with an ID
// greater than id (head if none).
func (w *window) after(id int64) uint64 {
	base, head := w.base, w.head.Load()
	return base + uint64(sort.Search(int(head-base), func(i int) bool { return w.at(base+uint64(i)).ID > id }))
}

// eachMatching calls fn for every subscriber of the window whose filter
// matches topic.
func (w *window) eachMatching(topic string, fn func(*Subscriber)) {
	w.matching(w.exact[topic], topic, fn)
}

// matching is eachMatching with the topic's exact set already looked up
// (nil: none).
func (w *window) matching(exact *subSet, topic string, fn func(*Subscriber)) {
	if exact != nil {
		exact.each(topic, fn)
	}
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			if set := w.prefix[topic[:i+1]]; set != nil {
				set.each(topic, fn)
			}
		}
	}
	w.all.each(topic, fn)
}

// index adds s to the window's index.
func (w *window) index(s *Subscriber) {
	topics, prefixes, all := s.filter.Keys()
	if all {
		w.all.add(s)
	}
	for _, t := range topics {
		set := setFor(w.exact, t, w.head.Load())
		set.add(s)
		if !all && len(topics) == 1 && len(prefixes) == 0 && !s.narrowed {
			s.only, s.own = set, 0
		}
	}
	for _, p := range prefixes {
		setFor(w.prefix, p, 0).add(s)
	}
	s.attached = true
}

// unindex removes s from the window's index.
func (w *window) unindex(s *Subscriber) {
	topics, prefixes, all := s.filter.Keys()
	if all {
		w.all.remove(s)
	}
	for _, t := range topics {
		if set := w.exact[t]; set != nil && set.remove(s) {
			delete(w.exact, t)
		}
	}
	for _, p := range prefixes {
		if set := w.prefix[p]; set != nil && set.remove(s) {
			delete(w.prefix, p)
		}
	}
}

// setFor returns the set of key in m, made if there is none; a set made
// for an exact topic links its messages from sequence number from on.
func setFor(m map[string]*subSet, key string, from uint64) *subSet {
	set := m[key]
	if set == nil {
		set = &subSet{key: key, from: from}
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
	key string
	// from and last, for a set of an exact topic: the window links its
	// messages of the topic pushed since sequence number from (see
	// window.next); last is 1 + the sequence number of the newest of
	// them (0: none yet).
	from, last      uint64
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
