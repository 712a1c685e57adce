package feed

// The two built-in event types, the only ones whose data livefeed checks,
// shows (the console, the widgets) and exports in columns of their own.
// This file is the whole of their schema: validation, the CSV export, the
// console's forms and the Go types below all follow it.
const (
	TypeScore = "score" // a game's state after a change
	TypeTick  = "tick"  // a symbol's price
)

// TypeArchive is the event that takes its topic out of the live views:
// the snapshot new subscribers get, the topic list, the console and the
// widgets. Its data is the empty object. The topic's history and exports
// keep it, and a later event brings the topic back.
const TypeArchive = "archive"

// StatusFinal is the status of a game that is over: such a game leaves
// the live views by itself after a while (feed.final_linger).
const StatusFinal = "final"

// FieldKind is what a field of a built-in type holds.
type FieldKind uint8

const (
	Text     FieldKind = iota + 1 // a string shown to people: no control, bidi or zero-width characters
	Count                         // a non-negative integer up to 2^53-1
	Number                        // a finite number
	Positive                      // a finite number greater than 0: a price
	Period                        // a Count (quarter 4) or a short Text ("OT")
	Word                          // a lowercase word matching [a-z][a-z0-9_-]{0,31}: a status
	Currency                      // an ISO 4217 code: three upper-case letters
)

// Field is one field of a built-in type's data.
type Field struct {
	Name     string
	Kind     FieldKind
	Required bool
	MaxLen   int // bytes, for Text and Period
}

// Limits of the text fields.
const (
	maxTextLen   = 100 // bytes of a team name
	maxShortText = 32  // bytes of a symbol, clock or period
)

// ScoreFields are the fields of a score event's data, in the order of the
// CSV export's columns.
var ScoreFields = []Field{
	{Name: "home", Kind: Text, Required: true, MaxLen: maxTextLen},
	{Name: "away", Kind: Text, Required: true, MaxLen: maxTextLen},
	{Name: "home_score", Kind: Count, Required: true},
	{Name: "away_score", Kind: Count, Required: true},
	{Name: "period", Kind: Period, MaxLen: maxShortText},
	{Name: "clock", Kind: Text, MaxLen: maxShortText},
	{Name: "status", Kind: Word},
}

// TickFields are the fields of a tick event's data, in the order of the CSV
// export's columns.
var TickFields = []Field{
	{Name: "symbol", Kind: Text, Required: true, MaxLen: maxShortText},
	{Name: "price", Kind: Positive, Required: true},
	{Name: "change", Kind: Number},
	{Name: "change_pct", Kind: Number},
	{Name: "volume", Kind: Count},
	{Name: "currency", Kind: Currency},
}

// FieldsOf returns the fields of a built-in type, nil for any other type.
func FieldsOf(typ string) []Field {
	switch typ {
	case TypeScore:
		return ScoreFields
	case TypeTick:
		return TickFields
	}
	return nil
}

// Score is the data of a score event, for Go programs that publish or read
// one. Period is a number (4) or a text ("OT"); nil leaves it out.
type Score struct {
	Home      string `json:"home"`
	Away      string `json:"away"`
	HomeScore int64  `json:"home_score"`
	AwayScore int64  `json:"away_score"`
	Period    any    `json:"period,omitempty"`
	Clock     string `json:"clock,omitempty"`
	Status    string `json:"status,omitempty"`
}

// Tick is the data of a tick event, for Go programs that publish or read
// one. Optional figures are pointers: nil leaves them out.
type Tick struct {
	Symbol    string   `json:"symbol"`
	Price     float64  `json:"price"`
	Change    *float64 `json:"change,omitempty"`
	ChangePct *float64 `json:"change_pct,omitempty"`
	Volume    *int64   `json:"volume,omitempty"`
	Currency  string   `json:"currency,omitempty"`
}

// checkSchema checks the top-level fields f of a built-in type's data
// against its schema. Fields the schema does not name may hold anything.
func checkSchema(typ string, f fields) error {
	for _, fd := range FieldsOf(typ) {
		var err error
		switch fd.Kind {
		case Text:
			err = f.text(fd.Name, fd.Required, fd.MaxLen)
		case Count:
			err = f.count(fd.Name, fd.Required)
		case Number:
			err = f.number(fd.Name, fd.Required)
		case Positive:
			err = f.positive(fd.Name, fd.Required)
		case Period:
			err = f.period(fd.Name, fd.MaxLen)
		case Word:
			err = f.token(fd.Name)
		case Currency:
			err = f.currency(fd.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
