package handlers

import (
	"net/http"
	"strings"

	"livefeed/feed"
)

// ParseIdempotencyKey reads the Idempotency-Key header of a publish (IETF
// draft "The Idempotency-Key HTTP Header Field"): a Structured Field
// string (RFC 8941 §3.3.3), such as "8e03978e-40d5-43e8-bc93-6894a57f9324"
// in double quotes, or the same characters without the quotes, as many
// clients send it. It returns "" when the header is absent, and an
// ErrInvalid error when it is there but unusable, so that a retry never
// silently goes without its key.
func ParseIdempotencyKey(h http.Header) (string, error) {
	values := h.Values("Idempotency-Key")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", queryError("the Idempotency-Key header is given %d times", len(values))
	}
	v := strings.Trim(values[0], " \t")
	var key string
	if strings.HasPrefix(v, `"`) {
		var ok bool
		if key, ok = unquoteSFString(v); !ok {
			return "", queryError("the Idempotency-Key header is not a valid quoted string: printable ASCII in double quotes, with \\\" and \\\\ as the only escapes")
		}
	} else {
		for i := 0; i < len(v); i++ {
			if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
				return "", queryError("the Idempotency-Key header holds character %q: send the key as a quoted string, or as printable ASCII without spaces, quotes or backslashes", rune(c))
			}
		}
		key = v
	}
	if key == "" {
		return "", queryError("the Idempotency-Key header is empty")
	}
	if len(key) > feed.MaxIdempotencyKey {
		return "", queryError("the Idempotency-Key is %d characters long; the limit is %d", len(key), feed.MaxIdempotencyKey)
	}
	return key, nil
}

// unquoteSFString reads an RFC 8941 sf-string: a double-quoted run of
// printable ASCII (0x20 to 0x7E) in which \" and \\ are the only escapes.
func unquoteSFString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i == len(v)-1 || (v[i] != '"' && v[i] != '\\') {
				return "", false
			}
			b.WriteByte(v[i])
		case c == '"' || c < 0x20 || c > 0x7e:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
