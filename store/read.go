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
// matches. Any other selection is read through topic_index, up to
// indexed_through, for the topics it covers that have events after after,
// and by primary key above indexed_through, where the few unindexed events
// are: the cost follows the events returned and the topics selected, never
// the size of the table (a prefix of a few sparse topics among a million
// events would otherwise walk them all).
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
	var indexed, floor int64
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT value FROM counters WHERE name = 'indexed_through'),
		(SELECT value FROM counters WHERE name = 'floor')`).Scan(&indexed, &floor); err != nil {
		return dst, err
	}
	// Below the floor the events are gone, but not yet all their topic
	// index entries (see Store.Prune).
	after = max(after, floor)
	// The range splits at indexed_through: IDs up to it are in the index,
	// the few above it are read from the events table.
	headBefore, tailAfter := min(before, indexed+1), max(after, indexed)
	head := func(dst []feed.Event, limit int) ([]feed.Event, error) {
		if after+1 >= headBefore {
			return dst, nil
		}
		return indexedRange(ctx, tx, v, topics, after, headBefore, limit, newestFirst, buf, dst)
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

// indexedRange reads, through topic_index, up to limit events of topics
// (those of f with events after after) with after < ID < before, in ID
// order or newest first. One topic is one index seek returning its rows in
// order. Several are merged by ID here, from a page of each topic's IDs at
// a time (SQLite would read every row of the range to sort them): the
// pages start small, a share of limit, and double for a topic whose IDs
// keep coming first, so the IDs read are at most about twice those
// returned, plus a page per topic. Then only the events returned are read:
// by ID, or, when they are most of the events between the first and the
// last (a dense selection), by walking that stretch of the table.
func indexedRange(ctx context.Context, tx *sql.Tx, v feed.Visible, topics []string, after, before int64, limit int, newestFirst bool, buf *eventBuf, dst []feed.Event) ([]feed.Event, error) {
	dir := ""
	if newestFirst {
		dir = " DESC"
	}
	if len(topics) == 1 {
		return scanEvents(ctx, tx, buf, dst, `SELECT e.id, e.topic, e.type, e.time, e.data, e.operator
			FROM topic_index x JOIN events e ON e.id = x.id
			WHERE x.topic = ? AND x.id > ? AND x.id < ? ORDER BY x.id`+dir+` LIMIT ?`, topics[0], after, before, limit)
	}
	seek, err := tx.PrepareContext(ctx, `SELECT id FROM topic_index WHERE topic = ? AND id > ? AND id < ? ORDER BY id`+dir+` LIMIT ?`)
	if err != nil {
		return dst, err
	}
	defer seek.Close()
	m := merge{newestFirst: newestFirst}
	page := min(max(2, limit/len(topics)+1), limit)
	for _, t := range topics {
		c := &cursor{topic: t, next: after, page: page}
		if newestFirst {
			c.next = before
		}
		if err := c.fill(ctx, seek, after, before, newestFirst); err != nil {
			return dst, err
		}
		if len(c.ids) > 0 {
			m.cursors = append(m.cursors, c)
		}
	}
	heap.Init(&m)
	ids := make([]any, 0, min(limit, 64))
	for len(ids) < limit && m.Len() > 0 {
		c := m.cursors[0]
		ids = append(ids, c.ids[0])
		if c.ids = c.ids[1:]; len(c.ids) == 0 && !c.exhausted {
			c.page = min(2*c.page, max(limit-len(ids), 1))
			if err := c.fill(ctx, seek, after, before, newestFirst); err != nil {
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
	lo, hi := ids[0].(int64), ids[len(ids)-1].(int64)
	if newestFirst {
		lo, hi = hi, lo
	}
	if hi-lo < 2*int64(len(ids)) {
		where, args := whereVisible(v)
		return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data, operator FROM events
			WHERE id >= ? AND id <= ?`+where+` ORDER BY id`+dir, append([]any{lo, hi}, args...)...)
	}
	return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data, operator FROM events
		WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id`+dir, ids...)
}

// cursor is a topic's place in a merge: the IDs of its page not yet taken.
type cursor struct {
	topic     string
	ids       []int64
	next      int64 // the bound of the next page: the last ID read
	page      int   // the size of the next page
	exhausted bool  // the topic has no IDs beyond ids
}

// fill reads the topic's next page of IDs.
func (c *cursor) fill(ctx context.Context, seek *sql.Stmt, after, before int64, newestFirst bool) error {
	lo, hi := c.next, before
	if newestFirst {
		lo, hi = after, c.next
	}
	rows, err := seek.QueryContext(ctx, c.topic, lo, hi, c.page)
	if err != nil {
		return err
	}
	defer rows.Close()
	c.ids = c.ids[:0]
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		c.ids = append(c.ids, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.exhausted = len(c.ids) < c.page
	if len(c.ids) > 0 {
		c.next = c.ids[len(c.ids)-1]
	}
	return nil
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

// Recent returns the last n stored events, in ID order.
func (s *Store) Recent(ctx context.Context, n int) ([]feed.Event, error) {
	events, err := s.queryEvents(ctx, s.rdb, `SELECT id, topic, type, time, data, operator FROM (
		SELECT id, topic, type, time, data, operator FROM events ORDER BY id DESC LIMIT ?) ORDER BY id`, n)
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
	if v.Exact() {
		return where, args
	}
	a := v.Access()
	private, pargs := topicCondition(a.Private)
	where, args = where+" AND (NOT "+private, append(args, pargs...)
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

// prefixEnd is the smallest string after every topic starting with prefix
// p, which ends in '/'.
func prefixEnd(p string) string { return p[:len(p)-1] + "0" }
