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

// walRestartPages is the default size of the write-ahead log (in pages,
// 16 MiB with SQLite's 4 KiB pages) past which the checkpointer has SQLite
// start it over: see checkpoint.
const walRestartPages = 4096

// walSizeLimit is what a write-ahead log that grew during a burst is
// truncated to when it starts over (journal_size_limit).
const walSizeLimit = 64 << 20

// restartWait bounds how long a restarting checkpoint waits for readers of
// the old log; meanwhile it holds the writer back, so it must be short.
const restartWait = 200 * time.Millisecond

// checkpoint copies the write-ahead log into the database file from a
// connection of its own. SQLite would otherwise do it inside a commit every
// 1,000 pages, holding up that commit's publishers for the copy and a sync
// of the database file.
//
// A passive checkpoint never blocks the writer or the readers, so it does
// the bulk of the copying. But under a steady stream of commits it never
// finds the log fully copied: the writer has appended more by the time it
// finishes, and SQLite only starts a log over once every frame is in the
// database, so the log would grow without bound (it reached 10 GB while ten
// million events were loaded). Once the log is larger than
// Options.WALRestartPages, a restarting checkpoint follows the passive one: it
// copies the few frames left, briefly holding the writer back, and makes
// the next commit start the log from the beginning.
func (s *Store) checkpoint() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	ctx := context.Background()
	for {
		select {
		case <-s.stopCheckpoint:
			return
		case <-t.C:
		}
		var busy, frames, copied int
		if err := s.cdb.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			s.log.Warn("checkpoint failed; the write-ahead log keeps growing until one succeeds", "err", err)
			continue
		}
		s.walFrames.Store(int64(frames))
		if frames > s.opts.WALRestartPages {
			if err := s.cdb.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &frames, &copied); err != nil {
				s.log.Warn("restarting checkpoint failed", "err", err)
			}
		}
	}
}
