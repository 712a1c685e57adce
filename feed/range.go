package feed

import "time"

// MaxPage bounds the events of one page of a Range, however many a reader
// asks for (GET /api/history's limit).
const MaxPage = 1000

// Range selects stored events for browsing and export: those matching
// Filter that Access allows, with After < ID < Before and From <= time <
// To. A zero bound is open, the zero Filter selects every topic and the
// zero Access allows every topic.
type Range struct {
	Filter Filter
	Access Access    // what the reader may see of the private topics
	After  int64     // exclusive; 0 starts at the oldest retained event
	Before int64     // exclusive; 0 for no bound
	From   time.Time // inclusive; zero for no bound
	To     time.Time // exclusive; zero for no bound
	// Audit is set for a reader who may see who published each event
	// (Event.Operator): an operator, or anyone where the server exposes
	// it. Without it an export's operator column stays empty.
	Audit bool
}

// Selected returns the range's filter, the zero Filter meaning every
// topic.
func (r Range) Selected() Filter {
	if !r.Filter.All && len(r.Filter.Topics) == 0 && len(r.Filter.Prefixes) == 0 {
		return Filter{All: true}
	}
	return r.Filter
}

// Visible returns the topics the range selects: Selected, narrowed by
// Access.
func (r Range) Visible() Visible { return r.Access.Narrow(r.Selected()) }
