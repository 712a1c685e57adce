package bench

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"
)

// The load tool publishes what a ticker gateway publishes: `tick` events,
// the product's validated type (feed.TickFields), such as
//
//	{"symbol":"S0123","price":117.25,"change":-7.75,"volume":42}
//
// Its subscribers must still tell, of every event they receive, whose it
// is and which, to count it once and in order and to see a gap; and when
// it was sent, for its latency. A tick has no field for either that the
// server would accept besides its own (unknown fields would be data no
// gateway sends), so:
//
//   - the symbol is the load tool's: "S" and its number, S0000, S0001, ...
//     Each symbol is published by one publisher only, in order, so that
//     its ticks are one sequence whatever a subscriber follows (one
//     symbol, or all of them). A workload with a publisher per topic
//     gives publisher i the symbol Si; W9 and W14 give each connection
//     symbols of its own.
//   - the volume is the symbol's sequence number, 1, 2, ...: a day's
//     cumulative volume, which grows with every tick of the symbol, as a
//     real one does (a tick is a trade of one lot).
//   - the price and the change are made up from the sequence number.
//   - when it was sent is not in the event: the publisher records it in a
//     SentLog, by symbol and sequence number, which the subscribers (in
//     the same process) read. Latency is from that clock reading, taken
//     just before the request is written, as the stamp in the data was.
//
// An event's data is sized to the workload's payload by the optional
// fields (change, change_pct, currency) and then by zeros at the end of
// the price's decimals ("117.250000", as a gateway sending fixed-point
// prices writes them).

// Payload is what a subscriber reads of the load tool's tick.
type Payload struct {
	Symbol int   // the number of the symbol, Sxxxx
	Seq    int64 // the volume: the symbol's 1, 2, ...
}

// SymbolName returns the name of symbol n: S0000 to S9999, then S10000...
func SymbolName(n int) string {
	return string(appendSymbol(nil, n))
}

func appendSymbol(b []byte, n int) []byte {
	b = append(b, 'S')
	for d := 1000; d > 1 && n < d; d /= 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// Parts of a tick's data around the numbers.
const (
	tickSymbol    = `{"symbol":"`
	tickPrice     = `","price":`
	tickChange    = `,"change":`
	tickChangePct = `,"change_pct":`
	tickVolume    = `,"volume":`
	tickCurrency  = `,"currency":"USD"`
)

// AppendTick appends the data of tick seq of symbol symbol, of payload
// bytes (or as few as it can be: about 45).
func AppendTick(b []byte, symbol int, seq int64, payload int) []byte {
	// Prices wander between 100.00 and 149.99 around 125.00.
	cents := 10_000 + (seq*7919)%5_000
	change := cents - 12_500
	pct := change * 4 / 5 // change / 125 as a percentage, in hundredths
	var num [24]byte
	size := len(tickSymbol) + len(appendSymbol(num[:0], symbol)) +
		len(tickPrice) + len(appendCents(num[:0], cents)) +
		len(tickVolume) + len(strconv.AppendInt(num[:0], seq, 10)) + len(`}`)
	room := payload - size
	withChange := room >= len(tickChange)+len(appendCents(num[:0], change))
	if withChange {
		room -= len(tickChange) + len(appendCents(num[:0], change))
	}
	withPct := withChange && room >= len(tickChangePct)+len(appendCents(num[:0], pct))
	if withPct {
		room -= len(tickChangePct) + len(appendCents(num[:0], pct))
	}
	withCurrency := room >= len(tickCurrency)
	if withCurrency {
		room -= len(tickCurrency)
	}

	b = append(b, tickSymbol...)
	b = appendSymbol(b, symbol)
	b = append(b, tickPrice...)
	b = appendCents(b, cents)
	for range max(room, 0) {
		b = append(b, '0')
	}
	if withChange {
		b = appendCents(append(b, tickChange...), change)
	}
	if withPct {
		b = appendCents(append(b, tickChangePct...), pct)
	}
	b = strconv.AppendInt(append(b, tickVolume...), seq, 10)
	if withCurrency {
		b = append(b, tickCurrency...)
	}
	return append(b, '}')
}

// appendCents appends c hundredths as a decimal: 117.25, -0.05, 0.00.
func appendCents(b []byte, c int64) []byte {
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	b = append(b, '.', byte('0'+c%100/10), byte('0'+c%10))
	return b
}

// ParsePayload finds the load tool's fields in an event envelope's data
// line (or in a tick's data alone) without decoding the JSON: the symbol
// S<n> and the volume. The publisher writes the symbol first and the
// server keeps the order of the fields (it only removes whitespace), so
// the first "symbol" is the data's, never the topic's, which comes before
// it as "topic".
func ParsePayload(data []byte) (Payload, bool) {
	i := bytes.Index(data, []byte(`{"symbol":"S`))
	if i < 0 {
		return Payload{}, false
	}
	rest := data[i+len(`{"symbol":"S`):]
	sym, rest, ok := leadingInt(rest)
	if !ok || sym > 1<<20 || len(rest) == 0 || rest[0] != '"' {
		return Payload{}, false
	}
	v := bytes.Index(rest, []byte(tickVolume))
	if v < 0 {
		return Payload{}, false
	}
	seq, rest, ok := leadingInt(rest[v+len(tickVolume):])
	if !ok || len(rest) == 0 || (rest[0] != ',' && rest[0] != '}') {
		return Payload{}, false
	}
	return Payload{Symbol: int(sym), Seq: seq}, true
}

// leadingInt parses the non-negative decimal number at the start of b.
func leadingInt(b []byte) (int64, []byte, bool) {
	var n int64
	i := 0
	for ; i < len(b) && i < 18 && '0' <= b[i] && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, b[i:], i > 0
}

// SentLog records when the ticks of a group of publishers were sent, by
// symbol and sequence number, for the subscribers' latencies and for the
// staleness of a conflated view (SubscriberOptions.Conflated). It is
// written by the publishers and read by the subscribers at once.
//
// Each symbol keeps its most recent sends in a ring, so that a day of
// ticks (W14: 90 million) costs no more memory than a minute of them: a
// tick received after its slot was taken by a later one has no known
// send time, and its latency is not recorded (Tally.Unstamped).
type SentLog struct {
	rings [][]sentSlot // [symbol][seq & mask]
	mask  int64
}

type sentSlot struct {
	seq atomic.Int64 // whose time at is; 0 while it is written
	at  atomic.Int64 // Unix ns
}

// NewSentLog returns a log for symbols 0 to symbols-1 that remembers the
// last perSymbol sends of each (rounded up to a power of two).
func NewSentLog(symbols, perSymbol int) *SentLog {
	size := 1
	for size < perSymbol {
		size *= 2
	}
	l := &SentLog{rings: make([][]sentSlot, symbols), mask: int64(size - 1)}
	for i := range l.rings {
		l.rings[i] = make([]sentSlot, size)
	}
	return l
}

// sentLogDefault is how many sends of each symbol a log that a workload
// did not size remembers: minutes of ticks at the rates of the workloads
// that publish a symbol each (W1: 10 a second).
const sentLogDefault = 4096

// Record records that tick seq of symbol was sent at at.
func (l *SentLog) Record(symbol int, seq int64, at time.Time) {
	if l == nil || symbol >= len(l.rings) || seq < 1 {
		return
	}
	s := &l.rings[symbol][seq&l.mask]
	s.seq.Store(0)
	s.at.Store(at.UnixNano())
	s.seq.Store(seq)
}

// At returns when tick seq of symbol was sent, if the log still holds it.
func (l *SentLog) At(symbol int, seq int64) (time.Time, bool) {
	if l == nil || symbol >= len(l.rings) || seq < 1 {
		return time.Time{}, false
	}
	s := &l.rings[symbol][seq&l.mask]
	if s.seq.Load() != seq {
		return time.Time{}, false
	}
	ns := s.at.Load()
	if s.seq.Load() != seq { // taken by a later tick meanwhile
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}
