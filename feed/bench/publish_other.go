//go:build !linux

package bench

import (
	"context"
	"time"
)

// publishUnpaced runs each publisher in its own goroutine where epoll is
// not available.
func publishUnpaced(ctx context.Context, pubs []*Publisher, until time.Time, perRequest int) (time.Time, error) {
	done := make(chan time.Time, len(pubs))
	for _, p := range pubs {
		go func() {
			var last time.Time
			for ctx.Err() == nil && time.Now().Before(until) {
				if _, _, err := p.Publish(ctx, perRequest); err == nil {
					last = time.Now()
				}
			}
			done <- last
		}()
	}
	var last time.Time
	for range pubs {
		if at := <-done; at.After(last) {
			last = at
		}
	}
	return last, nil
}
