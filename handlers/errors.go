package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"livefeed/store"
)

// Kinds of error the HTTP layer adds to the store's (store.ErrInvalid,
// store.ErrUnavailable, ...). Every error reaching a client is classified
// by Error, the one place that chooses status codes.
var (
	errUnauthorized     = errors.New("unauthorized")
	errForbidden        = errors.New("forbidden")
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTimeout          = errors.New("request timeout")
	errConflict         = errors.New("conflict")
	errTooLarge         = errors.New("too large")
	errRateLimited      = errors.New("rate limited")
)

// clientError is an error of a kind with a message written for the client.
type clientError struct {
	kind error
	msg  string
}

func (e *clientError) Error() string        { return e.msg }
func (e *clientError) Is(target error) bool { return target == e.kind }

func newError(kind error, format string, args ...any) error {
	return &clientError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Error writes err as {"error": "..."} with the status of its kind. Messages
// of client-caused errors are written for the client; anything else is
// logged in full and answered with a generic message, so no internal detail
// (paths, SQL) ever reaches a client.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, msg := classify(err)
	switch {
	case status >= 500:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	case errors.Is(err, context.Canceled):
		return // the client has gone; nobody reads an answer
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livefeed"`)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func classify(err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, errNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, err.Error()
	case errors.Is(err, errTimeout):
		return http.StatusRequestTimeout, err.Error()
	case errors.Is(err, errConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, store.ErrKeyReused):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, "storage is unavailable; nothing was written, try again shortly"
	case errors.Is(err, context.Canceled):
		return 499, "request canceled"
	}
	return http.StatusInternalServerError, "internal error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeJSONBody(w, status, append(body, '\n'))
}

// writeJSONBody writes an encoded JSON body.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

// appendJSONString appends s as a JSON string. Bodies are served as
// application/json with nosniff, so & < > need no HTML escaping: URLs in
// them stay readable.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
