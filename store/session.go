package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"livefeed/feed"
)

// maxSessionsPerOperator bounds the sessions one operator keeps: signing in
// again and again (a script, many devices) ends the oldest.
const maxSessionsPerOperator = 100

// CreateSession stores the session of an operator signed in to the console
// under the SHA-256 of its ID, with the CSRF token its forms carry, until
// expires.
func (s *Store) CreateSession(ctx context.Context, key [sha256.Size]byte, operator, csrf string, expires time.Time) error {
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
			key[:], operator, csrf, expires.UnixMilli()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE operator = ? AND id_hash NOT IN
			(SELECT id_hash FROM sessions WHERE operator = ? ORDER BY expires DESC LIMIT ?)`,
			operator, operator, maxSessionsPerOperator); err != nil {
			return err
		}
		return tx.Commit()
	})
	return taskError("store the session", err)
}

// Session returns the operator and CSRF token of the live session stored
// under key.
func (s *Store) Session(ctx context.Context, key [sha256.Size]byte) (operator, csrf string, found bool, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT operator, csrf FROM sessions WHERE id_hash = ? AND expires > ?`,
		key[:], time.Now().UnixMilli()).Scan(&operator, &csrf)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, readError(err)
	}
	return operator, csrf, true, nil
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
