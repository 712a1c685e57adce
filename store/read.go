package store

import (
	"context"
	"database/sql"
	"errors"
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
	var floor, indexed int64
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT value FROM counters WHERE name = 'floor'),
		(SELECT value FROM counters WHERE name = 'indexed_through')`).Scan(&floor, &indexed); err != nil {
		return nil, readError(err)
	}
	if after < floor {
		return nil, ErrPruned
	}
	topics, ok, err := s.topicsOf(ctx, tx, f)
	if err != nil {
		return nil, readError(err)
	}
	var events []Event
	if !ok {
		// Walk the events from the position by primary key: the cost is
		// the events since then.
		where, args := f.where()
		events, err = s.queryEvents(ctx, tx, `SELECT id, topic, type, time, data FROM events
			WHERE id > ?`+where+` ORDER BY id LIMIT ?`, append(append([]any{after}, args...), limit)...)
		return events, readError(err)
	}
	if len(topics) == 0 {
		return nil, nil
	}
	if after < indexed {
		if events, err = s.indexedAfter(ctx, tx, topics, after, indexed, limit); err != nil {
			return nil, readError(err)
		}
	}
	if len(events) < limit {
		// The events the indexer has not reached yet: at most a few
		// thousand, read by primary key.
		tail, err := s.queryEvents(ctx, tx, `SELECT id, topic, type, time, data FROM events
			WHERE id > ? AND topic IN (?`+strings.Repeat(", ?", len(topics)-1)+`) ORDER BY id LIMIT ?`,
			append(append([]any{max(after, indexed)}, anySlice(topics)...), limit-len(events))...)
		if err != nil {
			return nil, readError(err)
		}
		events = append(events, tail...)
	}
	return events, nil
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

// indexedAfter reads, through topic_index, the events of topics with IDs in
// (after, through], in ID order, at most limit. Each topic is one index
// seek returning rows in ID order; the lists are merged here rather than
// sorted by SQLite, which would sort every remaining row of the topics to
// return the first page.
func (s *Store) indexedAfter(ctx context.Context, tx *sql.Tx, topics []string, after, through int64, limit int) ([]Event, error) {
	var merged []Event
	for _, t := range topics {
		events, err := s.queryEvents(ctx, tx, `SELECT e.id, e.topic, e.type, e.time, e.data
			FROM topic_index x JOIN events e ON e.id = x.id
			WHERE x.topic = ? AND x.id > ? AND x.id <= ? ORDER BY x.id LIMIT ?`, t, after, through, limit)
		if err != nil {
			return nil, err
		}
		merged = append(merged, events...)
	}
	if len(topics) > 1 {
		slices.SortFunc(merged, func(a, b Event) int { return compareIDs(a.ID, b.ID) })
	}
	if len(merged) > limit {
		// A topic's rows beyond the limit may be missing from the lists,
		// but only after the limit-th row: the first limit rows are exact.
		merged = merged[:limit]
	}
	return merged, nil
}

func compareIDs(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
