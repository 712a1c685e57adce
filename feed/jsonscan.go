package feed

import (
	"bytes"
	"encoding/json"
)

// The functions here walk JSON without decoding it: decoding each publish
// with encoding/json's token API cost several times more than storing the
// event, and decoding each exported row would cost more than reading it.

// unquote returns the text of a JSON string literal.
func unquote(lit []byte) string {
	body := lit[1 : len(lit)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body)
	}
	var s string
	json.Unmarshal(lit, &s) // cannot fail: the literal is valid JSON
	return s
}

// eachMember calls fn with the key (a JSON string, quotes included) and the
// raw value of each member of the JSON object obj, in order. It reports
// whether obj is an object it could walk; on false fn may have been called
// for a prefix of the members. It does not validate scalar values: the
// store has validated every event's data before it was written.
func eachMember(obj []byte, fn func(key, value []byte)) bool {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return skipSpace(obj, i+1) == len(obj)
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return false
		}
		keyEnd := stringEnd(obj, i)
		if keyEnd < 0 {
			return false
		}
		j := skipSpace(obj, keyEnd)
		if j >= len(obj) || obj[j] != ':' {
			return false
		}
		j = skipSpace(obj, j+1)
		valueEnd := valueEnd(obj, j)
		if valueEnd < 0 {
			return false
		}
		fn(obj[i:keyEnd], obj[j:valueEnd])
		i = skipSpace(obj, valueEnd)
		if i >= len(obj) {
			return false
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return skipSpace(obj, i+1) == len(obj)
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at b[i] ('"'),
// or -1 if it does not end.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the JSON value starting at b[i], or -1
// if none starts there or it does not end. It does not validate the value
// (scanData does, in the one pass that checks event data): a string ends
// at its closing quote, an object or array at its matching bracket counted
// outside strings, and anything else at a ',', whitespace, or a '}' or ']'
// at its own level, taking in any string, object or array it runs into.
// What is not JSON is so taken whole, up to the next separator, and
// refused with a message about it rather than about what follows it.
func valueEnd(b []byte, i int) int {
	start, depth := i, 0
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			if i = stringEnd(b, i); i < 0 || depth == 0 {
				return i
			}
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			if depth == 0 {
				return nonEmpty(start, i) // the end of the value around it
			}
			depth--
			i++
			if depth == 0 {
				return i
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return nonEmpty(start, i)
		default:
			i++
		}
	}
	if depth > 0 {
		return -1
	}
	return nonEmpty(start, i)
}

// nonEmpty returns end, or -1 if the value from start to end is empty.
func nonEmpty(start, end int) int {
	if end == start {
		return -1
	}
	return end
}
