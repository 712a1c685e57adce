package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
	"livefeed/store"
)

// Headers of the messages livefeed publishes into the stream. A message is
// one event: its subject holds the topic, its data the event's data.
const (
	hdrType        = "Livefeed-Type"
	hdrKey         = "Livefeed-Key"         // hex of the publish's idempotency key, on its first event
	hdrFingerprint = "Livefeed-Fingerprint" // hex of its request's fingerprint
	hdrCount       = "Livefeed-Count"       // the events of the publish, on its first event
	hdrOperator    = "Livefeed-Operator"    // the console operator who published the event, if one did
	hdrBatchID     = "Nats-Batch-Id"        // JetStream's atomic batches
	hdrBatchCommit = "Nats-Batch-Commit"
)

// applyBatch bounds the events applied in one store transaction while
// catching up.
const applyBatch = 2000

// checkEvery is how often the stream is compared with the one this node
// mirrors while nothing arrives; a node takes it when it opens.
var checkEvery = 2 * time.Second

// stallAfter is how long a consumer may deliver nothing while the stream
// holds events this node has not applied, before it is started again.
const stallAfter = 10 * time.Second

// A node's consumer: how many messages one fetch asks for, how long the
// server holds a fetch that has not been filled (messages are delivered
// as they come, whatever the wait), and how long the server keeps a
// consumer nobody fetches from (the node's, should it die without
// deleting it).
const (
	fetchBatch   = applyBatch
	fetchWait    = 2 * time.Second
	consumerIdle = time.Minute
)

// mirror applies the stream to the store, from the store's newest event
// on, until Close: through a consumer of the stream made for each start
// (see follow), started again after a failure to fetch or to apply (from
// what the store holds, so nothing is skipped), after the stream was
// found changed and when it stopped delivering.
func (n *Node) mirror() {
	target := n.streamLast.Load() // caught up once this is applied
	if n.appliedID() >= target {
		n.ready.Store(true)
	}
	backoff := time.Second
	for {
		from := n.appliedID()
		err := n.follow(&target)
		if n.appliedID() > from {
			backoff = time.Second // it went on for a while: a new failure
		}
		select {
		case <-n.stop:
			return
		default:
		}
		if errors.Is(err, errRedeliver) {
			// Logged where it was found. Followed again at once, but
			// for a pause that keeps a loss that repeats from spinning.
			select {
			case <-n.stop:
				return
			case <-time.After(redeliverPause):
			}
			continue
		}
		if n.Problem() != "" {
			n.log.Error("stopped following the cluster's log", "problem", n.Problem())
			return
		}
		n.log.Warn("following the cluster's log failed; starting again", "err", err, "from", n.appliedID()+1)
		select {
		case <-n.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// follow consumes the stream from the store's newest event on and applies
// it, until an error or Close.
func (n *Node) follow(target *int64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	from := n.appliedID() + 1
	cons, err := n.js.CreateConsumer(ctx, n.opts.Stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       uint64(from),
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: consumerIdle,
	})
	if err != nil {
		return err
	}
	defer n.dropConsumer(cons.CachedInfo().Name)
	// The consumer's messages are fetched on a goroutine of their own, so
	// that the loop below sees what was delivered and not yet applied
	// (len(deliveries)) and applies all of it in one commit: with many
	// publishers waiting, a commit per message the stream held as its
	// last cost most of a publish (issue 25).
	//
	// One fetch at a time, each for up to fetchBatch messages: the
	// consumer takes no acknowledgements, so one outstanding request
	// delivers the stream in order, and a request the server no longer
	// holds (NATS restarted) ends on this side a second after its expiry.
	//
	// A fetch ends when the server says so (its batch is full, or the
	// request expired: a status message that comes after every message
	// the request delivered), never by a deadline of this node's: nats.go
	// ends a fetch at its context's deadline at once, dropping messages
	// that reached its subscription and were not handed over yet, and a
	// consumer that takes no acknowledgements does not send them again
	// (the node then finds the gap and follows again: see held). Given a
	// context, nats.go has the server expire the request a tenth of the
	// time before the context's deadline: a server late by that much on a
	// loaded machine can deliver into the dropped window.
	//
	// (A client that keeps counts of its outstanding requests, as
	// nats.go's Messages does, was seen to stop asking for ten seconds
	// under streaming publishes while the server held none of its
	// requests.)
	type delivery struct {
		m   jetstream.Msg
		err error
	}
	deliveries := make(chan delivery, applyBatch)
	var reader sync.WaitGroup
	defer func() { cancel(); reader.Wait() }()
	reader.Go(func() {
		send := func(d delivery) bool {
			select {
			case deliveries <- d:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ctx.Err() == nil {
			batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(fetchWait))
			if err != nil {
				send(delivery{err: err})
				return
			}
			msgs := batch.Messages()
		fetch:
			for {
				select {
				case m, ok := <-msgs:
					if !ok {
						break fetch
					}
					if n.lost(m) {
						continue
					}
					if !send(delivery{m: m}) {
						return
					}
				case <-ctx.Done():
					// The fetch ends by itself at its expiry; what it
					// still delivers is fetched again by the next
					// consumer, from what this node applied.
					return
				}
			}
			if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) {
				send(delivery{err: err})
				return
			}
		}
	})
	// lastDelivery is when the consumer last delivered a message (Unix
	// nanoseconds), or the mirror last applied some.
	var lastDelivery atomic.Int64
	lastDelivery.Store(time.Now().UnixNano())
	// The stream is also checked while nothing arrives: a stream created
	// anew may deliver nothing this node would apply for a long time. And
	// a consumer that delivers nothing while the stream holds events this
	// node has not applied (one that did not come back after NATS did) is
	// started again, rather than trusted to recover.
	var checker sync.WaitGroup
	defer func() { cancel(); checker.Wait() }()
	checker.Go(func() {
		t := time.NewTicker(n.checkEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n.check(ctx); n.Problem() != "" {
					cancel()
					return
				}
				idle := time.Since(time.Unix(0, lastDelivery.Load()))
				if n.nc.IsConnected() && n.streamLast.Load() > n.appliedID() && idle > stallAfter {
					n.log.Warn("the cluster's log holds events this node has not applied, and its consumer delivered nothing for a while: starting it again",
						"applied", n.appliedID(), "log_last", n.streamLast.Load(), "idle", idle.Round(time.Millisecond))
					cancel()
					return
				}
			}
		}
	})

	var (
		events []feed.Event
		keys   []store.AppliedKey
		open   []feed.Event // the events of an atomic batch not yet committed
		openK  *store.AppliedKey
		last   = n.appliedID()
		// The consumer the stream was last checked under, and the one
		// whose events are about to be applied.
		checked, consumer string
	)
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		// A stream created anew under the same name must not pass for the
		// old one: its events would take IDs this node gave out. A
		// deleted stream takes its consumers with it, and this node
		// follows with a consumer made for each start, so the stream is
		// checked once for each consumer, before the first of its events
		// is applied; a check for every flush would cost NATS a request
		// per event.
		if consumer != checked {
			if err := n.check(ctx); err != nil {
				return err
			}
			checked = consumer
		}
		stored, err := n.store.Apply(ctx, events, keys...)
		if err != nil {
			if ctx.Err() == nil {
				n.applyErrs.Add(1)
			}
			return err
		}
		n.recent.add(stored)
		n.advance(events[len(events)-1].ID)
		lastDelivery.Store(time.Now().UnixNano())
		events, keys = events[:0], keys[:0]
		if n.appliedID() >= *target {
			n.ready.Store(true)
		}
		return nil
	}
	for {
		var d delivery
		select {
		case d = <-deliveries:
		case <-ctx.Done():
			return ctx.Err()
		}
		if d.err != nil {
			return d.err
		}
		m := d.m
		lastDelivery.Store(time.Now().UnixNano())
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := int64(md.Sequence.Stream)
		n.streamLast.Store(max(n.streamLast.Load(), seq+int64(md.NumPending)))
		if md.Consumer != consumer {
			// A new consumer: what is buffered came from the old one.
			if err := flush(); err != nil {
				return err
			}
			consumer = md.Consumer
		}
		if seq <= last {
			continue // delivered again after a restart of the consumer
		}
		if seq != last+1 {
			// Events this node has not seen. Either their delivery was
			// lost on its way — the consumer takes no acknowledgements,
			// so a message in flight when a fetch ended is not delivered
			// again — and the stream still holds them: follow again from
			// the last event applied. Or a hole: messages deleted from the
			// stream (never by livefeed), or retention that dropped what
			// this node had not applied; the second must not pass unsaid.
			if err := n.held(ctx, last+1, seq-1); err != nil {
				return err
			}
			if info, err := n.stream.Info(ctx); err == nil && int64(info.State.FirstSeq) > last+1 {
				n.problem.Store("the stream's retention dropped events " + strconv.FormatInt(last+1, 10) + " to " + strconv.FormatInt(int64(info.State.FirstSeq)-1, 10) + " before this node applied them")
				return errors.New(n.Problem())
			}
		}
		last = seq
		e, key, err := n.eventOf(m, seq, md.Timestamp)
		if err != nil {
			n.log.Warn("skipped a message of the stream that is not a livefeed event", "seq", seq, "subject", m.Subject(), "err", err)
			continue
		}
		if m.Headers().Get(hdrBatchID) != "" && m.Headers().Get(hdrBatchCommit) == "" {
			open = append(open, e) // the rest of the batch follows, all of it
			if key != nil {
				openK = key
			}
			continue
		}
		events = append(events, open...)
		events = append(events, e)
		if openK != nil {
			keys = append(keys, *openK)
		} else if key != nil {
			keys = append(keys, *key)
		}
		open, openK = open[:0], nil
		if md.NumPending == 0 && len(deliveries) == 0 || len(events) >= applyBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// errRedeliver ends a follow that missed a delivery the stream still
// holds: the next starts at once from the last event applied.
var errRedeliver = errors.New("cluster: a delivery of the log was lost on its way")

// held returns errRedeliver if the stream holds any of the messages from
// to through (the first maxHoleLookups of them are looked up: a hole
// longer than that is retention's, which follow reports).
func (n *Node) held(ctx context.Context, from, through int64) error {
	for seq := from; seq <= through && seq < from+maxHoleLookups; seq++ {
		_, err := n.stream.GetMsg(ctx, uint64(seq))
		switch {
		case err == nil:
			n.log.Info("a delivery of the cluster's log was lost on its way; following again from the last event applied", "missed", from, "through", through, "from", n.appliedID()+1)
			return errRedeliver
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return err
		}
	}
	return nil
}

// maxHoleLookups bounds the messages of a hole held looks up;
// redeliverPause is the pause before following again after a lost
// delivery.
const (
	maxHoleLookups = 64
	redeliverPause = 10 * time.Millisecond
)

// lost reports whether a test asked to lose the delivery of m (once).
func (n *Node) lost(m jetstream.Msg) bool {
	seq := n.lose.Load()
	if seq == 0 {
		return false
	}
	md, err := m.Metadata()
	return err == nil && int64(md.Sequence.Stream) == seq && n.lose.CompareAndSwap(seq, 0)
}

// dropConsumer deletes the consumer a follow made, once it is done with
// it. One left behind (NATS away, the node killed) is deleted by the
// server once nobody fetched from it for consumerIdle.
func (n *Node) dropConsumer(name string) {
	if !n.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := n.js.DeleteConsumer(ctx, n.opts.Stream, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		n.log.Debug("could not delete this node's consumer of the cluster's log; NATS deletes it when idle", "consumer", name, "err", err)
	}
}

// eventOf reads an event from a message of the stream.
func (n *Node) eventOf(m jetstream.Msg, seq int64, at time.Time) (feed.Event, *store.AppliedKey, error) {
	topic, err := topicOf(n.prefix, m.Subject())
	if err != nil {
		return feed.Event{}, nil, err
	}
	h := m.Headers()
	typ := h.Get(hdrType)
	if feed.ValidateType(typ) != nil {
		return feed.Event{}, nil, errors.New("no valid " + hdrType + " header")
	}
	e := feed.Event{ID: seq, Topic: topic, Type: typ, Time: at.UTC().Truncate(time.Millisecond), Data: m.Data()}
	if op := h.Get(hdrOperator); validOperator(op) {
		e.Operator = op
	}
	if hk := h.Get(hdrKey); hk != "" {
		var k store.AppliedKey
		count, cerr := strconv.Atoi(h.Get(hdrCount))
		key, kerr := hex.DecodeString(hk)
		fp, ferr := hex.DecodeString(h.Get(hdrFingerprint))
		if cerr == nil && kerr == nil && ferr == nil && len(key) == len(k.Once.Key) && len(fp) == len(k.Once.Fingerprint) && count > 0 {
			copy(k.Once.Key[:], key)
			copy(k.Once.Fingerprint[:], fp)
			k.First, k.Count = seq, count
			return e, &k, nil
		}
	}
	return e, nil, nil
}

// validOperator reports whether op is an operator name as the
// configuration allows them (auth.operators): 1 to 64 characters of
// A-Z a-z 0-9 . _ @ -. A header holding anything else was not written by
// livefeed and is ignored.
func validOperator(op string) bool {
	if op == "" || len(op) > 64 {
		return false
	}
	for i := 0; i < len(op); i++ {
		c := op[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return false
		}
	}
	return true
}

// check compares the stream with the one this node mirrors: one created
// anew, or one that lost events this node applied, stops the node (it
// would otherwise give IDs out twice).
//
// A stream that dropped events this node has not applied yet is told by
// the hole it leaves in the sequence, as the events arrive.
func (n *Node) check(ctx context.Context) error {
	applied := n.appliedID()
	info, err := n.stream.Info(ctx)
	if err != nil {
		return err // tried again when following starts again
	}
	n.streamLast.Store(max(n.streamLast.Load(), int64(info.State.LastSeq)))
	if created := info.Created.UTC().Format(time.RFC3339Nano); created != n.id.created || info.Config.Metadata[streamIDKey] != n.id.uuid {
		n.problem.Store("stream " + n.opts.Stream + " was deleted and created anew (now created " + created + "): its IDs start again, so this node stopped; restart it on a backup of a node of the new stream")
		return errors.New(n.Problem())
	}
	if err := n.checkKept(info, applied); err != nil {
		n.problem.Store(err.Error())
		return err
	}
	return nil
}
