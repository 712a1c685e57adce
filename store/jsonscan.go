package store

import (
	"bytes"
	"encoding/json"
)

// The functions here read JSON that json.Valid has already accepted, so
// they need no error handling. Decoding each publish with encoding/json's
// token API cost several times more than storing the event.

// field is one top-level member of a JSON object: its key and its value as
// compact raw JSON.
type field struct {
	key   string
	value []byte
}

// compact returns valid JSON without the whitespace between tokens.
func compact(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case ' ', '\t', '\r', '\n':
			i++
		case '"':
			end := stringEnd(data, i)
			out = append(out, data[i:end]...)
			i = end
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// members returns the top-level members of a compact JSON object.
func members(obj []byte) []field {
	var fs []field
	for i := 1; i < len(obj) && obj[i] != '}'; {
		keyEnd := stringEnd(obj, i)
		key := unquote(obj[i:keyEnd])
		start := keyEnd + 1 // past the ':'
		i = valueEnd(obj, start)
		fs = append(fs, field{key, obj[start:i]})
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return fs
}

// valueEnd returns the index just past the value that starts at obj[i].
func valueEnd(obj []byte, i int) int {
	depth := 0
	for ; i < len(obj); i++ {
		switch obj[i] {
		case '"':
			i = stringEnd(obj, i) - 1
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// stringEnd returns the index just past the closing quote of the string
// literal that starts at data[i].
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

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
