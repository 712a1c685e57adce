package fanout_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
)

// subscribeAs subscribes to f with a delay and a conflation interval (0:
// none).
func subscribeAs(t *testing.T, h *fanout.Hub, l *memLog, f fanout.Filter, start fanout.Start, delay, conflate time.Duration) *peer {
	t.Helper()
	return subscribeWith(t, h, fanout.Subscription{Filter: f, Start: start, Replay: l.history(f), Delay: delay, Conflate: conflate})
}

// delayedHub returns a hub with a delay line of d, and a log stamping
// events with the clock, which the hub's lines read when its window no
// longer holds what they are to release.
func delayedHub(t *testing.T, opts fanout.Options, d time.Duration) (*fanout.Hub, *memLog) {
	t.Helper()
	opts.Delays = []time.Duration{d}
	h, l := newHub(t, opts)
	l.clock = time.Now
	h.SetStored(l.history(filterOf("*")))
	return h, l
}

// setClock makes the log stamp events with at.
func (l *memLog) setClock(at time.Time) {
	l.mu.Lock()
	l.clock = func() time.Time { return at }
	l.mu.Unlock()
}

// eventTime returns the time of event id.
func (l *memLog) eventTime(id string) time.Time {
	n, _ := strconv.Atoi(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[n-1].Time
}

// expectDue reads events and checks their IDs, and that none arrived
// before it was delay old.
func (c *peer) expectDue(t *testing.T, l *memLog, delay time.Duration, ids ...int64) {
	t.Helper()
	for _, want := range ids {
		ev := c.next(t)
		if ev.Type == feed.EventPosition {
			ev = c.next(t)
		}
		at := time.Now()
		if ev.ID != strconv.FormatInt(want, 10) {
			t.Fatalf("got event %s (%s), want %d", ev.ID, ev.Type, want)
		}
		if due := l.eventTime(ev.ID).Add(delay); at.Before(due) {
			t.Fatalf("event %s arrived %v before it was %v old", ev.ID, due.Sub(at), delay)
		}
	}
}

// TestDelayed: a delayed subscriber gets an event only once it is as old
// as the delay, by the event's time: in its snapshot (the latest event at
// least that old, and the line's position), resuming, and live; a
// real-time subscriber meanwhile gets it at once.
func TestDelayed(t *testing.T) {
	t.Parallel()
	const delay = time.Second
	h, l := delayedHub(t, fanout.Options{}, delay)
	l.setClock(time.Now().Add(-time.Minute))
	l.publish("a", 1) // 1: a minute old
	l.clock = time.Now
	l.publish("a", 1) // 2
	l.publish("b", 1) // 3

	realtime := subscribe(t, h, l, filterOf("*"), fanout.Start{})
	realtime.expectIDs(t, 2, 3)
	poll.Until(t, "the line to release event 1", func() bool { return h.Released(delay) == 1 })
	delayed := subscribeAs(t, h, l, filterOf("*"), fanout.Start{}, delay, 0)
	// The snapshot as it was a delay ago: event 1, which is the line's
	// position, so the position event has no id line.
	delayed.expectRaw(t, string(l.msgs[0].Frame)+"event: livefeed.position\ndata: {\"last_id\":1}\n\n")
	resumed := subscribeAs(t, h, l, filterOf("b"), fanout.Start{Resume: true, After: 0}, delay, 0)
	delayed.expectDue(t, l, delay, 2, 3)
	resumed.expectDue(t, l, delay, 3)

	l.publish("a", 1) // 4
	realtime.expectIDs(t, 4)
	delayed.expectDue(t, l, delay, 4)
	if st := h.Stats(); st.Dropped != 0 {
		t.Fatalf("%d subscribers dropped", st.Dropped)
	}
}

// TestDelayedReplayStopsAtLine: a delayed subscriber resuming from far
// back is replayed from storage only what its line has released, never a
// younger event, then joins the line: also after a restart, when the
// line's window is empty and a page of storage holds younger events. One
// resuming from beyond the line (it saw those events in real time
// before) gets nothing twice.
func TestDelayedReplayStopsAtLine(t *testing.T) {
	t.Parallel()
	const delay = 700 * time.Millisecond
	h, l := delayedHub(t, fanout.Options{Window: 100}, delay)
	l.setClock(time.Now().Add(-time.Minute))
	l.publish("a", 150) // 1-150: old, released; the line's window holds them, the hub's 100
	l.clock = time.Now
	l.publish("a", 30) // 151-180: not yet due

	// The same after a restart: the line starts at its position in
	// storage, with an empty window.
	restarted, _ := newHub(t, fanout.Options{Window: 100, Delays: []time.Duration{delay}})
	l.mu.Lock()
	events := slices.Clone(l.events)
	l.mu.Unlock()
	restarted.Preload(events[179:], events[80:], 180)
	restarted.PreloadDelayed(delay, events[149:150], 150)
	l2 := &memLog{hub: restarted, events: events, msgs: restarted.Encode(events), clock: time.Now}
	restarted.SetStored(l2.history(filterOf("*")))

	for _, tc := range []struct {
		h *fanout.Hub
		l *memLog
	}{{restarted, l2}, {h, l}} {
		for _, after := range []int64{0, 120} {
			c := subscribeAs(t, tc.h, tc.l, filterOf("a"), fanout.Start{Resume: true, After: after}, delay, 0)
			c.expectDue(t, tc.l, delay, seq(after+1, 180)...)
		}
	}
	ahead := subscribeAs(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 170}, delay, 0)
	l.publish("a", 1) // 181
	ahead.expectDue(t, l, delay, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181)
}

// TestDelayedFromStorage: events of the last delay period that the hub's
// window no longer holds reach delayed subscribers from storage, a page
// at a time, in order, none early, none lost.
func TestDelayedFromStorage(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	h, l := delayedHub(t, fanout.Options{Window: 100}, delay)
	fresh := subscribeAs(t, h, l, filterOf("*"), fanout.Start{}, delay, 0)
	fresh.expectRaw(t, "id: 0\nevent: livefeed.position\ndata: {\"last_id\":0}\n\n")
	// Three batches a delay apart (the hub's window keeps 100 events):
	// the line reads them from storage in pages of 1,000, across batches.
	// Each batch is due at once, so it is fewer than the line's window
	// holds (1,024): a subscriber that has not read a burst of more, due
	// in the same instant, falls out of the window and resumes from
	// storage, as on any window.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for range 3 {
			l.publish("a", 600)
			time.Sleep(delay) // the batches' times a delay apart
		}
		l.publish("b", 1) // 1801
	}()
	fresh.expectDue(t, l, delay, seq(1, 1801)...)
	<-published
	later := subscribeAs(t, h, l, filterOf("b"), fanout.Start{Resume: true, After: 0}, delay, 0)
	later.expectDue(t, l, delay, 1801)
}

// TestDelayedNeedsLine: a delay the hub has no line for is refused.
func TestDelayedNeedsLine(t *testing.T) {
	t.Parallel()
	h, l := delayedHub(t, fanout.Options{}, time.Second)
	err := h.Serve(t.Context(), nopConn{}, fanout.Subscription{Filter: filterOf("*"), Replay: l.history(filterOf("*")), Delay: 2 * time.Second})
	if err == nil {
		t.Fatal("a delay without a line was served")
	}
	if got := h.Delays(); !slices.Equal(got, []time.Duration{time.Second}) {
		t.Fatalf("Delays() = %v", got)
	}
}

// TestConflated: a conflated subscriber gets the first event of a quiet
// topic at once, then at most the latest of each topic per interval, in ID
// order; an event of a type never merged away goes out at once, after
// what was pending.
func TestConflated(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{NeverMerge: []string{"goal"}})
	c := subscribeAs(t, h, l, filterOf("*"), fanout.Start{}, 0, 300*time.Millisecond)
	c.expectRaw(t, "id: 0\nevent: livefeed.position\ndata: {\"last_id\":0}\n\n")
	// One batch: no tick comes between these. a/1 goes out at once; a/2-5
	// leave a/5 pending, b/6 waits behind it.
	l.publishBatch("a", "a", "a", "a", "a", "b")
	c.expectIDs(t, 1, 5, 6)

	l.mu.Lock()
	l.append([]feed.Event{
		{ID: 7, Topic: "a", Type: "note", Time: l.timeOf(7, nil), Data: []byte(`{}`)},
		{ID: 8, Topic: "a", Type: "goal", Time: l.timeOf(8, nil), Data: []byte(`{}`)},
		{ID: 9, Topic: "a", Type: "note", Time: l.timeOf(9, nil), Data: []byte(`{}`)},
		{ID: 10, Topic: "a", Type: "note", Time: l.timeOf(10, nil), Data: []byte(`{}`)},
	})
	l.mu.Unlock()
	c.expectIDs(t, 7, 8, 10)
}

// TestConflatedRate: under a steady stream of events on a few topics, a
// conflated subscriber gets about one event per topic per interval, the
// last it gets of each topic is the latest, and its IDs increase.
func TestConflatedRate(t *testing.T) {
	t.Parallel()
	const every = 200 * time.Millisecond
	h, l := newHub(t, fanout.Options{})
	c := subscribeAs(t, h, l, filterOf("t/*"), fanout.Start{}, 0, every)
	c.expectIDs(t) // connected
	start := time.Now()
	topics := []string{"t/a", "t/b", "t/c"}
	for time.Since(start) < 5*every {
		l.publishBatch(topics...)
		time.Sleep(time.Millisecond) // a publisher's pace, not synchronisation
	}
	elapsed := time.Since(start)
	last := l.last()
	got := map[string]int{}
	lastOf := map[string]int64{}
	for prev := int64(0); prev != last; {
		ev := c.next(t)
		if ev.Type == feed.EventPosition {
			continue
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= prev {
			t.Fatalf("event %d after %d", id, prev)
		}
		prev = id
		topic := topics[(id-1)%3]
		got[topic]++
		lastOf[topic] = id
	}
	// Never a stale value: the last of each topic is the latest.
	if lastOf["t/a"] != last-2 || lastOf["t/b"] != last-1 {
		t.Errorf("the last events received were %v; the latest are %d, %d, %d", lastOf, last-2, last-1, last)
	}
	intervals := int(elapsed/every) + 2
	for topic, n := range got {
		if n > 2*intervals { // at once after a quiet interval, then per tick
			t.Errorf("%s: %d events in %d intervals", topic, n, intervals)
		}
	}
	t.Logf("%d events published in %v; received %v", last, elapsed.Round(time.Millisecond), got)
}

// TestConflatedPhases: conflated subscribers of one filter and interval
// are flushed at ticks spread over the interval (up to ten phases), not
// all at once: with ten of them and a topic that never goes quiet, the
// event each gets at its first tick (the latest at that tick) differs.
func TestConflatedPhases(t *testing.T) {
	t.Parallel()
	const every = time.Second
	h, l := newHub(t, fanout.Options{})
	var subs []*peer
	for range 10 {
		c := subscribeAs(t, h, l, filterOf("a"), fanout.Start{}, 0, every)
		c.expectRaw(t, "id: 0\nevent: livefeed.position\ndata: {\"last_id\":0}\n\n") // attached
		subs = append(subs, c)
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		l.publish("a", 1) // out at once to every lane
		for start := time.Now(); time.Since(start) < 2*every; {
			l.publish("a", 1)
			time.Sleep(10 * time.Millisecond) // a publisher's pace, not synchronisation
		}
	}()
	ticked := map[string]bool{}
	for _, c := range subs {
		c.expectIDs(t, 1)
		ticked[c.next(t).ID] = true // the latest event at its first tick
	}
	<-published
	if len(ticked) < 5 {
		t.Errorf("the ten subscribers' first ticks sent %d different events; spread over ten phases of the interval, they send about ten", len(ticked))
	}
}

// TestConflatedResume: a conflated subscriber resuming gets the latest
// event of each of its topics that changed since its position, in ID
// order, archives included, then live conflated events; a position older
// than retention needs no reset, the latest events being always kept.
func TestConflatedResume(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{})
	l.publishBatch("a", "b", "a", "c", "b") // 1-5
	resume := func(f fanout.Filter, after int64) *peer {
		return subscribeAs(t, h, l, f, fanout.Start{Resume: true, After: after}, 0, 200*time.Millisecond)
	}
	resume(filterOf("*"), 2).expectIDs(t, 3, 4, 5)
	resume(filterOf("a", "c"), 0).expectIDs(t, 3, 4)
	quiet := resume(filterOf("*"), 5)
	l.publish("a", 1) // 6
	quiet.expectIDs(t, 6)
	gone := l.archive("c") // 7
	quiet.expectIDs(t, gone)
	resume(filterOf("*"), 5).expectIDs(t, 6, 7)
	subscribeAs(t, h, l, filterOf("*"), fanout.Start{}, 0, time.Second).expectIDs(t, 5, 6) // fresh: no archived topic

	l.mu.Lock()
	l.floor = 6
	l.mu.Unlock()
	resume(filterOf("*"), 3).expectIDs(t, 5, 6, 7) // no reset first
}

// TestDelayedConflated: a subscriber both delayed and conflated gets the
// latest released event of each topic, never one younger than its delay.
func TestDelayedConflated(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	h, l := delayedHub(t, fanout.Options{}, delay)
	c := subscribeAs(t, h, l, filterOf("*"), fanout.Start{}, delay, 200*time.Millisecond)
	c.expectIDs(t)
	ids := l.publishBatch("a", "a", "a", "b", "b")
	var got []string
	for len(got) == 0 || got[len(got)-1] != "5" {
		ev := c.next(t)
		if ev.Type == feed.EventPosition {
			continue
		}
		if due := l.eventTime(ev.ID).Add(delay); time.Now().Before(due) {
			t.Fatalf("event %s arrived before it was due", ev.ID)
		}
		got = append(got, ev.ID)
	}
	if !slices.IsSortedFunc(got, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y }) || len(got) > len(ids) {
		t.Fatalf("events %v", got)
	}
	resumed := subscribeAs(t, h, l, filterOf("*"), fanout.Start{Resume: true, After: 1}, delay, time.Second)
	resumed.expectIDs(t, 3, 5)
}

// TestPoliciesHoldNoGoroutine: delayed and conflated subscribers cost no
// goroutine each; a line has one, and an interval one tick.
func TestPoliciesHoldNoGoroutine(t *testing.T) {
	const n = 200
	h, l := delayedHub(t, fanout.Options{}, time.Second)
	before := runtime.NumGoroutine()
	var peers []*peer
	for i := range n {
		f := filterOf("t/" + strconv.Itoa(i%7))
		peers = append(peers,
			subscribeAs(t, h, l, f, fanout.Start{}, time.Second, 0),
			subscribeAs(t, h, l, f, fanout.Start{}, 0, time.Second),
			subscribeAs(t, h, l, f, fanout.Start{}, time.Second, 500*time.Millisecond))
	}
	for _, p := range peers {
		p.expectIDs(t)
	}
	poll.Until(t, "every subscriber attached", func() bool { return h.Stats().Subscribers == 3*n })
	// Each subscribe left a goroutine of the test's own: the end of its
	// pipe's Accept. Beyond those, two tickers.
	if grew := runtime.NumGoroutine() - before; grew > 3*n+10 {
		t.Fatalf("%d goroutines for %d subscribers", grew, 3*n)
	}
}

// TestDeliveryRace is the replay race for delayed and conflated
// subscribers: while publishers write, subscribers of several filters
// resume from random positions again and again (the hub's window is
// small, so many read from storage, and some are cut off for lag and
// reconnect). Each checks every event against the log as it arrives (see
// checkDelivery), and at the end, once publishing is over, that it gets
// what it is owed.
func TestDeliveryRace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		delay, conflate time.Duration
	}{
		{"Delayed", 150 * time.Millisecond, 0},
		{"Conflated", 0, 30 * time.Millisecond},
		{"DelayedConflated", 150 * time.Millisecond, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) { deliveryRace(t, tc.delay, tc.conflate, 3) })
	}
}

func deliveryRace(t *testing.T, delay, conflate time.Duration, seed uint64) {
	opts := fanout.Options{Window: 300}
	h, l := newHub(t, opts)
	if delay > 0 {
		h, l = delayedHub(t, opts, delay)
	}
	l.clock = time.Now
	topics := []string{"nba/a", "nba/b", "stocks/X", "stocks/Y"}
	filters := []fanout.Filter{filterOf("*"), filterOf("nba/*"), filterOf("stocks/X"), filterOf("nba/a", "stocks/Y")}
	done := make(chan struct{})
	var pubs sync.WaitGroup
	for p := range 4 {
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), seed))
			for range 150 {
				batch := make([]string, 1+rng.IntN(5))
				for i := range batch {
					batch[i] = topics[rng.IntN(len(topics))]
				}
				l.publishBatch(batch...)
				time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond) // the publishers' pace
			}
		})
	}
	go func() { pubs.Wait(); close(done) }()
	var subs sync.WaitGroup
	errs := make(chan error, 64)
	for s := range 8 {
		subs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), seed+1))
			f := filters[s%len(filters)]
			m := &model{log: l, filter: f, delay: delay, conflated: conflate > 0}
			for session := 0; ; session++ {
				finished := isClosed(done)
				start := fanout.Start{Resume: true, After: rng.Int64N(l.last() + 1)}
				if conflate > 0 && rng.IntN(3) == 0 {
					start = fanout.Start{} // a snapshot
				}
				if finished {
					start = fanout.Start{Resume: true, After: m.position}
				}
				m.start(start)
				n := 20 + rng.IntN(200)
				if finished {
					n = -1 // until it has everything
				}
				if err := checkDelivery(t, h, m, conflate, n, done); err != nil {
					errs <- fmt.Errorf("subscriber %d (%v, session %d from %+v): %w", s, f, session, start, err)
					return
				}
				if finished {
					return
				}
			}
		})
	}
	subs.Wait()
	close(errs)
	t.Logf("%d events, %d subscribers dropped for lag and resumed", l.last(), h.Stats().Dropped)
	for err := range errs {
		t.Error(err)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// model is what a subscriber of the race knows: its position, and the
// last event it has of each topic.
type model struct {
	log       *memLog
	filter    fanout.Filter
	delay     time.Duration
	conflated bool
	position  int64
	has       map[string]int64 // topic → ID of the last event it has
	resumed   bool             // from a position (else from a snapshot)
}

// start begins a session: resuming from a position, the subscriber has
// (by the contract) the latest event up to it of each topic.
func (m *model) start(s fanout.Start) {
	m.has = map[string]int64{}
	m.resumed = s.Resume
	m.position = 0
	if s.Resume {
		m.position = s.After
		m.log.mu.Lock()
		for _, e := range m.log.events[:s.After] {
			m.has[e.Topic] = e.ID
		}
		m.log.mu.Unlock()
	}
}

// receive checks an event the subscriber got at at, and takes it in.
func (m *model) receive(id int64, at time.Time) error {
	l := m.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if id <= m.position {
		return fmt.Errorf("event %d after %d: duplicate or out of order", id, m.position)
	}
	if id > int64(len(l.events)) {
		return fmt.Errorf("event %d is not in the log", id)
	}
	e := l.events[id-1]
	if !m.filter.Match(e.Topic) {
		return fmt.Errorf("event %d (%s) does not match the filter", id, e.Topic)
	}
	if due := e.Time.Add(m.delay); at.Before(due) {
		return fmt.Errorf("event %d arrived %v before it was %v old", id, due.Sub(at), m.delay)
	}
	if !m.conflated && m.resumed {
		// Every matching event in between must have come.
		for _, x := range l.events[m.position : id-1] {
			if m.filter.Match(x.Topic) {
				return fmt.Errorf("gap: event %d (%s) missing before %d", x.ID, x.Topic, id)
			}
		}
	}
	m.position = id
	m.has[e.Topic] = id
	if m.conflated {
		// Never stale: at position id, the subscriber has each topic's
		// latest event up to id, unless a later one exists (which a
		// resume from id, or the live stream, brings).
		latest := map[string]int64{}
		later := map[string]bool{}
		for _, x := range l.events {
			if x.ID <= id {
				latest[x.Topic] = x.ID
			} else {
				later[x.Topic] = true
			}
		}
		for topic, want := range latest {
			if m.filter.Match(topic) && !later[topic] && m.has[topic] != want && (m.resumed || m.has[topic] != 0) {
				return fmt.Errorf("at %d, %s is stale: it has event %d, the latest is %d", id, topic, m.has[topic], want)
			}
		}
	}
	return nil
}

// owed returns the first event the subscriber is still owed now that the
// log is complete (0: none): unconflated, the next matching event;
// conflated, the latest of a matching topic it does not have.
func (m *model) owed() int64 {
	l := m.log
	l.mu.Lock()
	defer l.mu.Unlock()
	latest := map[string]int64{}
	for _, x := range l.events[m.position:] {
		if !m.filter.Match(x.Topic) {
			continue
		}
		if !m.conflated {
			return x.ID
		}
		latest[x.Topic] = x.ID
	}
	var first int64
	for topic, id := range latest {
		if m.has[topic] != id && (first == 0 || id < first) {
			first = id
		}
	}
	return first
}

// checkDelivery reads n events of a session of m (n < 0: until it has
// everything it is owed, once publishing is done), reconnecting from its
// position when the hub cuts it off for lag, as a browser does.
func checkDelivery(t *testing.T, h *fanout.Hub, m *model, conflate time.Duration, n int, done chan struct{}) error {
	start := fanout.Start{Resume: m.resumed, After: m.position}
	c := subscribeAs(t, h, m.log, m.filter, start, m.delay, conflate)
	defer func() { c.conn.Close() }()
	for read := 0; n < 0 || read < n; {
		if n < 0 && m.owed() == 0 || n >= 0 && isClosed(done) {
			return nil // done; once publishing is over, the final session checks the rest
		}
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		ev, err := c.rd.Next()
		at := time.Now()
		if errors.Is(err, io.EOF) {
			c.conn.Close()
			c = subscribeAs(t, h, m.log, m.filter, fanout.Start{Resume: true, After: m.position}, m.delay, conflate)
			m.resumed = true
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && n >= 0 && isClosed(done) {
				return nil // publishing is over: the final session checks the rest
			}
			if owed := m.owed(); owed != 0 {
				return fmt.Errorf("event %d is owed but never arrived (position %d): %w", owed, m.position, err)
			}
			return err
		}
		switch ev.Type {
		case feed.EventPosition:
			p, _ := strconv.ParseInt(c.rd.LastEventID(), 10, 64)
			m.position = max(m.position, p)
			m.resumed = true
			continue
		case "reset":
			return fmt.Errorf("reset: %s", ev.Data)
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if err := m.receive(id, at); err != nil {
			return err
		}
		read++
	}
	return nil
}
