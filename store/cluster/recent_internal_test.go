package cluster

import (
	"testing"

	"livefeed/feed"
)

func TestRecent(t *testing.T) {
	t.Parallel()
	var r recent
	ev := func(id int64, size int) feed.Event { return feed.Event{ID: id, Data: make([]byte, size)} }
	r.add([]feed.Event{ev(1, 10), ev(2, 10), ev(3, 10)})
	r.add([]feed.Event{ev(5, 10)}) // 4 was a message that is not an event
	for _, tc := range []struct {
		first, last int64
		ok          bool
	}{
		{1, 1, true}, {1, 3, true}, {2, 3, true}, {5, 5, true},
		{3, 5, false}, // 4 is not there: not a publish of consecutive events
		{4, 4, false}, {0, 1, false}, {5, 6, false}, {6, 6, false},
	} {
		got, ok := r.get(tc.first, tc.last)
		if ok != tc.ok || ok && (len(got) != int(tc.last-tc.first+1) || got[0].ID != tc.first) {
			t.Errorf("get(%d, %d) = %v, %v; want ok %v", tc.first, tc.last, got, ok, tc.ok)
		}
	}
	// Bounded by count...
	for id := int64(6); id < 6+recentEvents; id++ {
		r.add([]feed.Event{ev(id, 1)})
	}
	if _, ok := r.get(5, 5); ok || len(r.events) != recentEvents {
		t.Errorf("after %d more events: %d held, the oldest still there %v", recentEvents, len(r.events), ok)
	}
	// ... and by bytes: one event larger than the bound is not kept.
	r.add([]feed.Event{ev(10_000, recentBytes+1)})
	if _, ok := r.get(10_000, 10_000); ok || r.bytes != 0 || len(r.events) != 0 {
		t.Errorf("an event larger than the bound: %d events, %d bytes held", len(r.events), r.bytes)
	}
	r.add([]feed.Event{ev(10_001, 100)})
	if got, ok := r.get(10_001, 10_001); !ok || got[0].ID != 10_001 {
		t.Errorf("after the large one: %v %v", got, ok)
	}
}
