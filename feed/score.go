package feed

// TypeScore is a validated type (see schemas): a game's state after a
// change.
const TypeScore = "score"

// StatusFinal is the status of a game that is over: such a game leaves
// the live views by itself after a while (feed.final_linger).
const StatusFinal = "final"

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
	// How widgets show the teams: an abbreviation for narrow screens, a
	// colour and a logo. Presentation, not figures: in the CSV export's
	// data column.
	{Name: "home_abbr", Kind: Abbr, InData: true},
	{Name: "away_abbr", Kind: Abbr, InData: true},
	{Name: "home_color", Kind: Color, InData: true},
	{Name: "away_color", Kind: Color, InData: true},
	{Name: "home_logo", Kind: ImageURL, InData: true},
	{Name: "away_logo", Kind: ImageURL, InData: true},
}

// Score is the data of a score event, for Go programs that publish or read
// one. Period is a number (4) or a text ("OT"); nil leaves it out. The
// abbreviations, colours and logos are optional: "" leaves them out.
type Score struct {
	Home      string `json:"home"`
	Away      string `json:"away"`
	HomeScore int64  `json:"home_score"`
	AwayScore int64  `json:"away_score"`
	Period    any    `json:"period,omitempty"`
	Clock     string `json:"clock,omitempty"`
	Status    string `json:"status,omitempty"`
	HomeAbbr  string `json:"home_abbr,omitempty"`
	AwayAbbr  string `json:"away_abbr,omitempty"`
	HomeColor string `json:"home_color,omitempty"`
	AwayColor string `json:"away_color,omitempty"`
	HomeLogo  string `json:"home_logo,omitempty"`
	AwayLogo  string `json:"away_logo,omitempty"`
}

// Finished reports whether e says its topic has nothing more to come: an
// archive, or a score whose status is final. Such a topic is never stale
// (feed.stale): its publisher has no reason to keep it alive.
func Finished(e Event) bool {
	switch e.Type {
	case TypeArchive:
		return true
	case TypeScore:
		final := false
		eachMember(e.Data, func(key, value []byte) {
			if len(value) > 0 && value[0] == '"' && unquote(key) == "status" && unquote(value) == StatusFinal {
				final = true
			}
		})
		return final
	}
	return false
}
