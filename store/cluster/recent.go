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
	mu sync.Mutex
	// ring holds the events in recentEvents slots (made at the first
	// add), the oldest at start, n of them, ascending IDs: adding and
	// dropping move no event.
	ring  []feed.Event
	start int
	n     int
	bytes int // of their data
}

// What recent keeps at most: events, and bytes of their data. A streaming
// publish's group of up to 4,096 lines is answered from here, while the
// groups of other connections are applied between its lines.
const (
	recentEvents = 16384
	recentBytes  = 8 << 20
)

// at is the i-th event held, the oldest first.
func (r *recent) at(i int) *feed.Event { return &r.ring[(r.start+i)%len(r.ring)] }

// add records events just applied, newer than any recorded.
func (r *recent) add(events []feed.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ring == nil {
		r.ring = make([]feed.Event, recentEvents)
	}
	if len(events) > len(r.ring) {
		events = events[len(events)-len(r.ring):]
	}
	for _, e := range events {
		if r.n == len(r.ring) {
			r.dropOldest()
		}
		*r.at(r.n) = e
		r.n++
		r.bytes += len(e.Data)
	}
	for r.bytes > recentBytes && r.n > 0 {
		r.dropOldest()
	}
}

func (r *recent) dropOldest() {
	e := r.at(0)
	r.bytes -= len(e.Data)
	*e = feed.Event{} // its data is the store's to free
	r.start = (r.start + 1) % len(r.ring)
	r.n--
}

// search is the index of the oldest event held with an ID of id or
// more (r.n if none).
func (r *recent) search(id int64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).ID >= id })
}

// get returns the events with IDs first to last, if it holds every one
// of them (IDs are consecutive within a publish).
func (r *recent) get(first, last int64) ([]feed.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.search(first)
	n := int(last - first + 1)
	if n <= 0 || i+n > r.n || r.at(i).ID != first || r.at(i+n-1).ID != last {
		return nil, false
	}
	out := make([]feed.Event, n)
	for k := range out {
		out[k] = *r.at(i + k)
	}
	return out, true
}

// pick returns the events with IDs ids (ascending), if it holds every one
// of them.
func (r *recent) pick(ids []int64) ([]feed.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]feed.Event, 0, len(ids))
	i := r.search(ids[0])
	for _, id := range ids {
		for i < r.n && r.at(i).ID < id {
			i++
		}
		if i == r.n || r.at(i).ID != id {
			return nil, false
		}
		out = append(out, *r.at(i))
	}
	return out, true
}
