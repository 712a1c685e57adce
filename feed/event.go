package feed

import (
	"encoding/json"
	"strconv"
	"time"
)

// Update is an event as a publisher submits it: it has no ID or time yet.
type Update struct {
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	// Operator is the console operator who published the update, for
	// the audit trail; never read from a publisher's JSON.
	Operator string `json:"-"`
}

// Event is a stored update. IDs are assigned by the store, strictly
// increasing and never reused; Time is the server's commit time in UTC with
// millisecond precision.
type Event struct {
	ID    int64
	Topic string
	Type  string
	Time  time.Time
	Data  json.RawMessage // compact JSON object
	// Operator is who published the event from the console ("" for
	// events of publish tokens). It is kept with the event but is not
	// part of the envelope subscribers receive (see AppendAuditJSON).
	Operator string
}

// TimeLayout is how event times are written on the wire: RFC 3339 in UTC
// with exactly three fractional digits.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// MarshalJSON encodes the event as the envelope subscribers receive:
// {"id":42,"topic":"...","type":"...","time":"...","data":{...}}.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 96+len(e.Topic)+len(e.Data))), nil
}

// AppendJSON appends the envelope of MarshalJSON to b. Data must be the
// compact JSON the store keeps, so the envelope is always a single line.
func (e Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `,"topic":`...)
	b = appendString(b, e.Topic)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	return append(b, '}')
}

// AppendAuditJSON appends the envelope of AppendJSON with, for an event an
// operator published, its "operator" member, for readers who may see who
// did what: the operators, or everybody where feed.expose_operator says so.
func (e Event) AppendAuditJSON(b []byte) []byte {
	b = e.AppendJSON(b)
	if e.Operator == "" {
		return b
	}
	b = append(b[:len(b)-1], `,"operator":`...)
	b = appendString(b, e.Operator)
	return append(b, '}')
}

// UnmarshalJSON reads the envelope written by MarshalJSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	var v struct {
		ID    int64           `json:"id"`
		Topic string          `json:"topic"`
		Type  string          `json:"type"`
		Time  string          `json:"time"`
		Data  json.RawMessage `json:"data"`
		// Operator is in the envelopes of AppendAuditJSON.
		Operator string `json:"operator"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, v.Time)
	if err != nil {
		return err
	}
	*e = Event{ID: v.ID, Topic: v.Topic, Type: v.Type, Time: t, Data: v.Data, Operator: v.Operator}
	return nil
}

// appendString appends s as a JSON string. Topics and types are validated to
// plain ASCII, but the escaping is complete so the envelope stays valid JSON
// whatever a caller passes.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
