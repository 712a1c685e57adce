package store

import (
	"context"
	"time"
)

// checkpointInterval is how often the write-ahead log is copied back into
// the database file. A second's worth of WAL is a few megabytes at the
// highest publish rates, so it stays small and start-up after a crash stays
// fast.
const checkpointInterval = time.Second

// checkpoint copies the write-ahead log into the database file from a
// connection of its own. SQLite would otherwise do it inside a commit every
// 1,000 pages, holding up that commit's publishers for the copy and a sync
// of the database file. A passive checkpoint never blocks the writer or the
// readers; what it cannot copy yet (pages a reader still needs) it copies
// next time.
func (s *Store) checkpoint() {
	defer close(s.checkpointDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCheckpoint:
			return
		case <-t.C:
		}
		if _, err := s.cdb.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			s.log.Warn("checkpoint failed; the write-ahead log keeps growing until one succeeds", "err", err)
		}
	}
}
