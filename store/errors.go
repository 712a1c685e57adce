package store

import (
	"fmt"

	"livefeed/feed"
)

// unavailable wraps a database error as ErrUnavailable, keeping the cause for
// the logs.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w: %w", op, feed.ErrUnavailable, err)
}

// LockedError is returned when another livefeed process has the database
// open: a server, or a restore under way.
type LockedError struct {
	Path   string
	Holder string // "livefeed (process 1234)"
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("database %s is open in %s: stop it first", e.Path, e.Holder)
}
