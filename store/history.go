package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"livefeed/feed"
)

// Page returns a page of up to limit events of r (at most feed.MaxPage): the
// oldest ones in ID order, or with newestFirst the newest ones, newest
// first. more reports whether r holds further events: the next page is r
// with After (or Before) set to the last ID returned.
func (s *Store) Page(ctx context.Context, r feed.Range, limit int, newestFirst bool) (events []feed.Event, more bool, err error) {
	limit = min(max(limit, 1), feed.MaxPage)
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, false, readError(err)
	}
	defer tx.Rollback()
	after, before, err := bounds(ctx, tx, r)
	if err != nil || after+1 >= before {
		return nil, false, readError(err)
	}
	// One event more than asked tells whether there are more.
	events, err = s.readRange(ctx, tx, r.Visible(), after, before, limit+1, newestFirst, new(eventBuf), nil)
	if err != nil {
		return nil, false, readError(err)
	}
	if len(events) > limit {
		return events[:limit], true, nil
	}
	return events, false, nil
}

// LatestOf returns the latest event of topic; found is false when the topic
// has none.
func (s *Store) LatestOf(ctx context.Context, topic string) (e feed.Event, found bool, err error) {
	var ms int64
	var data []byte
	err = s.rdb.QueryRowContext(ctx, `SELECT id, topic, type, time, data FROM latest WHERE topic = ?`, topic).
		Scan(&e.ID, &e.Topic, &e.Type, &ms, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return feed.Event{}, false, nil
	}
	if err != nil {
		return feed.Event{}, false, readError(err)
	}
	e.Time = time.UnixMilli(ms).UTC()
	e.Data = data
	return e, true, nil
}

// LatestAsOf returns what the feed was at t, for a reader whose topics
// are delayed (see feed.Tiers): the latest event of each topic among
// those stored at or before t (archive events included, as in Latest), in
// ID order, and through, the ID of the newest such event (every event up
// to it is that old, none after it). A topic whose events up to t were
// all removed by retention is left out. The cost is a seek per topic
// that changed since t. Given topics, of those only.
func (s *Store) LatestAsOf(ctx context.Context, t time.Time, topics ...string) (latest []feed.Event, through int64, err error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, readError(err)
	}
	defer tx.Rollback()
	var last, floor int64
	if err := tx.QueryRowContext(ctx, `SELECT `+lastIDSQL+`, (SELECT value FROM counters WHERE name = 'floor')`).Scan(&last, &floor); err != nil {
		return nil, 0, readError(err)
	}
	// Event times are whole milliseconds: at or before t is before the
	// next millisecond.
	next, err := firstAt(ctx, tx, time.UnixMilli(t.UnixMilli()+1), last)
	if err != nil {
		return nil, 0, readError(err)
	}
	through = next - 1
	only, args := "", []any(nil)
	if len(topics) > 0 {
		only, args = ` WHERE l.topic IN (?`+strings.Repeat(", ?", len(topics)-1)+`)`, anySlice(topics)
	}
	current, err := s.queryEvents(ctx, tx, `SELECT l.id, l.topic, l.type, l.time, l.data, e.operator
		FROM latest l LEFT JOIN events e ON e.id = l.id`+only+` ORDER BY l.id`, args...)
	if err != nil {
		return nil, 0, readError(err)
	}
	buf := new(eventBuf)
	for _, e := range current {
		if e.ID <= through {
			latest = append(latest, e)
			continue
		}
		// Changed since t: its latest event up to through, if kept.
		v := feed.Access{}.Narrow(feed.Filter{Topics: []string{e.Topic}})
		older, err := s.readRange(ctx, tx, v, floor, through+1, 1, true, buf, nil)
		if err != nil {
			return nil, 0, readError(err)
		}
		latest = append(latest, older...)
	}
	slices.SortFunc(latest, func(a, b feed.Event) int { return cmp.Compare(a.ID, b.ID) })
	return latest, max(through, 0), nil
}

// FirstAt returns the ID of the first event stored at or after t, or
// LastID()+1 when there is none yet.
func (s *Store) FirstAt(ctx context.Context, t time.Time) (int64, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, readError(err)
	}
	defer tx.Rollback()
	last, err := lastID(ctx, tx)
	if err != nil {
		return 0, readError(err)
	}
	id, err := firstAt(ctx, tx, t, last)
	return id, readError(err)
}

// rowQueryer is what *sql.Tx offers for single-row reads.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func lastID(ctx context.Context, q rowQueryer) (int64, error) {
	var last int64
	err := q.QueryRowContext(ctx, `SELECT `+lastIDSQL).Scan(&last)
	return last, err
}

// bounds turns r into exclusive ID bounds after < id < before, before being
// finite: an open range ends at the newest event when the read starts, so
// that an export is a snapshot and does not chase the live feed.
func bounds(ctx context.Context, q rowQueryer, r feed.Range) (after, before int64, err error) {
	var last, floor int64
	if err := q.QueryRowContext(ctx, `SELECT `+lastIDSQL+`,
		(SELECT value FROM counters WHERE name = 'floor')`).Scan(&last, &floor); err != nil {
		return 0, 0, err
	}
	// Nothing at or below the floor is retained.
	after, before = max(r.After, floor), last+1
	if r.Before > 0 {
		before = min(before, r.Before)
	}
	if !r.From.IsZero() {
		first, err := firstAt(ctx, q, r.From, last)
		if err != nil {
			return 0, 0, err
		}
		after = max(after, first-1)
	}
	if !r.To.IsZero() {
		first, err := firstAt(ctx, q, r.To, last)
		if err != nil {
			return 0, 0, err
		}
		before = min(before, first)
	}
	return after, before, nil
}

// firstAt finds the first event stored at or after t by binary search over
// the primary key, about log2(last) seeks. This relies on event times never
// decreasing with the ID (the writer stamps each commit with
// max(now, previous time)), and saves an index on time that every publish
// would have to update.
func firstAt(ctx context.Context, q rowQueryer, t time.Time, last int64) (int64, error) {
	// Event times are whole milliseconds: an instant inside a millisecond
	// is first reached by the next one.
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	// probe reports the first event with an ID of at least x, if any.
	probe := func(x int64) (id, at int64, ok bool, err error) {
		err = q.QueryRowContext(ctx, `SELECT id, time FROM events WHERE id >= ? ORDER BY id LIMIT 1`, x).Scan(&id, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, 0, false, nil
		}
		return id, at, err == nil, err
	}
	// Find the smallest x whose first event at or after it is stored at or
	// after ms (or does not exist): the predicate is false, then true.
	lo, hi := int64(0), last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		id, at, ok, err := probe(mid)
		if err != nil {
			return 0, err
		}
		if !ok || at >= ms {
			hi = mid
		} else {
			lo = id + 1 // every event up to id is earlier than ms
		}
	}
	id, _, ok, err := probe(lo)
	if err != nil || !ok {
		return last + 1, err
	}
	return id, nil
}
