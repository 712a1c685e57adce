package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
)

// topicFilter is a minimal fanout.Filter: exact topics, prefixes or all.
type topicFilter struct {
	topics, prefixes []string
	all              bool
}

func filterOf(patterns ...string) topicFilter {
	var f topicFilter
	for _, p := range patterns {
		switch {
		case p == "*":
			f.all = true
		case strings.HasSuffix(p, "/*"):
			f.prefixes = append(f.prefixes, strings.TrimSuffix(p, "*"))
		default:
			f.topics = append(f.topics, p)
		}
	}
	return f
}

func (f topicFilter) Match(topic string) bool {
	if f.all {
		return true
	}
	for _, t := range f.topics {
		if t == topic {
			return true
		}
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

func (f topicFilter) Keys() ([]string, []string, bool) { return f.topics, f.prefixes, f.all }

// memLog stands in for the store: it assigns IDs, keeps every event, and
// hands each batch to the hub in ID order, as the store's writer does.
type memLog struct {
	hub    *fanout.Hub
	mu     sync.Mutex
	events []feed.Event
	msgs   []*fanout.Message // the frames of events, as the hub encodes them
	floor  int64
	// clock, if set, gives events their times (never going back, as the
	// store's); else event n was published at n ms after 1970.
	clock func() time.Time
}

func (l *memLog) publish(topic string, n int) []int64 {
	topics := make([]string, n)
	for i := range topics {
		topics[i] = topic
	}
	return l.publishBatch(topics...)
}

// publishBatch publishes one event on each topic, in one batch: the hub
// takes them under one lock, so no tick or release comes between them.
func (l *memLog) publishBatch(topics ...string) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch := make([]feed.Event, len(topics))
	ids := make([]int64, len(topics))
	for i, topic := range topics {
		id := int64(len(l.events) + i + 1)
		data, _ := json.Marshal(map[string]any{"id": id, "topic": topic})
		batch[i] = feed.Event{ID: id, Topic: topic, Type: "note", Time: l.timeOf(id, batch[:i]), Data: data}
		ids[i] = id
	}
	l.append(batch)
	return ids
}

// timeOf is the time of event id, after those of before in its batch.
// l.mu must be held.
func (l *memLog) timeOf(id int64, before []feed.Event) time.Time {
	if l.clock == nil {
		return time.UnixMilli(id).UTC()
	}
	t := l.clock().UTC().Truncate(time.Millisecond)
	if n := len(before); n > 0 && t.Before(before[n-1].Time) {
		t = before[n-1].Time
	}
	if n := len(l.events); n > 0 && t.Before(l.events[n-1].Time) {
		t = l.events[n-1].Time
	}
	return t
}

// append keeps batch, and hands it to the hub as the store's writer does.
// l.mu must be held.
func (l *memLog) append(batch []feed.Event) {
	l.events = append(l.events, batch...)
	l.msgs = append(l.msgs, l.hub.Encode(batch)...)
	l.hub.Publish(batch)
}

// archive publishes an archive event for topic and returns its ID.
func (l *memLog) archive(topic string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := int64(len(l.events) + 1)
	l.append([]feed.Event{{ID: id, Topic: topic, Type: feed.TypeArchive, Time: l.timeOf(id, nil), Data: json.RawMessage(`{}`)}})
	return id
}

func (l *memLog) history(f fanout.Filter) fanout.Replay { return &memHistory{log: l, filter: f} }

type memHistory struct {
	log    *memLog
	filter fanout.Filter
}

func (h *memHistory) Check(after int64) error {
	h.log.mu.Lock()
	defer h.log.mu.Unlock()
	if after < h.log.floor {
		return feed.ErrPruned
	}
	return nil
}

func (h *memHistory) After(_ context.Context, after int64, limit int) ([]feed.Event, error) {
	h.log.mu.Lock()
	defer h.log.mu.Unlock()
	if after < h.log.floor {
		return nil, feed.ErrPruned
	}
	var out []feed.Event
	for _, m := range h.log.events {
		if m.ID > after && m.ID > h.log.floor && h.filter.Match(m.Topic) {
			out = append(out, m)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func newHub(tb testing.TB, opts fanout.Options) (*fanout.Hub, *memLog) {
	tb.Helper()
	h := fanout.NewHub(opts)
	tb.Cleanup(h.Close)
	return h, &memLog{hub: h}
}

// peer is the reading end of a subscriber's TCP connection.
type peer struct {
	conn net.Conn
	rd   *client.Reader
}

// subscribe connects a subscriber over a loopback TCP connection, the way
// the HTTP layer does after taking the connection over.
func subscribe(t *testing.T, h *fanout.Hub, l *memLog, f fanout.Filter, start fanout.Start) *peer {
	t.Helper()
	return subscribeWith(t, h, fanout.Subscription{Filter: f, Start: start, Replay: l.history(f)})
}

// subscribeWith is subscribe for a subscription of any kind.
func subscribeWith(t *testing.T, h *fanout.Hub, sub fanout.Subscription) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	server := <-accepted
	go h.Serve(context.Background(), fanout.NetConn(server), sub)
	return &peer{conn: c, rd: client.NewReader(c)}
}

// next reads the next event, failing the test after a generous deadline.
func (c *peer) next(t *testing.T) client.Message {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	ev, err := c.rd.Next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

// expectIDs reads events and checks their IDs. It passes over position
// events (feed.EventPosition, after a snapshot): the tests of snapshots
// look at them.
func (c *peer) expectIDs(t *testing.T, ids ...int64) {
	t.Helper()
	for _, want := range ids {
		ev := c.next(t)
		if ev.Type == feed.EventPosition {
			ev = c.next(t)
		}
		if ev.ID != strconv.FormatInt(want, 10) {
			t.Fatalf("got event %s (%s), want %d", ev.ID, ev.Type, want)
		}
	}
}

// expectClosed reads until the server closes the connection.
func (c *peer) expectClosed(t *testing.T) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, err := c.rd.Next()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server did not close the connection")
		}
		return
	}
}

func seq(from, to int64) []int64 {
	var ids []int64
	for i := from; i <= to; i++ {
		ids = append(ids, i)
	}
	return ids
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{})
	l.publish("nba/a", 2)    // 1, 2
	l.publish("stocks/X", 1) // 3
	l.publish("nba/b", 1)    // 4
	l.publish("other", 1)    // 5
	c := subscribe(t, h, l, filterOf("nba/*"), fanout.Start{})
	c.expectIDs(t, 2, 4) // the latest of each matching topic, in ID order
	l.publish("nba/a", 1)
	c.expectIDs(t, 6)
	// The position frame moved the client to the moment it subscribed.
	if c.rd.LastEventID() != "6" {
		t.Fatalf("LastEventID = %s", c.rd.LastEventID())
	}
}

// TestSnapshotLeavesArchived: an archived topic is not in the snapshot of
// new subscribers, exact or by pattern, nor after a restart (Preload);
// one streaming already gets the archive event, and so does one resuming
// from before it; a new event brings the topic back.
func TestSnapshotLeavesArchived(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{})
	l.publish("nba/a", 1) // 1
	l.publish("nba/b", 1) // 2
	watching := subscribe(t, h, l, filterOf("nba/*"), fanout.Start{})
	watching.expectIDs(t, 1, 2)
	gone := l.archive("nba/a") // 3
	watching.expectIDs(t, gone)
	subscribe(t, h, l, filterOf("nba/*"), fanout.Start{}).expectIDs(t, 2)
	exact := subscribe(t, h, l, filterOf("nba/a", "nba/b"), fanout.Start{})
	exact.expectIDs(t, 2)
	subscribe(t, h, l, filterOf("*"), fanout.Start{Resume: true, After: 1}).expectIDs(t, 2, 3)

	// After a restart: the store's latest event of nba/a is the archive.
	restarted, _ := newHub(t, fanout.Options{})
	restarted.Preload([]feed.Event{l.events[1], l.events[2]}, l.events, 3)
	l2 := &memLog{hub: restarted, events: l.events, msgs: l.msgs}
	subscribe(t, restarted, l2, filterOf("*"), fanout.Start{}).expectIDs(t, 2)

	l.publish("nba/a", 1) // 4: the game is back
	exact.expectIDs(t, 4)
	subscribe(t, h, l, filterOf("nba/*"), fanout.Start{}).expectIDs(t, 2, 4)
}

// TestSnapshotPosition: a snapshot ends with the position event, which
// moves the client to the newest ID there was when it subscribed, with
// data (npm's eventsource drops frames without), once: its id line is
// left out when the snapshot's last event was the newest.
func TestSnapshotPosition(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{})
	l.publish("a", 3) // 1-3
	l.publish("b", 2) // 4, 5

	// The position is newer than the snapshot: the event sets it.
	c := subscribe(t, h, l, filterOf("a"), fanout.Start{})
	c.expectRaw(t, string(l.msgs[2].Frame)+"id: 5\nevent: livefeed.position\ndata: {\"last_id\":5}\n\n")
	l.publish("a", 1) // 6
	c.expectRaw(t, string(l.msgs[5].Frame))

	// An empty snapshot: the event alone gives the client its position.
	empty := subscribe(t, h, l, filterOf("none"), fanout.Start{})
	empty.expectRaw(t, "id: 6\nevent: livefeed.position\ndata: {\"last_id\":6}\n\n")

	// The snapshot's last event is the newest: no ID is sent twice.
	newest := subscribe(t, h, l, filterOf("a", "b"), fanout.Start{})
	newest.expectRaw(t, string(l.msgs[4].Frame)+string(l.msgs[5].Frame)+"event: livefeed.position\ndata: {\"last_id\":6}\n\n")

	// An empty hub: position 0, from which a reconnect replays everything.
	h0, l0 := newHub(t, fanout.Options{})
	subscribe(t, h0, l0, filterOf("*"), fanout.Start{}).expectRaw(t, "id: 0\nevent: livefeed.position\ndata: {\"last_id\":0}\n\n")
}

// TestEveryFrameCarriesData: whatever a stream starts from, every frame
// the hub writes that a client needs (an ID, a reset, a notice) has data,
// since common clients (npm's eventsource) drop a frame without; and the
// IDs on a stream only increase. Only heartbeats, comments that clients
// need nothing from, have none.
func TestEveryFrameCarriesData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		filter  fanout.Filter
		start   fanout.Start
		expires time.Duration
	}{
		{"Fresh", filterOf("a"), fanout.Start{}, 0},
		{"FreshEmptySnapshot", filterOf("none", "late"), fanout.Start{}, 0},
		{"FreshSnapshotNewest", filterOf("b"), fanout.Start{}, 0},
		{"ResumeWindow", filterOf("*"), fanout.Start{Resume: true, After: 3}, 0},
		{"ResumeHistory", filterOf("a"), fanout.Start{Resume: true, After: 0}, 0},
		{"ResetInvalid", filterOf("*"), fanout.Start{Invalid: fanout.ResetInvalid}, 0},
		{"ResetAhead", filterOf("late"), fanout.Start{Resume: true, After: 99}, 0},
		{"ResetPruned", filterOf("a"), fanout.Start{Resume: true, After: 1}, 0},
		{"Expired", filterOf("a"), fanout.Start{}, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, l := newHub(t, fanout.Options{Window: 4, Heartbeat: 50 * time.Millisecond})
			l.publish("a", 5) // 1-5
			l.publish("b", 1) // 6
			l.floor = 2
			sub := fanout.Subscription{Filter: tc.filter, Start: tc.start, Replay: l.history(tc.filter)}
			if tc.expires > 0 {
				sub.Expires = time.Now().Add(tc.expires)
			}
			c := subscribeWith(t, h, sub)
			time.Sleep(120 * time.Millisecond) // a heartbeat or two
			l.publish("late", 1)
			l.publish("a", 1)
			if tc.expires == 0 {
				h.Close()
			} // else the stream ends when its token expires
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			raw, err := io.ReadAll(c.conn)
			if err != nil {
				t.Fatal(err)
			}
			var lastID int64 = -1
			frames := strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n")
			for _, frame := range frames {
				var hasData, comment bool
				for _, line := range strings.Split(frame, "\n") {
					name, value, _ := strings.Cut(line, ": ")
					switch {
					case strings.HasPrefix(line, ":"):
						comment = true
					case name == "data":
						hasData = true
					case name == "id":
						id, err := strconv.ParseInt(value, 10, 64)
						if err != nil || id <= lastID {
							t.Errorf("ID %q after %d in %q", value, lastID, raw)
						}
						lastID = id
					}
				}
				if !hasData && !(comment && !strings.Contains(frame, "\n")) {
					t.Errorf("a frame without data: %q in %q", frame, raw)
				}
			}
			if lastID < 0 {
				t.Errorf("no ID in %q", raw)
			}
		})
	}
}

// expectRaw reads exactly the bytes want from the connection, bypassing
// the reader.
func (c *peer) expectRaw(t *testing.T, want string) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if n, err := io.ReadFull(c.conn, got); err != nil {
		t.Fatalf("read %q, then %v; want %q", got[:n], err, want)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestResumeFromWindow(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Window: 1000})
	l.publish("a", 5)
	l.publish("b", 5)
	l.publish("a", 5) // a: 1-5, 11-15
	c := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 3})
	c.expectIDs(t, 4, 5, 11, 12, 13, 14, 15)
	l.publish("a", 1)
	c.expectIDs(t, 16)
}

func TestResumeFromHistory(t *testing.T) {
	t.Parallel()
	// A window of 100 holds the last 100 events; resuming from 10 must
	// read 11..(last-100) from history first.
	h, l := newHub(t, fanout.Options{Window: 100})
	l.publish("a", 2500)
	c := subscribe(t, h, l, filterOf("*"), fanout.Start{Resume: true, After: 10})
	c.expectIDs(t, seq(11, 2500)...)
	l.publish("a", 3)
	c.expectIDs(t, 2501, 2502, 2503)
}

func TestResumeFromHistorySparseTopic(t *testing.T) {
	t.Parallel()
	// The subscriber's topic is rare: history has nothing for it after the
	// position, and the window moves on with other topics.
	h, l := newHub(t, fanout.Options{Window: 100})
	l.publish("rare", 1) // 1
	l.publish("busy", 1000)
	c := subscribe(t, h, l, filterOf("rare"), fanout.Start{Resume: true, After: 1})
	l.publish("busy", 500)
	l.publish("rare", 1) // 1502
	c.expectIDs(t, 1502)
}

func TestReset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		start  fanout.Start
		floor  int64
		reason string
	}{
		{"Invalid", fanout.Start{Invalid: fanout.ResetInvalid}, 0, fanout.ResetInvalid},
		{"Ahead", fanout.Start{Resume: true, After: 99}, 0, fanout.ResetAhead},
		{"Pruned", fanout.Start{Resume: true, After: 2}, 5, fanout.ResetPruned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, l := newHub(t, fanout.Options{})
			l.publish("a", 10)
			l.floor = tc.floor
			c := subscribe(t, h, l, filterOf("a"), tc.start)
			ev := c.next(t)
			var body struct{ Reason, Message string }
			if ev.Type != "reset" || json.Unmarshal([]byte(ev.Data), &body) != nil || body.Reason != tc.reason || body.Message == "" {
				t.Fatalf("first event = %+v, want a reset for %q", ev, tc.reason)
			}
			c.expectIDs(t, 10) // the snapshot, then live
			l.publish("a", 1)
			c.expectIDs(t, 11)
		})
	}
}

// TestLaggingSubscriberDisconnected: a subscriber that stops reading is
// disconnected once an event it needs leaves the window, costs no more than
// its socket meanwhile, and never delays a reading subscriber.
func TestLaggingSubscriberDisconnected(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Window: 200, WriteTimeout: 30 * time.Second})
	stuck := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0})
	reader := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0})
	got := make(chan int64, 1)
	var read atomic.Int64
	go func() {
		var last int64
		for {
			ev, err := reader.rd.Next()
			if err != nil {
				got <- last
				return
			}
			last, _ = strconv.ParseInt(ev.ID, 10, 64)
			read.Store(last)
			if last == 3000 {
				got <- last
				return
			}
		}
	}()
	// 3000 events of 8 KiB: far more than the socket buffers hold, and far
	// more than the window. The publisher waits for the reading subscriber
	// every 100 events (no faster than it reads, as in a real feed).
	payload := strings.Repeat("x", 8<<10)
	for i := range 3000 {
		l.mu.Lock()
		id := int64(len(l.events) + 1)
		l.append([]feed.Event{{ID: id, Topic: "a", Type: "note", Time: time.UnixMilli(id).UTC(), Data: []byte(`{"p":"` + payload + `"}`)}})
		l.mu.Unlock()
		if i%100 == 99 {
			poll.Until(t, "", func() bool { return read.Load() >= id })
		}
	}
	if last := <-got; last != 3000 {
		t.Fatalf("the reading subscriber stopped at %d", last)
	}
	// The stuck client reads what its socket still holds, then reconnects
	// with the last ID it got, as a browser does, and misses nothing.
	var last int64
	stuck.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		ev, err := stuck.rd.Next()
		if err != nil {
			break
		}
		last, _ = strconv.ParseInt(ev.ID, 10, 64)
	}
	if st := h.Stats(); st.Dropped != 1 {
		t.Fatalf("Dropped = %d, want 1", st.Dropped)
	}
	if last >= 3000 {
		t.Fatalf("the stuck subscriber received everything (%d) before being dropped", last)
	}
	again := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: last})
	again.expectIDs(t, seq(last+1, 3000)...)
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Heartbeat: 20 * time.Millisecond, WriteTimeout: time.Second})
	c := subscribe(t, h, l, filterOf("a"), fanout.Start{})
	// Heartbeats are comments: they dispatch nothing, so reading blocks
	// until a real event; meanwhile the comment count grows.
	deadline := time.Now().Add(10 * time.Second)
	for c.rd.Comments() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeats")
		}
		c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		c.rd.Next()
	}
}

// TestHangupNoticed: a client that closes an idle stream is dropped at
// once, without waiting for a write to fail.
func TestHangupNoticed(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Heartbeat: time.Hour})
	c := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0})
	poll.Until(t, "", func() bool { return h.Stats().Subscribers == 1 })
	c.conn.Close()
	poll.Until(t, "", func() bool { return h.Stats().Subscribers == 0 })
}

func TestCloseDisconnects(t *testing.T) {
	t.Parallel()
	h := fanout.NewHub(fanout.Options{})
	l := &memLog{hub: h}
	c1 := subscribe(t, h, l, filterOf("*"), fanout.Start{})
	c2 := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0})
	l.publish("a", 1)
	c1.expectIDs(t, 1)
	c2.expectIDs(t, 1)
	h.Close()
	c1.expectClosed(t)
	c2.expectClosed(t)
	if err := h.Serve(context.Background(), nopConn{}, fanout.Subscription{Filter: filterOf("a"), Replay: l.history(filterOf("a"))}); !errors.Is(err, feed.ErrClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
}

type nopConn struct{}

func (nopConn) Write([]byte, time.Duration) error { return nil }
func (nopConn) Close() error                      { return nil }

// TestReplayRace publishes from several goroutines while subscribers keep
// connecting and reconnecting from random positions, some inside the
// window and some behind it. Every subscriber must see every matching ID
// after its position exactly once, in increasing order.
func TestReplayRace(t *testing.T) {
	t.Parallel()
	replayRace(t, []string{"nba/a", "nba/b", "stocks/X", "stocks/Y"}, []fanout.Filter{
		filterOf("*"), filterOf("nba/*"), filterOf("stocks/X"), filterOf("nba/a", "stocks/Y"),
	}, 1)
}

// TestReplayRaceOneTopicAmongMany is the replay race for subscribers of
// one topic among many (a scoreboard of one game, a ticker of one
// symbol), who follow their topic's links through the window rather than
// read every message (window.skip): the links begin and end with the
// topics' subscribers, and messages leave the window and are read again
// from the history while they are followed.
func TestReplayRaceOneTopicAmongMany(t *testing.T) {
	t.Parallel()
	topics := make([]string, 40)
	var filters []fanout.Filter
	for i := range topics {
		topics[i] = fmt.Sprintf("stocks/S%02d", i)
		if i < 11 {
			filters = append(filters, filterOf(topics[i]))
		}
	}
	filters = append(filters, filterOf("stocks/*"))
	for seed := range uint64(3) {
		replayRace(t, topics, filters, 10+seed)
	}
}

// replayRace is the replay race, on topics, for subscribers of filters
// (what each may see), with random choices from seed: 4 publishers write
// 1,500 events while 12 subscribers resume 6 times each from random
// positions (checkStream checks each against the log).
func replayRace(t *testing.T, topics []string, filters []fanout.Filter, seed uint64) {
	h, l := newHub(t, fanout.Options{Window: 300})
	const publishers, perPublisher = 4, 1500
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), seed))
			for range perPublisher / 3 {
				l.publish(topics[rng.IntN(len(topics))], 1+rng.IntN(5))
			}
		})
	}
	var subs sync.WaitGroup
	errs := make(chan error, 64)
	for s := range 12 {
		subs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), seed+1))
			f := filters[s%len(filters)]
			for range 6 {
				l.mu.Lock()
				last := int64(len(l.msgs))
				l.mu.Unlock()
				after := rng.Int64N(last + 1)
				if err := checkStream(t, h, l, f, after, 50+rng.IntN(400)); err != nil {
					errs <- fmt.Errorf("subscriber %d %v after %d: %w", s, f, after, err)
					return
				}
			}
		})
	}
	pubs.Wait()
	subs.Wait()
	close(errs)
	t.Logf("%d events, %d subscribers dropped for lag and resumed", h.Stats().LastID, h.Stats().Dropped)
	for err := range errs {
		t.Error(err)
	}
}

// checkStream resumes after the given ID and reads n events (or until it
// has every matching event in the log), checking them against the log. A
// subscriber the hub drops for falling behind reconnects from its last
// event ID, as a browser does, and must lose nothing across the reconnect
// either.
func checkStream(t *testing.T, h *fanout.Hub, l *memLog, f fanout.Filter, after int64, n int) error {
	c := subscribe(t, h, l, f, fanout.Start{Resume: true, After: after})
	defer func() { c.conn.Close() }()
	prev := after
	for range n {
		// While the log holds a matching event after prev, it must arrive
		// (the deadline is only a guard against hanging); once it holds
		// none, a quiet stream means publishing is over for this filter.
		due := l.nextMatch(f, prev)
		wait := 500 * time.Millisecond
		if due != 0 {
			wait = 20 * time.Second
		}
		c.conn.SetReadDeadline(time.Now().Add(wait))
		ev, err := c.rd.Next()
		if errors.Is(err, io.EOF) {
			c.conn.Close()
			c = subscribe(t, h, l, f, fanout.Start{Resume: true, After: prev})
			continue
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if due != 0 {
				return fmt.Errorf("event %d is in the log but never arrived (last received %d)", due, prev)
			}
			if l.nextMatch(f, prev) == 0 {
				break // every matching event has arrived
			}
			continue // one was published meanwhile: read on
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= prev {
			return fmt.Errorf("event %d after %d: duplicate or out of order", id, prev)
		}
		// No matching event may lie between prev and id.
		l.mu.Lock()
		for _, m := range l.msgs[prev:id] {
			if m.ID != id && f.Match(m.Topic) {
				l.mu.Unlock()
				return fmt.Errorf("gap: event %d (%s) missing before %d", m.ID, m.Topic, id)
			}
		}
		if !f.Match(l.msgs[id-1].Topic) {
			l.mu.Unlock()
			return fmt.Errorf("event %d does not match the filter", id)
		}
		l.mu.Unlock()
		prev = id
	}
	return nil
}

// nextMatch returns the ID of the first event in the log after prev that f
// matches, or 0 if there is none.
func (l *memLog) nextMatch(f fanout.Filter, prev int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs[prev:] {
		if f.Match(m.Topic) {
			return m.ID
		}
	}
	return 0
}

// TestHeadFirst: a stream's head (Subscription.Head, the response headers
// in HTTP) is the first thing it is sent. A subscriber starting from a
// snapshot is sent it once its position is fixed, so that whatever is
// published after the client has the head reaches it, each event once
// and not folded into the snapshot; a resuming one has it before the
// replay, from the window or from the history.
func TestHeadFirst(t *testing.T) {
	t.Parallel()
	head := []byte("event: head\ndata: x\n\n")
	for _, c := range []struct {
		name   string
		window int
		start  fanout.Start
		want   []int64 // before the events published after the head
	}{
		{"snapshot", 0, fanout.Start{}, []int64{2}},
		{"window", 0, fanout.Start{Resume: true}, []int64{1, 2}},
		{"history", 4, fanout.Start{Resume: true}, []int64{1, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, l := newHub(t, fanout.Options{Window: c.window})
			l.publish("a", 2)
			if c.window > 0 {
				l.publish("b", c.window) // 1 and 2 are out of the window
			}
			p := subscribeWith(t, h, fanout.Subscription{Filter: filterOf("a"), Start: c.start, Replay: l.history(filterOf("a")), Head: head})
			if ev := p.next(t); ev.Type != "head" {
				t.Fatalf("first %s %q, want the head", ev.Type, ev.ID)
			}
			p.expectIDs(t, append(c.want, l.publish("a", 3)...)...)
		})
	}
}
