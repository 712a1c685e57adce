package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"livefeed/feed"
)

// Subscriber is one event stream the load tool reads, over its own socket
// and goroutine, checking every event it receives: IDs must increase, and
// each publisher's sequence numbers must arrive in order, each once. It
// resumes with its last event ID, as an EventSource does, when the server
// closes the stream (a server may close one that falls behind), and the
// checks go on across the reconnect.
type Subscriber struct {
	target *Target
	n      int // picks the source address
	topic  string
	bufLen int
	rcvBuf int
	// latency[n] is where receipt latencies of symbol n's events go
	// (shared with other subscribers, so recorded with atomics), less
	// expected; minute, if set, gets them too, by the minute of receipt.
	latency  []*Histogram
	minute   *Minutes
	expected time.Duration
	// query is added to the request's query string ("&conflate=1s").
	query string
	// sent is when each event was sent, for latencies. A conflated
	// subscriber (see SubscriberOptions.Conflated) counts no gaps; it
	// records in staleness how stale its view of a symbol was, from sent.
	conflated bool
	sent      *SentLog
	staleness *Histogram
	// seen[n] is the last sequence number received of symbol n, for
	// HasLast while the subscriber runs (a conflated one only).
	seen []atomic.Int64

	// Read by others while running.
	deliveries atomic.Int64
	ready      chan struct{} // closed when the server attached the stream
	readyOnce  sync.Once

	mu      sync.Mutex
	conn    net.Conn
	stopped bool

	// Owned by the subscriber's goroutine until Run returns.
	position int64 // the stream's last event ID: what a reconnect sends
	resume   bool  // reconnect with Last-Event-ID
	lastID   int64
	lastSeq  []int64 // per symbol
	tally    Tally
	err      error
}

// Tally is what subscribers counted; tallies of many add up.
type Tally struct {
	Subscribers     int
	Deliveries      int64 // events of the load tool's publishers, each counted once
	Duplicates      int64 // events received again (a symbol's sequence number seen before)
	OrderViolations int64 // new events whose ID was not above the last one received
	Gaps            int64 // events skipped: a symbol's sequence number jumped
	Foreign         int64 // events not from the load tool (a snapshot of an older run, ...)
	Resets          int64 // "reset" events: the position could not be resumed
	Reconnects      int64 // times a stream was reopened after the server ended it
	Failed          int64 // subscribers that could not connect
	Delayed         int64 // streams the server said it delays (feed.EventDelayed)
	Bytes           int64 // bytes of the streams read
	// Latencies counts the deliveries whose latency was recorded, and
	// Unstamped those whose send time the SentLog no longer held.
	Latencies    int64
	Unstamped    int64
	MinLatency   time.Duration
	MaxLatency   time.Duration
	FirstReceipt time.Time // of the first delivery
	LastReceipt  time.Time // of the last delivery
	Reads        int64     // reads that returned data: deliveries/reads is how many frames a read carried
}

// Add adds the counts of o to t.
func (t *Tally) Add(o Tally) {
	t.Subscribers += o.Subscribers
	t.Deliveries += o.Deliveries
	t.Duplicates += o.Duplicates
	t.OrderViolations += o.OrderViolations
	t.Gaps += o.Gaps
	t.Foreign += o.Foreign
	t.Resets += o.Resets
	t.Reconnects += o.Reconnects
	t.Failed += o.Failed
	t.Delayed += o.Delayed
	t.Bytes += o.Bytes
	t.Reads += o.Reads
	t.Latencies += o.Latencies
	t.Unstamped += o.Unstamped
	if o.Latencies > 0 && (t.Latencies == o.Latencies || o.MinLatency < t.MinLatency) { // t had none before, or o's is lower
		t.MinLatency = o.MinLatency
	}
	t.MaxLatency = max(t.MaxLatency, o.MaxLatency)
	if !o.FirstReceipt.IsZero() && (t.FirstReceipt.IsZero() || o.FirstReceipt.Before(t.FirstReceipt)) {
		t.FirstReceipt = o.FirstReceipt
	}
	if o.LastReceipt.After(t.LastReceipt) {
		t.LastReceipt = o.LastReceipt
	}
}

// SubscriberOptions configure a Subscriber.
type SubscriberOptions struct {
	Topic string
	// N picks the connection's source address.
	N int
	// After, if Resume is set, is the Last-Event-ID of the first connect.
	Resume bool
	After  int64
	// LastSeq, if set, is the last sequence number of each symbol the
	// subscriber has seen before (what a resume from After missed starts
	// after them).
	LastSeq []int64
	// Publishers is how many symbols (S0000 to S<Publishers-1>: one per
	// publisher, or W9's and W14's many per connection) the subscriber
	// tracks sequence numbers for; ticks of others count as foreign.
	Publishers int
	// Latency[n] receives the latencies of symbol n's events; nil
	// entries are not recorded. Latencies need Sent.
	Latency []*Histogram
	// ByMinute, if set, receives every latency too, by minute of receipt.
	ByMinute *Minutes
	// Expected is subtracted from each latency before it is recorded (in
	// Latency and the tally's minimum and maximum): the delay of a delayed
	// stream, so that the histogram's resolution (1/32 of a value) is that
	// of the error, not of the delay.
	Expected time.Duration
	// ReadBuffer is the read buffer size (default 16 KiB).
	ReadBuffer int
	// ReceiveBuffer, if positive, is the socket's SO_RCVBUF.
	ReceiveBuffer int
	// Query is added to the request's query string, such as
	// "&conflate=1s".
	Query string
	// Conflated is set for a conflated stream (conflate=): a publisher's
	// sequence numbers may skip (no gap is counted), and each event
	// received records in Staleness how long the view of its topic was
	// behind: from when the oldest event it catches up with was sent
	// (from Sent) until it arrived.
	Conflated bool
	// Sent is when the publishers sent each event: without it no latency
	// is recorded.
	Sent      *SentLog
	Staleness *Histogram
}

// NewSubscriber returns a subscriber; Run connects it.
func NewSubscriber(t *Target, o SubscriberOptions) *Subscriber {
	if o.ReadBuffer <= 0 {
		o.ReadBuffer = 16 << 10
	}
	var seen []atomic.Int64
	if o.Conflated {
		seen = make([]atomic.Int64, o.Publishers)
	}
	lastSeq := make([]int64, o.Publishers)
	copy(lastSeq, o.LastSeq)
	return &Subscriber{
		seen:      seen,
		target:    t,
		n:         o.N,
		topic:     o.Topic,
		bufLen:    o.ReadBuffer,
		rcvBuf:    o.ReceiveBuffer,
		latency:   o.Latency,
		minute:    o.ByMinute,
		expected:  o.Expected,
		query:     o.Query,
		conflated: o.Conflated,
		sent:      o.Sent,
		staleness: o.Staleness,
		ready:     make(chan struct{}),
		resume:    o.Resume,
		position:  o.After,
		lastID:    o.After,
		lastSeq:   lastSeq,
	}
}

// Ready is closed once the server has attached the stream: a fresh one
// got its position event, a resuming one its response headers. Events
// published after that reach it. It is closed too when Run returns
// without having attached one (Err says why), so that nobody waits for
// it forever.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Deliveries returns how many events it received so far.
func (s *Subscriber) Deliveries() int64 { return s.deliveries.Load() }

// Position returns the last event ID the stream set. Only valid once Run
// has returned, or from the goroutine that runs it.
func (s *Subscriber) Position() int64 { return s.position }

// Run connects and reads until Stop is called or ctx ends, reconnecting
// when the server ends the stream. It returns the subscriber's tally; a
// subscriber that could not connect at all is counted as Failed and Err
// says why.
func (s *Subscriber) Run(ctx context.Context) Tally {
	defer s.markReady()
	for attempt := 0; ; {
		sc, err := s.open(ctx)
		if err != nil {
			if s.isStopped() || ctx.Err() != nil {
				break
			}
			attempt++
			if attempt >= 8 {
				s.err = err
				if s.tally.Deliveries == 0 {
					s.tally.Failed++
				}
				break
			}
			// Back off: 20 ms, 40 ms, ... 2.56 s.
			select {
			case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		attempt = 0
		s.read(sc)
		if s.isStopped() || ctx.Err() != nil {
			break
		}
		s.tally.Reconnects++
		s.resume = true
	}
	s.tally.Subscribers = 1
	return s.tally
}

// Err returns why the subscriber could not connect, once Run returned.
func (s *Subscriber) Err() error { return s.err }

// Stop closes the stream and ends Run.
func (s *Subscriber) Stop() {
	s.mu.Lock()
	s.stopped = true
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
}

func (s *Subscriber) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

func (s *Subscriber) markReady() { s.readyOnce.Do(func() { close(s.ready) }) }

// open connects, sends the request and reads the response headers.
func (s *Subscriber) open(ctx context.Context) (*Scanner, error) {
	conn, err := s.target.Dial(ctx, s.n, s.rcvBuf)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		conn.Close()
		return nil, errors.New("stopped")
	}
	s.conn = conn
	s.mu.Unlock()
	sc, err := OpenStream(conn, s.target.eventsRequest(s.topic, s.query, s.resume, s.position), s.bufLen)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if s.resume {
		s.markReady()
	}
	return sc, nil
}

// OpenStream sends an event stream request on conn and reads the response
// headers, returning a Scanner positioned at the body.
func OpenStream(conn net.Conn, request []byte, bufLen int) (*Scanner, error) {
	if _, err := conn.Write(request); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := conn.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			head, err := ParseResponseHead(buf[:i])
			if err != nil {
				return nil, err
			}
			if head.Status != 200 {
				return nil, fmt.Errorf("GET /events: status %d: %s", head.Status, truncate(string(buf[i+4:n]), 200))
			}
			body := buf[i+4 : n]
			if head.Chunked {
				// Not livefeed's own framing over HTTP/1.1, but a proxy
				// in front of it may re-frame the stream.
				rd := httputil.NewChunkedReader(bufio.NewReader(io.MultiReader(bytes.NewReader(body), conn)))
				return NewScanner(rd, bufLen, nil), nil
			}
			return NewScanner(conn, bufLen, body), nil
		}
		if err != nil {
			return nil, fmt.Errorf("GET /events: reading the response: %w", err)
		}
		if n == len(buf) {
			return nil, errors.New("GET /events: response headers too long")
		}
	}
}

// read consumes the stream until it ends.
func (s *Subscriber) read(sc *Scanner) {
	defer func() { s.tally.Reads, s.tally.Bytes = s.tally.Reads+int64(sc.Reads()), s.tally.Bytes+sc.Bytes() }()
	for {
		f, err := sc.Next()
		if err != nil {
			return
		}
		if f.HasID && f.ID >= 0 {
			s.position = f.ID
		}
		if string(f.Event) == feed.EventPosition {
			s.markReady() // the end of a fresh connect's snapshot
			continue
		}
		if !f.HasData {
			continue
		}
		if string(f.Event) == "reset" {
			s.tally.Resets++
			continue
		}
		if string(f.Event) == feed.EventDelayed {
			s.tally.Delayed++
			continue
		}
		p, ok := ParsePayload(f.Data)
		if !ok || p.Symbol >= len(s.lastSeq) || !f.HasID {
			s.tally.Foreign++
			continue
		}
		s.event(f.ID, p, sc.ReadAt())
	}
}

// event checks and counts one of the load tool's events.
func (s *Subscriber) event(id int64, p Payload, at time.Time) {
	last := &s.lastSeq[p.Symbol]
	if p.Seq <= *last {
		s.tally.Duplicates++
		return
	}
	if id <= s.lastID {
		s.tally.OrderViolations++
	}
	if s.conflated {
		if sent, ok := s.sent.At(p.Symbol, *last+1); ok && s.staleness != nil {
			s.staleness.Record(at.Sub(sent))
		}
		s.seen[p.Symbol].Store(p.Seq)
	} else {
		s.tally.Gaps += p.Seq - *last - 1
	}
	*last = p.Seq
	s.lastID = max(s.lastID, id)
	if s.tally.FirstReceipt.IsZero() {
		s.tally.FirstReceipt = at
	}
	s.tally.LastReceipt = at
	s.tally.Deliveries++
	s.deliveries.Add(1)
	if s.sent == nil {
		return // no latencies (a replay of old events)
	}
	sent, ok := s.sent.At(p.Symbol, p.Seq)
	if !ok {
		s.tally.Unstamped++
		return
	}
	lat := at.Sub(sent) - s.expected
	if p.Symbol < len(s.latency) && s.latency[p.Symbol] != nil {
		s.latency[p.Symbol].Record(lat)
	}
	if s.minute != nil {
		s.minute.Record(at, lat)
	}
	s.tally.MaxLatency = max(s.tally.MaxLatency, lat)
	if s.tally.Latencies == 0 || lat < s.tally.MinLatency {
		s.tally.MinLatency = lat
	}
	s.tally.Latencies++
}
