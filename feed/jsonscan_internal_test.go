package feed

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// FuzzScanObject checks the one-pass scanner of event data against
// encoding/json: it accepts exactly the JSON objects that are I-JSON
// (checked here the slow way, token by token) and nest at most MaxDepth
// levels; what it accepts it returns as json.Compact would, with the same
// top-level members as a token-by-token decode, and eachMember (the
// export's walker) agrees.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"a":1}`,
		` { "a" : [ 1 , { "b" : "c d" } ] , "e\\"f" : "g\\\\" , "h" : null } `,
		`{"home":"A","away":"B","home_score":1,"away_score":2}`,
		`{"x":{"y":{"z":[[],{}]}},"s":"\u00e9\n","n":-1.5e-3,"t":true,"f":false}`,
		`{"":"","\u0041":0}`,
		`{"a":1e999}`,
		`{"a":-1e308,"b":1.7976931348623157e308,"c":1e-999}`,
		`{"a":"\ud800"}`,
		`{"a":"\udc00\ud800"}`,
		`{"a":"\ud83d\ude00"}`,
		`{"\ud800":1}`,
		`{"a":{"b":1,"b":2}}`,
		`{"a":1,"\u0061":2}`,
		`{"a":[{"x":1},{"x":1,"y":2,"x":3}]}`,
		strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat(`}`, 32),
		strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33),
		`{"a":[` + strings.Repeat(`[`, 31) + strings.Repeat(`]`, 31) + `]}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k3":3}`,
		"{\"a\":\"\xed\xa0\x80\"}",
		`{"a":01}`,
		`{"a":1.}`,
		`{"a":"\x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = TrimJSONSpace(data)
		if len(data) == 0 || data[0] != '{' {
			return // validateData answers these before scanning
		}
		// The data is appended after what a buffer holds, which stays
		// as it was; the members are the scanner's until check returns.
		prefix := []byte("before")
		var top fields
		buf, got, err := scanData(prefix, data, func(f fields) error {
			top = slices.Clone(f)
			return nil
		})
		if !bytes.Equal(buf[:len(prefix)], []byte("before")) || (err == nil && !bytes.Equal(buf[len(prefix):], got)) {
			t.Fatalf("scanData(%q) appended %q after %q, returning %q", data, buf, prefix, got)
		}
		valid := utf8.Valid(data) && json.Valid(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("scanData(%q): %v is not ErrInvalid", data, err)
			}
			if valid && ijsonProblem(t, data) == "" {
				t.Fatalf("scanData refused I-JSON %q: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("scanData accepted %q, which is not JSON", data)
		}
		if p := ijsonProblem(t, data); p != "" {
			t.Fatalf("scanData accepted %q: %s", data, p)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("scanData(%q) = %q, want %q", data, got, want.Bytes())
		}
		keys, values := decodeMembers(t, got)
		if len(top) != len(keys) {
			t.Fatalf("scanData(%q) found %d members, want %d", got, len(top), len(keys))
		}
		for i, m := range top {
			if !m.key.equals(keys[i]) || !bytes.Equal(m.value, values[i]) {
				t.Fatalf("member %d of %q = %q: %q, want %q: %q", i, got, m.key.String(), m.value, keys[i], values[i])
			}
		}
		i := 0
		eachMember(got, func(key, value []byte) {
			if unquote(key) != keys[i] || !bytes.Equal(value, values[i]) {
				t.Fatalf("eachMember: member %d of %q = %q: %q, want %q: %q", i, got, key, value, keys[i], values[i])
			}
			i++
		})
	})
}

// decodeMembers returns the keys and raw values of a JSON object's
// top-level members, in order, read token by token.
func decodeMembers(t *testing.T, obj []byte) (keys []string, values [][]byte) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.Token() // {
	for dec.More() {
		tok, _ := dec.Token()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		values = append(values, v)
	}
	return keys, values
}

// ijsonProblem says why the valid JSON text data is not I-JSON nested at
// most MaxDepth deep, or returns "". It is the slow way: encoding/json's
// tokens, and a separate look at the escapes (encoding/json turns a lone
// surrogate into U+FFFD without a word).
func ijsonProblem(t *testing.T, data []byte) string {
	if p := loneSurrogate(data); p != "" {
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object  bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // the end
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key := tok.(string)
			if top.keys[key] {
				return "duplicate key " + strconv.Quote(key)
			}
			top.keys[key] = true
			top.wantKey = false
			continue
		}
		if top != nil && top.object {
			top.wantKey = true
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, wantKey: v == '{'})
				if len(stack) > MaxDepth {
					return "nested too deeply"
				}
			case ']':
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return "number out of range: " + string(v)
			}
		}
	}
}

// loneSurrogate finds a \u escape of a surrogate that is not half of a
// pair in the strings of valid JSON.
func loneSurrogate(data []byte) string {
	inString := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if data[i+1] != 'u' {
				i++
				continue
			}
			r, _ := strconv.ParseUint(string(data[i+2:i+6]), 16, 32)
			if utf16.IsSurrogate(rune(r)) {
				var low uint64
				if i+12 <= len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					low, _ = strconv.ParseUint(string(data[i+8:i+12]), 16, 32)
				}
				if r >= 0xdc00 || low < 0xdc00 || low > 0xdfff {
					return "lone surrogate " + string(data[i:i+6])
				}
				i += 6
			}
			i += 5
		}
	}
	return ""
}

// TestScanDataErrors checks that each refusal names the value and the rule.
func TestScanDataErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"ErrHugeNumber", `{"a":1e999}`, "data.a is 1e999, beyond the range of an IEEE 754 double"},
		{"ErrHugeNegative", `{"a":{"b":[0,-1E+400]}}`, "data.a.b[1] is -1E+400, beyond the range"},
		{"ErrHugeInteger", `{"a":1` + strings.Repeat("0", 309) + `}`, "data.a is 100000000000000000000000…, beyond the range"},
		{"ErrLoneHigh", `{"home":"x\ud800"}`, `data.home holds a lone surrogate (\ud800)`},
		{"ErrLoneLow", `{"a":["ok","\uDC00"]}`, `data.a[1] holds a lone surrogate (\uDC00)`},
		{"ErrHighThenHigh", `{"a":"\ud800\ud800"}`, `data.a holds a lone surrogate (\ud800)`},
		{"ErrLoneInKey", `{"a":{"\ud800":1}}`, `data.a has a member name that holds a lone surrogate`},
		{"ErrRawSurrogate", "{\"a\":\"\xed\xa0\x80\"}", "data.a is not valid UTF-8 (byte 0xed)"},
		{"ErrInvalidUTF8", "{\"a b\":[\"\xff\"]}", `data["a b"][0] is not valid UTF-8 (byte 0xff)`},
		{"ErrDuplicateTop", `{"a":1,"a":2}`, `data has the key "a" twice`},
		{"ErrDuplicateEscaped", `{"a":1,"\u0061":2}`, `data has the key "a" twice`},
		{"ErrDuplicateNested", `{"a":{"b":[{"x":1,"x":2}]}}`, `data.a.b[0] has the key "x" twice`},
		{"ErrDuplicateLarge", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k5":5}`, `data has the key "k5" twice`},
		{"ErrTooDeep", strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33), "is nested too deeply: at most 32 levels"},
		{"ErrTooDeepArrays", `{"a":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}`, "data.a[0][0]"},
		{"ErrSyntax", `{"a":[1,2}`, "data is not valid JSON at byte 9 (in data.a[1]): expected ',' or ']'"},
		{"ErrLeadingZero", `{"a":01}`, "not valid JSON"},
		{"ErrControl", "{\"a\":\"\t\"}", "a control character (U+0009) in a string must be escaped"},
		{"ErrTrailing", `{"a":1}x`, "there is more after the object"},
		// An error right after opening a container names the path to
		// it, not a step left over from an earlier sibling.
		{"ErrFirstMember", `{"a":[{"b":1},{1}]}`, "data is not valid JSON at byte 15 (in data.a[1]): expected a member name"},
		{"ErrFirstElement", `{"a":{"b":[1],"c":[,]}}`, "data is not valid JSON at byte 19 (in data.a.c[0]): expected a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := scanData(nil, []byte(tc.data), nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("scanData(%.60q) = %v, want an error with %q", tc.data, err, tc.want)
			}
		})
	}
	t.Run("OKDeepest", func(t *testing.T) {
		data := strings.Repeat(`{"a":`, 31) + `[1]` + strings.Repeat(`}`, 31)
		if _, _, err := scanData(nil, []byte(data), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKPairAndTiny", func(t *testing.T) {
		if _, _, err := scanData(nil, []byte(`{"a":"\ud83d\ude00","b":1e-999,"c":1.7976931348623157e308}`), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestValueEnd pins where valueEnd ends a value, valid or not: a publish's
// data is delimited by it before anything validates it, and what it takes
// decides which message a malformed body gets.
func TestValueEnd(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int
	}{
		{"String", `"a\"b",`, 6},
		{"StringEscapedBackslash", `"a\\",1`, 5},
		{"Object", `{"a":[1,"]}"]} x`, 14},
		{"Array", `[1,[2]]]`, 7},
		{"NumberThenComma", `12,`, 2},
		{"NumberThenBrace", `12}`, 2},
		{"NumberThenSpace", "true\n", 4},
		{"NumberAtEnd", `-1.5e3`, 6},
		// Bytes that are not a JSON value are taken up to a separator,
		// with any string or bracketed value they run into.
		{"ScalarRunsIntoString", `tru"e,}"}`, 8},
		{"ScalarRunsIntoObject", `1{"a":2}]`, 8},
		{"Colon", `::1}`, 3},
		{"ErrEmpty", ``, -1},
		{"ErrComma", `,1`, -1},
		{"ErrClose", `}`, -1},
		{"ErrObjectOpen", `{"a":1`, -1},
		{"ErrStringOpen", `"abc`, -1},
		{"ErrStringEscapedQuote", `"ab\"`, -1},
		{"ErrBracketInString", `["]"`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := valueEnd([]byte(tc.in), 0); got != tc.want {
				t.Fatalf("valueEnd(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}
