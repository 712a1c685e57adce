package cluster

import (
	"sort"
	"sync"

	"livefeed/feed"
)

// recent holds the newest events this node applied, as stored, so that a
// publish is answered with its events without reading them back from
// SQLite (a query cost more than the rest of a publish). A publish whose
// events are no longer here reads them from the store.
type recent struct {
	mu     sync.Mutex
	events []feed.Event // ascending IDs
	bytes  int
}

// What recent keeps at most: events, and bytes of their data. A streaming
// publish's group of up to 4,096 lines is answered from here, while the
// groups of other connections are applied between its lines.
const (
	recentEvents = 16384
	recentBytes  = 8 << 20
)

// add records events just applied, newer than any recorded.
func (r *recent) add(events []feed.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
	for _, e := range events {
		r.bytes += len(e.Data)
	}
	drop := 0
	for len(r.events)-drop > recentEvents || r.bytes > recentBytes && drop < len(r.events) {
		r.bytes -= len(r.events[drop].Data)
		r.events[drop] = feed.Event{}
		drop++
	}
	r.events = r.events[drop:]
}

// get returns the events with IDs first to last, if it holds every one
// of them (IDs are consecutive within a publish).
func (r *recent) get(first, last int64) ([]feed.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := sort.Search(len(r.events), func(i int) bool { return r.events[i].ID >= first })
	n := int(last - first + 1)
	if i+n > len(r.events) || r.events[i].ID != first || r.events[i+n-1].ID != last {
		return nil, false
	}
	return append([]feed.Event(nil), r.events[i:i+n]...), true
}

// pick returns the events with IDs ids (ascending), if it holds every one
// of them.
func (r *recent) pick(ids []int64) ([]feed.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]feed.Event, 0, len(ids))
	i := sort.Search(len(r.events), func(i int) bool { return r.events[i].ID >= ids[0] })
	for _, id := range ids {
		for i < len(r.events) && r.events[i].ID < id {
			i++
		}
		if i == len(r.events) || r.events[i].ID != id {
			return nil, false
		}
		out = append(out, r.events[i])
	}
	return out, true
}
