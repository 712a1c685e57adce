package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterIngesters is how many streaming publishes W13 spreads over the
// nodes, as W9 makes from one node.
const clusterIngesters = 4

// jetStreamResult is what publishers waiting for JetStream's
// acknowledgements did, with no livefeed in between.
type jetStreamResult struct {
	published int64
	errors    int64
	err       error
	perS      float64
	acks      Histogram
}

// rawJetStream measures what JetStream alone takes from W13's publishers:
// publishers goroutines spread over conns connections to the NATS server
// at url (the nodes' own number of connections), each publishing tick
// data of payload bytes on a subject of its own and waiting for the
// stream's acknowledgement before the next, for d. The stream is the
// run's own, made as the nodes make theirs (file storage, replicas, a
// duplicate window; nothing consumes it), and deleted at the end.
func rawJetStream(ctx context.Context, url, stream, subjects string, replicas, publishers, conns, payload int, d time.Duration) *jetStreamResult {
	res := &jetStreamResult{}
	var streams []jetstream.JetStream
	for range conns {
		nc, err := nats.Connect(url, nats.Name("livefeed bench W13 raw JetStream"))
		if err != nil {
			res.err = err
			return res
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			res.err = err
			return res
		}
		streams = append(streams, js)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := streams[0].CreateStream(cctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subjects},
		Storage: jetstream.FileStorage, Replicas: replicas, Duplicates: 2 * time.Minute})
	cancel()
	if err != nil {
		res.err = fmt.Errorf("create the stream %s: %w", stream, err)
		return res
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := streams[0].DeleteStream(cctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) && res.err == nil {
			res.err = fmt.Errorf("delete the stream %s: %w", stream, err)
		}
	}()
	prefix := subjects[:len(subjects)-1] // "….>" → "…."
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		last time.Time
	)
	start := time.Now()
	end := start.Add(d)
	for p := range publishers {
		wg.Go(func() {
			js, subject := streams[p%len(streams)], prefix+strconv.Itoa(p)
			var data []byte
			var acks Histogram
			var n, failed int64
			var lastAck time.Time
			var err error
			for seq := int64(1); time.Now().Before(end) && ctx.Err() == nil; seq++ {
				data = AppendTick(data[:0], p, seq, payload)
				sent := time.Now()
				if _, perr := js.Publish(ctx, subject, data); perr != nil {
					failed++
					err = perr
					continue
				}
				lastAck = time.Now()
				acks.Record(lastAck.Sub(sent))
				n++
			}
			mu.Lock()
			defer mu.Unlock()
			res.published += n
			res.errors += failed
			if err != nil {
				res.err = err
			}
			res.acks.Merge(&acks)
			if lastAck.After(last) {
				last = lastAck
			}
		})
	}
	wg.Wait()
	if span := last.Sub(start); span > 0 {
		res.perS = float64(res.published) / span.Seconds()
	}
	return res
}

// clusterIngest runs clusterIngesters streaming publishes (W9's, each of
// its own 400 symbols) at once, connection i to node i mod the nodes, for
// d: every line is acknowledged once the stream took it and the node it
// was sent to applied it, in the connection's order.
func (r *runner) clusterIngest(ctx context.Context, targets []*Target, payload int, d time.Duration) (*ingestSum, error) {
	results := make([]*IngestResult, clusterIngesters)
	topic := r.topic("/ingest")
	var wg sync.WaitGroup
	for i := range clusterIngesters {
		wg.Go(func() { results[i] = RunIngest(ctx, targets[i%len(targets)], i, ingestSymbols, payload, topic, d) })
	}
	wg.Wait()
	return r.sumIngest("", results)
}
