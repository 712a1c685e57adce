package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets: each power of two is cut
// into 32 equal buckets, so a bucket is at most 1/32 (3.1%) of its lower
// bound wide and a reported quantile, the bucket's midpoint, is within 1.6%
// of the true value. It keeps counts, not samples, so a million deliveries
// cost no more memory than ten. Record is safe for concurrent use.
type Histogram struct {
	counts [buckets]atomic.Uint64
}

const (
	subBits    = 5
	subBuckets = 1 << subBits
	// Values (nanoseconds) below subBuckets get a bucket each; above, each
	// power of two from 2^subBits to 2^63 gets subBuckets buckets.
	buckets = subBuckets + (63-subBits+1)*subBuckets
)

// bucketOf returns the bucket of v.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // 2^exp <= v < 2^(exp+1)
	sub := (v >> (exp - subBits)) & (subBuckets - 1)
	return subBuckets + (exp-subBits)*subBuckets + int(sub)
}

// bucketRange returns the values [lo, hi] that bucket b holds.
func bucketRange(b int) (lo, hi uint64) {
	if b < subBuckets {
		return uint64(b), uint64(b)
	}
	exp := (b-subBuckets)/subBuckets + subBits
	sub := uint64((b - subBuckets) % subBuckets)
	width := uint64(1) << (exp - subBits)
	lo = uint64(1)<<exp + sub*width
	return lo, lo + width - 1
}

// Record counts one duration; a negative one (clocks are not monotonic
// across a wall-clock step) counts as zero.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))].Add(1)
}

// Merge adds the counts of other to h.
func (h *Histogram) Merge(other *Histogram) {
	for i := range other.counts {
		if n := other.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Quantile returns the duration below which a fraction q of the recorded
// ones fall (q = 0.99 for p99), as the midpoint of its bucket; 1 returns
// the largest bucket's upper bound. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			lo, hi := bucketRange(b)
			if q >= 1 {
				return time.Duration(hi)
			}
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return 0
}
