package handlers

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"livefeed/feed"
)

// publish handles POST /api/publish: authenticate, parse, append (the store
// validates, commits and hands the events to the hub), then acknowledge
// with the IDs. Any error leaves the database unchanged.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	if isStream(r) {
		s.ingest(w, r)
		return
	}
	publisher, scope, err := s.authorizePublisher(r)
	if err != nil {
		refuseUnread(w, r, s.log, err)
		return
	}
	// The memory the body takes is reserved before it is read: its
	// declared length, or the most a body may be.
	size := s.opts.MaxBodyBytes
	if r.ContentLength >= 0 && r.ContentLength < size {
		size = r.ContentLength
	}
	if !s.bodies.acquire(publisher, size) {
		s.metrics.rateLimited.Add(1)
		w.Header().Set("Retry-After", bodyBudgetRetry)
		refuseUnread(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "too many publishes of this token (or in all) are being received at once; try again after Retry-After seconds"))
		return
	}
	defer s.bodies.release(publisher, size)
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
	if !scope.IsZero() {
		for _, u := range updates {
			if !scope.Match(u.Topic) {
				Error(w, r, s.log, feed.Errorf(feed.ErrForbidden, "this publish token may publish to %s only, not to %q; nothing was published", strings.ReplaceAll(scope.String(), ",", ", "), u.Topic))
				return
			}
		}
	}
	key, err := ParseIdempotencyKey(r.Header)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if ok, wait := s.rates.allow(publisher, len(updates)); !ok {
		s.metrics.rateLimited.Add(1)
		if wait < 0 {
			Error(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "%d events in one request are more than this token may publish at once (%d)", len(updates), int(s.rates.burst)))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		Error(w, r, s.log, feed.Errorf(feed.ErrRateLimited, "this token is publishing faster than it may (%g events/s); try again after Retry-After seconds", s.rates.rate))
		return
	}
	// The body has been read whole: the publish is committed and
	// answered whatever becomes of the connection. net/http cancels the
	// request's context when its client half-closes the connection after
	// sending (shutdown(SHUT_WR)), and that client still reads the reply:
	// giving up then would answer nothing, which net/http turns into an
	// empty "200 OK" for events never stored.
	ctx := context.WithoutCancel(r.Context())
	var events []feed.Event
	replayed := false
	if key == "" {
		events, err = s.eventLog.Append(ctx, updates)
	} else {
		// A retry gets the reply of the publish it repeats. The key is
		// the publisher's own: its token's digest is part of it.
		once := feed.NewIdempotency("token:"+hex.EncodeToString(publisher[:]), key, feed.Request(batch, updates))
		events, replayed, err = s.eventLog.AppendOnce(ctx, once, updates)
	}
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.metrics.published.Add(float64(len(events)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(ack(events, batch))
}

// refuseUnread answers a request refused before its body was read, and
// closes its connection after the answer: net/http would otherwise read
// what is left of the body first, and hold the answer back for as long as
// a client takes to send it.
func refuseUnread(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	Error(w, r, log, err)
}

// ack is the reply to a publish: {"id":N} for one event, {"ids":[N,...]}
// for a batch. Written by hand: it is on the path of every publish.
func ack(events []feed.Event, batch bool) []byte {
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
// object, or a non-empty array of them (batch reports which). It reads the
// envelope only, and strictly: field names in exact case (RFC 8259 names
// are case-sensitive; matching "Topic" to topic would let two fields claim
// one), each at most once, no others. The data is left to the store, which
// validates it.
func ParsePublish(body []byte) (updates []feed.Update, batch bool, err error) {
	p := envelopeReader{b: body, what: "the request body"}
	p.space()
	if p.i == len(p.b) {
		return nil, false, publishError("the request body is empty: send a JSON object or a JSON array of objects")
	}
	switch p.b[p.i] {
	case '{':
		u, _, err := p.event()
		if err != nil {
			return nil, false, err
		}
		updates = []feed.Update{u}
	case '[':
		batch = true
		p.i++
		p.space()
		if p.at(']') {
			return nil, false, publishError("the array of events is empty")
		}
		for n := 0; ; n++ {
			if !p.at('{') {
				return nil, false, publishError(fmt.Sprintf("event %d must be an event object, got %s", n, p.kind()))
			}
			u, _, err := p.event()
			if err != nil {
				return nil, false, fmt.Errorf("event %d: %w", n, err)
			}
			updates = append(updates, u)
			p.space()
			if p.at(',') {
				p.i++
				p.space()
				continue
			}
			if !p.at(']') {
				return nil, false, p.syntax("expected ',' or ']' after an event")
			}
			p.i++
			break
		}
	default:
		return nil, false, publishError("the request body must be a JSON object or a JSON array of objects")
	}
	p.space()
	if p.i != len(p.b) {
		return nil, false, publishError("the request body has data after the JSON value")
	}
	return updates, batch, nil
}

// publishError is a malformed body: to the client the same 400 as content
// the store rejects.
func publishError(msg string) error { return feed.Errorf(feed.ErrInvalid, "%s", msg) }

// envelopeReader reads the envelope of published events. It skips over
// each event's data, which the store then reads in full.
type envelopeReader struct {
	b    []byte
	i    int
	what string // what b is, for messages: "the request body", "the line"
	// keyed allows the field "idempotency_key" (a line of a stream).
	keyed bool
}

// envelopeFields are the fields of an event, then the one a line of a
// stream may add.
var envelopeFields = []string{"topic", "type", "data", "idempotency_key"}

// event reads the object at p.i, and its idempotency key if p.keyed.
func (p *envelopeReader) event() (u feed.Update, key string, err error) {
	var seen [4]bool // topic, type, data, idempotency_key
	p.i++            // {
	p.space()
	if p.at('}') {
		p.i++
		return u, "", nil
	}
	for {
		if !p.at('"') {
			return u, "", p.syntax("expected a field name in double quotes")
		}
		name, err := p.string()
		if err != nil {
			return u, "", err
		}
		field := slices.Index(envelopeFields, name)
		if field == 3 && !p.keyed {
			return u, "", publishError("unknown field \"idempotency_key\": a line of a stream (Content-Type: application/x-ndjson) may carry its key; a single publish sends the Idempotency-Key header")
		}
		if field < 0 {
			fields := `"topic", "type" and "data"`
			if p.keyed {
				fields = `"topic", "type", "data" and "idempotency_key"`
			}
			return u, "", publishError(fmt.Sprintf("unknown field %s: an event has the fields %s, in lower case", strconv.Quote(name), fields))
		}
		if seen[field] {
			return u, "", publishError(fmt.Sprintf("field %q is given twice", name))
		}
		seen[field] = true
		p.space()
		if !p.at(':') {
			return u, "", p.syntax("expected ':' after the field name")
		}
		p.i++
		p.space()
		if p.i == len(p.b) {
			return u, "", p.syntax("expected a value")
		}
		if field == 2 {
			start := p.i
			if u.Data = p.skipValue(); len(u.Data) == 0 {
				p.i = start
				return u, "", p.syntax("expected the value of \"data\"")
			}
		} else {
			if !p.at('"') {
				return u, "", publishError(fmt.Sprintf("field %q must be a string, got %s", name, p.kind()))
			}
			v, err := p.string()
			if err != nil {
				return u, "", err
			}
			switch field {
			case 0:
				u.Topic = v
			case 1:
				u.Type = v
			default:
				if key, err = checkLineKey(v); err != nil {
					return u, "", err
				}
			}
		}
		p.space()
		if p.at(',') {
			p.i++
			p.space()
			continue
		}
		if !p.at('}') {
			return u, "", p.syntax("expected ',' or '}' after a field")
		}
		p.i++
		return u, key, nil
	}
}

// string reads the JSON string at p.i.
func (p *envelopeReader) string() (string, error) {
	start, escaped := p.i, false
	for p.i++; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			lit := p.b[start:p.i]
			if !utf8.Valid(lit) {
				p.i = start
				return "", p.syntax("a string is not valid UTF-8")
			}
			if !escaped {
				return string(lit[1 : len(lit)-1]), nil
			}
			var s string
			if err := json.Unmarshal(lit, &s); err != nil {
				p.i = start
				return "", p.syntax("a string has an invalid escape")
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.i++
		case c < 0x20:
			return "", p.syntax(fmt.Sprintf("a control character (U+%04X) in a string must be escaped", c))
		}
	}
	return "", p.syntax("a string does not end")
}

// kind names the JSON value at p.i, for messages.
func (p *envelopeReader) kind() string {
	if p.i >= len(p.b) {
		return "nothing"
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case bytes.HasPrefix(p.b[p.i:], []byte("true")) || bytes.HasPrefix(p.b[p.i:], []byte("false")):
		return "a boolean"
	case bytes.HasPrefix(p.b[p.i:], []byte("null")):
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	}
	return "something that is not JSON"
}

func (p *envelopeReader) at(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *envelopeReader) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *envelopeReader) syntax(what string) error {
	if p.i >= len(p.b) {
		return publishError(p.what + " is not valid JSON: it ends too early")
	}
	return publishError(fmt.Sprintf("%s is not valid JSON (at byte %d): %s", p.what, p.i, what))
}

// skipValue moves past the JSON value at p.i and returns it, or nil if it
// does not end. Objects and arrays are skipped by counting brackets
// outside strings: whether the value is valid JSON is for the store to
// check, in the one pass that validates it.
func (p *envelopeReader) skipValue() []byte {
	start, depth := p.i, 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			for p.i++; p.i < len(p.b) && p.b[p.i] != '"'; p.i++ {
				if p.b[p.i] == '\\' {
					p.i++
				}
			}
			if p.i >= len(p.b) {
				return nil
			}
			p.i++
			if depth == 0 {
				return p.b[start:p.i]
			}
		case c == '{' || c == '[':
			depth++
			p.i++
		case c == '}' || c == ']':
			if depth == 0 {
				return p.b[start:p.i] // the envelope's end, after a scalar
			}
			depth--
			p.i++
			if depth == 0 {
				return p.b[start:p.i]
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return p.b[start:p.i]
		default:
			p.i++
		}
	}
	if depth > 0 {
		return nil
	}
	return p.b[start:p.i]
}
