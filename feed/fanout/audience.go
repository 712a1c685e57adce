package fanout

// Audience. How many open streams receive each topic is counted from the
// subscribers' filters, not from the events: nothing is done per event,
// and publishing does not look at any of it.
//
// The open subscribers are kept in groups of the same filter (see
// Identified): a subscriber joins its group as it opens and leaves it as
// it closes, under the hub's lock that both hold already, so that a
// count copies only the groups (a few hundred words for thousands of
// widgets on the same few games) and the known topics under the read
// lock, and counts outside it: each group's keys are added to counters by
// exact topic, by prefix and for every topic, and each known topic sums
// the counters of its topic, its prefixes and "*" (the window's index
// does the same walk for each event). A subscriber whose keys cover
// topics it does not receive (a public reader of "*" while some topics
// are private, see Narrowed) is counted with the others of its access,
// and each topic asks that access once whether it allows it.
//
// A count is kept for Options.Audience and shared by every caller
// meanwhile: however often it is asked for, it is made at most once per
// interval, by the caller that finds it old.

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"livefeed/feed"
)

// Identified is a Filter that names what it matches: two filters of the
// same Identity match the same topics, so that the audience counts their
// subscribers together. feed.Filter and feed.Visible are; a filter that
// is not is a group of its own.
type Identified interface {
	Filter
	Identity() string
}

// Audience is how many open streams receive each known topic, at one
// moment.
type Audience struct {
	At time.Time
	// Viewers are, for each topic the hub has a latest event of (archived
	// topics left out), the open streams that receive it: those of the
	// topic, and those of a pattern that matches it, each once, whether
	// in real time, delayed or conflated. A topic nobody receives is 0.
	// Streams of topics that have had no event yet are in the totals
	// only.
	Viewers map[string]int
	// Streams are the open streams; Patterns those with a prefix or "*"
	// among their topics, Delayed and Conflated those delivered so.
	Streams, Patterns, Delayed, Conflated int
}

// audience is the hub's state of its audience: the groups of its
// subscribers, guarded by the hub's mu, and the latest count.
type audience struct {
	every              time.Duration // Options.Audience; 0: not counted
	groups             map[string]*audienceGroup
	delayed, conflated int

	mu     sync.Mutex // held while counting, so that one caller counts
	latest *Audience
}

// audienceGroup is the open subscribers of one filter. Everything but n
// is set when it is made and never changed.
type audienceGroup struct {
	filter Filter
	n      int // guarded by the hub's mu
	// The keys it is counted by, each topic it matches under one of them
	// only; access, if set, is asked about each topic (a narrowed
	// feed.Visible), and match set means its filter is (another Narrowed).
	topics, prefixes []string
	all              bool
	access           *feed.Access
	match            bool
}

// joinAudience adds s to its group. h.mu must be held for writing.
func (h *Hub) joinAudience(s *Subscriber) {
	a := &h.aud
	if a.every <= 0 {
		return
	}
	key := ""
	if f, ok := s.filter.(Identified); ok {
		key = f.Identity()
	}
	g := a.groups[key]
	if g == nil || key == "" {
		g = newAudienceGroup(s.filter)
		if key == "" {
			key = groupKeyOf(s)
		}
		a.groups[key] = g
	}
	g.n++
	s.audience, s.audienceKey = g, key
	if s.line != nil {
		a.delayed++
	}
	if s.conflate > 0 {
		a.conflated++
	}
}

// leaveAudience removes s from its group. h.mu must be held for writing.
func (h *Hub) leaveAudience(s *Subscriber) {
	g := s.audience
	if g == nil {
		return
	}
	a := &h.aud
	if g.n--; g.n == 0 {
		delete(a.groups, s.audienceKey)
	}
	if s.line != nil {
		a.delayed--
	}
	if s.conflate > 0 {
		a.conflated--
	}
	s.audience = nil
}

// groupKeyOf is the key of the group of its own of a subscriber whose
// filter has no Identity: one no Identity can be (they are topic
// patterns, which hold no NUL).
func groupKeyOf(s *Subscriber) string {
	return fmt.Sprintf("\x00%p", s)
}

// newAudienceGroup returns the group of f, its keys made disjoint.
func newAudienceGroup(f Filter) *audienceGroup {
	g := &audienceGroup{filter: f}
	topics, prefixes, all := f.Keys()
	if v, ok := f.(feed.Visible); ok && !v.Exact() {
		acc := v.Access()
		g.access = &acc
	} else if narrowed(f) {
		g.match = true
		return g
	}
	g.topics, g.prefixes, g.all = disjointKeys(topics, prefixes, all)
	return g
}

// disjointKeys drops the keys another key covers, so that each topic is
// under one key at most: a subscriber counts once per topic, however many
// of its patterns match it.
func disjointKeys(topics, prefixes []string, all bool) ([]string, []string, bool) {
	if all {
		return nil, nil, true
	}
	under := func(s string, ps []string) bool {
		for _, p := range ps {
			if len(p) < len(s)+1 && p != s && strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}
	ps := slices.Compact(slices.Sorted(slices.Values(prefixes)))
	ps = slices.DeleteFunc(ps, func(p string) bool { return under(p, ps) })
	ts := slices.Compact(slices.Sorted(slices.Values(topics)))
	ts = slices.DeleteFunc(ts, func(t string) bool { return under(t, ps) })
	return ts, ps, false
}

// Audience returns how many open streams receive each known topic, as
// counted at most Options.Audience ago; nil if the hub does not count
// (Options.Audience is 0). The result is shared: callers must not change
// it.
func (h *Hub) Audience() *Audience {
	a := &h.aud
	if a.every <= 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.latest != nil && now.Sub(a.latest.At) < a.every {
		return a.latest
	}
	a.latest = h.countAudience(now)
	return a.latest
}

// countAudience counts the audience now. It holds the hub's read lock for
// a copy of the groups and of the known topics' names, and counts
// without it.
func (h *Hub) countAudience(now time.Time) *Audience {
	type counted struct {
		g *audienceGroup
		n int
	}
	h.mu.RLock()
	groups := make([]counted, 0, len(h.aud.groups))
	for _, g := range h.aud.groups {
		groups = append(groups, counted{g, g.n})
	}
	known := make([]string, 0, len(h.latest))
	for t, m := range h.latest {
		if !m.Archive {
			known = append(known, t)
		}
	}
	out := &Audience{At: now, Streams: len(h.subs), Delayed: h.aud.delayed, Conflated: h.aud.conflated}
	h.mu.RUnlock()

	plain := newKeyCounts()
	byAccess := make(map[string]*keyCounts) // narrowed feed.Visible, by access
	var matched []counted                   // other narrowed filters
	for _, c := range groups {
		g := c.g
		if g.all || len(g.prefixes) > 0 {
			out.Patterns += c.n
		}
		switch {
		case g.match:
			matched = append(matched, c)
			continue
		case g.access != nil:
			key := g.access.Private.String() + "\x00" + g.access.Granted.String()
			kc := byAccess[key]
			if kc == nil {
				kc = newKeyCounts()
				kc.access = g.access
				byAccess[key] = kc
			}
			kc.add(g, c.n)
		default:
			plain.add(g, c.n)
		}
	}
	out.Viewers = make(map[string]int, len(known))
	for _, t := range known {
		n := plain.of(t)
		for _, kc := range byAccess {
			if k := kc.of(t); k > 0 && kc.access.Allows(t) {
				n += k
			}
		}
		for _, c := range matched {
			if c.g.filter.Match(t) {
				n += c.n
			}
		}
		out.Viewers[t] = n
	}
	return out
}

// keyCounts are subscribers counted by the keys of their filters.
type keyCounts struct {
	exact, prefix map[string]int
	all           int
	access        *feed.Access // the access of them all, for byAccess
}

func newKeyCounts() *keyCounts {
	return &keyCounts{exact: make(map[string]int), prefix: make(map[string]int)}
}

// add counts the n subscribers of g.
func (kc *keyCounts) add(g *audienceGroup, n int) {
	if g.all {
		kc.all += n
		return
	}
	for _, t := range g.topics {
		kc.exact[t] += n
	}
	for _, p := range g.prefixes {
		kc.prefix[p] += n
	}
}

// of returns how many of the subscribers counted have a key matching
// topic: each has at most one.
func (kc *keyCounts) of(topic string) int {
	n := kc.all + kc.exact[topic]
	if len(kc.prefix) > 0 {
		for i := 0; i < len(topic); i++ {
			if topic[i] == '/' {
				n += kc.prefix[topic[:i+1]]
			}
		}
	}
	return n
}

// Sum returns the audiences of several nodes of a cluster together: the
// viewers of each topic and the totals added up, at the earliest of
// their times. Nil audiences are left out; nil if all are.
func Sum(audiences ...*Audience) *Audience {
	var out *Audience
	for _, a := range audiences {
		if a == nil {
			continue
		}
		if out == nil {
			out = &Audience{At: a.At, Viewers: make(map[string]int, len(a.Viewers))}
		}
		if a.At.Before(out.At) {
			out.At = a.At
		}
		for t, n := range a.Viewers {
			out.Viewers[t] += n
		}
		out.Streams += a.Streams
		out.Patterns += a.Patterns
		out.Delayed += a.Delayed
		out.Conflated += a.Conflated
	}
	return out
}
