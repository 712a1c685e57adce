package feed

// TypeTick is a validated type (see schemas): a symbol's price.
const TypeTick = "tick"

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
