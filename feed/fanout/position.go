package fanout

import "strconv"

// Start says where a new subscriber's stream begins.
type Start struct {
	// Resume is set when the client sent a usable position: it has received
	// every matching event up to and including ID After.
	Resume bool
	After  int64
	// Invalid is the reset reason when the client sent a position that
	// cannot be used at all (ResetInvalid).
	Invalid string
}

// ParseLastEventID reads the position a reconnecting client sends, from the
// Last-Event-ID header or the lastEventId query parameter. An empty value is
// a fresh connect. Anything but a plain decimal int64 ("abc", "-5", "1e3",
// "+1", " 1", out of range) is invalid: the client gets a reset, never an
// error status, because an EventSource stops reconnecting for good on one.
func ParseLastEventID(v string) Start {
	if v == "" {
		return Start{}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return Start{Invalid: ResetInvalid}
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return Start{Invalid: ResetInvalid}
	}
	return Start{Resume: true, After: n}
}
