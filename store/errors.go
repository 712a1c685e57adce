package store

import (
	"errors"
	"fmt"
)

// Kinds of error the store reports. Callers classify an error with
// errors.Is; the message of an ErrInvalid error is written for the client
// that sent the input and never contains internal details.
var (
	// ErrInvalid means the input was rejected and nothing was written.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable means the database could not complete the operation
	// (disk full, read-only or locked file, I/O error). Nothing was written;
	// the same request may succeed once the fault clears.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrPruned means the requested position is older than the retained
	// history, so the events after it can no longer all be returned.
	ErrPruned = errors.New("position older than retained history")
	// ErrGap means the position is an ID this database never stored: it
	// was restored from a backup older than the position.
	ErrGap = errors.New("position in a gap left by a restore")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store closed")
	// ErrKeyReused means an Idempotency-Key came with another request than
	// the one it was first used for. Nothing was written.
	ErrKeyReused = errors.New("idempotency key reused")
)

// kindError is an error of one of the kinds above with a message meant for
// the client.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// inputError is an ErrInvalid with a message meant for the client.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// unavailable wraps a database error as ErrUnavailable, keeping the cause for
// the logs.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
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
