package handlers

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"livefeed/store"
)

// publish handles POST /api/publish: authenticate, parse, append (the store
// validates, commits and hands the events to the hub), then acknowledge
// with the IDs. Any error leaves the database unchanged.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	publisher, err := s.authorizePublisher(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	updates, batch, err := ParsePublish(body)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	key, err := ParseIdempotencyKey(r.Header)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if ok, wait := s.rates.allow(publisher, len(updates)); !ok {
		s.metrics.rateLimited.Add(1)
		if wait < 0 {
			Error(w, r, s.log, newError(errRateLimited, "%d events in one request are more than this token may publish at once (%d)", len(updates), int(s.rates.burst)))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		Error(w, r, s.log, newError(errRateLimited, "this token is publishing faster than it may (%g events/s); try again after Retry-After seconds", s.rates.rate))
		return
	}
	var events []store.Event
	replayed := false
	if key == "" {
		events, err = s.store.Append(r.Context(), updates)
	} else {
		// A retry gets the reply of the publish it repeats. The key is
		// the publisher's own: its token's digest is part of it.
		once := store.NewIdempotency("token:"+hex.EncodeToString(publisher[:]), key, body)
		events, replayed, err = s.store.AppendOnce(r.Context(), once, updates)
	}
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.metrics.published.Add(uint64(len(events)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(ack(events, batch))
}

// ack is the reply to a publish: {"id":N} for one event, {"ids":[N,...]}
// for a batch. Written by hand: it is on the path of every publish.
func ack(events []store.Event, batch bool) []byte {
	if !batch {
		b := strconv.AppendInt([]byte(`{"id":`), events[0].ID, 10)
		return append(b, "}\n"...)
	}
	b := append(make([]byte, 0, 16+12*len(events)), `{"ids":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, e.ID, 10)
	}
	return append(b, "]}\n"...)
}

// ParsePublish reads a publish request body: one {"topic", "type", "data"}
// object, or a non-empty array of them (batch reports which). It checks the
// shape only; the store validates the contents.
func ParsePublish(body []byte) (updates []store.Update, batch bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, publishError("the request body is empty: send a JSON object or a JSON array of objects")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	switch body[0] {
	case '{':
		var u store.Update
		err = dec.Decode(&u)
		updates = []store.Update{u}
	case '[':
		batch = true
		err = dec.Decode(&updates)
	default:
		return nil, false, publishError("the request body must be a JSON object or a JSON array of objects")
	}
	if err != nil {
		return nil, false, publishError(describeJSONError(err))
	}
	if dec.More() || dec.InputOffset() != int64(len(body)) {
		return nil, false, publishError("the request body has data after the JSON value")
	}
	if batch && len(updates) == 0 {
		return nil, false, publishError("the array of events is empty")
	}
	return updates, batch, nil
}

// publishError is a malformed body: to the client the same 400 as content
// the store rejects.
func publishError(msg string) error { return newError(store.ErrInvalid, "%s", msg) }

// describeJSONError turns encoding/json's errors into messages for a client.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the request body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("expected an event object, got a JSON %s", typ.Value)
		}
		return fmt.Sprintf("field %q must be %s, got a JSON %s", typ.Field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is not valid JSON: it ends too early"
	}
	return "the request body is not valid: " + strings.TrimPrefix(err.Error(), "json: ")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "a JSON value"
	case "struct":
		return "an object"
	}
	return kind
}
