package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"livefeed/feed"
)

// DefaultIdempotencyWindow is how long a key is remembered unless
// Options.IdempotencyWindow says otherwise: long enough for any retry.
const DefaultIdempotencyWindow = 24 * time.Hour

// AppendOnce is Append for a publish that may be a retry. The first publish
// with a key stores its events and the key in one transaction; one with the
// same key and fingerprint within the window returns the events the first
// made (replayed true) and stores nothing; one with the same key and
// another fingerprint fails with ErrKeyReused.
func (s *Store) AppendOnce(ctx context.Context, once feed.Idempotency, updates []feed.Update) (events []feed.Event, replayed bool, err error) {
	valid, err := feed.ValidateBatchUpTo(updates, s.opts.MaxDataBytes)
	if err != nil {
		return nil, false, err
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	req := &appendRequest{ctx: ctx, updates: valid, once: &once, done: make(chan struct{})}
	if err := s.submit(req); err != nil {
		return nil, false, err
	}
	return req.events, req.replayed, req.err
}

// Replay returns the events of the publish once stands for, if one was
// made within the window, and fails with ErrKeyReused if the key was used
// for another request. The console checks a tap this way before it works
// out the update from the current score.
func (s *Store) Replay(ctx context.Context, once feed.Idempotency) ([]feed.Event, bool, error) {
	first, count, found, err := lookupOnce(ctx, s.rdb, once, s.onceSince())
	if err != nil || !found {
		return nil, false, readError(err)
	}
	events, err := s.eventsFrom(ctx, s.rdb, first, count)
	return events, true, readError(err)
}

// onceSince is the time before which keys are forgotten, in Unix ms.
func (s *Store) onceSince() int64 {
	return time.Now().Add(-s.opts.IdempotencyWindow).UnixMilli()
}

// lookupOnce finds the publish of once's key made since since.
func lookupOnce(ctx context.Context, db rowQueryer, once feed.Idempotency, since int64) (first int64, count int, found bool, err error) {
	var fingerprint []byte
	err = db.QueryRowContext(ctx, `SELECT fingerprint, first_id, count FROM idempotency WHERE key = ? AND created >= ?`,
		once.Key[:], since).Scan(&fingerprint, &first, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	if string(fingerprint) != string(once.Fingerprint[:]) {
		return 0, 0, false, errKeyReused
	}
	return first, count, true, nil
}

var errKeyReused = feed.Errorf(feed.ErrKeyReused, "this Idempotency-Key (or a line's idempotency_key) was used for another request: use a new key for each publish")

// eventsFrom reads the count events from ID first. Events retention has
// removed since are returned with their ID only.
func (s *Store) eventsFrom(ctx context.Context, q queryer, first int64, count int) ([]feed.Event, error) {
	stored, err := s.queryEvents(ctx, q, `SELECT id, topic, type, time, data, operator FROM events WHERE id >= ? AND id < ? ORDER BY id`, first, first+int64(count))
	if err != nil {
		return nil, err
	}
	events := make([]feed.Event, count)
	for i := range events {
		events[i].ID = first + int64(i)
	}
	for _, e := range stored {
		events[e.ID-first] = e
	}
	return events, nil
}

// dedupe sorts out the requests of a commit that carry an Idempotency key:
// a retry of a publish already stored, or of one earlier in the same
// commit, becomes a replay; a reused key fails. It returns the requests
// whose events are to be stored, and the replays to answer after the
// commit. It runs on the writer, so no two requests with one key can both
// be stored.
func (s *Store) dedupe(live []*appendRequest) (fresh, replays []*appendRequest) {
	var keyed map[[sha256.Size]byte]*appendRequest
	since := s.onceSince()
	for _, r := range live {
		if r.once == nil {
			fresh = append(fresh, r)
			continue
		}
		if first := keyed[r.once.Key]; first != nil {
			if first.once.Fingerprint != r.once.Fingerprint {
				r.err = errKeyReused
				close(r.done)
				continue
			}
			r.replayOf = first
			replays = append(replays, r)
			continue
		}
		first, count, found, err := lookupOnce(context.Background(), s.db, *r.once, since)
		switch {
		case err != nil && !errors.Is(err, feed.ErrKeyReused):
			r.err = unavailable("look up the idempotency key", err)
			close(r.done)
		case err != nil:
			r.err = err
			close(r.done)
		case found:
			r.replayFirst, r.replayCount = first, count
			replays = append(replays, r)
		default:
			if keyed == nil {
				keyed = make(map[[sha256.Size]byte]*appendRequest)
			}
			keyed[r.once.Key] = r
			fresh = append(fresh, r)
		}
	}
	return fresh, replays
}

// answerReplays answers the replays of a commit: with the events of the
// request earlier in it, or read back from the database.
func (s *Store) answerReplays(replays []*appendRequest) {
	for _, r := range replays {
		switch {
		case r.replayOf != nil:
			r.events, r.err = r.replayOf.events, r.replayOf.err
		default:
			events, err := s.eventsFrom(context.Background(), s.db, r.replayFirst, r.replayCount)
			r.events, r.err = events, unavailable("read the events of an idempotent publish", err)
		}
		r.replayed = r.err == nil
		close(r.done)
	}
}

// purgeOnce removes keys older than the window, on the writer.
func (st *statements) purgeOnce(before int64) error {
	_, err := st.db.ExecContext(context.Background(), `DELETE FROM idempotency WHERE created < ?`, before)
	return err
}
