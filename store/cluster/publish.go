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
	if !n.nc.IsConnected() {
		return nil, false, feed.Errorf(feed.ErrUnavailable, "the cluster's log (NATS) cannot be reached from this node: nothing was stored; try again shortly")
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
		m := nats.NewMsg(subjectOf(n.prefix, u.Topic))
		m.Data = u.Data
		m.Header.Set(hdrType, u.Type)
		if u.Operator != "" {
			m.Header.Set(hdrOperator, u.Operator)
		}
		m.Header.Set(jetstream.MsgIDHeader, base+"#"+strconv.Itoa(i))
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
// streaming publish (see store.Store.AppendEach), through the stream: each
// run of valid updates without a key as one atomic batch, each keyed one
// as AppendOnce, one after the other so that their IDs follow their
// order. It must be the node's own: the store's would write to this
// node's history only, past the cluster's log.
func (n *Node) AppendEach(ctx context.Context, updates []feed.Update, keys []*feed.Idempotency) []feed.Outcome {
	out := make([]feed.Outcome, len(updates))
	var run []int // indices of valid updates without a key, not yet published
	flush := func() {
		if len(run) == 0 {
			return
		}
		batch := make([]feed.Update, len(run))
		for j, i := range run {
			batch[j] = updates[i]
		}
		events, err := n.Append(ctx, batch)
		for j, i := range run {
			if err != nil {
				out[i].Err = err
			} else {
				out[i].Event = events[j]
			}
		}
		run = run[:0]
	}
	for i, u := range updates {
		if _, err := u.ValidateUpTo(n.opts.MaxDataBytes); err != nil {
			out[i].Err = err
			continue
		}
		if keys == nil || keys[i] == nil {
			if run = append(run, i); len(run) == feed.MaxBatch {
				flush()
			}
			continue
		}
		flush()
		events, replayed, err := n.AppendOnce(ctx, *keys[i], updates[i:i+1])
		switch {
		case err != nil:
			out[i].Err = err
		case len(events) != 1:
			out[i].Err = feed.Errorf(feed.ErrKeyReused, "the idempotency key was used for a publish of %d events", len(events))
		default:
			out[i] = feed.Outcome{Event: events[0], Replayed: replayed}
		}
	}
	flush()
	return out
}

var _ feed.Log = (*Node)(nil)
