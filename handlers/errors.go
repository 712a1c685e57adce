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

// Error writes err as {"error": "..."} with the status of its kind (from
// feed's table of kinds, see classify). Messages of client-caused errors
// are written for the client; anything else is logged in full and
// answered with a generic message, so no internal detail (paths, SQL) ever
// reaches a client.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, msg := classify(err)
	if status >= 500 && !errors.Is(err, feed.ErrTopicLimit) { // the server's own trouble
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

// classify is the one map from errors to the status and message of their
// answer: the status of the error's kind in feed's table (feed.StatusOf),
// with what only HTTP knows beside it: a body over its limit
// (http.MaxBytesError, which says the limit) and a request whose
// connection closed (context.Canceled, 499). An error of no kind is an
// internal error.
func classify(err error) (int, string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)
	}
	if status, ok := feed.StatusOf(err); ok {
		if status < 500 {
			return status, err.Error()
		}
		// The server's own trouble: only an *feed.Error's message is
		// written for the client; another error of the kind may carry
		// a driver's.
		var fe *feed.Error
		if errors.As(err, &fe) {
			return status, fe.Message
		}
		return status, "storage is unavailable; nothing was written, try again shortly"
	}
	if errors.Is(err, context.Canceled) {
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
