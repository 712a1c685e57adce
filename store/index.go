package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"livefeed/feed"
)

// A topic's history is found through topic_runs: runs of its IDs, one row
// per topic per indexing pass. The writer keeps the IDs committed since
// the last pass in memory (recent) and writes them out when indexBacklog
// events wait, or once indexEvery has passed since the last pass. A pass
// over 2,000 topics writes 2,000 rows: an index with a row per event,
// brought up to date every 8,192 events, rewrote a page per topic each
// time and cost a third of the writer's time under a streaming publish to
// 1,600 topics (BenchmarkIngest). A row of each pass still lands on a page
// of its own in topic_runs' index once that holds a few dozen rows per
// topic, so the passes are few: at 20,000 ticks/s of 2,000 symbols, passes
// of 65,536 events (one every 3.3 s) took the writer 0.4 s a minute at
// first and 0.8 s by the seventh, and what the server wrote grew by a
// quarter over those minutes; a pass every 10 s takes it about 0.2 s a
// minute, flat. Memory holds the IDs of about two passes (8 MiB at
// indexBacklog) and the events of about one (a pass is due once they
// take stashMax).
const (
	indexEvery   = 10 * time.Second
	indexBacklog = 512 << 10
	// stashMax bounds the events the writer keeps for the next pass
	// (store/topicdata.go): a pass is due once they take this much.
	stashMax = 32 << 20
	// stashCap is the most the stash holds while passes fail or lag:
	// events committed beyond it are not kept, and the runs holding them
	// get no row of topic_data (their reads take them from the events
	// table), so memory stays bounded while the disk refuses writes.
	stashCap = 4 * stashMax
	// catchUpChunk is how many unindexed events catchUp reads into memory
	// at a time when a store opens.
	catchUpChunk = 64 << 10
	// maxRun is the most IDs one row holds: a read decodes at most this
	// many IDs it did not ask for.
	maxRun = 4096
)

// recent holds each topic's IDs that topic_runs may not hold yet: every
// committed ID above base, up to high. The writer adds each commit's IDs
// before handing the events on, and forgets IDs a generation after a pass
// wrote them, so a reader whose snapshot is one pass old still finds them
// here (see readRange).
type recent struct {
	mu     sync.RWMutex
	base   int64
	high   int64
	topics map[string][]int64 // ascending
	peak   int                // the most topics it held since topics was made
}

func newRecent(base int64) *recent {
	return &recent{base: base, high: base, topics: make(map[string][]int64)}
}

// add records the IDs of events just committed, in ID order.
func (r *recent) add(events []feed.Event) {
	if len(events) == 0 {
		return
	}
	r.mu.Lock()
	for _, e := range events {
		r.topics[e.Topic] = append(r.topics[e.Topic], e.ID)
	}
	r.high = max(r.high, events[len(events)-1].ID)
	r.mu.Unlock()
}

// topicsIn returns, in order, the topics with IDs in (after, to]. Only
// the writer calls it and runs, and only the writer changes r, so they
// need no lock.
func (r *recent) topicsIn(after, to int64) []string {
	var topics []string
	for t, ids := range r.topics {
		if len(between(ids, after, to)) > 0 {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	return topics
}

// runs returns the IDs in (after, to] of each of the first topics, in
// their order, taking topics until they hold most IDs (at least one
// topic), and how many topics it took.
func (r *recent) runs(topics []string, after, to int64, most int) ([]run, int) {
	var runs []run
	n, taken := 0, 0
	for _, t := range topics {
		if taken > 0 && n >= most {
			break
		}
		taken++
		if ids := between(r.topics[t], after, to); len(ids) > 0 {
			runs = append(runs, run{topic: t, ids: ids})
			n += len(ids)
		}
	}
	return runs, taken
}

// between returns the IDs of ids (ascending) in (after, to], a slice of
// ids that appending to cannot change.
func between(ids []int64, after, to int64) []int64 {
	i := sort.Search(len(ids), func(i int) bool { return ids[i] > after })
	j := i + sort.Search(len(ids)-i, func(k int) bool { return ids[i+k] > to })
	return ids[i:j:j]
}

// forget drops the IDs at or below base.
func (r *recent) forget(base int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if base <= r.base {
		return
	}
	r.base = base
	r.peak = max(r.peak, len(r.topics))
	for t, ids := range r.topics {
		i := sort.Search(len(ids), func(i int) bool { return ids[i] > base })
		switch {
		case i == len(ids):
			delete(r.topics, t)
		case i > 0:
			r.topics[t] = slices.Clone(ids[i:])
		}
	}
	r.topics, r.peak = shrunk(r.topics, r.peak)
}

// shrinkFrom is the most topics a map of the index held before shrunk
// makes it anew: below it, its memory is not worth the copy.
const shrinkFrom = 4096

// shrunk returns m, or a copy of it once it holds a quarter or less of
// the most it held (peak): a map keeps the room it grew to after its
// entries are deleted, so a burst of new topics (100,000 in a minute)
// would hold the index's memory for them as long as the server runs.
// It returns the peak of the map it returns.
func shrunk[V any](m map[string]V, peak int) (map[string]V, int) {
	if peak < shrinkFrom || len(m) > peak/4 {
		return m, peak
	}
	fresh := make(map[string]V, len(m))
	maps.Copy(fresh, m)
	return fresh, len(m)
}

// read returns, for each of topics, its IDs in (after, min(before-1,
// through)], ascending, where through is the highest ID r was told of up
// to top, the newest ID of the reader's snapshot; and through. A reader
// whose snapshot has indexed_through at indexed needs every ID above it:
// if r has forgotten some (a pass ran twice since the snapshot), it
// returns no IDs and indexed as through, and the reader reads them from
// the events table.
func (r *recent) read(topics []string, indexed, after, before, top int64) ([][]int64, int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	through := min(top, r.high)
	if indexed < r.base || through <= indexed {
		return nil, indexed
	}
	hi := min(before-1, through)
	out := make([][]int64, len(topics))
	for i, t := range topics {
		ids := r.topics[t]
		a := sort.Search(len(ids), func(i int) bool { return ids[i] > after })
		b := sort.Search(len(ids), func(i int) bool { return ids[i] > hi })
		if a < b {
			out[i] = slices.Clone(ids[a:b])
		}
	}
	return out, through
}

// run is IDs of one topic, ascending.
type run struct {
	topic string
	ids   []int64
}

// encodeRun appends ids (ascending, at least one) as stored in
// topic_runs.ids: the difference of each from the one before, the first's
// from first (so 0), as unsigned varints.
func encodeRun(dst []byte, ids []int64) []byte {
	prev := ids[0]
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id-prev))
		prev = id
	}
	return dst
}

// errBadRun is a row of topic_runs that does not decode: the database is
// damaged.
var errBadRun = errors.New("topic_runs holds a damaged row")

// runDecoder reads the IDs of a row of topic_runs one at a time.
type runDecoder struct {
	first, last int64
	blob        []byte // the rest of the row
	prev        int64  // the ID read last
	n           int    // IDs read
}

// next returns the next ID, or ok false at the end of the row.
func (d *runDecoder) next() (id int64, ok bool, err error) {
	if len(d.blob) == 0 {
		if d.n == 0 || d.prev != d.last {
			return 0, false, fmt.Errorf("%w (IDs %d to %d)", errBadRun, d.first, d.last)
		}
		return 0, false, nil
	}
	if d.n == 0 {
		if d.first > d.last {
			return 0, false, fmt.Errorf("%w (IDs %d to %d)", errBadRun, d.first, d.last)
		}
		d.prev = d.first
	}
	v, size := binary.Uvarint(d.blob)
	if size <= 0 || v > uint64(d.last-d.prev) || (v == 0) != (d.n == 0) {
		return 0, false, fmt.Errorf("%w (IDs %d to %d)", errBadRun, d.first, d.last)
	}
	d.prev += int64(v)
	d.blob = d.blob[size:]
	d.n++
	return d.prev, true, nil
}

// A pass is written in steps, a step between two commits: no more topics
// once a step holds stepIDs IDs or twice the events of the commit before
// it, whichever is more, and at most stepTopics topics or as many as that
// commit's events twice, whichever is more — so that a pass writes IDs
// faster than commits add them however many topics hold them, at a cost
// that follows the commits'. With stepTopics alone, 100,000 symbols with
// a few ticks each a pass fell ever further behind a streaming publish of
// 60,000 ticks/s (a minute in, 434,000 of 3.9 million events were
// indexed, the stash was full and 74,000 runs had no events beside them);
// with steps that follow the commits, the pass kept within a pass or two
// (steps of 18 ms on average beside commits of 41 ms). Each
// topic's row lands on a page of its own in the index of topic_runs, and
// every publish that arrives during a step waits for all of it: a pass
// over 2,000 topics in one step took 8–15 ms on a quiet writer and 100–150
// ms with readers resuming beside it (W14 at 20,000 ticks/s); steps of 128
// topics at 50,000 ticks/s held 16,000 IDs and 3.7 MB of events and took
// 7–12 ms each, steps of 4,096 IDs 2–3 ms. Rows a step writes hold IDs
// above indexed_through, which only the last step moves, so readers clip
// them as they clip the writer's memory; rows of a pass that never
// finished (a crash between its steps) are dropped when the database is
// next opened (dropUnfinished).
const (
	stepTopics = 128
	stepIDs    = 4096
)

// passing is the pass the writer is writing: the IDs in (indexed_through,
// to] of topics, in topic order, from topics[next] on.
type passing struct {
	to     int64
	topics []string
	next   int
}

// indexTopics writes the next step of the pass under way, or begins a
// pass of the IDs committed since the last one, after a commit of
// committed events (0: none). It runs on the writer goroutine.
func (s *Store) indexTopics(committed int) {
	s.indexStep(max(stepTopics, 2*committed), max(stepIDs, 2*committed))
}

// indexAll finishes the pass under way and writes every ID committed
// since, as the writer does before it stops.
func (s *Store) indexAll() {
	s.indexStep(math.MaxInt, math.MaxInt)
	s.indexStep(math.MaxInt, math.MaxInt)
}

// indexStep writes the next step of the pass under way, at most topics
// topics and ids IDs (but at least one topic), beginning a pass if none
// is.
func (s *Store) indexStep(topics, ids int) {
	if s.passing == nil {
		last := s.lastID.Load()
		s.lastIndexed = time.Now()
		if last <= s.indexedThrough.Load() {
			return
		}
		if s.unfinished {
			if err := dropUnfinished(context.Background(), s.db, s.indexedThrough.Load()); err != nil {
				s.log.Warn("indexing topics failed", "from", s.indexedThrough.Load()+1, "to", last, "err", err)
				return
			}
			s.unfinished = false
		}
		s.passing = &passing{to: last, topics: s.recent.topicsIn(s.indexedThrough.Load(), last)}
	}
	if err := s.step(topics, ids); err != nil {
		// Reads stay correct (the IDs stay in memory, rows above
		// indexed_through are clipped); the IDs' memory grows until a
		// later pass succeeds (the events' stops at stashCap).
		s.log.Warn("indexing topics failed", "from", s.indexedThrough.Load()+1, "to", s.lastID.Load(), "err", err)
	}
}

// step writes the next topics of the pass under way (at most topics of
// them, and no more once they hold ids IDs), but IDs a prune removed
// meanwhile; the last step moves indexed_through to the pass's end, and
// memory keeps the IDs of this pass until the next one. A step that fails
// abandons the pass: the next begins by dropping what it wrote.
func (s *Store) step(topics, ids int) error {
	p := s.passing
	left := p.topics[p.next:]
	runs, taken := s.recent.runs(left[:min(topics, len(left))], max(s.indexedThrough.Load(), s.floor.Load()), p.to, ids)
	end := p.next + taken
	to := int64(0)
	if end == len(p.topics) {
		to = p.to
	}
	if err := s.stmt.index(runs, to, &s.stash); err != nil {
		s.passing, s.unfinished = nil, true
		return err
	}
	p.next = end
	if to != 0 {
		s.passing = nil
		s.recent.forget(s.indexedThrough.Load())
		s.stash.drop(to)
		s.indexedThrough.Store(to)
	}
	return nil
}

// pass writes the IDs in memory up to last in one step, as catchUp does.
func (s *Store) pass(last int64) error {
	s.passing = &passing{to: last, topics: s.recent.topicsIn(s.indexedThrough.Load(), last)}
	return s.step(math.MaxInt, math.MaxInt)
}

// dropUnfinished deletes the rows of topic_runs written by steps of a pass
// that never finished, and their events in topic_data: their IDs are above
// indexed_through, and the next pass writes them again. They are the
// newest rows, so the search for the newest row of a finished pass reads
// only them.
func dropUnfinished(ctx context.Context, db *sql.DB, indexed int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, table := range []string{"topic_data WHERE run", "topic_runs WHERE rowid"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` > COALESCE(
			(SELECT rowid FROM topic_runs WHERE last <= ? ORDER BY rowid DESC LIMIT 1), 0)`, indexed); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// indexDue reports whether the writer should index now, and if not, how
// long until it should.
func (s *Store) indexDue() (bool, time.Duration) {
	if s.passing != nil {
		return true, 0
	}
	pending := s.lastID.Load() - s.indexedThrough.Load()
	if pending <= 0 {
		return false, 0
	}
	wait := s.indexEvery - time.Since(s.lastIndexed)
	return pending >= indexBacklog || s.stash.size >= stashMax || wait <= 0, wait
}

// catchUp reads into recent the events stored after indexed_through, as a
// crash or an older livefeed left them, writing them to topic_runs as it
// goes so that memory holds at most two passes of them. It runs in Open,
// before the writer starts.
func (s *Store) catchUp(ctx context.Context) error {
	if err := dropUnfinished(ctx, s.db, s.indexedThrough.Load()); err != nil {
		return err
	}
	s.recent, s.stash = newRecent(s.indexedThrough.Load()), stash{}
	for {
		events, err := s.queryEvents(ctx, s.db, `SELECT id, topic, type, time, data, operator FROM events
			WHERE id > ? ORDER BY id LIMIT ?`, s.recent.high, s.catchUpChunk)
		if err != nil {
			return err
		}
		s.stashEvents(events)
		if len(events) < s.catchUpChunk {
			return nil
		}
		if err := s.pass(s.recent.high); err != nil {
			return err
		}
	}
}

// index writes runs to topic_runs, with their events in topic_data where
// data holds them, and unless to is 0 moves indexed_through (and the
// last_id counter) to to, in one transaction.
func (st *statements) index(runs []run, to int64, data *stash) error {
	ctx := context.Background()
	if st.indexInsert == nil {
		var err error
		if st.indexInsert, err = st.db.PrepareContext(ctx,
			`INSERT INTO topic_runs (topic, last, first, ids) VALUES (?, ?, ?, ?)`); err != nil {
			return err
		}
		if st.indexData, err = st.db.PrepareContext(ctx,
			`INSERT INTO topic_data (run, last, events, sum) VALUES (?, ?, ?, ?)`); err != nil {
			return err
		}
		if st.indexMark, err = st.db.PrepareContext(ctx,
			`UPDATE counters SET value = MAX(value, ?) WHERE name IN ('indexed_through', 'last_id')`); err != nil {
			return err
		}
	}
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := writeRuns(ctx, tx.StmtContext(ctx, st.indexInsert), tx.StmtContext(ctx, st.indexData), runs, data); err != nil {
		return err
	}
	if to != 0 {
		if _, err := tx.StmtContext(ctx, st.indexMark).ExecContext(ctx, to); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// writeRuns inserts runs, in topic order (each row lands beside the one
// before it), split into rows of at most maxRun IDs, and with each row its
// events in topic_data where data holds them (insertData and data are nil
// where there are no events to write: the migration from topic_index).
func writeRuns(ctx context.Context, insert, insertData *sql.Stmt, runs []run, data *stash) error {
	var blob []byte
	for _, r := range runs {
		for ids := r.ids; len(ids) > 0; {
			part := ids[:min(len(ids), maxRun)]
			ids = ids[len(part):]
			blob = encodeRun(blob[:0], part)
			last := part[len(part)-1]
			res, err := insert.ExecContext(ctx, r.topic, last, part[0], blob)
			if err != nil {
				return err
			}
			if insertData == nil {
				continue
			}
			events := data.records(r.topic, part)
			if events == nil {
				continue
			}
			rowid, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if _, err := insertData.ExecContext(ctx, rowid, last, events, dataSum(events)); err != nil {
				return err
			}
		}
	}
	return nil
}
