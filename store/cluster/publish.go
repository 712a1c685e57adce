package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
)

// publishWait bounds a publish: the stream's answer and this node applying
// the events.
const publishWait = 10 * time.Second

// JetStream's error codes a publish can meet (nats-server's errors.json).
const (
	codeWrongLastSeq      = 10071 // the subject's last sequence is another
	codeWrongLastSeqBusy  = 10164 // the same, while another publish to the subject is in flight (replicated streams)
	codeDuplicateInBatch  = 10201 // an atomic batch with a message ID seen before: a retried batch
	headerExpectedLastSeq = "Nats-Expected-Last-Subject-Sequence"
)

// Append publishes updates into the stream, all or nothing (an atomic
// batch: consecutive IDs), and returns their events once this node has
// applied them.
func (n *Node) Append(ctx context.Context, updates []feed.Update) ([]feed.Event, error) {
	events, _, err := n.publish(ctx, nil, nil, updates)
	return events, err
}

// AppendOnce is Append for a publish that may be a retry, on this node or
// another: the key travels with the events into every node's history, and
// a retry is answered with the events the first publish made.
func (n *Node) AppendOnce(ctx context.Context, once feed.Idempotency, updates []feed.Update) ([]feed.Event, bool, error) {
	return n.publish(ctx, &once, nil, updates)
}

// AppendIf publishes u only if its topic's latest event is still latest
// (0: none): the stream checks the last sequence of the topic's subject,
// which holds for every node at once.
func (n *Node) AppendIf(ctx context.Context, once *feed.Idempotency, latest int64, u feed.Update) ([]feed.Event, bool, error) {
	return n.publish(ctx, once, &latest, []feed.Update{u})
}

// Replay returns the events of the publish once stands for, from this
// node's history.
func (n *Node) Replay(ctx context.Context, once feed.Idempotency) ([]feed.Event, bool, error) {
	return n.store.Replay(ctx, once)
}

func (n *Node) publish(ctx context.Context, once *feed.Idempotency, expect *int64, updates []feed.Update) ([]feed.Event, bool, error) {
	valid, err := feed.ValidateBatchUpTo(updates, n.opts.MaxDataBytes)
	if err != nil {
		return nil, false, err
	}
	if p := n.Problem(); p != "" {
		return nil, false, feed.Errorf(feed.ErrUnavailable, "this node stopped following the cluster's log, so it takes no publishes: %s", p)
	}
	if once != nil {
		if events, found, err := n.store.Replay(ctx, *once); err != nil || found {
			return events, found, err
		}
	}
	if err := n.refusal(); err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, publishWait)
	defer cancel()
	sendCtx, stop := n.whileConnected(ctx)
	msgs := n.messages(once, expect, valid)
	last, err := n.send(sendCtx, msgs)
	stop()
	var conflict *conflictError
	switch {
	case errors.As(err, &conflict) && once != nil, errors.Is(err, errDuplicate):
		// The first attempt of this publish may be stored already: a
		// retry after a lost answer (on a stream of one replica the
		// condition is checked before the message ID).
		if once != nil {
			if events, found, rerr := n.replayCaughtUp(ctx, *once); rerr == nil && found {
				return events, true, nil
			}
		}
		if conflict != nil {
			return nil, false, feed.Errorf(feed.ErrConflict, "%s changed meanwhile", valid[0].Topic)
		}
		return nil, false, feed.Errorf(feed.ErrUnavailable, "the cluster's log holds this publish, but this node has not applied it yet: try again shortly")
	case errors.As(err, &conflict):
		return nil, false, feed.Errorf(feed.ErrConflict, "%s changed meanwhile", valid[0].Topic)
	case err != nil:
		n.log.Warn("publish into the cluster's log failed", "err", err)
		return nil, false, feed.Errorf(feed.ErrUnavailable, "the cluster's log (NATS) did not take the publish: nothing is known to be stored; a retry with the same Idempotency-Key is safe")
	}
	if err := n.waitApplied(ctx, last, publishWait); err != nil {
		return nil, false, err
	}
	first := last - int64(len(msgs)) + 1
	if events, ok := n.recent.get(first, last); ok {
		return events, false, nil
	}
	events, err := n.store.After(ctx, first-1, feed.Filter{All: true}, len(msgs))
	if err != nil {
		return nil, false, err
	}
	if len(events) != len(msgs) || events[len(events)-1].ID != last {
		return nil, false, fmt.Errorf("cluster: events %d to %d are not in this node's history after it applied them", first, last)
	}
	return events, false, nil
}

// replayCaughtUp looks once up after this node has applied all the stream
// held just now.
func (n *Node) replayCaughtUp(ctx context.Context, once feed.Idempotency) ([]feed.Event, bool, error) {
	info, err := n.stream.Info(ctx)
	if err != nil {
		return nil, false, err
	}
	n.streamLast.Store(int64(info.State.LastSeq))
	if err := n.waitApplied(ctx, int64(info.State.LastSeq), n.opts.CatchUpWait); err != nil {
		return nil, false, err
	}
	return n.store.Replay(ctx, once)
}

// messages makes the stream's messages of a publish: one per event, its
// topic in the subject. Their message IDs let JetStream store a retry
// within its duplicate window once; past it, the key in the events' headers
// (in every node's history) answers the retry.
func (n *Node) messages(once *feed.Idempotency, expect *int64, updates []feed.Update) []*nats.Msg {
	base := rand.Text()
	if once != nil {
		base = hex.EncodeToString(once.Key[:])
	}
	msgs := make([]*nats.Msg, len(updates))
	for i, u := range updates {
		m := n.message(u, base+"#"+strconv.Itoa(i))
		if i == 0 && once != nil {
			m.Header.Set(hdrKey, hex.EncodeToString(once.Key[:]))
			m.Header.Set(hdrFingerprint, hex.EncodeToString(once.Fingerprint[:]))
			m.Header.Set(hdrCount, strconv.Itoa(len(updates)))
		}
		if i == 0 && expect != nil {
			m.Header.Set(headerExpectedLastSeq, strconv.FormatInt(*expect, 10))
		}
		msgs[i] = m
	}
	return msgs
}

// message makes the stream's message of one event, with message ID id.
func (n *Node) message(u feed.Update, id string) *nats.Msg {
	m := nats.NewMsg(subjectOf(n.prefix, u.Topic))
	m.Data = u.Data
	m.Header.Set(hdrType, u.Type)
	if u.Operator != "" {
		m.Header.Set(hdrOperator, u.Operator)
	}
	m.Header.Set(jetstream.MsgIDHeader, id)
	return m
}

// conflictError is a publish refused because its condition failed.
type conflictError struct{ err error }

func (e *conflictError) Error() string { return e.err.Error() }

// errDuplicate is a batch whose message IDs the stream has seen.
var errDuplicate = errors.New("cluster: the stream holds this publish already")

// send publishes msgs, one as a plain JetStream publish, several as an
// atomic batch, and returns the sequence of the last.
func (n *Node) send(ctx context.Context, msgs []*nats.Msg) (int64, error) {
	if len(msgs) == 1 {
		ack, err := n.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return 0, classify(err)
		}
		if ack.Duplicate {
			return 0, errDuplicate
		}
		return int64(ack.Sequence), nil
	}
	batch := rand.Text()
	for i, m := range msgs {
		m.Header.Set(hdrBatchID, batch)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			// Only the commit is answered; a batch never committed is
			// dropped by the stream.
			if err := n.nc.PublishMsg(m); err != nil {
				return 0, err
			}
		}
	}
	commit := msgs[len(msgs)-1]
	commit.Header.Set(hdrBatchCommit, "1")
	resp, err := n.nc.RequestMsgWithContext(ctx, commit)
	if err != nil {
		return 0, err
	}
	var ack struct {
		Seq   int64 `json:"seq"`
		Count int   `json:"count"`
		Error *struct {
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("cluster: the stream's answer to a batch: %w", err)
	}
	if ack.Error != nil {
		err := fmt.Errorf("cluster: the stream refused a batch: %s (%d)", ack.Error.Description, ack.Error.Code)
		switch ack.Error.Code {
		case codeWrongLastSeq, codeWrongLastSeqBusy:
			return 0, &conflictError{err}
		case codeDuplicateInBatch:
			return 0, errDuplicate
		}
		return 0, err
	}
	if ack.Count != len(msgs) {
		return 0, fmt.Errorf("cluster: the stream stored %d of a batch of %d", ack.Count, len(msgs))
	}
	return ack.Seq, nil
}

// classify marks the errors of a JetStream publish that are conflicts.
func classify(err error) error {
	var ae *jetstream.APIError
	if errors.As(err, &ae) && (ae.ErrorCode == codeWrongLastSeq || ae.ErrorCode == codeWrongLastSeqBusy) {
		return &conflictError{err}
	}
	return err
}

// AppendEach stores updates that stand each on its own, the lines of a
// streaming publish (see store.Store.AppendEach), through the stream.
//
// The lines are pipelined: each valid one is a message of its own, and all
// of them are published at once (JetStream's asynchronous publishes), one
// after the other on this node's connection, so that the stream gives
// them IDs in their order. Only then does it wait, once, for the stream's
// acknowledgements and for this node to apply the last of them: a group of
// lines costs one round trip, not one per thousand lines, and the groups
// of several streaming publishes are in flight together. A keyed line
// carries its key as AppendOnce's first event does, so that a retry is
// answered with the event it made, on any node.
//
// A line the stream did not acknowledge is refused (503, nothing known to
// be stored); the lines after it still stand on their own. Once NATS
// cannot be reached, the lines not yet published are refused without
// being published.
//
// It must be the node's own: the store's would write to this node's
// history only, past the cluster's log.
func (n *Node) AppendEach(ctx context.Context, updates []feed.Checked, keys []*feed.Idempotency) []feed.Outcome {
	out := make([]feed.Outcome, len(updates))
	ctx, cancel := context.WithTimeout(ctx, publishWait)
	defer cancel()
	sendCtx, stop := n.whileConnected(ctx)
	defer stop()
	// line is a line published: its index, key, the stream's answer and
	// the sequence it gave (0 until acknowledged).
	type line struct {
		i    int
		once *feed.Idempotency
		ack  jetstream.PubAckFuture
		seq  int64
		dup  bool
	}
	var (
		sent    []line
		refused = n.refusal() // once set, the lines left are refused with it
		base    = rand.Text()
	)
	for i, c := range updates {
		v, err := c.Within(n.opts.MaxDataBytes)
		if err != nil {
			out[i].Err = err
			continue
		}
		if refused != nil {
			out[i].Err = refused
			continue
		}
		var once *feed.Idempotency
		var m *nats.Msg
		if keys != nil && keys[i] != nil {
			once = keys[i]
			if events, found, err := n.store.Replay(ctx, *once); err != nil || found {
				out[i] = lineOutcome(events, found, err)
				continue
			}
			m = n.messages(once, nil, []feed.Update{v})[0]
		} else {
			m = n.message(v, base+"#"+strconv.Itoa(i))
		}
		// No retries by the client: a line published again after the
		// ones behind it would take an ID out of their order.
		ack, err := n.js.PublishMsgAsync(m, jetstream.WithRetryAttempts(0), jetstream.WithStallWait(publishWait))
		if err != nil {
			n.log.Warn("publish into the cluster's log failed", "err", err)
			refused = feed.Errorf(feed.ErrUnavailable, "the cluster's log (NATS) did not take the line: it was not stored; try again shortly")
			out[i].Err = refused
			continue
		}
		sent = append(sent, line{i: i, once: once, ack: ack})
	}

	// The stream's answers, in the lines' order. A line it did not answer
	// may be stored or not: its client may retry it with its key.
	var last int64
	unknown := feed.Errorf(feed.ErrUnavailable, "the cluster's log (NATS) did not answer for the line: nothing is known to be stored; a retry with the same Idempotency-Key is safe")
	// A connection lost fails every line in flight at once: it is logged
	// once for all of them, not once a line.
	var failed int
	var firstErr error
	for k := range sent {
		l := &sent[k]
		select {
		case a := <-l.ack.Ok():
			l.seq, l.dup = int64(a.Sequence), a.Duplicate
			last = max(last, l.seq)
			continue
		case err := <-l.ack.Err():
			if failed++; firstErr == nil {
				firstErr = err
			}
		case <-sendCtx.Done():
		}
		out[l.i].Err = unknown
	}
	if failed > 0 {
		n.log.Warn("publish into the cluster's log failed", "err", firstErr, "lines", failed)
	}
	if last == 0 {
		return out
	}
	if err := n.waitApplied(ctx, last, publishWait); err != nil {
		for _, l := range sent {
			if l.seq > 0 {
				out[l.i].Err = err
			}
		}
		return out
	}

	// The lines' events, as this node applied them.
	var ids []int64
	for _, l := range sent {
		if l.seq > 0 && !l.dup {
			ids = append(ids, l.seq)
		}
	}
	events, err := n.eventsOf(ctx, ids)
	for _, l := range sent {
		switch {
		case l.seq == 0:
		case l.dup && l.once != nil:
			// A retried line, stored by its first attempt: the stream
			// answers with the first one's sequence, applied by now.
			first, found, rerr := n.store.Replay(ctx, *l.once)
			if rerr == nil && !found {
				first, found, rerr = n.replayCaughtUp(ctx, *l.once)
			}
			out[l.i] = lineOutcome(first, found, rerr)
		case l.dup:
			out[l.i].Err = feed.Errorf(feed.ErrUnavailable, "the cluster's log took the line for another one: it was not stored; try again")
		case err != nil:
			out[l.i].Err = err
		default:
			out[l.i].Event, events = events[0], events[1:]
		}
	}
	return out
}

// lineOutcome is the outcome of a keyed line that a publish made before:
// one event, or ErrKeyReused if the key was used for a publish of several.
func lineOutcome(events []feed.Event, found bool, err error) feed.Outcome {
	switch {
	case err != nil:
		return feed.Outcome{Err: err}
	case !found:
		return feed.Outcome{Err: feed.Errorf(feed.ErrUnavailable, "the cluster's log holds this line, but this node has not applied it yet: try again shortly")}
	case len(events) != 1:
		return feed.Outcome{Err: feed.Errorf(feed.ErrKeyReused, "the idempotency key was used for a publish of %d events", len(events))}
	}
	return feed.Outcome{Event: events[0], Replayed: true}
}

// refusal is why this node takes no publish now, nil if it takes them.
func (n *Node) refusal() error {
	if p := n.Problem(); p != "" {
		return feed.Errorf(feed.ErrUnavailable, "this node stopped following the cluster's log, so it takes no publishes: %s", p)
	}
	if !n.nc.IsConnected() {
		return feed.Errorf(feed.ErrUnavailable, "the cluster's log (NATS) cannot be reached from this node: nothing was stored; try again shortly")
	}
	return nil
}

// eventsOf returns the events with IDs ids (ascending), which this node
// applied: from those it applied last, else from its history.
func (n *Node) eventsOf(ctx context.Context, ids []int64) ([]feed.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if events, ok := n.recent.pick(ids); ok {
		return events, nil
	}
	first, last := ids[0], ids[len(ids)-1]
	events := make([]feed.Event, 0, len(ids))
	for after := first - 1; after < last && len(events) < len(ids); {
		page, err := n.store.After(ctx, after, feed.Filter{All: true}, min(int(last-after), 5000))
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if len(events) < len(ids) && e.ID == ids[len(events)] {
				events = append(events, e)
			}
		}
		after = page[len(page)-1].ID
	}
	if len(events) != len(ids) {
		return nil, fmt.Errorf("cluster: events %d to %d are not all in this node's history after it applied them", first, last)
	}
	return events, nil
}

var _ feed.Log = (*Node)(nil)
