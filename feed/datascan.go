package feed

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds how deeply event data nests objects and arrays, the data
// object itself being the first level. Consumers that parse recursively
// (Python's json module, many hand-written readers) fail on deep data long
// after the server accepted it; real feed data nests a few levels at most.
const MaxDepth = 32

// scanData checks event data, a JSON object with no surrounding whitespace,
// in a single pass and appends it in compact form (no whitespace between
// tokens, so an event is one line on the wire) to dst, returning dst grown
// and the data's place in it (a nil dst gets a buffer of the data's size).
// With check set it also hands check the object's members, for the checks
// of the built-in types: they are the scanner's, valid until check
// returns, so that checking a tick allocates nothing.
//
// Beyond JSON's grammar (RFC 8259) the data must be I-JSON (RFC 7493): no
// object with the same name twice at any depth (§2.3: parsers disagree on
// which value wins), no number beyond the range of an IEEE 754 double
// (§2.2: 1e999 reads as infinity or fails), strings of Unicode characters
// only, so no invalid UTF-8 and no lone surrogate such as \ud800 (§2.1:
// readers replace them or fail). Errors name the value as a path
// (data.a.b[2]). On an error dst is returned as it was given.
func scanData(dst, data []byte, check func(fields) error) (grown, compact []byte, err error) {
	s := scanners.Get().(*scanner)
	defer s.release()
	if dst == nil {
		dst = make([]byte, 0, len(data))
	}
	s.in, s.out, s.wantTop = data, dst, check != nil
	if err := s.value(); err != nil {
		return dst, nil, err
	}
	if s.i != len(s.in) {
		return dst, nil, s.syntax("there is more after the object")
	}
	out := append(s.out, s.in[s.mark:]...)
	if check != nil {
		for i := range s.top {
			m := &s.top[i]
			m.value = out[m.start:m.end]
		}
		if err := check(s.top); err != nil {
			return dst, nil, err
		}
	}
	return out, out[len(dst):len(out):len(out)], nil
}

// scanners keeps scanners for reuse: their key lists and paths then cost
// no allocation on the publish path.
var scanners = sync.Pool{New: func() any { return new(scanner) }}

// release empties s, keeping its lists' memory unless an unusual object
// made them large, and returns it to the pool.
func (s *scanner) release() {
	keys, top := s.keys, s.top
	if cap(keys) > 256 {
		keys = nil
	}
	if cap(top) > 256 {
		top = nil
	}
	clear(keys)
	clear(top)
	*s = scanner{keys: keys[:0], top: top[:0]}
	scanners.Put(s)
}

// scanner is the state of one scanData call.
type scanner struct {
	in   []byte
	i    int    // the next byte of in to read
	out  []byte // the compact form of in[:mark]
	mark int    // in[mark:i] is compact output not yet copied to out

	depth int                       // objects and arrays open
	path  [MaxDepth]step            // path[d]: which member or element of the container at depth d is being read
	keys  []objectKey               // the keys read so far of every open object, innermost last
	sets  [MaxDepth]map[string]bool // the keys of a large open object, by depth

	wantTop bool
	top     fields
}

// step is one step of a path: a member's key, or an array index.
type step struct {
	key   int // 1 + the key's index in scanner.keys; 0 for an array element; -1 before the first
	index int
}

// objectKey is a member name as sent, and its text if it has escapes.
type objectKey struct {
	raw     []byte // between the quotes
	escaped bool
	text    string // the decoded name, when escaped
}

// is reports whether k and o are the same name ("a" and "\u0061" are).
func (k *objectKey) is(o *objectKey) bool {
	switch {
	case !k.escaped && !o.escaped:
		return bytes.Equal(k.raw, o.raw)
	case k.escaped && o.escaped:
		return k.text == o.text
	case k.escaped:
		return k.text == string(o.raw)
	}
	return string(k.raw) == o.text
}

// equals reports whether k is the name n.
func (k *objectKey) equals(n string) bool {
	if k.escaped {
		return k.text == n
	}
	return string(k.raw) == n
}

func (k *objectKey) String() string {
	if k.escaped {
		return k.text
	}
	return string(k.raw)
}

// linearKeys is how many keys of one object are compared one by one for
// duplicates; a larger object gets a set.
const linearKeys = 16

func (s *scanner) value() error {
	if s.i >= len(s.in) {
		return s.syntax("the data ends too early")
	}
	switch c := s.in[s.i]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.string(false)
		return err
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.syntax("expected a value, found %s", quoteByte(c))
	}
}

func (s *scanner) object() error {
	if err := s.open(); err != nil {
		return err
	}
	first := len(s.keys)
	s.i++ // {
	s.space()
	if s.at('}') {
		s.i++
		s.depth--
		return nil
	}
	for {
		if !s.at('"') {
			return s.syntax("expected a member name in double quotes")
		}
		start := s.i
		escaped, err := s.string(true)
		if err != nil {
			return err
		}
		k := objectKey{raw: s.in[start+1 : s.i-1], escaped: escaped}
		if escaped {
			k.text = unquote(s.in[start:s.i])
		}
		if s.duplicate(first, &k) {
			return s.fail(s.depth-1, "has the key %s twice: names must be unique (I-JSON, RFC 7493 §2.3), as parsers disagree on which value wins", quoteText(k.String()))
		}
		s.keys = append(s.keys, k)
		s.space()
		if !s.at(':') {
			return s.syntax("expected ':' after the member name")
		}
		s.i++
		s.space()
		s.path[s.depth-1] = step{key: len(s.keys)}
		valueStart := s.outPos()
		if err := s.value(); err != nil {
			return err
		}
		if s.depth == 1 && s.wantTop {
			s.top = append(s.top, field{key: k, start: valueStart, end: s.outPos()})
		}
		s.space()
		if s.at(',') {
			s.i++
			s.space()
			continue
		}
		if !s.at('}') {
			return s.syntax("expected ',' or '}' after a member")
		}
		s.i++
		break
	}
	s.keys = s.keys[:first]
	s.sets[s.depth-1] = nil
	s.depth--
	return nil
}

// duplicate reports whether k is a key the object at the current depth
// already has, whose keys start at s.keys[first].
func (s *scanner) duplicate(first int, k *objectKey) bool {
	set := s.sets[s.depth-1]
	if set == nil {
		for i := first; i < len(s.keys); i++ {
			if s.keys[i].is(k) {
				return true
			}
		}
		if len(s.keys)-first < linearKeys {
			return false
		}
		// A large object: checking each key against all before it
		// would cost quadratic time, 64 KiB of keys a second.
		set = make(map[string]bool, 2*linearKeys)
		for i := first; i < len(s.keys); i++ {
			set[s.keys[i].String()] = true
		}
		s.sets[s.depth-1] = set
	}
	name := k.String()
	if set[name] {
		return true
	}
	set[name] = true
	return false
}

func (s *scanner) array() error {
	if err := s.open(); err != nil {
		return err
	}
	s.i++ // [
	s.space()
	if s.at(']') {
		s.i++
		s.depth--
		return nil
	}
	for n := 0; ; n++ {
		s.path[s.depth-1] = step{index: n}
		if err := s.value(); err != nil {
			return err
		}
		s.space()
		if s.at(',') {
			s.i++
			s.space()
			continue
		}
		if !s.at(']') {
			return s.syntax("expected ',' or ']' after an array element")
		}
		s.i++
		break
	}
	s.depth--
	return nil
}

// open enters an object or array, refusing one nested too deeply.
func (s *scanner) open() error {
	if s.depth == MaxDepth {
		return s.fail(s.depth, "is nested too deeply: at most %d levels of objects and arrays are allowed", MaxDepth)
	}
	s.depth++
	s.path[s.depth-1] = step{key: -1} // no member or element read yet
	return nil
}

// stringSafe marks the bytes a JSON string holds as they are: printable
// ASCII other than the quote and the backslash.
var stringSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string reads the string literal at s.i and reports whether it has
// escapes. key says whether it is a member name, for the error messages.
func (s *scanner) string(key bool) (escaped bool, err error) {
	in := s.in
	i := s.i + 1
	for {
		for i < len(in) && stringSafe[in[i]] {
			i++
		}
		if i >= len(in) {
			s.i = i
			return false, s.syntax("a string is not closed")
		}
		switch c := in[i]; {
		case c == '"':
			s.i = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(in) {
				s.i = i
				return false, s.syntax("a string is not closed")
			}
			if in[i+1] != 'u' {
				if strings.IndexByte(`"\/bfnrt`, in[i+1]) < 0 {
					s.i = i
					return false, s.syntax("\\%c is not a JSON escape", in[i+1])
				}
				i += 2
				continue
			}
			r, ok := hex4(in, i+2)
			if !ok {
				s.i = i
				return false, s.syntax("\\u must be followed by four hexadecimal digits")
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by a low one is a
				// character (a pair encodes one beyond U+FFFF).
				low, ok := hex4(in, i+8)
				if r >= 0xdc00 || i+7 >= len(in) || in[i+6] != '\\' || in[i+7] != 'u' || !ok || low < 0xdc00 || low > 0xdfff {
					s.i = i
					return false, s.badString(key, "holds a lone surrogate (%s): only Unicode characters are allowed (I-JSON, RFC 7493 §2.1)", in[i:i+6])
				}
				i += 6
			}
			i += 6
		case c < 0x20:
			s.i = i
			return false, s.syntax("a control character (U+%04X) in a string must be escaped", c)
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				s.i = i
				return false, s.badString(key, "is not valid UTF-8 (byte 0x%02x)", c)
			}
			i += size
		}
	}
}

// badString reports what is wrong with a string: at the path of its value
// or, for a member name, of its object.
func (s *scanner) badString(key bool, format string, args ...any) error {
	if key {
		return s.fail(s.depth-1, "has a member name that "+format, args...)
	}
	return s.fail(s.depth, format, args...)
}

// hex4 reads the four hexadecimal digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// maxPlainDigits is the most digits of a number without a fraction or an
// exponent that is certainly finite as a double (below 10^308 <
// 1.7976931348623157e308, the largest double).
const maxPlainDigits = 308

// number reads the number at s.i: JSON's grammar, and within the range of
// an IEEE 754 double.
func (s *scanner) number() error {
	in, start := s.in, s.i
	i := start
	if in[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(in) && '0' <= in[i] && in[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case digits() == 0:
		s.i = i
		return s.syntax("a number must start with a digit")
	}
	plain := i-start <= maxPlainDigits
	if i < len(in) && in[i] == '.' {
		i++
		if digits() == 0 {
			s.i = i
			return s.syntax("a number's fraction needs a digit after '.'")
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		plain = false
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.i = i
			return s.syntax("a number's exponent needs a digit")
		}
	}
	s.i = i
	if !plain {
		// The grammar is right, so ParseFloat fails only on overflow;
		// a number too small for a double reads as 0, as everywhere.
		if _, err := strconv.ParseFloat(string(in[start:i]), 64); err != nil {
			text := string(in[start:i])
			if len(text) > 24 {
				text = text[:24] + "…"
			}
			return s.fail(s.depth, "is %s, beyond the range of an IEEE 754 double (I-JSON, RFC 7493 §2.2): readers would take it for infinity or fail", text)
		}
	}
	return nil
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.in[s.i:], []byte(word)) {
		return s.syntax("expected a value")
	}
	s.i += len(word)
	return nil
}

func (s *scanner) at(c byte) bool { return s.i < len(s.in) && s.in[s.i] == c }

// space skips whitespace, leaving it out of the compact form.
func (s *scanner) space() {
	j := s.i
	for j < len(s.in) && (s.in[j] == ' ' || s.in[j] == '\n' || s.in[j] == '\r' || s.in[j] == '\t') {
		j++
	}
	if j > s.i {
		s.out = append(s.out, s.in[s.mark:s.i]...)
		s.i, s.mark = j, j
	}
}

// outPos is the position in the compact form that s.i corresponds to.
func (s *scanner) outPos() int { return len(s.out) + s.i - s.mark }

// fail reports a problem with the value at the path of the first n steps.
func (s *scanner) fail(n int, format string, args ...any) error {
	return invalidf("%s %s", s.pathString(n), fmt.Sprintf(format, args...))
}

// syntax reports data that is not JSON, with where it stops being JSON.
func (s *scanner) syntax(format string, args ...any) error {
	where := ""
	if s.depth > 0 {
		where = " (in " + s.pathString(s.depth) + ")"
	}
	return invalidf("data is not valid JSON at byte %d%s: %s", s.i, where, fmt.Sprintf(format, args...))
}

// maxPathLen bounds a path in an error message; longer ones are cut in
// the middle.
const maxPathLen = 160

// pathString writes the first n steps of the path as data.a.b[2], or
// data["a b"] for a name that is not an identifier.
func (s *scanner) pathString(n int) string {
	b := []byte("data")
	for _, st := range s.path[:n] {
		if st.key < 0 {
			break
		}
		if st.key == 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(st.index), 10)
			b = append(b, ']')
			continue
		}
		name := s.keys[st.key-1].String()
		if isIdentifier(name) {
			b = append(append(b, '.'), name...)
		} else {
			b = append(append(append(b, '['), quoteText(name)...), ']')
		}
	}
	if len(b) > maxPathLen {
		head, tail := string(b[:maxPathLen/2]), string(b[len(b)-maxPathLen/2:])
		return strings.ToValidUTF8(head, "") + "…" + strings.ToValidUTF8(tail, "")
	}
	return string(b)
}

// isIdentifier reports whether a member name can be written after a dot.
func isIdentifier(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return name != ""
}

// quoteText quotes a name for an error message, at most 40 bytes of it,
// with anything invisible or misleading escaped.
func quoteText(s string) string {
	if len(s) > 40 {
		s = strings.ToValidUTF8(s[:40], "") + "…"
	}
	return strconv.Quote(s)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}
