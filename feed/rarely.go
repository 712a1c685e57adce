package feed

import (
	"sync"
	"time"
)

// Rarely lets a kind of trouble be logged at most once per interval,
// whichever goroutine asks, and counts the times it said no meanwhile: a
// flood of the same trouble must not flood the log. The zero value says
// yes the first time.
type Rarely struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

// Due reports whether every has passed since it last said yes, and if so
// starts the next interval and returns how many times it said no since.
func (r *Rarely) Due(every time.Duration) (skipped int, due bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < every {
		r.skipped++
		return 0, false
	}
	skipped, r.skipped, r.last = r.skipped, 0, now
	return skipped, true
}
