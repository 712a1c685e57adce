package feed_test

import (
	"testing"
	"time"

	"livefeed/feed"
)

// TestRarely: yes the first time, no within the interval (counted), yes
// once it has passed, with the count of the noes since.
func TestRarely(t *testing.T) {
	t.Parallel()
	var r feed.Rarely
	for i, want := range []struct {
		every   time.Duration
		skipped int
		due     bool
	}{
		{time.Hour, 0, true},
		{time.Hour, 0, false},
		{time.Hour, 0, false},
		{0, 2, true},
		{time.Hour, 0, false},
		{-time.Second, 1, true},
	} {
		if skipped, due := r.Due(want.every); skipped != want.skipped || due != want.due {
			t.Fatalf("call %d (every %v): skipped %d, due %v; want %d, %v", i, want.every, skipped, due, want.skipped, want.due)
		}
	}
}
