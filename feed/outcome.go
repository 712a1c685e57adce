package feed

// Outcome is what became of one update of a streaming publish, where each
// line stands alone: its event (ID and time set), or why it was refused.
// Replayed marks the answer to a retry of an earlier publish with the same
// idempotency key.
type Outcome struct {
	Event    Event
	Replayed bool
	Err      error
}
