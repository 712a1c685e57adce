//go:build linux

package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
)

// subscribeTCP is subscribe with the sockets' buffers made small by tune,
// so a few events fill them. Its segments are 4 KiB, not loopback's 64 KiB,
// so that a client reading a few KiB at a time opens the window for more
// (on a real network segments are smaller still).
func subscribeTCP(t *testing.T, h *fanout.Hub, l *memLog, f fanout.Filter, start fanout.Start, tune func(server, conn *net.TCPConn)) *peer {
	t.Helper()
	return subscribeTCPWith(t, h, fanout.Subscription{Filter: f, Start: start, Replay: l.history(f)}, tune)
}

// subscribeTCPWith is subscribeTCP for any subscription.
func subscribeTCPWith(t *testing.T, h *fanout.Hub, sub fanout.Subscription, tune func(server, conn *net.TCPConn)) *peer {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 4096) })
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
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
	if tune != nil {
		tune(server.(*net.TCPConn), c.(*net.TCPConn))
	}
	go h.Serve(context.Background(), fanout.NetConn(server), sub)
	return &peer{conn: c, rd: client.NewReader(c)}
}

// smallBuffers makes a socket hold little: 8 KiB to send (the kernel
// doubles it) and 64 KiB to receive. Smaller receive buffers make the
// kernel's own persist timer, not the server, set the pace.
func smallBuffers(server, conn *net.TCPConn) {
	server.SetWriteBuffer(8 << 10)
	conn.SetReadBuffer(64 << 10)
}

// latestOf returns the newest ID of each topic starting with prefix.
func (l *memLog) latestOf(prefix string) map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	latest := map[string]int64{}
	for _, e := range l.events {
		if strings.HasPrefix(e.Topic, prefix) {
			latest[e.Topic] = e.ID
		}
	}
	return latest
}

// publishSized publishes n events of about size bytes on topic.
func (l *memLog) publishSized(topic string, n, size int) {
	payload := strings.Repeat("x", size)
	for range n {
		l.mu.Lock()
		id := int64(len(l.events) + 1)
		l.append([]feed.Event{{ID: id, Topic: topic, Type: "note", Time: time.UnixMilli(id).UTC(), Data: []byte(`{"id":` + strconv.FormatInt(id, 10) + `,"p":"` + payload + `"}`)}})
		l.mu.Unlock()
	}
}

// TestStreamOutlivesWriteTimeout: a stream the client reads stays open
// through many write timeouts and heartbeats, idle or busy, also after a
// replay written with blocking writes (which used to leave a deadline on
// the socket that failed every write after it passed).
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	h, l := newHub(t, fanout.Options{Window: 10, Heartbeat: 30 * time.Millisecond, WriteTimeout: timeout})
	l.publish("a", 50) // beyond the window: resuming from 0 replays from history
	replayed := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0})
	replayed.expectIDs(t, seq(1, 50)...)
	fresh := subscribe(t, h, l, filterOf("a"), fanout.Start{})
	fresh.expectIDs(t, 50)
	busy := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 50})

	// Ten write timeouts: the idle streams get heartbeats, the busy one an
	// event every 20 ms.
	next := int64(51)
	done := time.After(10 * timeout)
	for ticking := true; ticking; {
		select {
		case <-done:
			ticking = false
		case <-time.After(20 * time.Millisecond):
			l.publish("a", 1)
			busy.expectIDs(t, next)
			next++
		}
	}
	replayed.expectIDs(t, seq(51, next-1)...)
	fresh.expectIDs(t, seq(51, next-1)...)
	for name, c := range map[string]*peer{"replayed": replayed, "fresh": fresh} {
		// Idle for the same time again: only heartbeats.
		before := c.rd.Comments()
		deadline := time.Now().Add(10 * timeout)
		for time.Now().Before(deadline) {
			c.conn.SetReadDeadline(time.Now().Add(timeout))
			if _, err := c.rd.Next(); err != nil && !isTimeout(err) {
				t.Fatalf("%s stream: %v", name, err)
			}
		}
		if c.rd.Comments()-before < 5 {
			t.Fatalf("%s stream: %d heartbeats in 10 write timeouts", name, c.rd.Comments()-before)
		}
	}
	l.publish("a", 1)
	for _, c := range []*peer{replayed, fresh, busy} {
		c.expectIDs(t, next)
	}
	if st := h.Stats(); st.Subscribers != 3 || st.Closed != [len(st.Closed)]uint64{} {
		t.Fatalf("subscribers %d, closed %v: want 3 open, none closed", st.Subscribers, st.Closed)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestSlowReaderGetsEverything: a client that reads slower than events are
// published, with sockets that fill at once, gets every event once and in
// order: each write that stops inside a frame resumes at its next byte.
// A subscriber of one topic among others follows its topic's links
// through the window (window.skip); a write that stops inside one of
// several of its frames sends its cursor back over them.
func TestSlowReaderGetsEverything(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]topicFilter{"TopicAndPrefix": filterOf("a", "b/*"), "OneTopic": filterOf("a")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			slowReaderGetsEverything(t, f)
		})
	}
}

func slowReaderGetsEverything(t *testing.T, f topicFilter) {
	h, l := newHub(t, fanout.Options{Window: 10_000, WindowBytes: 256 << 20, WriteTimeout: 5 * time.Second})
	c := subscribeTCP(t, h, l, f, fanout.Start{Resume: true, After: 0}, smallBuffers)
	const events = 300
	matching := 0
	topics := make([]string, events)
	for i := range topics {
		if topics[i] = "a"; i%3 == 0 {
			topics[i] = "b/x"
		}
		if f.Match(topics[i]) {
			matching++
		}
	}
	go func() {
		for i, topic := range topics {
			l.publishSized(topic, 1, 100+(i*7919)%20000) // frames of many sizes
			if i%2 == 0 {
				l.publishSized("c", 1, 3000) // not matching
			}
		}
	}()
	slow := &slowReader{r: c.conn, chunk: 3000, pause: 200 * time.Microsecond}
	rd := client.NewReader(slow)
	var want int64
	for got := 0; got < matching; got++ {
		c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", got, err)
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= want {
			t.Fatalf("event %d after %d", id, want)
		}
		l.mu.Lock()
		for _, m := range l.msgs[want:id] {
			if m.ID != id && f.Match(m.Topic) {
				l.mu.Unlock()
				t.Fatalf("event %d (%s) missing before %d", m.ID, m.Topic, id)
			}
		}
		wantData := string(l.msgs[id-1].Frame)
		l.mu.Unlock()
		if !strings.Contains(wantData, ev.Data) || len(ev.Data) < 10 {
			t.Fatalf("event %d arrived damaged (%d bytes)", id, len(ev.Data))
		}
		want = id
	}
	st := h.Stats()
	if st.Closed != [len(st.Closed)]uint64{} {
		t.Fatalf("closed %v: the slow reader was cut off", st.Closed)
	}
	if st.Stalls < 10 {
		t.Fatalf("the socket was full only %d times: the test did not test partial writes", st.Stalls)
	}
	t.Logf("%d stalls", st.Stalls)
}

// slowReader reads at most chunk bytes at a time, pausing before each read.
type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause) // the point of the test: a client that reads slowly
	return s.r.Read(p[:min(len(p), s.chunk)])
}

// TestStuckSubscribersHoldNoGoroutine: subscribers that stop reading wait
// for their sockets with no goroutine each, and those that read are not
// held up by them.
func TestStuckSubscribersHoldNoGoroutine(t *testing.T) {
	h, l := newHub(t, fanout.Options{Window: 1000, WindowBytes: 64 << 20, WriteTimeout: time.Minute})
	reader := subscribe(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0})
	const stuck = 50
	for range stuck {
		subscribeTCP(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0}, smallBuffers)
	}
	poll.Until(t, "", func() bool { return h.Stats().Subscribers == stuck+1 })
	before := runtime.NumGoroutine()
	l.publishSized("a", 20, 64<<10) // far more than their sockets hold
	reader.expectIDs(t, seq(1, 20)...)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines %d → %d with %d stuck subscribers", before, after, stuck)
	}
	if st := h.Stats(); st.Subscribers != stuck+1 {
		t.Fatalf("subscribers = %d, want %d", st.Subscribers, stuck+1)
	}
}

// TestWriteTimeout: a subscriber that reads nothing at all is closed after
// the write timeout, counted by reason; one that reads slowly but steadily
// is not, however long its writes take.
func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	// A second: a reader that takes 4 KB every 20 ms goes without being
	// scheduled for a quarter of a second now and then on a loaded
	// 2-core machine running the race detector (it failed 9 of 15 times
	// so, with 250 ms), and that is the machine's doing, not the reader's.
	const timeout = time.Second
	h, l := newHub(t, fanout.Options{Window: 1000, WindowBytes: 64 << 20, Heartbeat: time.Hour, WriteTimeout: timeout})
	stuck := subscribeTCP(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0}, smallBuffers)
	// The steady reader's sockets hold 160 KiB, which take it far longer
	// than the timeout to read. A receiving kernel opens its window again
	// only once half of its buffer is free, so its buffer is small enough
	// (32 KiB) that the server sees progress several times per timeout.
	steady := subscribeTCP(t, h, l, filterOf("a"), fanout.Start{Resume: true, After: 0}, func(server, conn *net.TCPConn) {
		server.SetWriteBuffer(64 << 10)
		conn.SetReadBuffer(16 << 10)
	})
	poll.Until(t, "", func() bool { return h.Stats().Subscribers == 2 })
	start := time.Now()
	const events = 60
	l.publishSized("a", events, 16<<10) // 960 KB: about 5 s for the steady reader

	// 4 KB every 20 ms: about 200 KB/s.
	rd := client.NewReader(&slowReader{r: steady.conn, chunk: 4 << 10, pause: 20 * time.Millisecond})
	for want := int64(1); want <= events; want++ {
		steady.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("steady reader, event %d after %v: %v", want, time.Since(start), err)
		}
		if ev.ID != strconv.FormatInt(want, 10) {
			t.Fatalf("steady reader got %s, want %d", ev.ID, want)
		}
	}
	if took := time.Since(start); took < 4*timeout {
		t.Fatalf("the steady reader took %v: too fast to test the timeout", took)
	}
	poll.Until(t, "", func() bool { return h.Stats().Closed[fanout.CloseWriteTimeout] == 1 })
	if st := h.Stats(); st.Subscribers != 1 || st.Closed[fanout.CloseLagged] != 0 {
		t.Fatalf("subscribers %d, closed %v: want the steady reader open", st.Subscribers, st.Closed)
	}
	stuck.expectClosed(t)
}

// TestSnapshotReadWhileWritten: a subscriber of a prefix gets its snapshot
// of thousands of topics through a socket that fills again and again,
// while their events go on: every topic's state arrives, newest last,
// with IDs only increasing (an event replaced before its turn is passed,
// the newer one arrives from the window), each event once, the position
// in its place; and the snapshot held no frame of the topics per
// subscriber meanwhile (see TestSnapshotHoldsNoCopy).
func TestSnapshotReadWhileWritten(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Window: 100_000, WindowBytes: 256 << 20, WriteTimeout: 10 * time.Second})
	const topics = 3_000
	for i := range topics {
		l.publishSized(fmt.Sprintf("t/%04d", i), 1, 200)
	}
	l.publishSized("other", 1, 200)
	l.publishBatch("t/0005", "t/1500") // replaced before the subscriber comes
	c := subscribeTCP(t, h, l, filterOf("t/*"), fanout.Start{}, smallBuffers)
	slow := &slowReader{r: c.conn, chunk: 2000, pause: 100 * time.Microsecond}
	rd := client.NewReader(slow)
	latest := map[string]int64{} // as the client has them
	var lastID int64
	positioned := false
	published := false
	for {
		c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("after %d topics: %v", len(latest), err)
		}
		if ev.Type == feed.EventPosition {
			if positioned {
				t.Fatal("a second position event")
			}
			positioned = true
			continue
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= lastID {
			t.Fatalf("event %d after %d", id, lastID)
		}
		lastID = id
		l.mu.Lock()
		topic := l.events[id-1].Topic
		l.mu.Unlock()
		if !strings.HasPrefix(topic, "t/") {
			t.Fatalf("event %d of %s", id, topic)
		}
		if _, twice := latest[topic]; twice && !positioned {
			t.Fatalf("the snapshot has two events of %s", topic)
		}
		latest[topic] = id
		if !published && len(latest) == 100 {
			// Mid-snapshot: newer events of topics sent, of topics not
			// sent yet, and of a new topic.
			published = true
			l.publishBatch("t/0000", "t/0001", "t/2998", "t/2999", "t/new", "other")
		}
		if published && positioned && len(latest) == topics+1 && maps.Equal(latest, l.latestOf("t/")) {
			break // every topic as the feed has it
		}
	}
	if st := h.Stats(); st.Stalls < 10 {
		t.Fatalf("the socket was full only %d times: the test did not test partial writes", st.Stalls)
	}
}
