package store

import (
	"slices"
	"sync"
	"time"
)

// The work the writer does between two commits, while publishes wait
// behind it: the names of Stats.Pauses.
const (
	WorkCheckpoint = "checkpoint" // copying what is left of the write-ahead log, so that it can start over
	WorkPrune      = "prune"      // a chunk of a prune, of its sweep of the topic index, or old idempotency keys
	WorkIndex      = "index"      // a pass of the topic index (topic_runs)
	WorkOther      = "other"      // the rest: sessions, operator accounts, meta values
)

// works are the kinds of work in the order of Stats.Pauses.
var works = [...]string{WorkCheckpoint, WorkPrune, WorkIndex, WorkOther}

// pauseBounds are the upper bounds, in seconds, of the buckets pauses are
// counted in: from half a millisecond, below which a publish does not
// notice, to seconds, which a slow disk or a runaway prune would take.
var pauseBounds = [...]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// PauseBounds returns the upper bounds, in seconds, of Pauses.AtMost.
func PauseBounds() []float64 { return slices.Clone(pauseBounds[:]) }

// Pauses are the writer's pauses for one kind of work since Open: each
// time it took up that work between commits, for how long.
type Pauses struct {
	Work  string
	Count uint64
	Sum   time.Duration
	// AtMost[i] is how many took at most PauseBounds()[i] seconds.
	AtMost []uint64
}

// pauses counts the pauses of one kind of work: the writer observes (a
// few hundred times a second at most), a scrape of /metrics reads.
type pauses struct {
	mu      sync.Mutex
	buckets [len(pauseBounds)]uint64 // each pause in the first bucket it fits
	count   uint64
	sum     time.Duration
}

func (p *pauses) observe(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range pauseBounds {
		if d.Seconds() <= b {
			p.buckets[i]++
			break
		}
	}
	p.sum += d
	p.count++
}

// snapshot returns the counts so far, cumulative by bound.
func (p *pauses) snapshot(work string) Pauses {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Pauses{Work: work, Count: p.count, Sum: p.sum, AtMost: make([]uint64, len(pauseBounds))}
	var n uint64
	for i, c := range p.buckets {
		n += c
		out.AtMost[i] = n
	}
	return out
}

// timed runs fn and counts how long it took as a pause of work w.
func (s *Store) timed(w int, fn func()) {
	start := time.Now()
	fn()
	s.pauses[w].observe(time.Since(start))
}

// The indices of works, for Store.pauses, and workCommit: a task that
// commits events (a cluster node applying its log), timed as the writer's
// commits are (Stats.Busy), not as a pause.
const (
	workCheckpoint = iota
	workPrune
	workIndex
	workOther

	workCommit = -1
)
