package feed

import "context"

// Log is where events get their IDs, in order, and are kept: the one
// seam between what publishes (the HTTP API, the console, the archiver)
// and what stores. The SQLite store implements it on a single node, a
// cluster node on its replicated log; feed/logtest is the conformance test
// every implementation passes. A log hands the events it commits on (to
// the hub) itself, in ID order, never through its callers.
type Log interface {
	// Append commits updates as events, all or none, and returns them
	// once they are durable.
	Append(ctx context.Context, updates []Update) ([]Event, error)
	// AppendOnce is Append for a publish that may be a retry: the same
	// key and request again are answered with the first one's events
	// (replayed), another request with the key is ErrKeyReused.
	AppendOnce(ctx context.Context, once Idempotency, updates []Update) (events []Event, replayed bool, err error)
	// AppendIf commits u only while its topic's latest event has ID
	// latest (0: none), ErrConflict otherwise; once, if not nil, as for
	// AppendOnce.
	AppendIf(ctx context.Context, once *Idempotency, latest int64, u Update) (events []Event, replayed bool, err error)
	// AppendEach commits updates that stand each on its own, the lines
	// of a streaming publish, each checked by the caller (Update.Check):
	// one the log refuses (more data than it takes, a key reused) is
	// refused alone, and the others are committed in their order. keys,
	// if not nil, holds an idempotency key or nil for each. The outcomes
	// are in the order of updates.
	AppendEach(ctx context.Context, updates []Checked, keys []*Idempotency) []Outcome
	// Replay returns the events of the publish once stands for, if one
	// was made, and ErrKeyReused if the key came with another request.
	Replay(ctx context.Context, once Idempotency) (events []Event, found bool, err error)
}
