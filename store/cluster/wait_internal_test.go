package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"livefeed/feed"
)

// TestWaitAppliedOutOfTime: a publish whose own deadline passes before
// this node applied its event is answered as unavailable for now (the
// log holds the event; a retry with its key is answered with it), as one
// whose wait bound passes is — not with a bare "context deadline
// exceeded", which the handlers answer as an internal error. A caller
// that went away gets its cancellation back.
func TestWaitAppliedOutOfTime(t *testing.T) {
	t.Parallel()
	n := &Node{applied: 5, progress: make(chan struct{})}
	n.problem.Store("")

	if err := n.waitApplied(context.Background(), 5, time.Second); err != nil {
		t.Fatalf("event 5 is applied: %v", err)
	}
	deadline, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	for name, tc := range map[string]struct {
		ctx   context.Context
		bound time.Duration
	}{
		"deadline": {deadline, time.Hour},
		"bound":    {context.Background(), 10 * time.Millisecond},
	} {
		err := n.waitApplied(tc.ctx, 6, tc.bound)
		if !errors.Is(err, feed.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: waiting for event 6 past the time gave %v, want unavailable", name, err)
		}
	}
	gone, stop := context.WithCancel(context.Background())
	stop()
	if err := n.waitApplied(gone, 6, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("a caller that went away got %v, want its cancellation", err)
	}
}
