package feed

import (
	"errors"
	"fmt"
	"slices"
)

// Kinds of error: the one vocabulary of livefeed's packages. Every error a
// client can cause or must hear about is, by errors.Is, one of these, and
// the table below (kinds) gives each its HTTP status. An *Error's message
// is written for the client; any other error's message may hold internal
// detail and is only logged.
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
	ErrTopicLimit   = errors.New("topic limit reached")               // nothing was written: a new topic, and the server holds as many as it allows
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

// kind is a kind of error that clients are answered with: its HTTP status,
// and the reason livefeed_publish_failures_total counts a publish refused
// with that status under.
type kind struct {
	err    error
	status int
	reason string
}

// kinds is the one table from kinds of error to HTTP statuses, read in
// both directions: from kind to status by the server (StatusOf, for
// handlers.Error), from status to kind by the Go client (KindOf) and from
// status to reason by the metrics (ReasonOf). An error of several kinds is
// answered with the first of them here. Kinds that share a status share
// its reason, and a client reads the status back as the first of them.
//
// Statuses are plain numbers (RFC 9110, section 15): feed imports no HTTP.
// The reasons are label values that dashboards and alerts select on: they
// do not change. A publish is never answered 404 or 405 (POST /api/publish
// is routed by itself), so not_found and not_allowed stay at 0.
//
// ErrPruned and ErrAhead are not here: they are positions a subscriber
// resumes from, answered with a reset event, never with a status.
var kinds = []kind{
	{ErrInvalid, 400, "invalid"},
	{ErrUnauthorized, 401, "unauthorized"},
	{ErrForbidden, 403, "forbidden"},
	{ErrNotFound, 404, "not_found"},
	{ErrNotAllowed, 405, "not_allowed"},
	{ErrTimeout, 408, "timeout"},
	{ErrConflict, 409, "conflict"},
	{ErrKeyReused, 422, "invalid"}, // a request that is not the one its key first came with
	{ErrTooLarge, 413, "too_large"},
	{ErrRateLimited, 429, "rate_limited"},
	{ErrUnavailable, 503, "unavailable"},
	{ErrClosed, 503, "unavailable"}, // a node shutting down: another may take the request
	{ErrTopicLimit, 507, "topic_limit"},
}

// reasonInternal is the reason of a status no kind is answered with: an
// internal error (500), a request given up on (499), a proxy's (502).
const reasonInternal = "internal"

// StatusOf returns the HTTP status err is answered with: that of its kind
// (the first in the table that errors.Is finds). ok is false for an error
// of no kind: an internal error.
func StatusOf(err error) (status int, ok bool) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.status, true
		}
	}
	return 0, false
}

// KindOf returns the kind of error (ErrInvalid, ...) an HTTP status of
// livefeed's API stands for, the reverse of StatusOf; nil for a status no
// kind is answered with.
func KindOf(status int) error {
	if k, ok := kindOfStatus(status); ok {
		return k.err
	}
	return nil
}

// ReasonOf returns the reason a publish refused with status is counted
// under in livefeed_publish_failures_total: that of the status's kind, or
// "internal" for a status no kind is answered with.
func ReasonOf(status int) string {
	if k, ok := kindOfStatus(status); ok {
		return k.reason
	}
	return reasonInternal
}

// Reasons returns every reason ReasonOf gives, each once: the table's in
// its order, then "internal". The metrics count each from 0, so that a
// rate over livefeed_publish_failures_total sees the first failure of a
// reason too (a series that first appears at 1 has no earlier sample to
// rise from, and an alert on its rate would miss it).
func Reasons() []string {
	var reasons []string
	for _, k := range kinds {
		if !slices.Contains(reasons, k.reason) {
			reasons = append(reasons, k.reason)
		}
	}
	return append(reasons, reasonInternal)
}

// kindOfStatus returns the first kind answered with status.
func kindOfStatus(status int) (kind, bool) {
	for _, k := range kinds {
		if k.status == status {
			return k, true
		}
	}
	return kind{}, false
}
