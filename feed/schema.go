package feed

// The validated types: the only ones whose data livefeed checks and
// exports in columns of their own. This file is their registry, which
// validation and the CSV export both iterate; each type's fields and Go
// type are in a file of its own (score.go, tick.go), so adding a validated
// type is such a file and its line in schemas. The console's forms
// (handlers) and the widgets (web/) show score and tick, and know them by
// name.

// typeSchema is a validated type: its name, and the fields of its data,
// each checked by validation and exported in a CSV column of its own
// (unless it is InData).
type typeSchema struct {
	name   string
	fields []Field
}

// schemas are the validated types, in the order of their columns in the
// CSV export (see CSVColumns). Spreadsheets find a column by its place and
// `livefeed import` recognises an export by its whole header: a new
// type's columns go after the others', and change that header.
var schemas = []typeSchema{
	{name: TypeScore, fields: ScoreFields},
	{name: TypeTick, fields: TickFields},
}

// columns are the CSV export's columns for the type's fields: their
// names.
func (s typeSchema) columns() []string {
	var cols []string
	for _, fd := range s.fields {
		if !fd.InData {
			cols = append(cols, fd.Name)
		}
	}
	return cols
}

// FieldsOf returns the fields of a validated type, nil for any other type.
func FieldsOf(typ string) []Field {
	for _, s := range schemas {
		if s.name == typ {
			return s.fields
		}
	}
	return nil
}

// TypeArchive is the event that takes its topic out of the live views:
// the snapshot new subscribers get, the topic list, the console and the
// widgets. Its data is the empty object. The topic's history and exports
// keep it, and a later event brings the topic back.
const TypeArchive = "archive"

// FieldKind is what a field of a validated type holds.
type FieldKind uint8

const (
	Text     FieldKind = iota + 1 // a string shown to people: no control, bidi or zero-width characters
	Count                         // a non-negative integer up to 2^53-1
	Number                        // a finite number
	Positive                      // a finite number greater than 0: a price
	Period                        // a Count (quarter 4) or a short Text ("OT")
	Word                          // a lowercase word matching [a-z][a-z0-9_-]{0,31}: a status
	Currency                      // an ISO 4217 code: three upper-case letters
	Abbr                          // 2 to 5 ASCII letters or digits: a team's abbreviation ("LAL")
	Color                         // a colour as #rrggbb: a team's colour
	ImageURL                      // an https:// URL of at most 512 bytes, without credentials: a logo
)

// TakesNumber reports whether a field of kind k may hold a JSON number.
func (k FieldKind) TakesNumber() bool {
	return k == Count || k == Number || k == Positive || k == Period
}

// TakesText reports whether a field of kind k may hold a JSON string.
func (k FieldKind) TakesText() bool { return !k.TakesNumber() || k == Period }

// Field is one field of a validated type's data.
type Field struct {
	Name     string
	Kind     FieldKind
	Required bool
	MaxLen   int // bytes, for Text and Period

	// InData fields are validated but have no CSV column: the export
	// writes them in its data column (which `livefeed import` reads back),
	// so that adding them kept the export's header, which spreadsheets
	// and import know a file by, and the place of every column.
	InData bool
}

// Limits of the text fields.
const (
	maxTextLen   = 100 // bytes of a team name
	maxShortText = 32  // bytes of a symbol, clock or period
)

// checkSchema checks the top-level fields f of a validated type's data
// against the type's fields. Fields the schema does not name may hold
// anything.
func checkSchema(schema []Field, f fields) error {
	for _, fd := range schema {
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
		case Abbr:
			err = f.abbr(fd.Name)
		case Color:
			err = f.color(fd.Name)
		case ImageURL:
			err = f.imageURL(fd.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
