package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzScanObject checks the fast scanner against encoding/json on valid
// UTF-8 (the only input it is given): compact
// must equal json.Compact, and members must list the same keys and values,
// in order, as a token-by-token decode.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"a":1}`,
		` { "a" : [ 1 , { "b" : "c d" } ] , "e\\"f" : "g\\\\" , "h" : null } `,
		`{"home":"A","away":"B","home_score":1,"away_score":2}`,
		`{"x":{"y":{"z":[[],{}]}},"s":"\u00e9\n","n":-1.5e-3,"t":true,"f":false}`,
		`{"":"","\u0041":0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.TrimSpace(data)
		// validateData checks UTF-8 before scanning; encoding/json
		// would replace invalid bytes in keys with U+FFFD.
		if !utf8.Valid(data) || !json.Valid(data) || len(data) == 0 || data[0] != '{' {
			return
		}
		var want bytes.Buffer
		if err := json.Compact(&want, data); err != nil {
			t.Fatal(err)
		}
		got := compact(data)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("compact(%q) = %q, want %q", data, got, want.Bytes())
		}
		dec := json.NewDecoder(bytes.NewReader(got))
		dec.Token() // {
		var keys []string
		var values [][]byte
		for dec.More() {
			tok, _ := dec.Token()
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, tok.(string))
			values = append(values, v)
		}
		ms := members(got)
		if len(ms) != len(keys) {
			t.Fatalf("members(%q) = %d members, want %d", got, len(ms), len(keys))
		}
		for i, m := range ms {
			if m.key != keys[i] || !bytes.Equal(m.value, values[i]) {
				t.Fatalf("member %d of %q = %q: %q, want %q: %q", i, got, m.key, m.value, keys[i], values[i])
			}
		}
	})
}
