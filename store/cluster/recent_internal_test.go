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
	if _, ok := r.get(5, 5); ok || r.n != recentEvents {
		t.Errorf("after %d more events: %d held, the oldest still there %v", recentEvents, r.n, ok)
	}
	// The events held now run past the end of the ring's slots and on
	// from its first: a range across that point is whole and in order.
	last := int64(5 + recentEvents)
	if got, ok := r.get(last-20, last); !ok || len(got) != 21 || got[0].ID != last-20 || got[20].ID != last {
		t.Errorf("get(%d, %d) across the ring's end = %d events, %v", last-20, last, len(got), ok)
	} else {
		for i, e := range got {
			if e.ID != last-20+int64(i) {
				t.Fatalf("get across the ring's end: event %d is %d", i, e.ID)
			}
		}
	}
	if got, ok := r.pick([]int64{6, last - 10, last}); !ok || got[0].ID != 6 || got[1].ID != last-10 || got[2].ID != last {
		t.Errorf("pick across the ring's end = %v, %v", got, ok)
	}
	// ... and by bytes: one event larger than the bound is not kept.
	r.add([]feed.Event{ev(10_000, recentBytes+1)})
	if _, ok := r.get(10_000, 10_000); ok || r.bytes != 0 || r.n != 0 {
		t.Errorf("an event larger than the bound: %d events, %d bytes held", r.n, r.bytes)
	}
	r.add([]feed.Event{ev(10_001, 100)})
	if got, ok := r.get(10_001, 10_001); !ok || got[0].ID != 10_001 {
		t.Errorf("after the large one: %v %v", got, ok)
	}
}

// BenchmarkRecentAdd: what a node pays to keep the events it applied, in
// groups of applyBatch as its mirror applies under streaming publishes.
//
//	go test -run '^$' -bench RecentAdd ./store/cluster/
func BenchmarkRecentAdd(b *testing.B) {
	var r recent
	group := make([]feed.Event, applyBatch)
	data := []byte(`{"symbol":"S0001","price":117.25,"change":-7.75,"volume":42}`)
	id := int64(0)
	for b.Loop() {
		for i := range group {
			id++
			group[i] = feed.Event{ID: id, Topic: "stocks/S0001", Type: feed.TypeTick, Data: data}
		}
		r.add(group)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*applyBatch), "ns/event")
}
