package store

import (
	"context"
	"database/sql"
	"time"
)

// When the writer brings topic_index up to date: after indexEvery, or once
// indexBacklog events wait, or whenever it has nothing else to do. Reads of
// a topic scan the events after indexed_through one by one, so these bound
// that scan to a few thousand rows.
const (
	indexEvery   = 200 * time.Millisecond
	indexBacklog = 8192
)

// indexTopics adds the events committed since the last call to
// topic_index, and moves indexed_through and the last_id counter, in one
// transaction. One call
// touches each topic's index pages once, however many commits it covers.
// It runs on the writer goroutine.
func (s *Store) indexTopics() {
	last := s.lastID.Load()
	s.lastIndexed = time.Now()
	if last <= s.indexedThrough {
		return
	}
	if err := s.stmt.index(s.indexedThrough, last); err != nil {
		// Reads stay correct (they scan the unindexed events); they
		// only get slower until a later attempt succeeds.
		s.log.Warn("indexing topics failed", "from", s.indexedThrough+1, "to", last, "err", err)
		return
	}
	s.indexedThrough = last
}

// indexDue reports whether the writer should index now.
func (s *Store) indexDue() bool {
	pending := s.lastID.Load() - s.indexedThrough
	return pending >= indexBacklog || pending > 0 && time.Since(s.lastIndexed) >= indexEvery
}

func (st *statements) index(from, to int64) error {
	ctx := context.Background()
	if st.indexInsert == nil {
		var err error
		// In the index's order: each insert lands where the one before
		// it left the cursor, in the page it just wrote, rather than in
		// another topic's (it halved the time spent finding the place of
		// each row under a streaming publish to 400 topics).
		if st.indexInsert, err = st.db.PrepareContext(ctx,
			`INSERT OR IGNORE INTO topic_index (topic, id) SELECT topic, id FROM events WHERE id > ? AND id <= ? ORDER BY topic, id`); err != nil {
			return err
		}
		if st.indexMark, err = st.db.PrepareContext(ctx,
			`UPDATE counters SET value = ? WHERE name IN ('indexed_through', 'last_id')`); err != nil {
			return err
		}
	}
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, w := range []struct {
		stmt *sql.Stmt
		args []any
	}{{st.indexInsert, []any{from, to}}, {st.indexMark, []any{to}}} {
		if _, err := tx.StmtContext(ctx, w.stmt).ExecContext(ctx, w.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
