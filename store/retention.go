package store

import (
	"context"
	"errors"
	"time"

	"livefeed/feed"
)

// Retention says which events Prune removes. A zero field sets no limit.
type Retention struct {
	MaxAge  time.Duration // remove events stored longer ago than this
	MaxRows int64         // keep the events with the newest MaxRows IDs
}

// pruneChunk bounds the events one prune transaction removes, so the write
// lock is held for milliseconds at a time and publishing goes on between
// the chunks.
const pruneChunk = 10_000

// Prune removes the events the retention policy no longer keeps, oldest
// first, and raises the floor to the highest removed ID, so a client whose
// position is below it gets a reset instead of a history with holes. Each
// topic's latest event stays in the snapshot even when its history is gone,
// and IDs are never reused: the high-water mark does not move. It returns
// the number of events removed.
func (s *Store) Prune(ctx context.Context, r Retention) (int64, error) {
	cutoff, err := s.pruneCutoff(ctx, r)
	if err != nil {
		return 0, err
	}
	var removed int64
	for s.floor.Load() < cutoff {
		from := s.floor.Load()
		to := min(cutoff, from+pruneChunk)
		err := s.runTask(ctx, func() error {
			n, err := s.stmt.prune(from, to, s.lastID.Load())
			if err == nil {
				removed += n
				s.floor.Store(to)
			}
			return err
		})
		if err != nil {
			return removed, unavailable("prune", err)
		}
	}
	return removed, nil
}

// retain applies the retention policy, and forgets idempotency keys older
// than the window, periodically until the store closes.
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
		err := s.runTask(context.Background(), func() error { return s.stmt.purgeOnce(s.onceSince()) })
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
		case n > 0:
			s.log.Info("pruned old events", "removed", n, "floor", s.Floor())
		}
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

// prune deletes the events with IDs in (from, to] and their topic index
// entries, and records to as the floor and last as the newest ID (which
// must survive even if every event goes), in one transaction on the
// writer's connection.
func (st *statements) prune(from, to, last int64) (int64, error) {
	ctx := context.Background()
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// The topic index is keyed by topic, so its entries are found through
	// the events being removed, one index seek each.
	if _, err := tx.ExecContext(ctx, `DELETE FROM topic_index WHERE (topic, id) IN
		(SELECT topic, id FROM events WHERE id > ? AND id <= ?)`, from, to); err != nil {
		return 0, err
	}
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
