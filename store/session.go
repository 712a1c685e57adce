package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"livefeed/feed"
)

// Session is an operator signed in to the console.
type Session struct {
	Operator string
	CSRF     string // the token every form of the session carries
	Expires  time.Time
}

// maxSessionsPerOperator bounds the sessions one operator keeps: signing in
// again and again (a script, many devices) ends the oldest.
const maxSessionsPerOperator = 100

// CreateSession stores a session under the SHA-256 of its ID.
func (s *Store) CreateSession(ctx context.Context, key [sha256.Size]byte, sess Session) error {
	err := s.runTask(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		now := time.Now().UnixMilli()
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= ?`, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO sessions (id_hash, operator, csrf, expires) VALUES (?, ?, ?, ?)`,
			key[:], sess.Operator, sess.CSRF, sess.Expires.UnixMilli()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE operator = ? AND id_hash NOT IN
			(SELECT id_hash FROM sessions WHERE operator = ? ORDER BY expires DESC LIMIT ?)`,
			sess.Operator, sess.Operator, maxSessionsPerOperator); err != nil {
			return err
		}
		return tx.Commit()
	})
	return taskError("store the session", err)
}

// Session returns the live session stored under key.
func (s *Store) Session(ctx context.Context, key [sha256.Size]byte) (Session, bool, error) {
	var sess Session
	var expires int64
	err := s.rdb.QueryRowContext(ctx, `SELECT operator, csrf, expires FROM sessions WHERE id_hash = ? AND expires > ?`,
		key[:], time.Now().UnixMilli()).Scan(&sess.Operator, &sess.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, readError(err)
	}
	sess.Expires = time.UnixMilli(expires)
	return sess, true, nil
}

// EndSession deletes the session stored under key: its cookie is
// worthless from now on.
func (s *Store) EndSession(ctx context.Context, key [sha256.Size]byte) error {
	err := s.runTask(ctx, func() error {
		_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, key[:])
		return err
	})
	return taskError("end the session", err)
}

// taskError classifies the error of a task run on the writer: a database
// fault is ErrUnavailable.
func taskError(op string, err error) error {
	if err == nil || errors.Is(err, feed.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return unavailable(op, err)
}
