package store

import (
	"context"
	"errors"
	"strings"
)

// After returns up to limit stored events with an ID greater than after that
// match f, in ID order. It returns ErrPruned when retention has removed
// events after that position, so the result could not be complete.
func (s *Store) After(ctx context.Context, after int64, f Filter, limit int) ([]Event, error) {
	// The floor and the rows are read in one transaction: WAL gives it one
	// snapshot, so a prune running meanwhile cannot remove rows between the
	// check and the read.
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
	where, args := f.where()
	args = append([]any{after}, args...)
	args = append(args, limit)
	events, err := s.queryEvents(ctx, tx, `SELECT id, topic, type, time, data FROM events`+f.index()+`
		WHERE id > ?`+where+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, readError(err)
	}
	return events, nil
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

// index steers the query plan. Exact topics seek the (topic, id) index to
// the position. A prefix range cannot bound id in that index (SQLite would
// read the prefix's whole history), so with a prefix the scan walks the
// primary key from the position instead: its cost is the events since then.
func (f Filter) index() string {
	if len(f.Prefixes) > 0 {
		return " NOT INDEXED"
	}
	return ""
}

// where returns the SQL condition (starting with " AND") that selects the
// filter's topics, and its arguments. A prefix "nba/" becomes the range
// ["nba/", "nba0"): '0' is the byte after '/', so the range is exactly the
// topics that start with the prefix, and it can use the (topic, id) index.
func (f Filter) where() (string, []any) {
	if f.All {
		return "", nil
	}
	var parts []string
	var args []any
	if len(f.Topics) > 0 {
		parts = append(parts, "topic IN (?"+strings.Repeat(", ?", len(f.Topics)-1)+")")
		for _, t := range f.Topics {
			args = append(args, t)
		}
	}
	for _, p := range f.Prefixes {
		parts = append(parts, "(topic >= ? AND topic < ?)")
		args = append(args, p, p[:len(p)-1]+"0")
	}
	return " AND (" + strings.Join(parts, " OR ") + ")", args
}
