package feed_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"livefeed/feed"
)

// scoreBody is a publish of one valid score event.
const scoreBody = `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0}}`

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		n     int
		batch bool
		err   string // substring of the error, when n is 0
	}{
		{"Object", scoreBody, 1, false, ""},
		{"ObjectWhitespace", "\n  " + scoreBody + "\n", 1, false, ""},
		{"Array", `[` + scoreBody + `,` + scoreBody + `]`, 2, true, ""},
		{"ArrayWhitespace", "[ " + scoreBody + " ,\r\n\t" + scoreBody + " ]", 2, true, ""},
		{"EscapedName", `{"t\u006fpic":"a","type":"b","data":{}}`, 1, false, ""},
		{"DataScalar", `{"topic":"a","type":"b","data":12}`, 1, false, ""}, // the store refuses it
		{"ErrEmpty", ``, 0, false, "empty"},
		{"ErrEmptyArray", `[ ]`, 0, false, "empty"},
		{"ErrNumber", `12`, 0, false, "JSON object or a JSON array"},
		{"ErrArrayOfNull", `[null]`, 0, false, "event 0 must be an event object, got null"},
		{"ErrNestedArray", `[[]]`, 0, false, "event 0 must be an event object, got an array"},
		{"ErrTwoObjects", scoreBody + scoreBody, 0, false, "after the JSON value"},
		{"ErrUnknownField", `{"topic":"a","typ":"x"}`, 0, false, `unknown field "typ"`},
		// Field names are exact-case (RFC 8259 §4: names are compared
		// as strings): "Topic" is not topic, so it cannot override it.
		{"ErrCaseTopic", `{"topic":"ok/a","type":"note","data":{},"Topic":"evil/b"}`, 0, false, `unknown field "Topic"`},
		{"ErrCaseAll", `{"Topic":"a","TYPE":"note","Data":{}}`, 0, false, `unknown field "Topic"`},
		{"ErrDuplicateTopic", `{"topic":"ok/a","type":"note","data":{},"topic":"evil/b"}`, 0, false, `field "topic" is given twice`},
		{"ErrDuplicateData", `{"topic":"a","type":"note","data":{"x":1},"data":{"x":2}}`, 0, false, `field "data" is given twice`},
		{"ErrDuplicateEscaped", `{"topic":"a","type":"note","data":{},"\u0074ype":"x"}`, 0, false, `field "type" is given twice`},
		{"ErrDuplicateInBatch", `[` + scoreBody + `,{"type":"a","type":"b"}]`, 0, false, `event 1: field "type" is given twice`},
		{"ErrTopicNotString", `{"topic":5}`, 0, false, `field "topic" must be a string, got a number`},
		{"ErrTopicNull", `{"topic":null}`, 0, false, `field "topic" must be a string, got null`},
		{"ErrTruncated", `{"topic":`, 0, false, "ends too early"},
		{"ErrTruncatedData", `{"topic":"a","data":{"x":[1}`, 0, false, `not valid JSON`},
		{"ErrNoData", `{"topic":"a","data":}`, 0, false, `expected the value of "data"`},
		{"ErrMissingComma", `{"topic":"a" "type":"b"}`, 0, false, `(at byte 13): expected ',' or '}'`},
		{"ErrControlInString", "{\"topic\":\"a\nb\"}", 0, false, "control character (U+000A)"},
		{"ErrBadEscape", `{"topic":"a\qb"}`, 0, false, "invalid escape"},
		{"ErrTopicNotUTF8", "{\"topic\":\"\xe0\"}", 0, false, "not valid UTF-8"}, // found by fuzzing
		{"ErrNameNotUTF8", "{\"t\xffpic\":\"a\"}", 0, false, "not valid UTF-8"},
		{"ErrBareName", `{topic:"a"}`, 0, false, "expected a field name in double quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			updates, batch, err := feed.ParsePublish([]byte(tc.body))
			if tc.n == 0 {
				if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want ErrInvalid with %q", updates, err, tc.err)
				}
				return
			}
			if err != nil || len(updates) != tc.n || batch != tc.batch {
				t.Fatalf("got %d updates, batch %v, %v", len(updates), batch, err)
			}
		})
	}
	t.Run("Fields", func(t *testing.T) {
		updates, _, err := feed.ParsePublish([]byte(`{"data": {"a" : [1, "]}"]} , "type":"note","topic":"x\/y"}`))
		if err != nil || updates[0].Topic != "x/y" || updates[0].Type != "note" || string(updates[0].Data) != `{"a" : [1, "]}"]}` {
			t.Fatalf("got %+v, %v", updates, err)
		}
	})
}

func FuzzParsePublish(f *testing.F) {
	f.Add([]byte(scoreBody))
	f.Add([]byte(`[` + scoreBody + `]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"topic":"a","type":"b","data":{"x":[1,2,{"y":null}]}} `))
	f.Add([]byte(`{"topic":"a"}{`))
	f.Add([]byte(`{"topic":"ok/a","type":"note","data":{},"Topic":"evil/b"}`))
	f.Add([]byte(`{"topic":"a","topic":"b"}`))
	f.Add([]byte(`[{"data":{"x":"}\"]"}},{"t\u006fpic":"\ud800"}]`))
	f.Add([]byte(`{"topic":"a","type":"b","data":tru`))
	f.Add([]byte(`{"data":{"a":{"b":1,"b":2}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		updates, _, err := feed.ParsePublish(body)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if len(updates) == 0 {
			t.Fatal("accepted a body with no events")
		}
		// What encoding/json reads with exact names must be what was
		// parsed: no field was taken from another spelling.
		var objs []map[string]json.RawMessage
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 && trimmed[0] == '{' {
			trimmed = append(append([]byte("["), trimmed...), ']')
		}
		if json.Unmarshal(trimmed, &objs) != nil {
			return // the data is not JSON: the store refuses it
		}
		for i, obj := range objs {
			for k := range obj {
				if k != "topic" && k != "type" && k != "data" {
					t.Fatalf("accepted field %q in %q", k, body)
				}
			}
			var topic, typ string
			json.Unmarshal(obj["topic"], &topic)
			json.Unmarshal(obj["type"], &typ)
			if topic != updates[i].Topic || typ != updates[i].Type {
				t.Fatalf("event %d of %q parsed as %+v", i, body, updates[i])
			}
		}
	})
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		name, line  string
		topic, data string
		key         string
		err         string
	}{
		{name: "OK", line: `{"topic":"a/b","type":"note","data":{"x":1}}`, topic: "a/b", data: `{"x":1}`},
		{name: "OKSpaceAround", line: " \t{\"topic\":\"a\",\"type\":\"note\",\"data\":{}}\r", topic: "a", data: `{}`},
		{name: "OKKey", line: `{"idempotency_key":"tick-17","topic":"a","type":"note","data":{}}`, topic: "a", data: `{}`, key: "tick-17"},
		{name: "OKKeyEscaped", line: `{"topic":"a","type":"note","data":{},"idempotency_key":"a\"b"}`, topic: "a", data: `{}`, key: `a"b`},
		{name: "ErrEmpty", line: "  ", err: "the line is empty"},
		{name: "ErrArray", line: `[{"topic":"a","type":"note","data":{}}]`, err: "one event object, got an array"},
		{name: "ErrNotJSON", line: `not json`, err: "got something that is not JSON"},
		{name: "ErrTwoObjects", line: `{"topic":"a","type":"note","data":{}}{"topic":"b"}`, err: "data after the event object"},
		{name: "ErrTrailingComma", line: `{"topic":"a","type":"note","data":{}},`, err: "data after the event object"},
		{name: "ErrUnknownField", line: `{"topic":"a","kind":"note"}`, err: `unknown field "kind"`},
		{name: "ErrFieldCase", line: `{"topic":"a","Topic":"b"}`, err: `unknown field "Topic"`},
		{name: "ErrKeyTwice", line: `{"idempotency_key":"a","idempotency_key":"b"}`, err: `"idempotency_key" is given twice`},
		{name: "ErrKeyEmpty", line: `{"idempotency_key":""}`, err: `"idempotency_key" is empty`},
		{name: "ErrKeyNumber", line: `{"idempotency_key":17}`, err: `"idempotency_key" must be a string, got a number`},
		{name: "ErrKeyLong", line: `{"idempotency_key":"` + strings.Repeat("k", 256) + `"}`, err: "256 characters long; the limit is 255"},
		{name: "ErrKeyNonASCII", line: `{"idempotency_key":"clé"}`, err: "printable ASCII only"},
		{name: "ErrKeyControl", line: `{"idempotency_key":"a\u0001"}`, err: "printable ASCII only"},
		{name: "ErrCutOff", line: `{"topic":"a","type":"note","data":{"x":`, err: "the line is not valid JSON"},
		{name: "ErrRawControl", line: "{\"topic\":\"a\tb\"}", err: "control character (U+0009)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, key, err := feed.ParseLine([]byte(tc.line))
			if tc.err != "" {
				if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrInvalid with %q", err, tc.err)
				}
				return
			}
			if err != nil || u.Topic != tc.topic || string(u.Data) != tc.data || key != tc.key {
				t.Fatalf("ParseLine = %+v %q, %v", u, key, err)
			}
		})
	}
	// A single publish has no key field: the header carries it.
	if _, _, err := feed.ParsePublish([]byte(`{"topic":"a","type":"note","data":{},"idempotency_key":"k"}`)); err == nil || !strings.Contains(err.Error(), "Idempotency-Key header") {
		t.Fatalf("ParsePublish with a key field: %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"topic":"a/b","type":"note","data":{"x":1}}`))
	f.Add([]byte(`{"topic":"a","type":"note","data":{},"idempotency_key":"k-1"}`))
	f.Add([]byte(`{"idempotency_key":"a","idempotency_key":"b"}`))
	f.Add([]byte(`{"topic":"a","type":"note","data":{}}{"topic":"b"}`))
	f.Add([]byte(`{"topic":"a","Topic":"b","data":{"s":"}\"{"}}`))
	f.Add([]byte(`{"idempotency_key":"\u00e9"}`))
	f.Add([]byte(" \r\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		u, key, err := feed.ParseLine(line)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if len(key) > 255 {
			t.Fatalf("a key of %d characters", len(key))
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("key %q holds %q", key, key[i])
			}
		}
		// What encoding/json reads with exact names must be what was
		// parsed.
		var obj map[string]json.RawMessage
		if json.Unmarshal(line, &obj) != nil {
			return // the data is not JSON: the store refuses it
		}
		var topic, k string
		json.Unmarshal(obj["topic"], &topic)
		json.Unmarshal(obj["idempotency_key"], &k)
		if topic != u.Topic || k != key {
			t.Fatalf("parsed topic %q key %q, encoding/json reads %q %q", u.Topic, key, topic, k)
		}
		if obj["data"] != nil && !bytes.Equal(bytes.TrimSpace(obj["data"]), bytes.TrimSpace(u.Data)) {
			t.Fatalf("parsed data %q, encoding/json reads %q", u.Data, obj["data"])
		}
	})
}
