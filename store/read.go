package store

import (
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"

	"livefeed/feed"
)

// After returns up to limit stored events with an ID greater than after that
// match f, in ID order. It returns ErrPruned when retention has removed
// events after that position, so the result could not be complete.
func (s *Store) After(ctx context.Context, after int64, f feed.Filter, limit int) ([]feed.Event, error) {
	return s.Missed(ctx, after, feed.Access{}.Narrow(f), limit)
}

// Missed is After for a subscriber that sees the topics of v: what it
// missed since after. Events it may not see are skipped, never counted
// towards limit, so a page shorter than limit still means there are no
// more.
func (s *Store) Missed(ctx context.Context, after int64, v feed.Visible, limit int) ([]feed.Event, error) {
	// Everything is read in one transaction: WAL gives it one snapshot, so
	// neither a prune nor the indexer running meanwhile can change what
	// the floor, indexed_through and the rows say.
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, readError(err)
	}
	defer tx.Rollback()
	var floor int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'floor'`).Scan(&floor); err != nil {
		return nil, readError(err)
	}
	if after < floor {
		return nil, feed.ErrPruned
	}
	events, err := s.readRange(ctx, tx, v, after, math.MaxInt64, limit, false, new(eventBuf), nil)
	return events, readError(err)
}

// readRange reads, within tx, up to limit events of f with after < ID <
// before, in ID order or, with newestFirst, newest first, appending them to
// dst with their data in buf. "*" walks the primary key, where every row
// matches. Any other selection is read through the topic index (topic_runs
// up to indexed_through, the writer's memory above it) for the topics it
// covers that have events after after, and by primary key for the few
// events committed since: the cost follows the events returned and the
// topics selected, never the size of the table (a prefix of a few sparse
// topics among a million events would otherwise walk them all).
//
// Only the topics of v are read: its bounds select them, and unless they
// are exact, the private topics the reader may not see are left out too,
// from the topics a prefix expands to and by a condition in SQL where the
// table is walked. A reader without a grant walking "*" thus skips the
// private events in SQLite, without returning them.
func (s *Store) readRange(ctx context.Context, tx *sql.Tx, v feed.Visible, after, before int64, limit int, newestFirst bool, buf *eventBuf, dst []feed.Event) ([]feed.Event, error) {
	order := " ORDER BY id"
	if newestFirst {
		order += " DESC"
	}
	f := v.Bounds()
	if f.IsZero() {
		return dst, nil // nothing is visible
	}
	if f.All {
		where, args := whereVisible(v)
		return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data, operator FROM events
			WHERE id > ? AND id < ?`+where+order+` LIMIT ?`, append(append([]any{after, before}, args...), limit)...)
	}
	topics, err := topicsAfter(ctx, tx, f, after)
	if !v.Exact() {
		topics = slices.DeleteFunc(topics, func(t string) bool { return !v.Match(t) })
	}
	if err != nil || len(topics) == 0 {
		return dst, err
	}
	var indexed, floor, top int64
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT value FROM counters WHERE name = 'indexed_through'),
		(SELECT value FROM counters WHERE name = 'floor'),
		COALESCE((SELECT MAX(id) FROM events), 0)`).Scan(&indexed, &floor, &top); err != nil {
		return dst, err
	}
	// Below the floor the events are gone, but not yet all their runs
	// (see Store.Prune).
	after = max(after, floor)
	if len(topics) >= walkTopics {
		// Many topics: those of a prefix a service follows, which hold
		// most of the events (stocks/*). The index would be read
		// topic by topic, a query each for every page; walking a
		// stretch of the table finds a page as fast as the events come,
		// and costs little if it finds few. The index reads what it
		// leaves.
		lo, hi := after, min(before, after+walkSpan*int64(limit)+1)
		if newestFirst {
			lo, hi = max(after, before-walkSpan*int64(limit)-1), before
		}
		where, args := whereVisible(v)
		n := len(dst)
		dst, err = scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data, operator FROM events
			WHERE id > ? AND id < ?`+where+order+` LIMIT ?`, append(append([]any{lo, hi}, args...), limit)...)
		if err != nil || len(dst)-n == limit {
			return dst, err
		}
		limit -= len(dst) - n
		if newestFirst {
			before = lo + 1
		} else {
			after = hi - 1
		}
		if after+1 >= before {
			return dst, nil
		}
	}
	// The range splits in three: IDs up to indexed_through are in
	// topic_runs, those above it up to mem in the writer's memory, and
	// those after mem (at most the commits since this snapshot was
	// taken, or more if the writer has since forgotten what this
	// snapshot needs) are read from the events table.
	hi := min(before-1, indexed)
	recentIDs, mem := s.recent.read(topics, indexed, max(after, indexed), before, top)
	headBefore, tailAfter := min(before, mem+1), max(after, mem)
	head := func(dst []feed.Event, limit int) ([]feed.Event, error) {
		if after+1 >= headBefore {
			return dst, nil
		}
		return indexedRange(ctx, tx, &s.bad, v, topics, recentIDs, after, hi, limit, newestFirst, buf, dst)
	}
	tail := func(dst []feed.Event, limit int) ([]feed.Event, error) {
		if tailAfter+1 >= before {
			return dst, nil
		}
		where, args := whereVisible(v)
		return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data, operator FROM events
			WHERE id > ? AND id < ?`+where+order+` LIMIT ?`, append(append([]any{tailAfter, before}, args...), limit)...)
	}
	first, second := head, tail
	if newestFirst {
		first, second = tail, head
	}
	n := len(dst)
	dst, err = first(dst, limit)
	if err != nil || len(dst)-n == limit {
		return dst, err
	}
	return second(dst, limit-(len(dst)-n))
}

// A read of walkTopics topics or more first walks the events table over
// walkSpan IDs per event it may return (see readRange).
const (
	walkTopics = 64
	walkSpan   = 4
)

// topicsAfter returns the topics f selects that have events after the ID
// after, prefixes expanded to the topics that exist: every topic ever
// published has a row in latest, with its newest ID.
func topicsAfter(ctx context.Context, tx *sql.Tx, f feed.Filter, after int64) ([]string, error) {
	var topics []string
	read := func(query string, args ...any) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				return err
			}
			topics = append(topics, t)
		}
		return rows.Err()
	}
	if len(f.Topics) > 0 {
		if err := read(`SELECT topic FROM latest WHERE topic IN (?`+strings.Repeat(", ?", len(f.Topics)-1)+`) AND id > ?`,
			append(anySlice(f.Topics), after)...); err != nil {
			return nil, err
		}
	}
	for _, p := range f.Prefixes {
		if err := read(`SELECT topic FROM latest WHERE topic >= ? AND topic < ? AND id > ?`, p, prefixEnd(p), after); err != nil {
			return nil, err
		}
	}
	return topics, nil
}

// indexedRange reads up to limit events of topics (those of f with events
// after after) with after < ID, in ID order or newest first: through
// topic_runs up to hi, and then recent, each topic's IDs above hi (in
// range, ascending). One topic is a few rows of topic_runs holding its IDs
// in order. Several are merged by ID here, from a few rows of each topic
// at a time (SQLite would read every row of the range to sort them): the
// reads start with one row and double for a topic whose IDs keep coming
// first. Then only the events returned are read: by ID, or, when they are
// most of the events between the first and the last (a dense selection),
// by walking that stretch of the table.
func indexedRange(ctx context.Context, tx *sql.Tx, bad *badData, v feed.Visible, topics []string, recent [][]int64, after, hi int64, limit int, newestFirst bool, buf *eventBuf, dst []feed.Event) ([]feed.Event, error) {
	q := runQuery{ctx: ctx, tx: tx, bad: bad}
	defer q.close()
	m := merge{newestFirst: newestFirst}
	page := min(max(2, limit/len(topics)+1), limit)
	for i, t := range topics {
		c := &cursor{topic: t, index: int32(i), lo: after, hi: hi, stored: hi > after, runs: 1, page: page}
		if recent != nil && len(recent[i]) > 0 {
			c.recent = recent[i]
		}
		if err := c.fill(&q, newestFirst); err != nil {
			return dst, err
		}
		if len(c.ids) > 0 {
			m.cursors = append(m.cursors, c)
		}
	}
	heap.Init(&m)
	ids := make([]int64, 0, min(limit, 64))
	srcs := make([]source, 0, min(limit, 64))
	for len(ids) < limit && m.Len() > 0 {
		c := m.cursors[0]
		ids, srcs = append(ids, c.ids[0]), append(srcs, c.srcs[0])
		if c.ids, c.srcs = c.ids[1:], c.srcs[1:]; len(c.ids) == 0 {
			if err := c.fill(&q, newestFirst); err != nil {
				return dst, err
			}
		}
		if len(c.ids) == 0 {
			heap.Pop(&m)
		} else {
			heap.Fix(&m, 0)
		}
	}
	if len(ids) == 0 {
		return dst, nil
	}
	dir := ""
	if newestFirst {
		dir = " DESC"
	}
	first, last := ids[0], ids[len(ids)-1]
	if newestFirst {
		first, last = last, first
	}
	if last-first < 2*int64(len(ids)) {
		where, args := whereVisible(v)
		return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data, operator FROM events
			WHERE id >= ? AND id <= ?`+where+` ORDER BY id`+dir, append([]any{first, last}, args...)...)
	}
	return q.fetchEvents(topics, ids, srcs, newestFirst, buf, dst)
}

// maxRunsRead is the most rows of topic_runs one read of a topic takes.
const maxRunsRead = 64

// cursor is a topic's place in a merge: its IDs in (lo, hi] from
// topic_runs, then (in ID order) those of recent. In ID order a fill
// decodes about page IDs, so a read of a few IDs of many topics does not
// decode whole runs; newest first it decodes a run at a time (a run reads
// only forwards).
type cursor struct {
	topic  string
	index  int32 // the topic's in the read's topics
	lo, hi int64
	page   int
	ids    []int64     // the IDs not yet taken, in the merge's order
	srcs   []source    // where each of ids is in topic_data
	rows   []storedRun // rows read, not yet begun
	run    runDecoder  // the row being decoded (in ID order)
	runID  int64       // its rowid
	stored bool        // topic_runs may hold more of them
	runs   int         // how many rows the next read of topic_runs takes
	next   int64       // where that read goes on: after this last ID, or newest first below it (0: not begun)
	recent []int64     // the IDs above hi, ascending, not yet taken
}

// fill reads the topic's next IDs into ids; it leaves ids empty when there
// are none left.
func (c *cursor) fill(q *runQuery, newestFirst bool) error {
	c.ids, c.srcs = c.ids[:0], c.srcs[:0]
	if newestFirst {
		if len(c.recent) > 0 {
			c.takeRecent()
			slices.Reverse(c.ids)
			return nil
		}
		for len(c.ids) == 0 && c.stored {
			if err := c.readNewest(q); err != nil {
				return err
			}
		}
		return nil
	}
	for len(c.ids) < c.page {
		if len(c.run.blob) == 0 {
			if len(c.rows) == 0 {
				if !c.stored {
					break
				}
				if err := c.readRuns(q); err != nil {
					return err
				}
				continue
			}
			r := c.rows[0]
			if c.rows = c.rows[1:]; r.first > c.hi {
				c.stop()
				break
			}
			c.run, c.runID = runDecoder{first: r.first, last: r.last, blob: r.ids}, r.rowid
		}
		id, ok, err := c.run.next()
		if err != nil {
			return err
		}
		if !ok {
			c.run.blob = nil
			continue
		}
		if id > c.hi {
			c.stop()
			break
		}
		if id > c.lo {
			c.ids = append(c.ids, id)
			c.srcs = append(c.srcs, source{run: c.runID, last: c.run.last, place: int32(c.run.n - 1), topic: c.index})
		}
	}
	if len(c.ids) == 0 && len(c.recent) > 0 {
		c.takeRecent()
	}
	return nil
}

// takeRecent moves the IDs of recent to ids: the events table holds them.
func (c *cursor) takeRecent() {
	c.ids = append(c.ids, c.recent...)
	for range c.recent {
		c.srcs = append(c.srcs, source{})
	}
	c.recent = nil
}

// stop ends the topic's IDs from topic_runs: the rest are beyond hi.
func (c *cursor) stop() {
	c.stored, c.rows, c.run.blob = false, nil, nil
}

// readRuns reads the topic's next rows of topic_runs, in ID order.
func (c *cursor) readRuns(q *runQuery) error {
	if c.next == 0 {
		c.next = c.lo
	}
	rows, err := q.read(&q.ascending, `SELECT rowid, last, first, ids FROM topic_runs WHERE topic = ? AND last > ? ORDER BY last LIMIT ?`, c.topic, c.next, c.runs)
	if err != nil {
		return err
	}
	c.stored = len(rows) == c.runs
	c.runs = min(2*c.runs, maxRunsRead)
	if len(rows) > 0 {
		c.next = rows[len(rows)-1].last
	}
	c.rows = rows
	return nil
}

// readNewest reads the topic's next rows of topic_runs newest first, and
// decodes them into ids.
func (c *cursor) readNewest(q *runQuery) error {
	var rows []storedRun
	var err error
	if c.next == 0 {
		// The run holding hi may go on beyond it: the first after
		// hi, if it starts at or before it.
		rows, err = q.read(&q.straddle, `SELECT rowid, last, first, ids FROM topic_runs WHERE topic = ? AND last > ? ORDER BY last LIMIT 1`, c.topic, c.hi)
		if len(rows) == 1 && rows[0].first > c.hi {
			rows = rows[:0]
		}
		c.next = c.hi + 1
	} else {
		rows, err = q.read(&q.descending, `SELECT rowid, last, first, ids FROM topic_runs WHERE topic = ? AND last > ? AND last < ? ORDER BY last DESC LIMIT ?`, c.topic, c.lo, c.next, c.runs)
		c.stored = len(rows) == c.runs
		c.runs = min(2*c.runs, maxRunsRead)
	}
	if err != nil {
		return err
	}
	for _, r := range rows {
		start := len(c.ids)
		d := runDecoder{first: r.first, last: r.last, blob: r.ids}
		for {
			id, ok, err := d.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if id > c.lo && id <= c.hi {
				c.ids = append(c.ids, id)
				c.srcs = append(c.srcs, source{run: r.rowid, last: r.last, place: int32(d.n - 1), topic: c.index})
			}
		}
		slices.Reverse(c.ids[start:])
		slices.Reverse(c.srcs[start:])
		c.next = min(c.next, r.last)
	}
	return nil
}

// storedRun is a row of topic_runs.
type storedRun struct {
	rowid       int64
	last, first int64
	ids         []byte
}

// runQuery holds the statements a merge reads topic_runs with, prepared
// on first use within the read's transaction.
type runQuery struct {
	ctx                             context.Context
	tx                              *sql.Tx
	bad                             *badData // rows of topic_data that do not decode
	ascending, descending, straddle *sql.Stmt
	data                            *sql.Stmt // a row of topic_data
}

func (q *runQuery) read(stmt **sql.Stmt, query string, args ...any) ([]storedRun, error) {
	if *stmt == nil {
		var err error
		if *stmt, err = q.tx.PrepareContext(q.ctx, query); err != nil {
			return nil, err
		}
	}
	rows, err := (*stmt).QueryContext(q.ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []storedRun
	for rows.Next() {
		var r storedRun
		if err := rows.Scan(&r.rowid, &r.last, &r.first, &r.ids); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

func (q *runQuery) close() {
	for _, s := range []*sql.Stmt{q.ascending, q.descending, q.straddle, q.data} {
		if s != nil {
			s.Close()
		}
	}
}

// merge is a heap of cursors by their first ID: the smallest on top, or
// with newestFirst the largest.
type merge struct {
	cursors     []*cursor
	newestFirst bool
}

func (m *merge) Len() int { return len(m.cursors) }
func (m *merge) Less(i, j int) bool {
	if m.newestFirst {
		return m.cursors[i].ids[0] > m.cursors[j].ids[0]
	}
	return m.cursors[i].ids[0] < m.cursors[j].ids[0]
}
func (m *merge) Swap(i, j int) { m.cursors[i], m.cursors[j] = m.cursors[j], m.cursors[i] }
func (m *merge) Push(x any)    { m.cursors = append(m.cursors, x.(*cursor)) }
func (m *merge) Pop() any {
	c := m.cursors[len(m.cursors)-1]
	m.cursors = m.cursors[:len(m.cursors)-1]
	return c
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return readError(s.rdb.QueryRowContext(ctx, `SELECT 1 FROM counters LIMIT 1`).Scan(&one))
}

// Latest returns the latest event of every topic, in ID order.
func (s *Store) Latest(ctx context.Context) ([]feed.Event, error) {
	events, err := s.queryEvents(ctx, s.rdb, `SELECT l.id, l.topic, l.type, l.time, l.data, e.operator
		FROM latest l LEFT JOIN events e ON e.id = l.id ORDER BY l.id`)
	return events, readError(err)
}

// LatestPage returns the latest event of each topic v sees after the topic
// after ("" for the first), in topic order, at most limit of them, and
// whether more topics follow: a page of the topics, whose reads cost the
// page and the topics it passes over, not every topic the database holds.
func (s *Store) LatestPage(ctx context.Context, v feed.Visible, after string, limit int) ([]feed.Event, bool, error) {
	cond, args, some := topicNamesAfter(v.Bounds(), after)
	if !some {
		return nil, false, nil
	}
	allowed, aargs := whereAllowed(v)
	events, err := s.queryEvents(ctx, s.rdb, `SELECT l.id, l.topic, l.type, l.time, l.data, e.operator
		FROM (SELECT topic, id, type, time, data FROM latest WHERE `+cond+allowed+` ORDER BY topic LIMIT ?) l
		LEFT JOIN events e ON e.id = l.id ORDER BY l.topic`, append(append(args, aargs...), limit+1)...)
	if err != nil {
		return nil, false, readError(err)
	}
	if len(events) > limit {
		return events[:limit], true, nil
	}
	return events, false, nil
}

// Recent returns the last n stored events, in ID order. They are read
// newest first and turned around here: put back in ID order by SQL,
// SQLite sorted them again (reading the 50,000 a server loads at
// start-up took 144–216 ms that way, 102–156 ms this way).
func (s *Store) Recent(ctx context.Context, n int) ([]feed.Event, error) {
	events, err := s.queryEvents(ctx, s.rdb, `SELECT id, topic, type, time, data, operator FROM events ORDER BY id DESC LIMIT ?`, n)
	slices.Reverse(events)
	return events, readError(err)
}

// readError classifies a failed read: cancellation stays as it is, anything
// else is the database failing.
func readError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return unavailable("read", err)
}

// where returns the SQL condition (starting with " AND") that selects the
// filter's topics, and its arguments. A prefix "nba/" becomes the range
// ["nba/", "nba0"): '0' is the byte after '/', so the range is exactly the
// topics that start with the prefix.
func whereTopics(f feed.Filter) (string, []any) {
	if f.All {
		return "", nil
	}
	cond, args := topicCondition(f)
	return " AND " + cond, args
}

// whereVisible is whereTopics for the topics of v: its bounds, less the
// private topics its reader may not see unless the bounds are exact.
func whereVisible(v feed.Visible) (string, []any) {
	where, args := whereTopics(v.Bounds())
	allowed, aargs := whereAllowed(v)
	return where + allowed, append(args, aargs...)
}

// whereAllowed returns the SQL condition (starting with " AND", or "")
// that leaves out the private topics the reader of v may not see, unless
// v's bounds are exact.
func whereAllowed(v feed.Visible) (string, []any) {
	if v.Exact() {
		return "", nil
	}
	a := v.Access()
	private, args := topicCondition(a.Private)
	where := " AND (NOT " + private
	if !a.Granted.IsZero() {
		granted, gargs := topicCondition(a.Granted)
		where, args = where+" OR "+granted, append(args, gargs...)
	}
	return where + ")", args
}

// topicCondition returns the SQL condition, in parentheses, that selects
// the topics of f (not the zero Filter), and its arguments.
func topicCondition(f feed.Filter) (string, []any) {
	if f.All {
		return "(1)", nil
	}
	var parts []string
	var args []any
	if len(f.Topics) > 0 {
		parts = append(parts, "topic IN (?"+strings.Repeat(", ?", len(f.Topics)-1)+")")
		args = append(args, anySlice(f.Topics)...)
	}
	for _, p := range f.Prefixes {
		parts = append(parts, "(topic >= ? AND topic < ?)")
		args = append(args, p, prefixEnd(p))
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// topicNamesAfter returns the SQL condition that selects the topics of f after
// the topic after, each of its terms bounded by after so that SQLite
// searches each from there, and its arguments; some is false when none
// can follow after.
func topicNamesAfter(f feed.Filter, after string) (cond string, args []any, some bool) {
	if f.All {
		return "topic > ?", []any{after}, true
	}
	var parts []string
	var exact []any
	for _, t := range f.Topics {
		if t > after {
			exact = append(exact, t)
		}
	}
	if len(exact) > 0 {
		parts = append(parts, "topic IN (?"+strings.Repeat(", ?", len(exact)-1)+")")
		args = append(args, exact...)
	}
	for _, p := range f.Prefixes {
		switch end := prefixEnd(p); {
		case end <= after:
		case after >= p:
			parts = append(parts, "(topic > ? AND topic < ?)")
			args = append(args, after, end)
		default:
			parts = append(parts, "(topic >= ? AND topic < ?)")
			args = append(args, p, end)
		}
	}
	if len(parts) == 0 {
		return "", nil, false
	}
	return "(" + strings.Join(parts, " OR ") + ")", args, true
}

// prefixEnd is the smallest string after every topic starting with prefix
// p, which ends in '/'.
func prefixEnd(p string) string { return p[:len(p)-1] + "0" }
