package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what a publisher may submit. They bound the memory one event
// costs in the window of recent events and in every subscriber's socket.
const (
	MaxTopicLen  = 128      // bytes, from the product contract
	MaxTypeLen   = 32       // bytes, from the product contract
	MaxDataBytes = 64 << 10 // bytes of JSON per event, unless Options.MaxDataBytes says otherwise
	MaxBatch     = 1000     // events per Append
	maxSafeInt   = 1<<53 - 1
)

// reservedTypes collide with the names EventSource gives its own events
// ("open", "error", "message") or with the server's control events
// ("reset", "expired", "unauthorized", EventStale, EventFresh); a
// publisher using them would confuse every client's listeners.
var reservedTypes = map[string]bool{"reset": true, "open": true, "error": true, "message": true, "expired": true, "unauthorized": true, EventStale: true, EventFresh: true}

// The events of the server's that say a watched topic (feed.stale in the
// configuration) has heard neither an event nor a heartbeat for its
// interval (EventStale), and that it hears again (EventFresh). They take
// no ID: a client's position stays where it was. Their data is
// {"topic": T, "since": <time last heard>, "after": "10s"} and
// {"topic": T, "at": <time heard again>}.
const (
	EventStale = "stale"
	EventFresh = "fresh"
)

// EventPosition is the event of the server's that ends a snapshot: from
// there on the stream is live. It sets the client's last event ID to the
// newest event there was when it subscribed, so that a client sent a
// snapshot resumes from that moment, not from the oldest snapshot event
// nor, after an empty snapshot, from nowhere (as a new subscriber, which
// gets only the latest event of each topic). Its data is {"last_id": N}.
//
// It carries data because clients drop a frame without: a browser's
// EventSource keeps the id of such a frame (WHATWG HTML §9.2.6), but npm's
// eventsource ignores the whole frame. Its name is no type a publisher can
// use, reserved or not: it has a dot, which ValidateType refuses. An
// EventSource hands a named event only to the listeners of that name,
// never to onmessage, so clients that do not listen for it see nothing.
const EventPosition = "livefeed.position"

// ValidateTopic reports whether topic is '/'-separated non-empty segments of
// [A-Za-z0-9._-], 1 to 128 bytes long. The segments "." and ".." are
// refused: a topic that reads as a relative path would mean something else
// to every proxy, log and URL that treats it as one (CWE-22).
func ValidateTopic(topic string) error {
	if topic == "" {
		return invalidf("topic is empty")
	}
	if len(topic) > MaxTopicLen {
		return invalidf("topic is %d bytes long; the limit is %d", len(topic), MaxTopicLen)
	}
	segStart := 0
	for i := 0; i <= len(topic); i++ {
		if i == len(topic) || topic[i] == '/' {
			switch seg := topic[segStart:i]; seg {
			case "":
				return invalidf("topic %q has an empty segment", topic)
			case ".", "..":
				return invalidf("topic %q has the segment %q, which reads as a relative path", topic, seg)
			}
			segStart = i + 1
			continue
		}
		if !topicChar(topic[i]) {
			// Show the character, not the first byte of its UTF-8
			// encoding taken for a character of its own.
			r, size := utf8.DecodeRuneInString(topic[i:])
			what := fmt.Sprintf("character %q", r)
			if r == utf8.RuneError && size == 1 {
				what = fmt.Sprintf("byte 0x%02x (not UTF-8)", topic[i])
			}
			return invalidf("topic %q: %s is not allowed (use A-Z a-z 0-9 . _ - and /)", topic, what)
		}
	}
	return nil
}

func topicChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// ValidateType reports whether typ matches [a-z][a-z0-9_-]{0,31} and is not
// reserved.
func ValidateType(typ string) error {
	if !isToken(typ) {
		return invalidf("type %q must match [a-z][a-z0-9_-]{0,31}", typ)
	}
	if reservedTypes[typ] {
		return invalidf("type %q is reserved", typ)
	}
	return nil
}

// isToken reports whether s matches [a-z][a-z0-9_-]{0,31}.
func isToken(s string) bool {
	if len(s) == 0 || len(s) > MaxTypeLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MaxDataBytesLimit is the most Options.MaxDataBytes may be: an event's
// frame is one line, and clients bound the lines they read (16 MiB in
// feed/client).
const MaxDataBytesLimit = 8 << 20

// Validate checks one update and returns it with its data in compact form
// (no whitespace, so the SSE envelope is one line).
func (u Update) Validate() (Update, error) { return u.validate(MaxDataBytes) }

// ValidateUpTo is Validate with up to maxData bytes of data (a server's
// feed.max_event_bytes).
func (u Update) ValidateUpTo(maxData int) (Update, error) { return u.validate(maxData) }

// Checked is an update Check accepted, as validation left it: what a
// log's AppendEach takes, so that each line of a streaming publish is
// validated once, on the goroutine that reads it, and the log does not
// read its data again. Only Check makes one.
type Checked struct{ u Update }

// Check validates u as ValidateUpTo does.
func (u Update) Check(maxData int) (Checked, error) {
	c, _, err := u.CheckAppend(nil, maxData)
	return c, err
}

// CheckAppend is Check writing the checked data at the end of buf instead
// of a buffer of its own, and returning buf grown (as it was on an error):
// a reader of many events keeps their data in a few large buffers. Data
// already in buf is never moved: a buffer too small is replaced, and the
// events checked into it before keep the old one.
func (u Update) CheckAppend(buf []byte, maxData int) (Checked, []byte, error) {
	v, buf, err := u.validateInto(buf, maxData)
	if err != nil {
		return Checked{}, buf, err
	}
	return Checked{v}, buf, nil
}

// Within returns the update if its data is at most maxData bytes (a log's
// own limit, which may be lower than the one it was checked with). The
// zero Checked is refused.
func (c Checked) Within(maxData int) (Update, error) {
	switch {
	case c.u.Topic == "":
		return Update{}, invalidf("the update was not checked")
	case len(c.u.Data) > maxData:
		return Update{}, invalidf("data is %d bytes; the limit is %d", len(c.u.Data), maxData)
	}
	return c.u, nil
}

func (u Update) validate(maxData int) (Update, error) {
	v, _, err := u.validateInto(nil, maxData)
	return v, err
}

// validateInto validates u, its compact data appended to buf (see
// scanData); it returns buf grown, or as it was on an error.
func (u Update) validateInto(buf []byte, maxData int) (Update, []byte, error) {
	if err := ValidateTopic(u.Topic); err != nil {
		return Update{}, buf, err
	}
	if err := ValidateType(u.Type); err != nil {
		return Update{}, buf, err
	}
	buf, data, err := validateData(buf, u.Type, u.Data, maxData)
	if err != nil {
		return Update{}, buf, err
	}
	u.Data = data
	return u, buf, nil
}

// ValidateBatch validates every update of a batch; the first error names the
// position of the update that caused it.
func ValidateBatch(updates []Update) ([]Update, error) {
	return ValidateBatchUpTo(updates, MaxDataBytes)
}

// ValidateBatchUpTo is ValidateBatch with up to maxData bytes of data per
// event (a server's feed.max_event_bytes).
func ValidateBatchUpTo(updates []Update, maxData int) ([]Update, error) {
	if len(updates) == 0 {
		return nil, invalidf("no events to publish")
	}
	if len(updates) > MaxBatch {
		return nil, invalidf("%d events in one request; the limit is %d", len(updates), MaxBatch)
	}
	out := make([]Update, len(updates))
	for i, u := range updates {
		v, err := u.validate(maxData)
		if err != nil {
			if len(updates) > 1 {
				return nil, invalidf("event %d: %v", i, err)
			}
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// fields are the top-level members of an event's data.
type fields []field

// field is one top-level member of an event's data.
type field struct {
	key        objectKey
	start, end int    // the value's place in the compact data
	value      []byte // the value as raw JSON
}

func validateData(buf []byte, typ string, data json.RawMessage, maxData int) ([]byte, json.RawMessage, error) {
	data = TrimJSONSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return buf, nil, invalidf("data is required (a JSON object)")
	}
	if len(data) > maxData {
		return buf, nil, invalidf("data is %d bytes; the limit is %d", len(data), maxData)
	}
	if data[0] != '{' {
		return buf, nil, invalidf("data must be a JSON object")
	}
	if typ == TypeArchive {
		if !isEmptyObject(data) {
			return buf, nil, invalidf("an archive event takes no data: send {}")
		}
		return buf, json.RawMessage("{}"), nil
	}
	var check func(fields) error
	if schema := FieldsOf(typ); schema != nil {
		check = func(f fields) error { return checkSchema(schema, f) }
	}
	return scanData(buf, data, check)
}

// TrimJSONSpace removes JSON's whitespace (RFC 8259 §2) around b, and
// nothing else: bytes.TrimSpace would also take U+0085 and U+00A0, which
// JSON does not allow there.
func TrimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// lookup returns the raw value of key; present is false when the key is
// missing or null (an optional field may be sent as null).
func (f fields) lookup(key string, required bool) (raw json.RawMessage, present bool, err error) {
	ok := false
	for _, m := range f {
		if m.key.equals(key) {
			raw, ok = m.value, true
			break
		}
	}
	if !ok || string(raw) == "null" {
		if required {
			return nil, false, invalidf("data.%s is required", key)
		}
		return nil, false, nil
	}
	return raw, true, nil
}

// text checks a string of 1..max bytes that shows as what it says: no
// control characters (C0, DEL, C1), no bidirectional controls, which make
// text display in another order than it is stored ("Trojan Source",
// CVE-2021-42574; CWE-451), and no invisible characters that make two
// different names look the same (CWE-1007). These fields are shown to
// people: team names, symbols, clocks.
func (f fields) text(key string, required bool, max int) error {
	raw, ok, err := f.lookup(key, required)
	if !ok {
		return err
	}
	s, isString := stringValue(raw)
	if !isString {
		return invalidf("data.%s must be a string", key)
	}
	if s == "" || len(s) > max {
		return invalidf("data.%s must be 1 to %d bytes long", key, max)
	}
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			continue
		}
		if what := misleading(r); what != "" {
			return invalidf("data.%s contains %s (U+%04X)", key, what, r)
		}
	}
	return nil
}

// misleading says what r is if it has no place in text shown to people.
func misleading(r rune) string {
	switch {
	case r < 0x20 || 0x7f <= r && r <= 0x9f:
		return "a control character"
	case 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return "a bidirectional control character, which can make text display in another order"
	case 0x200b <= r && r <= 0x200d, r == 0x2060, r == 0xfeff:
		return "an invisible zero-width character"
	}
	return ""
}

// count checks a non-negative integer no larger than 2^53-1, so every
// JavaScript client reads it exactly.
func (f fields) count(key string, required bool) error {
	raw, ok, err := f.lookup(key, required)
	if !ok {
		return err
	}
	if !isCount(raw) {
		return invalidf("data.%s must be a non-negative integer", key)
	}
	return nil
}

func isCount(raw json.RawMessage) bool {
	if len(raw) == 0 || len(raw) > 16 {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return err == nil && n <= maxSafeInt
}

// number checks a finite JSON number.
func (f fields) number(key string, required bool) error {
	raw, ok, err := f.lookup(key, required)
	if !ok {
		return err
	}
	if len(raw) == 0 || !(raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9') {
		return invalidf("data.%s must be a number", key)
	}
	v, perr := strconv.ParseFloat(string(raw), 64)
	if perr != nil || math.IsInf(v, 0) {
		return invalidf("data.%s must be a finite number", key)
	}
	return nil
}

// positive checks a finite JSON number greater than 0: a price. (Some
// futures have traded below zero for a day; livefeed's ticks are share
// prices, and a price of 0 or less is a typing error.)
func (f fields) positive(key string, required bool) error {
	if err := f.number(key, required); err != nil {
		return err
	}
	raw, ok, _ := f.lookup(key, required)
	if !ok {
		return nil
	}
	if v, _ := strconv.ParseFloat(string(raw), 64); !(v > 0) {
		return invalidf("data.%s must be greater than 0", key)
	}
	return nil
}

// isEmptyObject reports whether data is {} with nothing but JSON's
// whitespace inside.
func isEmptyObject(data []byte) bool {
	return len(data) >= 2 && data[0] == '{' && data[len(data)-1] == '}' && len(TrimJSONSpace(data[1:len(data)-1])) == 0
}

// period accepts a non-negative integer (quarter 4) or a string of up to
// max bytes ("OT").
func (f fields) period(key string, max int) error {
	raw, ok, _ := f.lookup(key, false)
	if !ok || isCount(raw) {
		return nil
	}
	if _, isString := stringValue(raw); !isString {
		return invalidf("data.%s must be a non-negative integer or a string", key)
	}
	return f.text(key, false, max)
}

// token checks a lowercase word such as "scheduled", "live" or "final".
func (f fields) token(key string) error {
	raw, ok, _ := f.lookup(key, false)
	if !ok {
		return nil
	}
	if s, isString := stringValue(raw); !isString || !isToken(s) {
		return invalidf("data.%s must be a lowercase word matching [a-z][a-z0-9_-]{0,31}", key)
	}
	return nil
}

// currency checks an ISO 4217 code: three upper-case letters.
func (f fields) currency(key string) error {
	raw, ok, _ := f.lookup(key, false)
	if !ok {
		return nil
	}
	s, isString := stringValue(raw)
	valid := isString && len(s) == 3
	for i := 0; valid && i < 3; i++ {
		valid = 'A' <= s[i] && s[i] <= 'Z'
	}
	if !valid {
		return invalidf("data.%s must be a three-letter ISO 4217 code such as \"USD\"", key)
	}
	return nil
}

func stringValue(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	return unquote(raw), true
}

// abbr checks a team's abbreviation: 2 to 5 ASCII letters or digits
// ("LAL", "76ERS"), which widgets show where the name does not fit.
func (f fields) abbr(key string) error {
	raw, ok, _ := f.lookup(key, false)
	if !ok {
		return nil
	}
	s, isString := stringValue(raw)
	valid := isString && len(s) >= 2 && len(s) <= 5
	for i := 0; valid && i < len(s); i++ {
		c := s[i]
		valid = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
	}
	if !valid {
		return invalidf("data.%s must be 2 to 5 letters or digits, such as \"LAL\"", key)
	}
	return nil
}

// color checks a colour written #rrggbb: nothing else reaches a widget's
// style (no url(), no ";" that would end the declaration).
func (f fields) color(key string) error {
	raw, ok, _ := f.lookup(key, false)
	if !ok {
		return nil
	}
	s, isString := stringValue(raw)
	valid := isString && len(s) == 7 && s[0] == '#'
	for i := 1; valid && i < len(s); i++ {
		c := s[i]
		valid = '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
	}
	if !valid {
		return invalidf("data.%s must be a colour written #rrggbb, such as \"#552583\"", key)
	}
	return nil
}

// maxImageURL is the most bytes of a logo's URL: enough for a CDN's
// path, and a bound on what every event of a game repeats.
const maxImageURL = 512

// imageURL checks the URL of an image a widget shows (a team's logo):
// https only, so that a page served over https loads it without a mixed
// content warning and no javascript: or data: URL gets in; printable
// ASCII without spaces, quotes, angle brackets or backslashes (a browser
// reads "\" as "/", a parser that does not could see another host); and
// no credentials, which every viewer's browser would send and show.
func (f fields) imageURL(key string) error {
	raw, ok, _ := f.lookup(key, false)
	if !ok {
		return nil
	}
	s, isString := stringValue(raw)
	if !isString || !strings.HasPrefix(s, "https://") {
		return invalidf("data.%s must be an https:// URL", key)
	}
	if len(s) > maxImageURL {
		return invalidf("data.%s is %d bytes long; the limit is %d", key, len(s), maxImageURL)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"'<>\`+"`", c) >= 0 {
			return invalidf("data.%s holds %q: an image URL is printable ASCII without spaces, quotes, <, > or \\ (percent-encode the rest)", key, rune(c))
		}
	}
	u, err := url.Parse(s)
	authority, _, _ := strings.Cut(s[len("https://"):], "/")
	authority, _, _ = strings.Cut(authority, "?")
	authority, _, _ = strings.Cut(authority, "#")
	switch {
	case strings.Contains(authority, "@") || err == nil && u.User != nil:
		return invalidf("data.%s must not hold credentials (user:password@): every viewer would send them", key)
	case err != nil || u.Hostname() == "":
		return invalidf("data.%s is not a URL with a host, such as \"https://example.com/logo.png\"", key)
	}
	return nil
}
