package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
)

// Publisher publishes the load tool's events through POST /api/publish on
// one keep-alive HTTP/1.1 connection, waiting for each acknowledgement
// before the next request. Its events are ticks of the symbol numbered
// as its index (see AppendTick), on its topic. It writes requests by hand into a reused buffer
// and reads only the status, the length and the IDs of the reply, so that a
// publish costs the tool a few microseconds: W4 needs tens of thousands a
// second from the same two cores the server runs on.
type Publisher struct {
	target  *Target
	index   int // and the number of its symbol
	topic   string
	payload int
	sent    *SentLog // if set, when each event was sent
	// blob publishes events of the load tool's own type "blob" instead of
	// ticks: {"pad":"xx..."} of payload bytes, for W10's events of 250 B
	// and 1 MB (a tick is never 1 MB). No subscriber checks them.
	blob bool

	conn  net.Conn
	req   []byte
	body  []byte
	resp  []byte
	start int // unread response bytes are resp[start:end]
	end   int

	// Seq is the sequence number of its last acknowledged event: events
	// are numbered 1, 2, ... per publisher.
	Seq int64
	// Errors counts failed publishes; Err is the last failure.
	Errors int
	Err    error
	// Acks holds the time from sending a request to its acknowledgement.
	Acks Histogram
}

// NewPublisher returns a publisher of ticks of symbol index, whose data
// object is payload bytes long (at least the size of its fields, about 45
// bytes), on topic.
func NewPublisher(t *Target, index int, payload int, topic string) *Publisher {
	return &Publisher{target: t, index: index, topic: topic, payload: payload, resp: make([]byte, 64<<10)}
}

// Close closes the connection.
func (p *Publisher) Close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// Publish sends n events (one object, or an array of n for n > 1) and
// waits for the acknowledgement. It returns the IDs of the first and the
// last event. On success Seq advances by n; a request the server refused
// is not retried, and its sequence numbers are used again.
func (p *Publisher) Publish(ctx context.Context, n int) (first, last int64, err error) {
	sent := p.prepare(n)
	if p.conn == nil {
		if p.conn, err = p.target.Dial(ctx, p.index, 0); err != nil {
			return 0, 0, p.failed(err)
		}
		p.start, p.end = 0, 0
	}
	if _, err := p.conn.Write(p.req); err != nil {
		p.Close()
		return 0, 0, p.failed(err)
	}
	var resp Response
	for {
		var used int
		var ok bool
		resp, used, ok, err = ParseResponse(p.resp[p.start:p.end])
		if err != nil {
			p.Close()
			return 0, 0, p.failed(err)
		}
		if ok {
			p.start += used
			break
		}
		if err := p.fill(); err != nil {
			p.Close()
			return 0, 0, p.failed(err)
		}
	}
	if resp.Close {
		p.Close()
	}
	return p.acknowledged(resp, sent, n)
}

// prepare writes the request publishing events Seq+1 to Seq+n into p.req
// and returns the time it recorded as their send time.
func (p *Publisher) prepare(n int) time.Time {
	sent := time.Now()
	p.body = p.body[:0]
	if n > 1 {
		p.body = append(p.body, '[')
	}
	for i := range n {
		if i > 0 {
			p.body = append(p.body, ',')
		}
		seq := p.Seq + int64(i) + 1
		p.body = append(p.body, `{"topic":"`...)
		p.body = append(p.body, p.topic...)
		if p.blob {
			p.body = append(p.body, `","type":"blob","data":{"pad":"`...)
			for range max(p.payload-len(`{"pad":""}`), 0) {
				p.body = append(p.body, 'x')
			}
			p.body = append(p.body, `"}}`...)
			continue
		}
		p.body = append(p.body, `","type":"tick","data":`...)
		p.body = AppendTick(p.body, p.index, seq, p.payload)
		p.body = append(p.body, '}')
		p.sent.Record(p.index, seq, sent)
	}
	if n > 1 {
		p.body = append(p.body, ']')
	}
	p.req = append(p.req[:0], "POST /api/publish HTTP/1.1\r\nHost: "...)
	p.req = append(p.req, p.target.Host...)
	p.req = append(p.req, "\r\nAuthorization: Bearer "...)
	p.req = append(p.req, p.target.Token...)
	p.req = append(p.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	p.req = strconv.AppendInt(p.req, int64(len(p.body)), 10)
	p.req = append(p.req, "\r\n\r\n"...)
	p.req = append(p.req, p.body...)
	return sent
}

// acknowledged checks the reply to the request publishing n events sent at
// sent, and counts it.
func (p *Publisher) acknowledged(resp Response, sent time.Time, n int) (first, last int64, err error) {
	switch resp.Status {
	case 201:
	case 401:
		return 0, 0, p.failed(fmt.Errorf("publish: status 401: %s: %w", truncate(string(resp.Body), 200), feed.ErrUnauthorized))
	default:
		return 0, 0, p.failed(fmt.Errorf("publish: status %d: %s", resp.Status, truncate(string(resp.Body), 200)))
	}
	if first, last, err = ParseAck(resp.Body); err != nil {
		return 0, 0, p.failed(err)
	}
	p.Acks.Record(time.Since(sent))
	p.Seq += int64(n)
	return first, last, nil
}

// failed counts a failed publish.
func (p *Publisher) failed(err error) error {
	p.Errors++
	p.Err = err
	return err
}

// Response is an HTTP/1.1 response the publisher reads.
type Response struct {
	Status int
	Body   []byte
	Close  bool // the server will close the connection
}

// ParseResponse looks for one complete response at the start of b, framed
// by Content-Length or chunked (net/http chunks a reply bigger than its
// 4 KiB buffer, such as the IDs of a batch). It returns the response, the
// bytes of b it took, and false if b does not hold all of it yet. The body
// of a Content-Length response points into b.
func ParseResponse(b []byte) (Response, int, bool, error) {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		if len(b) > 16<<10 {
			return Response{}, 0, false, errors.New("publish: reply headers too long")
		}
		return Response{}, 0, false, nil
	}
	head, err := ParseResponseHead(b[:i])
	if err != nil {
		return Response{}, 0, false, err
	}
	resp := Response{Status: head.Status, Close: head.Close}
	rest := b[i+4:]
	if head.Chunked {
		body, n, ok, err := DecodeChunked(rest, nil)
		resp.Body = body
		return resp, i + 4 + n, ok, err
	}
	if head.ContentLength < 0 {
		return Response{}, 0, false, errors.New("publish: the reply has neither a Content-Length nor chunks")
	}
	if int64(len(rest)) < head.ContentLength {
		return Response{}, 0, false, nil
	}
	resp.Body = rest[:head.ContentLength]
	return resp, i + 4 + int(head.ContentLength), true, nil
}

// DecodeChunked decodes an HTTP/1.1 chunked body at the start of b,
// appending the data to body. It returns the bytes of b it used and
// whether the body was complete (the last chunk and the blank line after
// it were in b); trailers are not supported.
func DecodeChunked(b, body []byte) ([]byte, int, bool, error) {
	pos := 0
	for {
		eol := bytes.Index(b[pos:], []byte("\r\n"))
		if eol < 0 {
			return body, 0, false, nil
		}
		sizeText, _, _ := bytes.Cut(b[pos:pos+eol], []byte(";")) // chunk extensions
		size, err := strconv.ParseInt(string(bytes.TrimSpace(sizeText)), 16, 32)
		if err != nil || size < 0 {
			return body, 0, false, fmt.Errorf("publish: bad chunk size %q", sizeText)
		}
		data := pos + eol + 2
		if size == 0 {
			if len(b) < data+2 {
				return body, 0, false, nil
			}
			if b[data] != '\r' || b[data+1] != '\n' {
				return body, 0, false, errors.New("publish: trailers after the last chunk are not supported")
			}
			return body, data + 2, true, nil
		}
		if len(b) < data+int(size)+2 {
			return body, 0, false, nil
		}
		body = append(body, b[data:data+int(size)]...)
		pos = data + int(size) + 2
	}
}

// fill reads more of the reply.
func (p *Publisher) fill() error {
	if err := p.compact(); err != nil {
		return err
	}
	n, err := p.conn.Read(p.resp[p.end:])
	p.end += n
	if n > 0 {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// compact moves the unread bytes of the reply buffer to its front, and
// fails if the buffer is full of them.
func (p *Publisher) compact() error {
	if p.start > 0 {
		p.end = copy(p.resp, p.resp[p.start:p.end])
		p.start = 0
	}
	if p.end == len(p.resp) {
		return errors.New("publish: reply too long")
	}
	return nil
}

// ParseAck reads the IDs from a publish reply, {"id":N} or
// {"ids":[N,...]}, returning the first and the last.
func ParseAck(body []byte) (first, last int64, err error) {
	s := string(body)
	if rest, ok := strings.CutPrefix(s, `{"id":`); ok {
		n, _, ok := leadingInt([]byte(rest))
		if !ok {
			return 0, 0, fmt.Errorf("publish: reply %q has no ID", truncate(s, 100))
		}
		return n, n, nil
	}
	rest, ok := strings.CutPrefix(s, `{"ids":[`)
	if !ok {
		return 0, 0, fmt.Errorf("publish: unexpected reply %q", truncate(s, 100))
	}
	list, _, _ := strings.Cut(rest, "]")
	firstText, _, _ := strings.Cut(list, ",")
	lastText := list[strings.LastIndexByte(list, ',')+1:]
	first, err1 := strconv.ParseInt(firstText, 10, 64)
	last, err2 := strconv.ParseInt(lastText, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("publish: reply %q has no IDs", truncate(s, 100))
	}
	return first, last, nil
}

// PublishPlan is how a group of publishers publishes during a workload.
type PublishPlan struct {
	Topic      string
	Publishers int
	// FirstIndex is the "pub" index of the first publisher.
	FirstIndex int
	// Rate is events per second from all publishers together; each
	// publishes its share at evenly spaced times, the publishers offset
	// from each other. 0 publishes as fast as acknowledgements come back.
	Rate     float64
	Duration time.Duration
	Payload  int
	// TopicPerPublisher appends "/p<index>" to the topic of each.
	TopicPerPublisher bool
	// PerRequest is the events of each request when unpaced (default 1).
	PerRequest int
	// Targets, if set, spreads the publishers over several servers (the
	// nodes of a cluster): publisher i publishes to Targets[i % len].
	Targets []*Target
	// Sent, if set, records when each event was sent.
	Sent *SentLog
}

// PublishResult is what a group of publishers did.
type PublishResult struct {
	Published []int64 // per publisher: the number of acknowledged events
	Errors    int
	Err       error
	FirstSend time.Time
	LastAck   time.Time
	Acks      Histogram
}

// Total returns the acknowledged events of all publishers.
func (r *PublishResult) Total() int64 {
	var n int64
	for _, v := range r.Published {
		n += v
	}
	return n
}

// Failed returns an error if no publish at all succeeded: a wrong token or
// URL, not a figure to report.
func (r *PublishResult) Failed() error {
	if r.Total() == 0 && r.Err != nil {
		return fmt.Errorf("no publish succeeded (%d failed): %w", r.Errors, r.Err)
	}
	return nil
}

// RunPublishers publishes as planned and returns once every publisher is
// done. The time of the first send is FirstSend, taken before any request.
func RunPublishers(ctx context.Context, t *Target, plan PublishPlan) *PublishResult {
	res := &PublishResult{Published: make([]int64, plan.Publishers)}
	pubs := make([]*Publisher, plan.Publishers)
	for i := range pubs {
		topic := plan.Topic
		if plan.TopicPerPublisher {
			topic += "/p" + strconv.Itoa(plan.FirstIndex+i)
		}
		target := t
		if len(plan.Targets) > 0 {
			target = plan.Targets[i%len(plan.Targets)]
		}
		pubs[i] = NewPublisher(target, plan.FirstIndex+i, plan.Payload, topic)
		pubs[i].sent = plan.Sent
	}
	// Connect first, so that the timed part starts with open connections.
	for _, p := range pubs {
		if c, err := p.target.Dial(ctx, p.index, 0); err == nil {
			p.conn = c
		}
	}
	start := time.Now().Add(time.Millisecond)
	res.FirstSend = start
	if plan.Rate <= 0 {
		time.Sleep(time.Until(start))
		var err error
		if res.LastAck, err = publishUnpaced(ctx, pubs, start.Add(plan.Duration), max(plan.PerRequest, 1)); err != nil {
			res.Err = err
		}
		for _, p := range pubs {
			p.Close()
		}
	} else {
		res.LastAck = publishPaced(ctx, pubs, plan, start)
	}
	for i, p := range pubs {
		res.Published[i] = p.Seq
		res.Errors += p.Errors
		if p.Err != nil {
			res.Err = p.Err
		}
		res.Acks.Merge(&p.Acks)
	}
	return res
}

// publishPaced runs each publisher in its own goroutine, publishing its
// share of the rate at evenly spaced times from start, the publishers
// offset from each other. It returns the time of the last acknowledgement.
func publishPaced(ctx context.Context, pubs []*Publisher, plan PublishPlan, start time.Time) time.Time {
	done := make(chan time.Time, len(pubs))
	for i, p := range pubs {
		go func() {
			defer p.Close()
			var lastAck time.Time
			each := plan.Rate / float64(len(pubs))
			count := int(each*plan.Duration.Seconds() + 0.5)
			interval := time.Duration(float64(time.Second) / each)
			offset := time.Duration(float64(time.Second) / plan.Rate * float64(i))
			for k := 0; k < count && ctx.Err() == nil; k++ {
				time.Sleep(time.Until(start.Add(offset + time.Duration(k)*interval)))
				if _, _, err := p.Publish(ctx, 1); err == nil {
					lastAck = time.Now()
				}
			}
			done <- lastAck
		}()
	}
	var last time.Time
	for range pubs {
		if at := <-done; at.After(last) {
			last = at
		}
	}
	return last
}

// Fill publishes total events in batches of up to 1,000 (the server's
// limit per request) from several publishers at once, as fast as the server
// acknowledges them, spreading them over topics. It sets up what a workload
// then measures, so it goes through the Go client (package client) rather
// than the hand-written Publisher; its events are the load tool's ticks
// (AppendTick), publisher i's of symbol firstIndex+i, numbered 1, 2, ...
// It returns the acknowledged count.
func Fill(ctx context.Context, t *Target, total int64, publishers, firstIndex, payload int, topics ...string) (int64, error) {
	c := client.New("http://"+t.Host, t.Token)
	c.HTTP = &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: publishers,
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return t.Dial(ctx, firstIndex, 0) },
	}}
	defer c.HTTP.CloseIdleConnections()
	var next atomic.Int64
	var acked atomic.Int64
	errs := make(chan error, publishers)
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Go(func() {
			var seq int64
			for ctx.Err() == nil {
				n := min(feed.MaxBatch, total-next.Add(feed.MaxBatch)+feed.MaxBatch)
				if n <= 0 {
					return
				}
				batch := make([]feed.Update, n)
				for j := range batch {
					seq++
					batch[j] = feed.Update{Topic: topics[seq%int64(len(topics))], Type: feed.TypeTick, Data: AppendTick(nil, firstIndex+i, seq, payload)}
				}
				if _, err := c.PublishBatch(ctx, batch, ""); err != nil {
					errs <- err
					return
				}
				acked.Add(n)
			}
		})
	}
	wg.Wait()
	close(errs)
	return acked.Load(), <-errs
}
