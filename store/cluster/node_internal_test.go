package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// TestNATSErrorsLogged: NATS's asynchronous errors are logged at most once
// a second, with their count: a subscription flooded past its limits
// reports a slow consumer each time it falls behind again.
func TestNATSErrorsLogged(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	n := &Node{log: slog.New(slog.NewTextHandler(&logs, nil))}
	for range 1000 {
		n.natsError(nil, nats.ErrSlowConsumer)
	}
	if got := strings.Count(logs.String(), "NATS reported an error"); got != 1 {
		t.Errorf("%d lines of log for 1,000 errors within a second, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "errors=1\n") || n.natsErrs.Load() != 1000 {
		t.Errorf("counted %d errors; logged %s", n.natsErrs.Load(), logs.String())
	}
}
