package cluster

import (
	"context"
	"io"
	"time"

	"livefeed/feed"
)

// The reads of a node: its own history, the store the mirror applies the
// stream to. Each is written out here rather than promoted from an
// embedded store, so that a node has the store's reads and none of its
// writes (a write to the store would bypass the stream, and the other
// nodes would never see it).

// Latest returns the latest event of each topic in this node's history.
func (n *Node) Latest(ctx context.Context) ([]feed.Event, error) { return n.store.Latest(ctx) }

// LatestPage is this node's store's LatestPage.
func (n *Node) LatestPage(ctx context.Context, v feed.Visible, after string, limit int) ([]feed.Event, bool, error) {
	return n.store.LatestPage(ctx, v, after, limit)
}

// LatestAsOf returns what the feed was at t in this node's history (see
// store.Store.LatestAsOf). Every node applies the same events with the
// same times from the log, so every node answers alike.
func (n *Node) LatestAsOf(ctx context.Context, t time.Time, topics ...string) ([]feed.Event, int64, error) {
	return n.store.LatestAsOf(ctx, t, topics...)
}

// LatestOf returns the latest event of topic in this node's history.
func (n *Node) LatestOf(ctx context.Context, topic string) (e feed.Event, found bool, err error) {
	return n.store.LatestOf(ctx, topic)
}

// Page returns a page of the events of r in this node's history (see
// store.Store.Page).
func (n *Node) Page(ctx context.Context, r feed.Range, limit int, newestFirst bool) (events []feed.Event, more bool, err error) {
	return n.store.Page(ctx, r, limit, newestFirst)
}

// Export writes the events of r in this node's history to w as CSV (see
// store.Store.Export).
func (n *Node) Export(ctx context.Context, w io.Writer, r feed.Range) (int64, error) {
	return n.store.Export(ctx, w, r)
}

// Missed returns the events after a position that v lets a subscriber
// see, from this node's history, for a stream resuming from a position
// the hub's window no longer holds.
func (n *Node) Missed(ctx context.Context, after int64, v feed.Visible, limit int) ([]feed.Event, error) {
	return n.store.Missed(ctx, after, v, limit)
}

// LastID returns the newest event applied to this node's history, which
// the hub hears of from the store a moment later. It is not the stream's
// newest (Status().StreamLast): a stream opened on this node waits for the
// hub to reach LastID, and the hub hears only of what this node applied.
// A publish through this node is answered once it is applied, so a stream
// opened after that answer includes it (read-your-writes).
func (n *Node) LastID() int64 { return n.store.LastID() }

// Ping reports whether the node can serve: its store answers, it has
// caught up with the stream since it started, and it still follows it.
func (n *Node) Ping(ctx context.Context) error {
	if err := n.store.Ping(ctx); err != nil {
		return err
	}
	if p := n.Problem(); p != "" {
		return feed.Errorf(feed.ErrUnavailable, "this node stopped following the cluster's log: %s", p)
	}
	if !n.ready.Load() {
		return feed.Errorf(feed.ErrUnavailable, "this node is catching up with the cluster's log (at %d of %d)", n.appliedID(), n.streamLast.Load())
	}
	return nil
}

// Resumable is the store's, after waiting (at most CatchUpWait) for this
// node to apply a position the stream holds but this node has not applied
// yet: a client moving from a node further ahead is then not taken for one
// from a replaced database.
func (n *Node) Resumable(after int64) error {
	if after > n.appliedID() {
		if info, err := n.stream.Info(context.Background()); err == nil {
			n.streamLast.Store(int64(info.State.LastSeq))
		}
		if after <= n.streamLast.Load() {
			n.waitApplied(context.Background(), after, n.opts.CatchUpWait)
		}
	}
	return n.store.Resumable(after)
}
