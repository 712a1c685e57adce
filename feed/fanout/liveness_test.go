package fanout_test

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
)

// staleAfter is the rule of the liveness tests: short, so that they run
// in real time.
const staleAfter = 300 * time.Millisecond

// staleHub returns a hub watching the topics under "t/", and a log that
// stamps events with the clock.
func staleHub(t *testing.T, opts fanout.Options) (*fanout.Hub, *memLog) {
	t.Helper()
	opts.Stale = []fanout.StaleRule{{Topics: feed.Filter{Prefixes: []string{"t/"}}, After: staleAfter}}
	h, l := newHub(t, opts)
	l.clock = time.Now
	return h, l
}

// expectLiveness reads the next frame, which must be a stale (stale set)
// or fresh notice of topic, leaving the last event ID at lastID.
func (c *peer) expectLiveness(t *testing.T, topic string, stale bool, lastID string) map[string]string {
	t.Helper()
	ev := c.next(t)
	if ev.Type == feed.EventPosition {
		ev = c.next(t)
	}
	want := feed.EventFresh
	if stale {
		want = feed.EventStale
	}
	var data map[string]string
	if ev.Type != want || json.Unmarshal([]byte(ev.Data), &data) != nil || data["topic"] != topic {
		t.Fatalf("got %s %s, want %s of %s", ev.Type, ev.Data, want, topic)
	}
	if ev.ID != lastID {
		t.Fatalf("the %s notice moved the last event ID to %q (want %q)", want, ev.ID, lastID)
	}
	return data
}

// TestLivenessNotices: a watched topic that hears nothing for its rule's
// interval is stale to every kind of subscriber of it (real time,
// conflated, delayed), and fresh again at its next event or heartbeat;
// the notices take no ID, and one attaching while it is stale is told
// after its snapshot or replay.
func TestLivenessNotices(t *testing.T) {
	t.Parallel()
	h, l := staleHub(t, fanout.Options{Delays: []time.Duration{time.Second}})
	l.publish("t/a", 1)
	l.publish("u/b", 1) // not watched
	plain := subscribe(t, h, l, filterOf("t/*"), fanout.Start{Resume: true, After: 0})
	conflated := subscribeAs(t, h, l, filterOf("t/a"), fanout.Start{}, 0, 200*time.Millisecond)
	delayed := subscribeAs(t, h, l, filterOf("*"), fanout.Start{}, time.Second, 0)
	plain.expectIDs(t, 1)
	conflated.expectIDs(t, 1)
	since := plain.expectLiveness(t, "t/a", true, "1")
	if since["after"] != "300ms" {
		t.Fatalf("stale data %v", since)
	}
	conflated.expectLiveness(t, "t/a", true, "2") // its snapshot's position
	delayed.expectLiveness(t, "t/a", true, "0")   // nothing is a second old
	if n := h.StaleTopics(); n != 1 {
		t.Fatalf("StaleTopics = %d", n)
	}
	if lv := h.LivenessOf([]string{"t/a", "u/b"}); len(lv) != 1 || !lv["t/a"].Stale || lv["t/a"].Since.Format(feed.TimeLayout) != since["since"] {
		t.Fatalf("LivenessOf = %v, stale since %s", lv, since["since"])
	}

	// A subscriber resuming while it is stale: its replay, then the notice.
	late := subscribe(t, h, l, filterOf("t/*", "u/*"), fanout.Start{Resume: true, After: 0})
	late.expectIDs(t, 1, 2)
	late.expectLiveness(t, "t/a", true, "2")
	snap := subscribe(t, h, l, filterOf("t/a"), fanout.Start{})
	snap.expectIDs(t, 1)
	snap.expectLiveness(t, "t/a", true, "2")

	// An event makes it fresh at once: the event, then the notice.
	l.publish("t/a", 1)
	plain.expectIDs(t, 3)
	plain.expectLiveness(t, "t/a", false, "3")
	late.expectIDs(t, 3)
	late.expectLiveness(t, "t/a", false, "3")

	// Stale again, then a heartbeat.
	plain.expectLiveness(t, "t/a", true, "3")
	if n := h.Heartbeat(feed.Filter{Prefixes: []string{"t/"}}, time.Now()); n != 1 {
		t.Fatalf("the heartbeat kept %d topics alive, want 1", n)
	}
	plain.expectLiveness(t, "t/a", false, "3")
	if n := h.Heartbeat(feed.Filter{Topics: []string{"t/never"}}, time.Now()); n != 0 {
		t.Fatalf("a heartbeat of a topic never published kept %d alive", n)
	}
}

// TestLivenessFinishedNeverStale: an archived topic and a finished game
// are not watched, until they hear an event again.
func TestLivenessFinishedNeverStale(t *testing.T) {
	t.Parallel()
	h, l := staleHub(t, fanout.Options{})
	l.publish("t/archived", 1)
	l.archive("t/archived")
	l.mu.Lock()
	l.append([]feed.Event{{ID: 3, Topic: "t/game", Type: feed.TypeScore, Time: time.Now(),
		Data: json.RawMessage(`{"home":"A","away":"B","home_score":1,"away_score":0,"status":"final"}`)}})
	l.mu.Unlock()
	l.publish("t/control", 1)
	p := subscribe(t, h, l, filterOf("t/*"), fanout.Start{Resume: true, After: 3})
	p.expectIDs(t, 4)
	p.expectLiveness(t, "t/control", true, "4") // the first and only notice
	if lv := h.LivenessOf([]string{"t/archived", "t/game"}); len(lv) != 0 {
		t.Fatalf("finished topics are watched: %v", lv)
	}
	if n := h.StaleTopics(); n != 1 {
		t.Fatalf("StaleTopics = %d, want 1", n)
	}
}

// TestLivenessHoldsNoGoroutine: telling many subscribers, some of whose
// sockets are full, costs no goroutine per subscriber, and a stuck one
// holds at most one notice per topic.
func TestLivenessHoldsNoGoroutine(t *testing.T) {
	h, l := staleHub(t, fanout.Options{WriteTimeout: time.Minute})
	l.publish("t/a", 1)
	const n = 50
	var peers []*peer
	for range n {
		peers = append(peers, subscribeTCP(t, h, l, filterOf("t/*"), fanout.Start{Resume: true, After: 1}, smallBuffers))
	}
	poll.Until(t, "every subscriber attached", func() bool { return h.Stats().Subscribers == n })
	before := runtime.NumGoroutine()
	for range 3 { // stale, fresh, stale, ...
		poll.Until(t, "t/a to go stale", func() bool { return h.StaleTopics() == 1 })
		h.Heartbeat(feed.Filter{Topics: []string{"t/a"}}, time.Now())
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines %d → %d telling %d subscribers", before, after, n)
	}
	for _, p := range peers {
		p.expectLiveness(t, "t/a", true, "")
		p.expectLiveness(t, "t/a", false, "")
	}
}
