package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
)

// ingestWindow is how many lines a W9 connection keeps unacknowledged: a
// gateway's buffer of ticks on their way. Enough to cover a commit of a
// thousand events and the round trip many times over.
const ingestWindow = 20_000

// ingestSymbols is how many symbols each W9 connection publishes ticks of
// in turn, each on its own topic, unless -symbols says: a ticker
// gateway's. Connection i has symbols 400i to 400i+399, so four
// connections write 1,600 topics.
const ingestSymbols = 400

// maxIngestSymbols bounds -symbols for W9: each connection holds its
// topics' names.
const maxIngestSymbols = 1_000_000

// IngestResult is what one streaming publisher did.
type IngestResult struct {
	Acked     int64 // lines acknowledged with an ID
	Refused   int64 // lines answered with an error
	Disorder  int64 // IDs that did not increase
	Err       error
	FirstSend time.Time
	LastAck   time.Time
	Acks      Histogram // from a line's flush to its acknowledgement (every 1,000th line)
}

// RunIngest streams events from one connection (a streaming publish
// through feed/client's Ingest) as fast as acknowledgements come back,
// with at most ingestWindow lines unacknowledged, for d: ticks of symbols
// symbols of its own (index*symbols on), in turn. Then it ends the stream
// and waits for the last acknowledgements.
func RunIngest(ctx context.Context, t *Target, index, symbols, payload int, topicPrefix string, d time.Duration) *IngestResult {
	res := &IngestResult{}
	c := client.New("http://"+t.Host, t.Token)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return t.Dial(ctx, index, 0) }}
	defer tr.CloseIdleConnections()
	c.HTTP = &http.Client{Transport: tr}
	in, err := c.Ingest(ctx)
	if err != nil {
		res.Err = err
		return res
	}
	defer in.Close()
	topics := make([]string, symbols)
	for i := range topics {
		topics[i] = topicPrefix + "/" + SymbolName(index*symbols+i)
	}
	type mark struct {
		line int64
		at   time.Time
	}
	marks := make(chan mark, ingestWindow/1000+16)
	window := make(chan struct{}, ingestWindow) // a token per line in flight
	var recv sync.WaitGroup
	recv.Go(func() {
		var n, last int64
		var next *mark
		for {
			ack, err := in.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					res.Err = err
				}
				return
			}
			<-window
			n++
			if ack.Err != nil {
				res.Refused++
				res.Err = ack.Err
				continue
			}
			res.Acked++
			res.LastAck = time.Now()
			if ack.ID <= last {
				res.Disorder++
			}
			last = ack.ID
			if next == nil {
				select {
				case m := <-marks:
					next = &m
				default:
				}
			}
			if next != nil && n >= next.line {
				res.Acks.Record(time.Since(next.at))
				next = nil
			}
		}
	})
	res.FirstSend = time.Now()
	end := res.FirstSend.Add(d)
	var data []byte
	var seq int64
	for time.Now().Before(end) && ctx.Err() == nil {
		// A batch of lines, then a flush: what a gateway holding a
		// buffer of ticks does. Lines wait for room in the window.
		for range 500 {
			window <- struct{}{}
			// Line seq (1, 2, ...) is tick seq/symbols+1 of the
			// connection's symbol seq%symbols.
			k := int(seq % int64(symbols))
			seq++
			data = AppendTick(data[:0], index*symbols+k, (seq-1)/int64(symbols)+1, payload)
			if err := in.Send(feed.Update{Topic: topics[k], Type: feed.TypeTick, Data: data}, ""); err != nil {
				res.Err = err
				break
			}
		}
		if err := in.Flush(); err != nil {
			res.Err = err
			break
		}
		if seq%1000 == 0 {
			select {
			case marks <- mark{seq, time.Now()}:
			default:
			}
		}
	}
	if err := in.CloseSend(); err != nil && res.Err == nil {
		res.Err = err
	}
	recv.Wait()
	return res
}

// runIngest measures W9: streaming publishes from 1 and from 4
// connections, and with -bare-url the same against the bare endpoint.
func runIngest(ctx context.Context, r *runner, p Params) (Figures, error) {
	if p.Symbols < 1 || p.Symbols > maxIngestSymbols {
		return nil, fmt.Errorf("W9 needs -symbols from 1 to %d a connection (got %d)", maxIngestSymbols, p.Symbols)
	}
	var f Figures
	err := r.beside(ctx, &f, func(prefix string, t *Target, server *Process) error {
		for _, conns := range []int{1, 4} {
			name := prefix + "c" + strconv.Itoa(conns) + "_"
			topic := r.topic(fmt.Sprintf("-%sc%d", prefix, conns))
			r.progress("%s%d streaming connection(s) for %s, ticks of %d symbols each on topics %s/Sxxxx", map[bool]string{true: "bare endpoint: "}[prefix != ""], conns, p.Duration, p.Symbols, topic)
			before := sampleOf(server)
			results := make([]*IngestResult, conns)
			var wg sync.WaitGroup
			for i := range conns {
				wg.Go(func() { results[i] = RunIngest(ctx, t, i, p.Symbols, p.Payload, topic, p.Duration) })
			}
			wg.Wait()
			after := sampleOf(server)
			sum, err := r.sumIngest(prefix, results)
			if err != nil {
				return err
			}
			f.Add(name+"events", float64(sum.acked))
			f.Add(name+"refused", float64(sum.refused))
			f.Add(name+"order_violations", float64(sum.disorder))
			if sum.perS > 0 {
				f.Add(name+"events_per_s", sum.perS)
			}
			f.AddMS(name+"ack_p50_ms", sum.acks.Quantile(0.5))
			f.AddMS(name+"ack_p99_ms", sum.acks.Quantile(0.99))
			addCostsPrefixed(&f, name, before, after, "event", sum.acked)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	addRatios(&f, "c1_events_per_s", "c4_events_per_s", "c1_server_cpu_us_per_event", "c4_server_cpu_us_per_event")
	return f, nil
}

// ingestSum is what several streaming publishes run at once did together.
type ingestSum struct {
	acked, refused, disorder int64
	perS                     float64 // acked / (the last acknowledgement - the first send)
	acks                     Histogram
}

// sumIngest adds up results, each a streaming publish of one run (prefix
// names them in errors and progress). A publish that failed before any
// line was acknowledged fails the run; one that failed later is reported.
func (r *runner) sumIngest(prefix string, results []*IngestResult) (*ingestSum, error) {
	out := &ingestSum{}
	var first, last time.Time
	for _, res := range results {
		if res.Err != nil && res.Acked == 0 {
			return nil, fmt.Errorf("%sstreaming publish: %w", prefix, res.Err)
		}
		if res.Err != nil {
			r.progress("%sstreaming publish: %v", prefix, res.Err)
		}
		out.acked += res.Acked
		out.refused += res.Refused
		out.disorder += res.Disorder
		if first.IsZero() || res.FirstSend.Before(first) {
			first = res.FirstSend
		}
		if res.LastAck.After(last) {
			last = res.LastAck
		}
		out.acks.Merge(&res.Acks)
	}
	if span := last.Sub(first); span > 0 {
		out.perS = float64(out.acked) / span.Seconds()
	}
	return out, nil
}
