package store

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"livefeed/feed"
)

// checkpointInterval is the longest the checkpointer waits before it
// copies the write-ahead log back into the database file again: sooner
// when the log would reach its restart size before (see nextLook), or a
// finish has not yet started it over. The log stays near its restart
// size, and start-up after a crash stays fast.
const checkpointInterval = time.Second

// walRestartPages is the default size of the write-ahead log (in pages,
// 16 MiB with SQLite's 4 KiB pages) past which the checkpointer has SQLite
// start it over: see checkpoint.
const walRestartPages = 4096

// walSizeLimit is what a write-ahead log that grew during a burst is
// truncated to when it starts over (journal_size_limit).
const walSizeLimit = 64 << 20

// finishPages is the most of the write-ahead log the writer copies itself
// (see finishCheckpoint): 1 MiB, a few milliseconds.
const finishPages = 256

// finishAgain is how soon the checkpointer looks again after the writer
// finished a checkpoint: long enough for a commit or two to start the log
// over, short enough that the log has grown little meanwhile if not.
const finishAgain = 5 * time.Millisecond

// lookSoonest is the shortest wait nextLook gives.
const lookSoonest = 20 * time.Millisecond

// finishAgainMost is the longest the checkpointer waits between looks
// while a reader keeps the log from starting over. A look that finds the
// same reader still there costs a passive checkpoint, and the writer
// nothing.
const finishAgainMost = 100 * time.Millisecond

// checkpointWait is the checkpointer connection's busy timeout. A passive
// checkpoint waits for nobody; it bounds what else that connection does
// (opening the database).
const checkpointWait = 200 * time.Millisecond

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
// Options.WALRestartPages, the writer copies the few frames left itself,
// between two commits (see finishCheckpoint), and its next commit starts
// the log from the beginning.
//
// A restarting checkpoint from this connection did the same, but it holds
// the write lock while it waits, up to 200 ms, for the readers of the old
// log to leave; the writer, between its read lock and its write lock at
// the start of a transaction, can be one of them. While a prune wrote the
// log fast, publishes waited 200 ms so (TestPruneBacklogUnderLoad); under
// steady publishing alone it was not seen (TestCheckpointUnderLoad, which
// checks that the log still starts over).
func (s *Store) checkpoint() {
	t := time.NewTimer(checkpointInterval)
	defer t.Stop()
	l := looks{last: time.Now()}
	for {
		select {
		case <-s.stopCheckpoint:
			return
		case <-t.C:
		case <-s.lookNow: // the timer is reset after the look
		}
		wait, closed := s.look(&l)
		s.looked.broadcast()
		if closed {
			return
		}
		t.Reset(wait)
	}
}

// looks is what the checkpointer keeps from one look at the log to the
// next (the pages in the log at the last look are Store.walFrames).
type looks struct {
	last time.Time // when the last look began
	// After a finish, until the log has started over: how soon to look
	// again (0: no finish is pending), and the pages of the log the
	// finish had copied.
	again      time.Duration
	finishedAt int
}

// look checkpoints once, having the writer finish when it is time (see
// checkpoint), and returns how long to wait before the next look; closed
// reports that the store closed meanwhile.
func (s *Store) look(l *looks) (wait time.Duration, closed bool) {
	ctx := context.Background()
	var busy, frames, copied int
	if err := s.cdb.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		s.log.Warn("checkpoint failed; the write-ahead log keeps growing until one succeeds", "err", err)
		return checkpointInterval, false
	}
	now := time.Now()
	grew, since := frames-int(s.walFrames.Swap(int64(frames))), now.Sub(l.last)
	l.last = now
	if grew < 0 || copied < l.finishedAt {
		// The log started over since the last look (the pages copied
		// only go back then).
		l.again, l.finishedAt = 0, 0
		grew = frames
	}
	if frames <= s.opts.WALRestartPages {
		l.again = 0
		return nextLook(frames, grew, since, s.opts.WALRestartPages), false
	}
	// The writer copies what is left while publishes wait: passive
	// checkpoints first bring that down to a millisecond or two of
	// copying, each copying what was written during the one before. A
	// pass that found few frames to copy was short, and few were written
	// meanwhile.
	short := false
	for range 8 {
		before := copied
		if err := s.cdb.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			break
		}
		if short = frames-before <= finishPages; short {
			break
		}
	}
	// A reader that kept the last finish from the log's end still does if
	// the passes copied no further: the writer would copy nothing. Under
	// writes faster than the passes copy, the writer copies more at once
	// rather than let the log grow without bound.
	held := l.again > 0 && copied == l.finishedAt
	if held || !short && frames <= 4*s.opts.WALRestartPages {
		if l.again == 0 {
			return checkpointInterval, false
		}
		l.again = min(2*l.again, finishAgainMost)
		if copied == frames {
			// All copied, and the log has not started over: no commit
			// came since (an idle store). The next one starts it over.
			return checkpointInterval, false
		}
		return l.again, false
	}
	if l.again > 0 {
		s.finishedAgain.Add(1)
	}
	s.syncAhead()
	err := s.runWork(ctx, workCheckpoint, func() error { return s.finishCheckpoint(&l.finishedAt) })
	if errors.Is(err, feed.ErrClosed) {
		return 0, true
	} else if err != nil {
		// A full disk, say: tried again at the next second.
		s.log.Warn("checkpoint on the writer failed; the write-ahead log keeps growing until one succeeds", "err", err)
		l.again = 0
		return checkpointInterval, false
	}
	// Look again soon: the finish did not start the log over if a reader
	// still read an old page of it (the finish copies no page written
	// after a reader's snapshot), or held its place in it when the next
	// commit began. Readers are short, so a finish a few milliseconds
	// later usually does; left for the next second, the log grew by a
	// second of writes each time (W14: to 130-180 MB while resumes'
	// replays read, 35 MB without them).
	l.again = min(max(2*l.again, finishAgain), finishAgainMost)
	return l.again, false
}

// nextLook returns when to look at a log of frames pages, which grew by
// grew pages in since, again: when it reaches limit pages at that pace,
// but no later than the checkpoint's interval and no sooner than
// lookSoonest. Looked at once a second, a log written at tens of
// megabytes a second (W14's ticks, and twice that while it prunes) was
// past its limit by up to a second's writes before the checkpoint
// began: 35-60 MB for a limit of 16.
func nextLook(frames, grew int, since time.Duration, limit int) time.Duration {
	if grew <= 0 || frames >= limit {
		return checkpointInterval
	}
	wait := time.Duration(float64(since) * float64(limit-frames) / float64(grew))
	return min(max(wait, lookSoonest), checkpointInterval)
}

// finishCheckpoint copies what is left of the write-ahead log into the
// database file, on the writer's connection between commits, so that no
// commit appends meanwhile: then every frame is copied (unless a reader
// still reads an old one), and the next commit starts the log over. It
// runs right after passive checkpoints copied all but finishPages pages
// at most, and sets copied to the pages of the log now in the database
// file.
func (s *Store) finishCheckpoint(copied *int) error {
	var busy, frames int
	return s.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, copied)
}

// syncAhead writes to the disk, from the checkpointer, what the passive
// checkpoints copied into the database file and the write-ahead log's
// newest frames, before the writer finishes the checkpoint. The finish
// syncs both files as it copies the last frames (SQLite syncs the
// database file only when a checkpoint reaches the log's end), and that
// sync wrote all the passive copies' pages, about WALRestartPages of them
// scattered over the file, while publishes waited: 10-15 ms a finish on a
// database of a gigabyte and more (W14), 40 times a minute. Synced here
// first, the finish writes only its own pages.
//
// The database file is synced through the lock's descriptor: closing a
// descriptor of the database file of its own would drop SQLite's locks
// on it (fcntl locks are the process's), so where the lock does not hold
// the file (network file systems), only the log is. SQLite locks nothing
// in the log file itself.
func (s *Store) syncAhead() {
	if s.lock.file != nil {
		if err := s.lock.file.Sync(); err != nil {
			s.log.Warn("sync of the database file before a checkpoint failed; the checkpoint syncs it", "err", err)
		} else {
			s.syncedAhead.Add(1)
		}
	}
	if wal, err := os.Open(s.real + "-wal"); err == nil {
		if err := wal.Sync(); err != nil {
			s.log.Warn("sync of the write-ahead log before a checkpoint failed; the checkpoint syncs it", "err", err)
		}
		wal.Close()
	}
}

// signal lets goroutines wait for the next time something happens.
type signal struct {
	mu sync.Mutex
	ch chan struct{} // closed when it happens; nil while nobody waits
}

// next returns a channel closed the next time it happens.
func (g *signal) next() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

// broadcast wakes those waiting for the next time.
func (g *signal) broadcast() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}
