package bench_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"livefeed/feed/bench"
)

func TestHistogramQuantiles(t *testing.T) {
	uniform := func(h *bench.Histogram) {
		for v := 1; v <= 1_000_000; v++ {
			h.Record(time.Duration(v) * time.Microsecond)
		}
	}
	for _, tc := range []struct {
		name   string
		fill   func(*bench.Histogram)
		q      float64
		want   time.Duration
		within float64 // relative error allowed
	}{
		{"UniformP50", uniform, 0.50, 500 * time.Millisecond, 0.016},
		{"UniformP99", uniform, 0.99, 990 * time.Millisecond, 0.016},
		{"UniformP999", uniform, 0.999, 999 * time.Millisecond, 0.016},
		{"UniformMin", uniform, 0, time.Microsecond, 0.016},
		{"Constant", func(h *bench.Histogram) {
			for range 1000 {
				h.Record(41 * time.Millisecond)
			}
		}, 0.99, 41 * time.Millisecond, 0.016},
		{"SmallExact", func(h *bench.Histogram) {
			for v := range 10 {
				h.Record(time.Duration(v))
			}
		}, 0.5, 4, 0},
		{"OneOutlier", func(h *bench.Histogram) {
			for range 999 {
				h.Record(time.Millisecond)
			}
			h.Record(time.Second)
		}, 0.999, time.Millisecond, 0.016},
		{"TailBeyondP99", func(h *bench.Histogram) {
			for range 980 {
				h.Record(time.Millisecond)
			}
			for range 20 {
				h.Record(200 * time.Millisecond)
			}
		}, 0.99, 200 * time.Millisecond, 0.016},
		{"Negative", func(h *bench.Histogram) { h.Record(-time.Second) }, 0.5, 0, 0},
		{"Empty", func(*bench.Histogram) {}, 0.99, 0, 0},
		{"Huge", func(h *bench.Histogram) { h.Record(time.Duration(math.MaxInt64)) }, 0.5, time.Duration(math.MaxInt64), 0.016},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h bench.Histogram
			tc.fill(&h)
			got := h.Quantile(tc.q)
			if diff := math.Abs(float64(got) - float64(tc.want)); diff > tc.within*float64(tc.want) {
				t.Fatalf("Quantile(%v) = %v, want %v ± %.1f%%", tc.q, got, tc.want, tc.within*100)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all bench.Histogram
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100_000 {
		d := time.Duration(rng.ExpFloat64() * float64(10*time.Millisecond))
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a.Count() != 100_000 {
		t.Fatalf("Count = %d", a.Count())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Fatalf("merged Quantile(%v) = %v, recorded together %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	// An exponential distribution's p99 is mean × ln(100).
	want := 10 * time.Millisecond * time.Duration(1000*math.Log(100)) / 1000
	if got := all.Quantile(0.99); math.Abs(float64(got-want)) > 0.05*float64(want) {
		t.Fatalf("exponential p99 = %v, want about %v", got, want)
	}
}
