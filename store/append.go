package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"livefeed/feed"
)

// AppendIf appends u only if its topic's latest event is still the one
// with ID latest (0: the topic has no event yet), and fails with a
// feed.ErrConflict error, writing nothing, if it is not. The console works
// out "+3 on the score stored now" from the latest event it read and
// appends it with AppendIf: a conflict means another operator changed the
// game meanwhile, and it reads and works it out again. The check is made
// by the writer, so it holds against every other publish. once, if not
// nil, makes it safe to retry as for AppendOnce: a retry is answered with
// the first one's event (replayed), whatever the latest event is by then.
func (s *Store) AppendIf(ctx context.Context, once *feed.Idempotency, latest int64, u feed.Update) (events []feed.Event, replayed bool, err error) {
	valid, err := feed.ValidateBatchUpTo([]feed.Update{u}, s.opts.MaxDataBytes)
	if err != nil {
		return nil, false, err
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	req := &appendRequest{ctx: ctx, updates: valid, once: once, ifLatest: &latest, done: make(chan struct{})}
	if err := s.submit(req); err != nil {
		return nil, false, err
	}
	return req.events, req.replayed, req.err
}

// latestIDs returns the newest ID of each topic among events.
func latestIDs(events []feed.Event) map[string]int64 {
	m := make(map[string]int64)
	for _, e := range events {
		m[e.Topic] = e.ID
	}
	return m
}

// checkLatest checks the condition of an AppendIf request on the writer:
// its topic's latest event, in this commit (newest) or stored, must be the
// one it names.
func (s *Store) checkLatest(r *appendRequest, newest map[string]int64) error {
	topic := r.updates[0].Topic
	cur, ok := newest[topic]
	if !ok {
		err := s.db.QueryRowContext(context.Background(), `SELECT id FROM latest WHERE topic = ?`, topic).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = 0
		case err != nil:
			return unavailable("read the latest event of "+topic, err)
		}
	}
	if cur != *r.ifLatest {
		if *r.ifLatest == 0 {
			return feed.Errorf(feed.ErrConflict, "%s already has events", topic)
		}
		return feed.Errorf(feed.ErrConflict, "%s changed meanwhile: its latest event is %d, not %d", topic, cur, *r.ifLatest)
	}
	return nil
}

// AppliedKey is the idempotency key of a publish whose events Apply
// stores: its events have IDs First to First+Count-1.
type AppliedKey struct {
	Once  feed.Idempotency
	First int64
	Count int
}

// Apply stores events that already have their IDs and times, given by a
// replicated log this store mirrors (in a cluster every node keeps its
// own history of one log), in one transaction with the latest event of
// their topics, and hands them to Committed like appended events. The IDs
// must increase (a log may skip some: a message deleted from it); events
// at or below the newest stored one were applied before and are skipped,
// so applying again after a crash or a reconnect is harmless. A time
// earlier than the one before is raised to it: event times never decrease
// with the ID (the clocks of a log's servers may). The events are not
// validated again: the node that published them did.
//
// keys are the idempotency keys of the publishes the events came from,
// each with the IDs of its events, recorded in the same transaction, so
// that a retry on this node is answered from here (see Replay).
//
// It returns the events it stored, with their times as stored.
func (s *Store) Apply(ctx context.Context, events []feed.Event, keys ...AppliedKey) ([]feed.Event, error) {
	var stored []feed.Event
	err := s.runWork(ctx, workCommit, func() error {
		if s.needResync {
			if err := s.resync(); err != nil {
				return unavailable("recover after failed commit", err)
			}
		}
		last := s.lastID.Load()
		for len(events) > 0 && events[0].ID <= last {
			events = events[1:]
		}
		if len(events) == 0 {
			return nil
		}
		events = slices.Clone(events)
		prev, at := last, s.lastTime
		for i, e := range events {
			if e.ID <= prev {
				return feed.Errorf(feed.ErrInvalid, "event %d does not follow %d: IDs must increase", e.ID, prev)
			}
			if ms := e.Time.UnixMilli(); ms < at {
				events[i].Time = time.UnixMilli(at).UTC()
			} else {
				at = ms
			}
			prev = e.ID
		}
		var rows []onceRow
		for _, k := range keys {
			if k.First > last {
				rows = append(rows, onceRow{once: &k.Once, first: k.First, count: k.Count, created: events[0].Time.UnixMilli()})
			}
		}
		if err := s.stmt.insert(events, rows); err != nil {
			s.needResync = true
			return unavailable("apply", err)
		}
		n := len(events)
		s.stashEvents(events)
		s.lastID.Store(events[n-1].ID)
		s.lastTime = at
		s.commits.Add(1)
		s.events.Add(uint64(n))
		s.hand(events)
		stored = events
		return nil
	})
	return stored, err
}

// Meta returns the value stored under name in the database's facts (see
// SetMeta); found is false if there is none.
func (s *Store) Meta(ctx context.Context, name string) (value string, found bool, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, readError(err)
}

// SetMeta stores value under name, replacing what was there.
func (s *Store) SetMeta(ctx context.Context, name, value string) error {
	err := s.runTask(ctx, func() error {
		_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, name, value)
		return err
	})
	return taskError("store "+name, err)
}

// AppendEach stores updates that stand each on its own, the lines of a
// streaming publish, validated by the caller (feed.Update.Check, on the
// goroutine that reads them, so that it overlaps the commit of the lines
// before): they are committed in their order, with consecutive IDs unless
// another publish commits between them. keys, if not nil, holds an
// idempotency key or nil for each update: a keyed update is appended as
// AppendOnce would, and its retry is answered with the event it made. The
// outcomes are in the order of updates; an update refused for itself
// (more data than the store takes, its key reused) does not hold back the
// others. All are handed to the writer before waiting
// for any, so that they share a commit.
func (s *Store) AppendEach(ctx context.Context, updates []feed.Checked, keys []*feed.Idempotency) []feed.Outcome {
	out := make([]feed.Outcome, len(updates))
	var reqs []*appendRequest
	var owners [][]int // the indices of updates each request holds
	var run *appendRequest
	for i, c := range updates {
		v, err := c.Within(s.opts.MaxDataBytes)
		if err != nil {
			out[i].Err = err
			continue
		}
		var once *feed.Idempotency
		if keys != nil {
			once = keys[i]
		}
		if once != nil || run == nil || len(run.updates) == maxCommit {
			// Without keys the runs are as long as they may be: each
			// starts with room for all of its updates. With keys a run
			// ends at the next keyed update, and grows as it goes.
			size := 1
			if keys == nil {
				size = min(len(updates)-i, maxCommit)
			}
			run = &appendRequest{ctx: ctx, once: once, done: make(chan struct{}), updates: make([]feed.Update, 0, size)}
			reqs = append(reqs, run)
			owners = append(owners, make([]int, 0, size))
		}
		run.updates = append(run.updates, v)
		owners[len(owners)-1] = append(owners[len(owners)-1], i)
		if once != nil {
			run = nil // a keyed update is a publish of its own
		}
	}
	if len(reqs) == 0 {
		return out
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	sent, err := s.handOverAll(ctx, reqs)
	for k, req := range reqs {
		if k < sent {
			<-req.done
		} else {
			req.err = err
		}
		for j, i := range owners[k] {
			switch {
			case req.err != nil:
				out[i].Err = req.err
			case j >= len(req.events):
				out[i].Err = errKeyReused // the key made another publish, of more events
			default:
				out[i] = feed.Outcome{Event: req.events[j], Replayed: req.replayed}
			}
		}
	}
	return out
}

// handOverAll hands reqs to the writer in order, without waiting for any,
// and returns how many it handed over; the rest failed with err (the store
// closed, ctx ended).
func (s *Store) handOverAll(ctx context.Context, reqs []*appendRequest) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, feed.ErrClosed
	}
	for k, req := range reqs {
		select {
		case s.reqs <- req:
		case <-ctx.Done():
			return k, ctx.Err()
		}
	}
	return len(reqs), nil
}
