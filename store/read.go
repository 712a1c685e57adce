package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"
)

// maxMergedTopics is how many topics a read follows through topic_index,
// one index seek each; a filter covering more topics walks the events table
// from the position instead, where most rows then match anyway.
const maxMergedTopics = 32

// After returns up to limit stored events with an ID greater than after that
// match f, in ID order. It returns ErrPruned when retention has removed
// events after that position, so the result could not be complete.
func (s *Store) After(ctx context.Context, after int64, f Filter, limit int) ([]Event, error) {
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
		return nil, ErrPruned
	}
	events, err := s.readRange(ctx, tx, f, after, math.MaxInt64, limit, false, new(eventBuf), nil)
	return events, readError(err)
}

// readRange reads, within tx, up to limit events of f with after < ID <
// before, in ID order or, with newestFirst, newest first, appending them to
// dst with their data in buf. Exact topics, and prefixes covering a few
// topics, are read through topic_index up to indexed_through and by primary
// key above it; "*" and wide prefixes walk the primary key, where most rows
// then match anyway.
func (s *Store) readRange(ctx context.Context, tx *sql.Tx, f Filter, after, before int64, limit int, newestFirst bool, buf *eventBuf, dst []Event) ([]Event, error) {
	order := " ORDER BY id"
	if newestFirst {
		order += " DESC"
	}
	topics, ok, err := s.topicsOf(ctx, tx, f)
	if err != nil {
		return dst, err
	}
	if !ok {
		where, args := f.where()
		return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data FROM events
			WHERE id > ? AND id < ?`+where+order+` LIMIT ?`, append(append([]any{after, before}, args...), limit)...)
	}
	if len(topics) == 0 {
		return dst, nil
	}
	var indexed int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'indexed_through'`).Scan(&indexed); err != nil {
		return dst, err
	}
	// The range splits at indexed_through: IDs up to it are in the index,
	// the few above it are read from the events table.
	headBefore, tailAfter := min(before, indexed+1), max(after, indexed)
	head := func(dst []Event, limit int) ([]Event, error) {
		if after+1 >= headBefore {
			return dst, nil
		}
		return s.indexedRange(ctx, tx, topics, after, headBefore, limit, newestFirst, buf, dst)
	}
	tail := func(dst []Event, limit int) ([]Event, error) {
		if tailAfter+1 >= before {
			return dst, nil
		}
		return scanEvents(ctx, tx, buf, dst, `SELECT id, topic, type, time, data FROM events
			WHERE id > ? AND id < ? AND topic IN (?`+strings.Repeat(", ?", len(topics)-1)+`)`+order+` LIMIT ?`,
			append(append([]any{tailAfter, before}, anySlice(topics)...), limit)...)
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

// topicsOf returns the exact topics f selects, with prefixes expanded to
// the topics that exist (every topic ever published has a row in latest).
// ok is false for "*" and for filters covering more than maxMergedTopics.
func (s *Store) topicsOf(ctx context.Context, tx *sql.Tx, f Filter) (topics []string, ok bool, err error) {
	if f.All {
		return nil, false, nil
	}
	topics = slices.Clone(f.Topics)
	for _, p := range f.Prefixes {
		rows, err := tx.QueryContext(ctx, `SELECT topic FROM latest WHERE topic >= ? AND topic < ? LIMIT ?`,
			p, prefixEnd(p), maxMergedTopics+1)
		if err != nil {
			return nil, false, err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return nil, false, err
			}
			topics = append(topics, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, false, err
		}
		if len(topics) > maxMergedTopics {
			return nil, false, nil
		}
	}
	return topics, true, nil
}

// indexedRange reads, through topic_index, up to limit events of topics
// with after < ID < before, in ID order or newest first. Each topic is one
// index seek returning its rows in order; the lists are merged here rather
// than by SQLite, which would sort every row of the range to return the
// first page.
func (s *Store) indexedRange(ctx context.Context, tx *sql.Tx, topics []string, after, before int64, limit int, newestFirst bool, buf *eventBuf, dst []Event) ([]Event, error) {
	order := " ORDER BY x.id"
	if newestFirst {
		order += " DESC"
	}
	n := len(dst)
	for _, t := range topics {
		var err error
		dst, err = scanEvents(ctx, tx, buf, dst, `SELECT e.id, e.topic, e.type, e.time, e.data
			FROM topic_index x JOIN events e ON e.id = x.id
			WHERE x.topic = ? AND x.id > ? AND x.id < ?`+order+` LIMIT ?`, t, after, before, limit)
		if err != nil {
			return dst, err
		}
	}
	merged := dst[n:]
	if len(topics) > 1 {
		slices.SortFunc(merged, func(a, b Event) int {
			if newestFirst {
				return cmp.Compare(b.ID, a.ID)
			}
			return cmp.Compare(a.ID, b.ID)
		})
	}
	if len(merged) > limit {
		// A topic's rows beyond the limit may be missing from the lists,
		// but only after the limit-th row: the first limit rows are exact.
		merged = merged[:limit]
	}
	return dst[:n+len(merged)], nil
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
func (s *Store) Latest(ctx context.Context) ([]Event, error) {
	events, err := s.queryEvents(ctx, s.rdb, `SELECT id, topic, type, time, data FROM latest ORDER BY id`)
	return events, readError(err)
}

// Recent returns the last n stored events, in ID order.
func (s *Store) Recent(ctx context.Context, n int) ([]Event, error) {
	events, err := s.queryEvents(ctx, s.rdb, `SELECT id, topic, type, time, data FROM (
		SELECT id, topic, type, time, data FROM events ORDER BY id DESC LIMIT ?) ORDER BY id`, n)
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
func (f Filter) where() (string, []any) {
	if f.All {
		return "", nil
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
	return " AND (" + strings.Join(parts, " OR ") + ")", args
}

// prefixEnd is the smallest string after every topic starting with prefix
// p, which ends in '/'.
func prefixEnd(p string) string { return p[:len(p)-1] + "0" }
