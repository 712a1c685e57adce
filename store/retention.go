package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"livefeed/feed"
)

// Retention says which events Prune removes. A zero field sets no limit.
type Retention struct {
	MaxAge  time.Duration // remove events stored longer ago than this
	MaxRows int64         // keep the events with the newest MaxRows IDs
}

// A prune runs in transactions of a few milliseconds each: the writer
// commits publishes between them (they come first, see write), so an
// acknowledgement waits at most for one. How many events one removes
// depends on the machine and on what else runs, so the chunk is sized as
// it goes: doubled while a transaction takes under half of pruneSlice,
// halved when one takes more. Transactions of 10,000 events and their
// topic index entries (a row per event then) each held publishes for up to 1.1 s while a million
// were pruned (TestPruneBacklogUnderLoad).
const (
	pruneSlice    = 2 * time.Millisecond
	pruneChunkMin = 256
	pruneChunkMax = 64 << 10
)

// Prune removes the events the retention policy no longer keeps, oldest
// first, and raises the floor to the highest removed ID, so a client whose
// position is below it gets a reset instead of a history with holes. Each
// topic's latest event stays in the snapshot even when its history is gone,
// and IDs are never reused: the high-water mark does not move. It returns
// the number of events removed.
//
// The events go first, by ID, with the floor; their runs in topic_runs
// after, a topic at a time (see sweepIndex). Reads never look below the
// floor, so runs left there meanwhile, or by a crash, are never read.
func (s *Store) Prune(ctx context.Context, r Retention) (int64, error) {
	cutoff, err := s.pruneCutoff(ctx, r)
	if err != nil {
		return 0, err
	}
	var removed int64
	chunk := int64(pruneChunkMin)
	var p pacing
	for s.floor.Load() < cutoff {
		from := s.floor.Load()
		to := min(cutoff, from+chunk)
		var took time.Duration
		err := s.runWork(ctx, workPrune, func() error {
			start := time.Now()
			n, err := s.stmt.prune(from, to, s.lastID.Load())
			took = time.Since(start)
			if err == nil {
				removed += n
				s.floor.Store(to)
			}
			return err
		})
		if err != nil {
			return removed, unavailable("prune", err)
		}
		chunk = resize(chunk, took, pruneChunkMin, pruneChunkMax)
		if err := s.rest(ctx, took, &p); err != nil {
			return removed, err
		}
	}
	if err := s.sweepIndex(ctx, &p); err != nil {
		return removed, unavailable("prune the topic index", err)
	}
	return removed, nil
}

// rest waits between two transactions of a prune: as long as the last
// took, so that a prune takes at most half of the writer's time, and until
// the checkpointer, asked to look at once, has copied what the transaction
// wrote to the write-ahead log, so that a prune writes the log no faster
// than the checkpointer copies it back. While the log is past twice its
// restart size (a finish on the writer has not started it over yet) it
// waits on, for pruneLogWait at most. A reader that holds the log (a
// backup, say) keeps it from starting over however long the prune waits:
// once a wait ran out, p.held says so, and the prune goes on without
// asking for looks or waiting until the checkpointer, at its own pace,
// sees the log back under the limit.
//
// Without the pause a prune of a million events grew the log to 150 MB,
// and the writer then copied tens of megabytes of it in one go; with the
// pause alone, the checkpointer looked at its own pace (up to a second
// apart) and W14's prunes took the log to 64-96 MB, where ticks alone keep
// it near 16 MB.
func (s *Store) rest(ctx context.Context, took time.Duration, p *pacing) error {
	limit := 2 * int64(s.opts.WALRestartPages)
	if p.held && s.walFrames.Load() <= limit {
		p.held = false // the reader left, and the log started over
	}
	if p.held {
		return feed.Sleep(ctx, took)
	}
	looked := s.looked.next()
	select {
	case s.lookNow <- struct{}{}:
	default: // a look is asked for already
	}
	if err := feed.Sleep(ctx, took); err != nil {
		return err
	}
	t := time.NewTimer(pruneLogWait)
	defer t.Stop()
	for {
		select {
		case <-looked:
		case <-t.C:
			p.held = true
			return nil
		case <-s.stopCheckpoint:
			return nil // the writer refuses the next transaction
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.walFrames.Load() <= limit {
			return nil
		}
		looked = s.looked.next()
	}
}

// pacing is what rest keeps from one transaction of a prune to the next.
type pacing struct {
	held bool // the log did not start over within pruneLogWait
}

// pruneLogWait is the longest rest waits for the checkpointer.
const pruneLogWait = 250 * time.Millisecond

// resize returns the size of the next chunk of a prune, within [lo, hi],
// after one of chunk took took.
func resize(chunk int64, took time.Duration, lo, hi int64) int64 {
	switch {
	case took > pruneSlice:
		return max(chunk/2, lo)
	case took < pruneSlice/2:
		return min(chunk*2, hi)
	}
	return chunk
}

// sweepIndex removes the rows of topic_runs wholly at or below the floor,
// with their events in topic_data (a run that reaches above it stays;
// reads skip its IDs below): each
// topic's are one range of the table, removed in transactions of about
// pruneSlice, a few topics' or a part of one topic's each. Removed with
// their events instead, each was a seek of its own into another topic's
// pages.
func (s *Store) sweepIndex(ctx context.Context, p *pacing) error {
	floor := s.floor.Load()
	if floor <= s.swept.Load() {
		return nil
	}
	after, done := "", false
	budget := int64(pruneChunkMin)
	for !done {
		var took time.Duration
		err := s.runWork(ctx, workPrune, func() error {
			start := time.Now()
			var err error
			after, done, err = s.stmt.sweep(after, budget, floor)
			took = time.Since(start)
			return err
		})
		if err != nil {
			return err
		}
		budget = resize(budget, took, pruneChunkMin, pruneChunkMax)
		if err := s.rest(ctx, took, p); err != nil {
			return err
		}
	}
	s.swept.Store(floor)
	return nil
}

// retain applies the retention policy, and forgets idempotency keys older
// than the window, periodically until the store closes. Each prune that
// removes all the policy asks for moves retainedAt: a prune that takes
// longer than the interval, or fails, leaves it behind (Stats.RetainedAt),
// while the database holds more than the policy keeps.
func (s *Store) retain() {
	every := s.opts.PruneEvery
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopCheckpoint:
			return
		case <-t.C:
		}
		err := s.runWork(context.Background(), workPrune, func() error { return s.stmt.purgeOnce(s.onceSince()) })
		if errors.Is(err, feed.ErrClosed) {
			return
		} else if err != nil {
			s.log.Warn("removing old idempotency keys failed; it is tried again at the next interval", "err", err)
		}
		if s.opts.Retention == (Retention{}) {
			continue
		}
		n, err := s.Prune(context.Background(), s.opts.Retention)
		switch {
		case errors.Is(err, feed.ErrClosed):
			return
		case err != nil:
			s.log.Warn("pruning failed; it is tried again at the next interval", "err", err)
			continue
		case n > 0:
			s.log.Info("pruned old events", "removed", n, "floor", s.Floor())
		}
		s.retainedAt.Store(time.Now().UnixNano())
	}
}

// pruneCutoff returns the highest ID the policy removes.
func (s *Store) pruneCutoff(ctx context.Context, r Retention) (int64, error) {
	last := s.LastID()
	var cutoff int64
	if r.MaxRows > 0 && last > r.MaxRows {
		cutoff = last - r.MaxRows
	}
	if r.MaxAge > 0 {
		first, err := s.FirstAt(ctx, time.Now().Add(-r.MaxAge))
		if err != nil {
			return 0, err
		}
		cutoff = max(cutoff, first-1)
	}
	return min(cutoff, last), nil
}

// prune deletes the events with IDs in (from, to], and records to as the
// floor and last as the newest ID (which must survive even if every event
// goes), in one transaction on the writer's connection. Their runs stay
// in topic_runs until sweep.
func (st *statements) prune(from, to, last int64) (int64, error) {
	ctx := context.Background()
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id > ? AND id <= ?`, from, to)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'floor'`, to); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = MAX(value, ?) WHERE name = 'last_id'`, last); err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

// sweep deletes the runs wholly at or below floor, in one transaction:
// those of the topics after the topic after (every topic has a row in
// latest), in order, about budget rows in all (a topic with none counts as
// one). It returns the last topic it swept whole; done is
// true when no topic is left.
func (st *statements) sweep(after string, budget, floor int64) (last string, done bool, err error) {
	ctx := context.Background()
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return "", false, err
	}
	defer tx.Rollback()
	limit := budget
	rows, err := tx.QueryContext(ctx, `SELECT topic FROM latest WHERE topic > ? ORDER BY topic LIMIT ?`, after, limit)
	if err != nil {
		return "", false, err
	}
	var topics []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return "", false, err
		}
		topics = append(topics, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", false, err
	}
	// bound finds where budget entries of a topic end, if it has more.
	bound, err := tx.PrepareContext(ctx, `SELECT last FROM topic_runs WHERE topic = ? AND last <= ? ORDER BY last LIMIT 1 OFFSET ?`)
	if err != nil {
		return "", false, err
	}
	defer bound.Close()
	delData, err := tx.PrepareContext(ctx, `DELETE FROM topic_data WHERE run IN
		(SELECT rowid FROM topic_runs WHERE topic = ? AND last <= ?)`)
	if err != nil {
		return "", false, err
	}
	defer delData.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM topic_runs WHERE topic = ? AND last <= ?`)
	if err != nil {
		return "", false, err
	}
	defer del.Close()
	last = after
	for _, t := range topics {
		if budget <= 0 {
			return last, false, tx.Commit()
		}
		upTo := floor
		err := bound.QueryRowContext(ctx, t, floor, budget-1).Scan(&upTo)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", false, err
		}
		if _, err := delData.ExecContext(ctx, t, upTo); err != nil {
			return "", false, err
		}
		res, err := del.ExecContext(ctx, t, upTo)
		if err != nil {
			return "", false, err
		}
		n, _ := res.RowsAffected()
		budget -= max(n, 1)
		if upTo < floor {
			// More of this topic is left: the next transaction takes
			// it up again.
			return last, false, tx.Commit()
		}
		last = t
	}
	return last, int64(len(topics)) < limit, tx.Commit()
}
