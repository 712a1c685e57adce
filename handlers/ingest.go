package handlers

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"livefeed/feed"
)

// ndjsonType is the media type of a streaming publish: one event a line.
const ndjsonType = "application/x-ndjson"

// The bounds of a streaming publish's memory: the lines read ahead of the
// commit are taken up to maxGroupLines lines or maxGroupBytes, whichever
// comes first. While one group commits, the next fills; when it is full
// the body is not read until the commit is done, and TCP slows the
// publisher down. At most two groups and the read buffer are held,
// whatever the stream's length. 4,096 lines is the most one commit of the
// store takes; groups of that size rather than 1,000 raised W9 from 4
// connections by 7 to 30% (the commits, and the rows of the topics'
// latest events in each, are fewer).
const (
	maxGroupLines = 4096
	maxGroupBytes = 1 << 20
	ingestBuffer  = 64 << 10
)

// isStream reports whether a publish is a stream of lines.
func isStream(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	// Most publishes are application/json: they are told apart without
	// mime.ParseMediaType, which allocates a map for the parameters.
	base, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(base), ndjsonType) {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == ndjsonType
}

// ingest handles a streaming publish (POST /api/publish with Content-Type
// application/x-ndjson): each line an event, read as it arrives, each
// answered on the response with a line of its own once its event is
// committed, in the order of the lines: {"id":N}, or {"line":K,
// "status":S,"error":"..."} for a line refused alone (K counts from 1,
// blank lines included; blank lines are skipped). A line may be a
// heartbeat instead, {"heartbeat": ["stocks/*"]} (see heartbeat): it is
// taken as it is read, and answered in its turn with {"topics":N}. The request and the
// response run at once (full duplex), so a publisher keeps many events in
// flight on one connection.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// HTTP/2 is full duplex by itself (ErrNotSupported there). On
	// HTTP/1.1 net/http would otherwise stop reading the body once the
	// response starts, and before answering it would wait to read what
	// is left of the body, which a publisher waiting for that answer
	// never sends.
	if err := rc.EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		Error(w, r, s.log, err)
		return
	}
	refuse := func(err error) { refuseUnread(w, r, s.log, err) }
	publisher, scope, err := s.authorizePublisher(r)
	if err != nil {
		refuse(err)
		return
	}
	// Each stream holds up to two groups of lines and a line being read
	// (a few MiB at most): their number is bounded per token and in all,
	// before a line is read.
	holder := hex.EncodeToString(publisher[:])
	if !s.publishStreams.acquire(holder) {
		w.Header().Set("Retry-After", "10")
		refuse(feed.Errorf(feed.ErrRateLimited, "too many streaming publishes are open (at most %d in all and %d per token, feed.max_publish_streams and feed.max_publish_streams_per_token); close one or try again later", s.opts.MaxPublishStreams, s.opts.MaxPublishStreamsPerToken))
		return
	}
	defer s.publishStreams.release(holder)
	if r.Header.Get("Idempotency-Key") != "" {
		refuse(feed.Errorf(feed.ErrInvalid, "a stream of events takes no Idempotency-Key header: give a line that may be a retry its own \"idempotency_key\" field"))
		return
	}
	if s.opts.WriteTimeout <= 0 {
		// Each write moves the deadline on (see write); without a
		// timeout, the server's own would end the stream.
		rc.SetWriteDeadline(time.Time{})
	}
	w.Header().Set("Content-Type", ndjsonType)
	w.Header().Set("X-Accel-Buffering", "no")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	st := &stream{
		s: s, w: w, rc: rc, appender: s.eventLog, creds: s.creds.Load(),
		// Every line read is committed and answered, also when the
		// publisher half-closed the connection after its last line
		// (which cancels the request's context).
		ctx:       context.WithoutCancel(r.Context()),
		publisher: "token:" + holder,
		digest:    publisher,
		client:    s.clientIP(r),
		ready:     make(chan struct{}, 1), room: make(chan struct{}, 1),
	}
	if err := st.flush(); err != nil {
		return
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		st.commitLoop()
	}()
	read, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		// At shutdown the stream ends where it is: the read waiting for
		// more of it returns, and the lines read are answered.
		select {
		case <-s.stopping:
			rc.SetReadDeadline(time.Now())
		case <-read:
		}
	}()
	readErr := st.readLines(r.Body, publisher, scope)
	close(read)
	<-watched // it sets no deadline from now on
	if readErr != nil && st.stopping() {
		readErr = errShuttingDown // whatever the read that was cut off returned
	}
	st.finish(readErr)
	<-committed
	if readErr != nil && !st.isBroken() {
		endEarly(w, r)
	}
}

// endEarly ends an HTTP/1.x streaming publish whose body was not read to
// its end (the server shut down, the token was revoked, a line took too
// long), once its answers are written. Closed with unread data, its
// connection would be reset, and the answers not yet taken by the
// publisher lost with it (RFC 9112 §9.6); net/http cannot avoid it here,
// as the body's reader has failed. So the connection is taken over: the
// response is ended, the sending side closed, and what the publisher
// still sends is read and dropped until it closes too, or for at most
// bodyLinger. HTTP/2 ends the request's stream alone.
func endEarly(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if r.ProtoAtLeast(1, 1) {
		buf.WriteString("0\r\n\r\n") // the end of the chunked response
	}
	conn.SetDeadline(time.Now().Add(bodyLinger))
	if buf.Flush() != nil {
		return
	}
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		c.CloseWrite()
	}
	io.Copy(io.Discard, conn)
}

// bodyLinger bounds how long the end of a streaming publish that ended
// early waits for its publisher to take the last answers.
const bodyLinger = 2 * time.Second

// StopIngest ends the streaming publishes, now and from now on, after
// answering the lines they have read: a server shutting down waits for
// its requests, and a stream would last as long as its publisher.
func (s *Server) StopIngest() {
	s.stoppingOnce.Do(func() { close(s.stopping) })
}

// stream is one streaming publish: the handler's goroutine reads lines
// into the pending group, a second commits each group and writes its
// answers.
type stream struct {
	s         *Server
	w         http.ResponseWriter
	rc        *http.ResponseController
	ctx       context.Context
	appender  feed.Log
	publisher string // the idempotency keys' publisher
	digest    [32]byte
	client    string // the publisher's address, for the log
	// creds are the credentials the token was last checked against: when
	// the server's change (SIGHUP), the token is checked again before
	// the next line, and a revoked one ends the stream.
	creds *credentials
	// br reads the body; gathering is set while a line longer than its
	// buffer is gathered. Both tell deadlineReader whether a read
	// continues a line or starts one.
	br        *bufio.Reader
	gathering bool

	mu      sync.Mutex
	pending *group
	// last is the size of the last group taken: the next group's slices
	// start that large (an eighth more), so that a stream's groups are
	// not grown by doubling, line by line, each time. Starting every
	// group at its largest instead cost a ticker gateway that sends a
	// few lines a millisecond 64 KiB allocated and cleared per commit:
	// under W14 at 20,000 ticks/s, 140 MB/s, two thirds of what the
	// server allocated.
	last   groupSize
	done   bool          // no more lines will come
	end    error         // why the body ended early, answered after the last line
	broken bool          // the response cannot be written: stop reading
	ready  chan struct{} // signalled when pending has work or done is set
	room   chan struct{} // signalled when pending is taken
}

// group is lines read and waiting to be committed together, in order.
type group struct {
	lines   []groupLine
	updates []feed.Checked
	keys    []*feed.Idempotency // nil unless some line has a key
	bytes   int
	slab    []byte // the updates' data
}

// groupSize is how many lines, updates and bytes of data a group held.
type groupSize struct{ lines, updates, data int }

// newGroup returns an empty group with room for one of size last and an
// eighth more, within a group's bounds.
func newGroup(last groupSize) *group {
	more := func(n, most int) int { return min(n+n/8, most) }
	return &group{
		lines:   make([]groupLine, 0, more(last.lines, maxGroupLines)),
		updates: make([]feed.Checked, 0, more(last.updates, maxGroupLines)),
		slab:    make([]byte, 0, more(last.data, maxGroupBytes)),
	}
}

// size returns how many lines, updates and bytes of data g holds.
func (g *group) size() groupSize { return groupSize{len(g.lines), len(g.updates), len(g.slab)} }

// groupLine is one line of a group: its update's index, or its refusal,
// or the answer to a heartbeat.
type groupLine struct {
	line   int
	update int // index in updates; -1 when refused or a heartbeat
	err    error
	// kept is, for a heartbeat (heartbeat set), the watched topics it
	// kept alive.
	heartbeat bool
	kept      int
}

// full reports whether the group holds as many lines or bytes as it may.
// Refused lines count as much as stored ones: a publisher sending lines
// that are all refused, and never reading their answers, is held to the
// same memory.
func (g *group) full() bool { return len(g.lines) >= maxGroupLines || g.bytes >= maxGroupBytes }

// readLines reads the body's lines into groups until it ends, returning
// why it ended early (nil at its end).
func (st *stream) readLines(body io.Reader, publisher [32]byte, scope feed.Filter) error {
	br := bufio.NewReaderSize(deadlineReader{body, st}, ingestBuffer)
	st.br = br
	maxLine := int(st.s.opts.MaxBodyBytes)
	if maxLine <= 0 {
		maxLine = 1 << 20
	}
	var long []byte // a line longer than the buffer, gathered
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		tooLong := false
		if errors.Is(err, bufio.ErrBufferFull) {
			st.gathering = true
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if len(long)+len(line) > maxLine {
					tooLong = true
				} else {
					long = append(long, line...)
				}
			}
			st.gathering = false
			line = long
		}
		if len(line) > maxLine {
			tooLong = true
		}
		if errors.Is(err, feed.ErrTimeout) {
			return feed.Errorf(feed.ErrTimeout, "line %d did not arrive whole within %s (server.read_timeout): the lines before it are answered above, it and what follows were not published", n, st.s.opts.ReadTimeout)
		}
		if err != nil && err != io.EOF {
			return err
		}
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if st.isBroken() {
			return nil
		}
		var refused error
		if tooLong {
			refused = feed.Errorf(feed.ErrTooLarge, "the line is longer than %d bytes, the most a publish may be (server.max_body_bytes)", maxLine)
		}
		if !st.add(n, line, refused, publisher, scope) {
			return nil
		}
		if err == io.EOF {
			return nil
		}
	}
}

// add parses a line into the pending group, waiting while it is full. It
// returns false when the stream cannot go on.
func (st *stream) add(n int, line []byte, refused error, publisher [32]byte, scope feed.Filter) bool {
	trimmed := feed.TrimJSONSpace(line)
	if len(trimmed) == 0 && refused == nil {
		return true // a blank line: nothing to answer
	}
	var u feed.Update
	var key string
	revoked := false
	if c := st.s.creds.Load(); c != st.creds {
		// The server's credentials changed: the token is checked again,
		// its scope taken anew, and a revoked one ends the stream here.
		st.creds = c
		var ok bool
		if scope, ok = c.publishScope(publisher); !ok {
			revoked = true
			refused = feed.Errorf(feed.ErrUnauthorized, "the publish token is no longer accepted (the server's configuration removed it): the stream ends at this line, which was not published, and no later line is read")
		}
	}
	heartbeat, kept := false, 0
	if refused == nil {
		var f feed.Filter
		if f, heartbeat, refused = feed.ParseHeartbeatLine(trimmed); heartbeat && refused == nil {
			kept, refused = st.heartbeat(publisher, scope, f)
		}
	}
	if refused == nil && !heartbeat {
		u, key, refused = feed.ParseLine(trimmed)
	}
	if refused == nil && !heartbeat && !scope.IsZero() && !scope.Match(u.Topic) {
		refused = feed.Errorf(feed.ErrForbidden, "this publish token may not publish to %q; the line was not published", u.Topic)
	}
	if refused == nil && !heartbeat {
		if ok, _ := st.s.rates.allow(publisher, 1); !ok {
			st.s.metrics.rateLimited.Add(1)
			refused = feed.Errorf(feed.ErrRateLimited, "this token is publishing faster than it may (%g events/s); the line was not published", st.s.rates.rate)
		}
	}
	st.mu.Lock()
	for st.pending != nil && st.pending.full() && !st.broken {
		st.mu.Unlock()
		<-st.room
		st.mu.Lock()
	}
	if st.broken {
		st.mu.Unlock()
		return false
	}
	if st.pending == nil {
		st.pending = newGroup(st.last)
	}
	g := st.pending
	var c feed.Checked
	if refused == nil && !heartbeat {
		// The line's bytes are the reader's buffer, reused by the next
		// read: validating the line copies its data, compacted, into
		// the group's slab (which never moves what earlier lines' data
		// point to). The line is validated here, on the goroutine that
		// reads the stream, while the group before it commits (the log
		// checks only its own size limit again).
		c, g.slab, refused = u.CheckAppend(g.slab, feed.MaxDataBytesLimit)
	}
	if heartbeat && refused == nil {
		g.lines = append(g.lines, groupLine{line: n, update: -1, heartbeat: true, kept: kept})
		g.bytes += len(trimmed)
	} else if refused != nil {
		g.lines = append(g.lines, groupLine{line: n, update: -1, err: refused})
		g.bytes += len(trimmed) + refusedLineCost
	} else {
		g.lines = append(g.lines, groupLine{line: n, update: len(g.updates)})
		g.updates = append(g.updates, c)
		if key != "" {
			if g.keys == nil {
				g.keys = make([]*feed.Idempotency, len(g.updates)-1, maxGroupLines)
			}
			once := feed.NewIdempotency(st.publisher, key, feed.Request(false, []feed.Update{u}))
			g.keys = append(g.keys, &once)
		} else if g.keys != nil {
			g.keys = append(g.keys, nil)
		}
		g.bytes += len(trimmed)
	}
	st.mu.Unlock()
	st.signal(st.ready)
	return !revoked
}

// heartbeat takes a heartbeat line of the stream, as POST /api/heartbeat
// takes one, and returns how many watched topics it kept alive.
func (st *stream) heartbeat(publisher [32]byte, scope, f feed.Filter) (int, error) {
	if err := heartbeatScope(scope, f); err != nil {
		return 0, err
	}
	if ok, _ := st.s.rates.allow(publisher, 1); !ok {
		st.s.metrics.rateLimited.Add(1)
		return 0, feed.Errorf(feed.ErrRateLimited, "this token is publishing faster than it may (%g events/s, a heartbeat counts as one); the heartbeat was not taken", st.s.rates.rate)
	}
	return st.s.beat(f, time.Now())
}

// refusedLineCost is what a refused line holds until it is answered (its
// error and message), counted toward its group's bytes.
const refusedLineCost = 256

// finish marks the end of the lines, with why they ended early.
func (st *stream) finish(err error) {
	st.mu.Lock()
	st.done, st.end = true, err
	st.mu.Unlock()
	st.signal(st.ready)
}

func (st *stream) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (st *stream) isBroken() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.broken
}

// commitLoop commits the pending group whenever there is one, and writes
// the answers of its lines, until the lines are done.
func (st *stream) commitLoop() {
	var out []byte
	for {
		st.mu.Lock()
		g, done, end := st.pending, st.done, st.end
		st.pending = nil
		if g != nil {
			st.last = g.size()
		}
		st.mu.Unlock()
		if g == nil {
			if done {
				if end != nil {
					_, msg := classify(end)
					out = appendStreamError(out[:0], 0, statusOf(end), msg)
					st.write(out)
				}
				return
			}
			<-st.ready
			continue
		}
		st.signal(st.room)
		var outcomes []feed.Outcome
		if len(g.updates) > 0 {
			// The token's topic quota as the server has it now (a
			// reload may have changed it meanwhile).
			ctx := st.s.creds.Load().withQuota(st.ctx, st.digest)
			outcomes = st.appender.AppendEach(ctx, g.updates, g.keys)
		}
		out = out[:0]
		published := 0
		// The lines of a group that failed on the server's side are
		// logged once for the group, with the first of them: an outage
		// (NATS away, the disk full) fails every line at once, and must
		// not write a line of log for each.
		var failed int
		var firstLine, firstStatus int
		var firstErr error
		for _, l := range g.lines {
			if l.heartbeat {
				out = heartbeatAnswer(out, l.kept)
				continue
			}
			err := l.err
			if err == nil {
				o := outcomes[l.update]
				if err = o.Err; err == nil {
					out = append(strconv.AppendInt(append(out, `{"id":`...), o.Event.ID, 10), "}\n"...)
					if !o.Replayed {
						published++
					}
					continue
				}
			}
			status, msg := classify(err)
			if errors.Is(err, feed.ErrTopicLimit) {
				st.s.noteTopicLimit(st.client)
			} else if status >= 500 {
				if failed++; failed == 1 {
					firstLine, firstStatus, firstErr = l.line, status, err
				}
			}
			out = appendStreamError(out, l.line, status, msg)
		}
		if failed > 0 {
			st.s.log.Error("streaming publish: lines failed", "line", firstLine, "status", firstStatus, "err", firstErr, "lines", failed)
		}
		st.s.metrics.published.Add(float64(published))
		if !st.write(out) {
			return
		}
	}
}

// write sends answers and flushes them; on failure the stream is broken
// and the reader stops.
func (st *stream) write(b []byte) bool {
	if len(b) > 0 {
		if t := st.s.opts.WriteTimeout; t > 0 {
			st.rc.SetWriteDeadline(time.Now().Add(t))
		}
		if _, err := st.w.Write(b); err != nil {
			st.fail()
			return false
		}
	}
	if err := st.flush(); err != nil {
		st.fail()
		return false
	}
	return true
}

func (st *stream) flush() error {
	err := st.rc.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

func (st *stream) fail() {
	st.mu.Lock()
	st.broken = true
	st.mu.Unlock()
	st.signal(st.room)
}

// statusOf is the HTTP status of an error, as classify gives it.
func statusOf(err error) int {
	status, _ := classify(err)
	return status
}

// appendStreamError appends a refused line's answer: {"line":K,
// "status":S,"error":"..."}; line 0 is the stream as a whole (its body
// ended in an error).
func appendStreamError(b []byte, line, status int, msg string) []byte {
	b = append(b, '{')
	if line > 0 {
		b = strconv.AppendInt(append(b, `"line":`...), int64(line), 10)
		b = append(b, ',')
	}
	b = strconv.AppendInt(append(b, `"status":`...), int64(status), 10)
	b = append(b, `,"error":`...)
	b = strconv.AppendQuoteToASCII(b, msg)
	return append(b, "}\n"...)
}

// deadlineReader reads a stream's body. server.read_timeout bounds each
// line, not the whole stream: the deadline is set when a read starts a
// line and stays while the line is read, so a line trickled a byte at a
// time ends when its time is up, however often a byte comes. (Moved on
// at every read, it let a publisher hold an unfinished line, and the
// memory it takes, for as long as it liked.) Once the server stops
// taking streams (StopIngest), no read waits.
type deadlineReader struct {
	r  io.Reader
	st *stream
}

// errShuttingDown ends the reading of a stream when the server shuts
// down.
var errShuttingDown = feed.Errorf(feed.ErrUnavailable, "the server is shutting down: the lines answered above are committed; send the others again")

func (d deadlineReader) Read(p []byte) (int, error) {
	st := d.st
	if st.stopping() {
		return 0, errShuttingDown
	}
	// bufio reads only when it holds no whole line: what it holds then
	// is the start of the next one.
	if t := st.s.opts.ReadTimeout; t > 0 && !st.gathering && st.br.Buffered() == 0 {
		st.rc.SetReadDeadline(time.Now().Add(t))
		// StopIngest may have set its deadline (now) before this one:
		// set it again.
		if st.stopping() {
			st.rc.SetReadDeadline(time.Now())
		}
	}
	return d.r.Read(p)
}

func (st *stream) stopping() bool {
	select {
	case <-st.s.stopping:
		return true
	default:
		return false
	}
}
