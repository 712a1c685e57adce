package feed

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends and returns its error: the one wait
// that a shutdown cuts short (sign-in backoff, a prune's pauses, the
// demo's and the client's pauses).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
