package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// The envelope of a publish (which topic, which type, and where the data
// is) is read here, for the server (a request body, a line of a stream)
// and for the commands that check their input before sending it. The data
// is only delimited (valueEnd): Validate checks it, in one pass.

// ParsePublish reads a publish request body: one {"topic", "type", "data"}
// object, or a non-empty array of them (batch reports which). It reads the
// envelope only, and strictly: field names in exact case (RFC 8259 names
// are case-sensitive; matching "Topic" to topic would let two fields claim
// one), each at most once, no others. The data is left to the store, which
// validates it.
func ParsePublish(body []byte) (updates []Update, batch bool, err error) {
	p := envelopeReader{b: body, what: "the request body"}
	p.space()
	if p.i == len(p.b) {
		return nil, false, invalidf("the request body is empty: send a JSON object or a JSON array of objects")
	}
	switch p.b[p.i] {
	case '{':
		u, _, err := p.event()
		if err != nil {
			return nil, false, err
		}
		updates = []Update{u}
	case '[':
		batch = true
		p.i++
		p.space()
		if p.at(']') {
			return nil, false, invalidf("the array of events is empty")
		}
		for n := 0; ; n++ {
			if !p.at('{') {
				return nil, false, invalidf("event %d must be an event object, got %s", n, p.kind())
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
		return nil, false, invalidf("the request body must be a JSON object or a JSON array of objects")
	}
	p.space()
	if p.i != len(p.b) {
		return nil, false, invalidf("the request body has data after the JSON value")
	}
	return updates, batch, nil
}

// ParseLine reads one line of a streaming publish: an event object
// {"topic", "type", "data"}, strictly as ParsePublish reads one, which may
// carry its own "idempotency_key" (1 to 255 printable ASCII characters).
// Whitespace around the object is allowed; anything else after it is not.
func ParseLine(line []byte) (u Update, key string, err error) {
	p := envelopeReader{b: line, what: "the line", keyed: true}
	p.space()
	if !p.at('{') {
		if p.i == len(p.b) {
			return u, "", invalidf("the line is empty")
		}
		return u, "", invalidf("a line must be one event object, got %s", p.kind())
	}
	if u, key, err = p.event(); err != nil {
		return Update{}, "", err
	}
	p.space()
	if p.i != len(p.b) {
		return Update{}, "", invalidf("the line has data after the event object: send one event a line")
	}
	return u, key, nil
}

// checkLineKey checks a line's idempotency key: what the Idempotency-Key
// header may hold.
func checkLineKey(key string) (string, error) {
	if key == "" {
		return "", invalidf("field \"idempotency_key\" is empty")
	}
	if len(key) > MaxIdempotencyKey {
		return "", invalidf("field \"idempotency_key\" is %d characters long; the limit is %d", len(key), MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return "", invalidf("field \"idempotency_key\" holds character %q: printable ASCII only", rune(c))
		}
	}
	return key, nil
}

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
func (p *envelopeReader) event() (u Update, key string, err error) {
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
			return u, "", invalidf("unknown field \"idempotency_key\": a line of a stream (Content-Type: application/x-ndjson) may carry its key; a single publish sends the Idempotency-Key header")
		}
		if field < 0 {
			fields := `"topic", "type" and "data"`
			if p.keyed {
				fields = `"topic", "type", "data" and "idempotency_key"`
			}
			return u, "", invalidf("unknown field %q: an event has the fields %s, in lower case", name, fields)
		}
		if seen[field] {
			return u, "", invalidf("field %q is given twice", name)
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
			end := valueEnd(p.b, p.i)
			if end < 0 {
				return u, "", p.syntax("expected the value of \"data\"")
			}
			u.Data, p.i = p.b[p.i:end], end
		} else {
			if !p.at('"') {
				return u, "", invalidf("field %q must be a string, got %s", name, p.kind())
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

func (p *envelopeReader) space() { p.i = skipSpace(p.b, p.i) }

func (p *envelopeReader) syntax(what string) error {
	if p.i >= len(p.b) {
		return invalidf("%s is not valid JSON: it ends too early", p.what)
	}
	return invalidf("%s is not valid JSON (at byte %d): %s", p.what, p.i, what)
}
