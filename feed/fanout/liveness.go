package fanout

// Liveness. Topics of Options.Stale are watched: each has the time it was
// last heard of, the later of its latest event's time (as the log gave
// it) and its latest heartbeat's (as its sender gave it), so that every
// node of a cluster, hearing the same events and heartbeats, reaches the
// same verdict. A watched topic is stale once it has not been heard of for
// longer than its rule's After; an archived topic or a finished game
// (feed.Finished) is not watched until it hears an event again, and a
// topic never heard of is not watched at all.
//
// One goroutine per hub (watchLiveness) looks at every watched topic a few
// times per shortest After (at most every second), and flips those whose
// verdict changed; an event flips its stale topic at once, as it is
// published, and a heartbeat as it is heard. Nothing is done per
// subscriber per event: a flip is encoded once, as a frame without an id
// (it takes no ID and leaves every client's position where it was), and
// handed to the subscribers of the topic found through the windows' index,
// as a notice (Subscriber.notices): at most one per topic per subscriber,
// sent after the events it is to be sent, by whoever writes it. A newer
// flip of a topic whose notice is still unsent cancels it: the two
// together say nothing. A subscriber that attaches while topics of its
// filter are stale gets their stale notices then, after its snapshot or
// replay.

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"livefeed/feed"
)

// StaleRule watches topics: one of Topics is stale when it has heard
// neither an event nor a heartbeat for longer than After. A topic takes
// the first rule that holds it.
type StaleRule struct {
	Topics feed.Filter
	After  time.Duration
}

// liveness is the hub's state of its watched topics. Its mu is taken
// after the hub's where both are needed; publishing and attaching hold the
// hub's, a heartbeat and the checker's look only this one.
type liveness struct {
	rules []StaleRule
	mu    sync.Mutex
	// topics are the watched topics; stale those of them that are stale,
	// with the notice a subscriber attaching is given.
	topics map[string]*watchedTopic
	stale  map[string]*notice
	count  atomic.Int64 // len(stale), for metrics without the lock
}

// watchedTopic is one watched topic.
type watchedTopic struct {
	after time.Duration
	heard int64 // Unix ms
	stale bool  // as told to subscribers
}

// notice is a stale or fresh frame of one topic, encoded once for all its
// subscribers.
type notice struct {
	topic string
	frame []byte
}

// ruleFor returns the After of the first rule that holds topic.
func (lv *liveness) ruleFor(topic string) (time.Duration, bool) {
	for _, r := range lv.rules {
		if r.Topics.Match(topic) {
			return r.After, true
		}
	}
	return 0, false
}

// checkEvery is how often the checker looks: a quarter of the shortest
// After, at most a second, so a verdict is at most that late.
func (lv *liveness) checkEvery() time.Duration {
	every := time.Second
	for _, r := range lv.rules {
		every = min(every, r.After/4)
	}
	return max(every, time.Millisecond)
}

// staleNotice and freshNotice encode the flips of topic.
func staleNotice(topic string, since int64, after time.Duration) *notice {
	data, _ := json.Marshal(struct {
		Topic string `json:"topic"`
		Since string `json:"since"`
		After string `json:"after"`
	}{topic, time.UnixMilli(since).UTC().Format(feed.TimeLayout), feed.FormatDuration(after)})
	return &notice{topic: topic, frame: Frame(feed.EventStale, data)}
}

func freshNotice(topic string, at int64) *notice {
	data, _ := json.Marshal(struct {
		Topic string `json:"topic"`
		At    string `json:"at"`
	}{topic, time.UnixMilli(at).UTC().Format(feed.TimeLayout)})
	return &notice{topic: topic, frame: Frame(feed.EventFresh, data)}
}

// heardLocked notes m, just published, in the liveness state, flipping
// its topic fresh if it was stale. h.mu must be held for writing.
func (h *Hub) heardLocked(m *Message, now int64, wk *wakes) {
	lv := &h.live
	lv.mu.Lock()
	defer lv.mu.Unlock()
	w := lv.topics[m.Topic]
	if m.finished {
		if w != nil {
			delete(lv.topics, m.Topic)
			if w.stale {
				h.flipLocked(m.Topic, w, false, max(w.heard, m.Time), wk)
			}
		}
		return
	}
	if w == nil {
		after, ok := lv.ruleFor(m.Topic)
		if !ok {
			return
		}
		w = &watchedTopic{after: after}
		lv.topics[m.Topic] = w
	}
	w.heard = max(w.heard, m.Time)
	if w.stale && now-w.heard <= w.after.Milliseconds() {
		h.flipLocked(m.Topic, w, false, w.heard, wk)
	}
}

// flipLocked tells the subscribers of topic that it is now stale or
// fresh, as of at (Unix ms). h.mu must be held for writing, and h.live.mu.
func (h *Hub) flipLocked(topic string, w *watchedTopic, stale bool, at int64, wk *wakes) {
	lv := &h.live
	w.stale = stale
	var n *notice
	if stale {
		n = staleNotice(topic, at, w.after)
		lv.stale[topic] = n
	} else {
		n = freshNotice(topic, at)
		delete(lv.stale, topic)
	}
	lv.count.Store(int64(len(lv.stale)))
	tell := func(s *Subscriber) {
		s.putNotice(n)
		wk.wake(s)
	}
	h.window.eachMatching(topic, tell)
	for _, l := range h.lines {
		l.window.eachMatching(topic, tell)
	}
	for _, l := range h.lanes {
		l.window.eachMatching(topic, tell)
	}
}

// putNotice records n as the next notice of its topic to s, or cancels
// the one still unsent (a flip back). It is called under h.mu held for
// writing, or by s's owner under the read lock.
func (s *Subscriber) putNotice(n *notice) {
	if _, ok := s.notices[n.topic]; ok {
		delete(s.notices, n.topic)
		return
	}
	if s.notices == nil {
		s.notices = make(map[string]*notice)
	}
	s.notices[n.topic] = n
	s.noticed.Store(true)
}

// staleOnAttachLocked gives s, attaching, the stale notices of the stale
// topics its filter matches. h.mu must be held for writing.
func (h *Hub) staleOnAttachLocked(s *Subscriber) {
	lv := &h.live
	if lv.rules == nil {
		return
	}
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if len(lv.stale) == 0 {
		return
	}
	topics, prefixes, all := s.filter.Keys()
	if !all && len(prefixes) == 0 && len(topics) < len(lv.stale) {
		for _, t := range topics {
			if n := lv.stale[t]; n != nil && (!s.narrowed || s.filter.Match(t)) {
				s.putNotice(n)
			}
		}
		return
	}
	for t, n := range lv.stale {
		if s.filter.Match(t) {
			s.putNotice(n)
		}
	}
}

// watchLiveness flips the watched topics whose verdict changed, a few
// times per shortest After, until the hub closes.
func (h *Hub) watchLiveness() {
	t := time.NewTicker(h.live.checkEvery())
	defer t.Stop()
	var flips []string
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixMilli()
		lv := &h.live
		lv.mu.Lock()
		for topic, w := range lv.topics {
			if w.stale != (now-w.heard > w.after.Milliseconds()) {
				flips = append(flips, topic)
			}
		}
		lv.mu.Unlock()
		h.flip(flips, now)
		clear(flips)
		flips = flips[:0]
	}
}

// flip applies the verdict at now (Unix ms) of topics, found to have
// changed without the hub's lock: under it, each is looked at again.
func (h *Hub) flip(topics []string, now int64) {
	if len(topics) == 0 {
		return
	}
	var wk wakes
	lv := &h.live
	h.mu.Lock()
	lv.mu.Lock()
	for _, topic := range topics {
		w := lv.topics[topic]
		if w == nil {
			continue
		}
		if stale := now-w.heard > w.after.Milliseconds(); stale != w.stale {
			h.flipLocked(topic, w, stale, w.heard, &wk)
		}
	}
	lv.mu.Unlock()
	h.mu.Unlock()
	h.finish(&wk)
}

// Heartbeat notes that the publisher of the topics of f was alive at at
// (its sender's time): each watched topic f matches counts as heard then,
// and one that was stale is fresh again at once. It returns how many
// watched topics f matched. Topics never heard of are not watched: a
// heartbeat does not make them known.
func (h *Hub) Heartbeat(f feed.Filter, at time.Time) int {
	lv := &h.live
	if lv.rules == nil {
		return 0
	}
	ms, now := at.UnixMilli(), time.Now().UnixMilli()
	n := 0
	var revived []string
	heard := func(topic string, w *watchedTopic) {
		n++
		w.heard = max(w.heard, ms)
		if w.stale && now-w.heard <= w.after.Milliseconds() {
			revived = append(revived, topic)
		}
	}
	lv.mu.Lock()
	if !f.All && len(f.Prefixes) == 0 {
		for _, t := range f.Topics {
			if w := lv.topics[t]; w != nil {
				heard(t, w)
			}
		}
	} else {
		for t, w := range lv.topics {
			if f.Match(t) {
				heard(t, w)
			}
		}
	}
	lv.mu.Unlock()
	h.flip(revived, now)
	return n
}

// Liveness is what the hub knows of a topic's liveness: whether it is
// watched, and if so whether it is stale, since when (the time it was
// last heard of).
type Liveness struct {
	Watched, Stale bool
	Since          time.Time
}

// LivenessOf returns the liveness of each of topics that is watched.
func (h *Hub) LivenessOf(topics []string) map[string]Liveness {
	lv := &h.live
	if lv.rules == nil {
		return nil
	}
	out := make(map[string]Liveness)
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for _, t := range topics {
		if w := lv.topics[t]; w != nil {
			l := Liveness{Watched: true, Stale: w.stale}
			if w.stale {
				l.Since = time.UnixMilli(w.heard).UTC()
			}
			out[t] = l
		}
	}
	return out
}

// StaleTopics returns how many watched topics are stale now.
func (h *Hub) StaleTopics() int { return int(h.live.count.Load()) }
