package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Figure is one measured number, named in snake_case with its unit last
// (latency_p99_ms, deliveries_per_s).
type Figure struct {
	Name  string
	Value float64
}

// Figures are the figures of one run, in the order they are printed.
type Figures []Figure

// Add appends a figure.
func (f *Figures) Add(name string, v float64) { *f = append(*f, Figure{name, v}) }

// AddMS appends a duration in milliseconds.
func (f *Figures) AddMS(name string, d time.Duration) {
	f.Add(name, float64(d)/float64(time.Millisecond))
}

// Get returns the value of the named figure.
func (f Figures) Get(name string) (float64, bool) {
	for _, x := range f {
		if x.Name == name {
			return x.Value, true
		}
	}
	return 0, false
}

// Bar is a performance bar from web/docs/performance.md, checked against a figure.
type Bar struct {
	Figure string
	// Op is "<=", ">=", or "within" (|value| <= Limit).
	Op    string
	Limit float64
	// Worst checks every run (a correctness bar: every delivery arrives
	// in every run); otherwise the median of the runs is checked.
	Worst bool
}

// Met reports whether v meets the bar.
func (b Bar) Met(v float64) bool {
	switch b.Op {
	case "<=":
		return v <= b.Limit
	case ">=":
		return v >= b.Limit
	case "within":
		return math.Abs(v) <= b.Limit
	}
	return false
}

// Aggregate returns the value of the figure checked against the bar:
// the median of the runs, or for a Worst bar the worst run.
func (b Bar) Aggregate(runs []Figures) (float64, bool) {
	var vals []float64
	for _, r := range runs {
		if v, ok := r.Get(b.Figure); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	if !b.Worst {
		return Median(vals), true
	}
	worst := vals[0]
	for _, v := range vals[1:] {
		switch b.Op {
		case "<=":
			worst = max(worst, v)
		case ">=":
			worst = min(worst, v)
		case "within":
			if math.Abs(v) > math.Abs(worst) {
				worst = v
			}
		}
	}
	return worst, true
}

func (b Bar) String() string {
	switch b.Op {
	case "within":
		return fmt.Sprintf("bar=±%s", FormatValue(b.Limit))
	}
	return "bar" + b.Op + FormatValue(b.Limit)
}

// Median returns the median of vals (the mean of the middle two for an even
// count).
func Median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FormatValue prints a figure with three significant digits, or as an
// integer when it is one (counts).
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// WriteRun prints one run's figures on one line:
//
//	W1 run=1 deliveries=1000000 expected=1000000 ... latency_p99_ms=41.2
func WriteRun(w io.Writer, workload string, run int, f Figures) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s run=%d", workload, run)
	for _, x := range f {
		fmt.Fprintf(&b, " %s=%s", x.Name, FormatValue(x.Value))
	}
	fmt.Fprintln(w, b.String())
}

// WriteSummary prints the median of every figure over the runs on one
// line, then one line per bar with the value checked, the bar and whether
// it is met, then the workload's verdict:
//
//	W1 median runs=3 deliveries=1000000 ... latency_p99_ms=41.2
//	W1 bar latency_p99_ms=41.2 bar<=60 MET (median of 3 runs)
//	W1 result NOT MET (1 of 6 bars not met)
//
// It returns whether every bar was met.
func WriteSummary(w io.Writer, workload string, runs []Figures, bars []Bar) bool {
	if len(runs) == 0 {
		fmt.Fprintf(w, "%s result NOT MEASURED (no run completed)\n", workload)
		return false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s median runs=%d", workload, len(runs))
	for _, x := range runs[0] {
		var vals []float64
		for _, r := range runs {
			if v, ok := r.Get(x.Name); ok {
				vals = append(vals, v)
			}
		}
		fmt.Fprintf(&b, " %s=%s", x.Name, FormatValue(Median(vals)))
	}
	fmt.Fprintln(w, b.String())
	failed := 0
	for _, bar := range bars {
		v, ok := bar.Aggregate(runs)
		how := fmt.Sprintf("median of %d runs", len(runs))
		if bar.Worst {
			how = fmt.Sprintf("worst of %d runs", len(runs))
		}
		verdict := "MET"
		switch {
		case !ok:
			verdict, how = "NOT MEASURED", "no such figure"
			failed++
		case !bar.Met(v):
			verdict = "NOT MET"
			failed++
		}
		fmt.Fprintf(w, "%s bar %s=%s %s %s (%s)\n", workload, bar.Figure, FormatValue(v), bar, verdict, how)
	}
	if failed > 0 {
		fmt.Fprintf(w, "%s result NOT MET (%d of %d bars not met)\n", workload, failed, len(bars))
		return false
	}
	fmt.Fprintf(w, "%s result MET (all %d bars)\n", workload, len(bars))
	return true
}
