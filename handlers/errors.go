package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"livefeed/feed"
)

// Error writes err as {"error": "..."} with the status of its kind (see
// classify, the one map from the kinds of feed.Errorf to statuses). Messages
// of client-caused errors are written for the client; anything else is
// logged in full and answered with a generic message, so no internal detail
// (paths, SQL) ever reaches a client.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, msg := classify(err)
	if status >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	// A request given up on because its context ended is answered too
	// (499): a client that half-closed its connection still reads, and a
	// handler that wrote nothing would leave it net/http's default 200.
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livefeed"`)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func classify(err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, feed.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, feed.ErrUnauthorized):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, feed.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, feed.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, feed.ErrNotAllowed):
		return http.StatusMethodNotAllowed, err.Error()
	case errors.Is(err, feed.ErrTimeout):
		return http.StatusRequestTimeout, err.Error()
	case errors.Is(err, feed.ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, feed.ErrKeyReused):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, feed.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, feed.ErrRateLimited):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, feed.ErrUnavailable), errors.Is(err, feed.ErrClosed):
		var fe *feed.Error
		if errors.As(err, &fe) {
			return http.StatusServiceUnavailable, fe.Message // written for the client
		}
		return http.StatusServiceUnavailable, "storage is unavailable; nothing was written, try again shortly"
	case errors.Is(err, context.Canceled):
		return 499, "the request was given up on: its connection closed before the answer; nothing was written"
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
