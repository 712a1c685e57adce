package feed

import (
	"errors"
	"fmt"
)

// Kinds of error: the one vocabulary of livefeed's packages. Every error a
// client can cause or must hear about is, by errors.Is, one of these, and
// the HTTP layer maps each kind to its status in one place (handlers'
// classify). An *Error's message is written for the client; any other
// error's message may hold internal detail and is only logged.
var (
	ErrInvalid      = errors.New("invalid input")                     // nothing was written
	ErrUnauthorized = errors.New("unauthorized")                      // missing or bad credentials
	ErrForbidden    = errors.New("forbidden")                         // credentials fine, not for this
	ErrNotFound     = errors.New("not found")                         //
	ErrNotAllowed   = errors.New("not allowed")                       // an operation the resource does not offer (a method)
	ErrConflict     = errors.New("conflict")                          // the state changed meanwhile, or is taken
	ErrTooLarge     = errors.New("too large")                         //
	ErrKeyReused    = errors.New("idempotency key reused")            // the key came with another request
	ErrRateLimited  = errors.New("rate limited")                      //
	ErrTimeout      = errors.New("too slow")                          // the request did not arrive in time
	ErrUnavailable  = errors.New("storage unavailable")               // nothing was written; may work shortly
	ErrClosed       = errors.New("closed")                            // shutting down
	ErrPruned       = errors.New("position older than the history")   // retention removed what followed it
	ErrAhead        = errors.New("position beyond the stored events") // an ID never stored here: a newer database was replaced
)

// Error is an error of one of the kinds above with a message written for
// the client.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is(err, kind) true for the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Errorf returns an *Error of kind with a formatted message for the client.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// invalidf is Errorf(ErrInvalid, ...), for the many checks of input.
func invalidf(format string, args ...any) error { return Errorf(ErrInvalid, format, args...) }
