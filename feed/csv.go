package feed

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// CSVColumns are the columns of the CSV export, in order: the envelope,
// a column for each field of each validated type (in the order of the
// registry, schemas: score's, then tick's), data, which holds the rest of
// an event's data as a JSON object: all of it for other types, the fields
// without a column (or with a value of another kind) for validated types,
// empty when nothing is left, and operator: who published the event from
// the console (empty for publish tokens, and for readers who may not see
// it).
var CSVColumns = func() []string {
	cols := []string{"id", "time", "topic", "type"}
	for _, s := range schemas {
		cols = append(cols, s.columns()...)
	}
	return append(cols, "data", "operator")
}()

// envelopeColumns are the columns before the field columns.
const envelopeColumns = 4

// fieldCount is the number of field columns, at most maxFields (the size
// of an encoder's array of cells, which keeps a record off the heap).
var fieldCount = len(CSVColumns) - envelopeColumns - 2

const maxFields = 16

func init() {
	if fieldCount > maxFields {
		panic("feed: more schema fields than CSV columns for them: raise maxFields")
	}
}

// cellKind is a kind of JSON value a field column takes.
type cellKind uint8

const (
	textCell   cellKind = 1 << iota // a JSON string, written as text
	numberCell                      // a JSON number, written as it is
)

// fieldColumns maps a validated type's field, as its quoted JSON name, to
// its column and the kinds of value the column takes.
var fieldColumns = func() map[string]map[string]fieldColumn {
	m := make(map[string]map[string]fieldColumn, len(schemas))
	col := 0 // a field column's position among the field columns
	for _, s := range schemas {
		columns := make(map[string]fieldColumn, len(s.fields))
		for _, fd := range s.fields {
			if fd.InData {
				continue
			}
			var kinds cellKind
			if fd.Kind.TakesText() {
				kinds |= textCell
			}
			if fd.Kind.TakesNumber() {
				kinds |= numberCell // Period takes both: 4 or "OT"
			}
			columns[`"`+fd.Name+`"`] = fieldColumn{col, kinds}
			col++
		}
		m[s.name] = columns
	}
	return m
}()

type fieldColumn struct {
	col   int // among the field columns
	kinds cellKind
}

// AppendCSVHeader appends the header record of the CSV export to b.
func AppendCSVHeader(b []byte) []byte {
	for i, c := range CSVColumns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c...)
	}
	return append(b, '\r', '\n')
}

// AppendCSV appends e as one record of the CSV export to b (RFC 4180:
// comma-separated, CRLF-terminated, a field quoted when it holds a comma, a
// quote or a line break). Numbers are written as numbers. A text field that
// a spreadsheet would run as a formula is neutralised (see appendText), so
// every record is safe to open in a spreadsheet whatever the event holds.
func AppendCSV(b []byte, e Event) []byte {
	var enc CSVEncoder
	return enc.Append(b, e)
}

// CSVEncoder writes records like AppendCSV. It remembers the last second
// it formatted: event times never decrease with the ID, so in an export
// most records share their second with the one before.
type CSVEncoder struct {
	second int64  // Unix seconds of stamp
	stamp  []byte // "2006-01-02T15:04:05." of that second
	text   []byte // scratch for the data column (see appendUnescaped)
}

// Append appends the record of e to b.
func (c *CSVEncoder) Append(b []byte, e Event) []byte {
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, ',')
	b = c.appendTime(b, e.Time.UnixMilli())
	b = append(b, ',')
	b = appendText(b, e.Topic)
	b = append(b, ',')
	b = appendText(b, e.Type)

	var cells [maxFields][]byte // the raw JSON value of each field column
	var rest []byte             // fields left for the data column, as a JSON object
	if columns, ok := fieldColumns[e.Type]; ok {
		ok := eachMember(e.Data, func(key, value []byte) {
			if fc, ok := columns[string(key)]; ok && cells[fc.col] == nil && fits(value, fc.kinds) {
				cells[fc.col] = value
				return
			}
			if rest == nil {
				rest = append(make([]byte, 0, 64), '{')
			} else {
				rest = append(rest, ',')
			}
			rest = append(append(append(rest, key...), ':'), value...)
		})
		if !ok { // not a JSON object: the data column holds it as it is
			cells, rest = [maxFields][]byte{}, e.Data
		} else if rest != nil {
			rest = append(rest, '}')
		}
	} else {
		rest = e.Data
	}
	for _, v := range cells[:fieldCount] {
		b = append(b, ',')
		if v != nil {
			b = appendValue(b, v)
		}
	}
	b = append(b, ',')
	if bytes.Contains(rest, []byte(`\u`)) {
		c.text = appendUnescaped(c.text[:0], rest)
		rest = c.text
	}
	b = appendText(b, rest)
	b = append(b, ',')
	b = appendText(b, []byte(e.Operator))
	return append(b, '\r', '\n')
}

// appendUnescaped appends the JSON text j to b with each \uXXXX escape of
// a visible non-ASCII character (a surrogate pair for one beyond the
// BMP) written as the character in UTF-8, so that a spreadsheet shows
// "Zürich", not "Z\u00fcrich". Escapes of ASCII and of invisible
// characters (controls, bidi and zero-width formatting) stay escapes: the
// column must not hide what it holds. The JSON means the same.
func appendUnescaped(b, j []byte) []byte {
	for i := 0; i < len(j); i++ {
		if j[i] != '\\' || i+1 == len(j) {
			b = append(b, j[i])
			continue
		}
		if j[i+1] != 'u' {
			b = append(b, j[i], j[i+1]) // another escape, \\ included: never the start of one
			i++
			continue
		}
		r, n := unicodeEscape(j[i:])
		if n == 0 || r < 0x80 || !unicode.IsGraphic(r) {
			b = append(b, j[i], j[i+1])
			i++
			continue
		}
		b = utf8.AppendRune(b, r)
		i += n - 1
	}
	return b
}

// unicodeEscape reads the \uXXXX escape at the start of j, or a pair of
// them that is a surrogate pair, and returns the rune and the bytes read
// (0 if j starts with no such escape, or with a lone surrogate).
func unicodeEscape(j []byte) (rune, int) {
	hex4 := func(j []byte) (rune, bool) {
		if len(j) < 6 || j[0] != '\\' || j[1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(j[2:6]), 16, 32)
		return rune(v), err == nil
	}
	r, ok := hex4(j)
	switch {
	case !ok:
		return 0, 0
	case utf16.IsSurrogate(r):
		low, ok := hex4(j[6:])
		if !ok {
			return 0, 0
		}
		if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
			return pair, 12
		}
		return 0, 0
	}
	return r, 6
}

// appendTime appends the time ms (Unix milliseconds) in TimeLayout.
func (c *CSVEncoder) appendTime(b []byte, ms int64) []byte {
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	if c.stamp == nil || sec != c.second {
		c.second = sec
		c.stamp = time.Unix(sec, 0).UTC().AppendFormat(c.stamp[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, c.stamp...)
	return append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), 'Z')
}

// fits reports whether a raw JSON value goes in a column taking kinds of
// value, such that the column reads back as exactly that value: a string
// or a number of the right kind, but not an empty string (an empty cell
// means "absent"), nor in a column taking both kinds a string that reads as
// a number (period "4" would come back as 4). Anything else stays in the
// data column.
func fits(v []byte, kinds cellKind) bool {
	switch {
	case len(v) > 2 && v[0] == '"':
		return kinds&textCell != 0 && (kinds&numberCell == 0 || !isJSONNumber(v[1:len(v)-1]))
	case isJSONNumber(v):
		return kinds&numberCell != 0
	}
	return false
}

// appendValue appends a JSON string as text and a JSON number as it is:
// JSON's number syntax is one every spreadsheet reads as a number, negative
// numbers included, so it needs neither quoting nor neutralising.
func appendValue(b, v []byte) []byte {
	if v[0] != '"' {
		return append(b, v...)
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return appendText(b, v[1:len(v)-1])
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return appendText(b, v) // not a JSON string after all: keep it as text
	}
	return appendText(b, s)
}

// appendText appends s as a CSV text field.
//
// Spreadsheets run a cell that starts with =, +, - or @ as a formula, and
// some also after a leading tab or carriage return (CWE-1236, "CSV
// injection"). Such a field gets a leading apostrophe, which spreadsheets
// take as "this cell is text" and do not show. A field that already starts
// with an apostrophe gets one too, so that a reader can always undo the
// neutralising by removing one leading apostrophe from a text field.
func appendText[T string | []byte](b []byte, s T) []byte {
	neutralise := len(s) > 0 && isFormulaStart(s)
	quote := false
	for i := 0; i < len(s) && !quote; i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			quote = true
		}
	}
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ') {
		quote = true // some readers trim unquoted spaces
	}
	if !quote {
		if neutralise {
			b = append(b, '\'')
		}
		return append(b, s...)
	}
	b = append(b, '"')
	if neutralise {
		b = append(b, '\'')
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// isFormulaStart reports whether a spreadsheet could take text starting
// like s for a formula: its first character other than spaces is one of
// = + - @, a tab or a carriage return, or it starts with an apostrophe (see
// appendText).
func isFormulaStart[T string | []byte](s T) bool {
	if s[0] == '\'' {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			continue
		case '=', '+', '-', '@', '\t', '\r', '\n':
			return true
		}
		return false
	}
	return false
}

// isJSONNumber reports whether v is exactly one number in JSON's syntax
// (RFC 8259, section 6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(v []byte) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(v) && '0' <= v[i] && v[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(v)
}
