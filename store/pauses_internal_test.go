package store

import (
	"slices"
	"testing"
	"time"
)

// TestPausesBuckets: a pause counts in every bucket whose bound it is at
// or below, one longer than the last bound in none (Prometheus's +Inf is
// the count), and the sum is the time they took.
func TestPausesBuckets(t *testing.T) {
	var p pauses
	for _, d := range []time.Duration{300 * time.Microsecond, 500 * time.Microsecond, 3 * time.Millisecond, 3 * time.Second} {
		p.observe(d)
	}
	got := p.snapshot(WorkIndex)
	want := []uint64{2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	if got.Work != WorkIndex || got.Count != 4 || got.Sum != 3003800*time.Microsecond || !slices.Equal(got.AtMost, want) {
		t.Fatalf("snapshot = %+v; want 4 pauses of 3.0038s in all, buckets %v", got, want)
	}
	if b := PauseBounds(); len(b) != len(want) || b[0] != 0.0005 {
		t.Fatalf("bounds %v", b)
	}
}
