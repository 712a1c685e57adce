package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
)

// W14, a trading day: a ticker gateway streams ticks of thousands of
// symbols at a fixed rate for half an hour while the server prunes
// behind its retention window, subscribers follow everything or one
// symbol, and readers resume from positions inside the window all the
// time. Every figure is kept per row of the run (a minute), so that the
// bars can say whether anything drifts: the acknowledgements' and the
// deliveries' latencies, the database file and its WAL, the server's
// memory.

// wideSubscribers follow every symbol (the downstream services of the
// issue: "2 subscribers on stocks/*").
const wideSubscribers = 2

// Minutes are latency histograms by row of a run: Record puts a latency
// in the row of the moment it was taken.
type Minutes struct {
	start    time.Time
	interval time.Duration
	rows     []Histogram // the last row also takes what comes later
}

// NewMinutes returns rows of interval from start, enough for d.
func NewMinutes(start time.Time, interval time.Duration, d time.Duration) *Minutes {
	return &Minutes{start: start, interval: interval, rows: make([]Histogram, rowsOf(d, interval)+1)}
}

// rowsOf returns how many rows of interval d has (a part counts).
func rowsOf(d, interval time.Duration) int {
	return int((d + interval - 1) / interval)
}

// Record counts latency d taken at at.
func (m *Minutes) Record(at time.Time, d time.Duration) {
	m.rows[m.row(at)].Record(d)
}

func (m *Minutes) row(at time.Time) int {
	return min(max(int(at.Sub(m.start)/m.interval), 0), len(m.rows)-1)
}

// Row returns row i's histogram.
func (m *Minutes) Row(i int) *Histogram { return &m.rows[i] }

// dayRow is one row of W14's table.
type dayRow struct {
	acked                   int64 // lines acknowledged in the row
	lastID                  int64 // the highest ID acknowledged by its end
	ackP99, deliveryP99     time.Duration
	dbBytes, walBytes       int64 // -1: unknown
	rssKB                   int64 // -1: unknown
	resumesOK, resumesReset int64
	resumesWrong            int64
	disconnects             float64
	at                      time.Time // the end of the row
	measured                bool      // the sampler reached it
}

// tickerConn is one of W14's streaming connections: it sends ticks of its
// symbols in turn, line j being tick j/len(symbols)+1 of symbol
// symbols[j%len(symbols)].
type tickerConn struct {
	index   int
	symbols []int
	topics  []string
	sent    atomic.Int64 // lines sent
	acked   atomic.Int64 // lines acknowledged with an ID
	refused atomic.Int64
	errs    atomic.Int64 // lines answered with no ID, or a stream that failed
	err     error        // the sender's last error
	ackErr  error        // the receiver's (its own goroutine's) last error
}

// sentOf returns how many ticks of the connection's k-th symbol are among
// its first lines lines.
func (c *tickerConn) sentOf(k int, lines int64) int64 {
	m := int64(len(c.symbols))
	if lines <= int64(k) {
		return 0
	}
	return (lines-int64(k)-1)/m + 1
}

// position is a tick whose ID a resume starts after.
type position struct {
	symbol int
	seq    int64
	id     int64
	at     time.Time // when it was acknowledged
}

// positions keep a sample of acknowledged ticks, newest last, as far back
// as the retention window and a little more: where resumes start.
type positions struct {
	mu   sync.Mutex
	list []position
	keep time.Duration
}

func (p *positions) add(pos position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, pos)
	if old := p.list[0]; pos.at.Sub(old.at) > p.keep+p.keep/4 {
		// Drop the oldest fifth at once rather than one at a time.
		n := len(p.list) / 5
		p.list = append(p.list[:0], p.list[n:]...)
	}
}

// pick returns a sampled tick acknowledged a random time ago within
// window, or false if none is.
func (p *positions) pick(now time.Time, window time.Duration) (position, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.list) == 0 {
		return position{}, false
	}
	want := now.Add(-time.Duration(rand.Int64N(int64(window))))
	// The first sample at or after want (the list is in time order).
	lo, hi := 0, len(p.list)
	for lo < hi {
		mid := (lo + hi) / 2
		if p.list[mid].at.Before(want) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(p.list) {
		lo--
	}
	return p.list[lo], true
}

// positionSample is how often (in lines) a connection keeps an
// acknowledged tick as a resume position.
const positionSample = 64

// runTradingDay measures W14.
func runTradingDay(ctx context.Context, r *runner, p Params) (Figures, error) {
	if p.Symbols < p.Publishers || p.Publishers < 1 || p.Rate <= 0 || p.Interval <= 0 || p.Retention <= 0 {
		return nil, fmt.Errorf("W14 needs -publishers ≥ 1, -symbols ≥ -publishers, and a positive -rate, -interval and -retention (got %d, %d, %g, %s, %s)",
			p.Publishers, p.Symbols, p.Rate, p.Interval, p.Retention)
	}
	prefix := r.topic("")
	topicOf := func(symbol int) string { return prefix + "/" + SymbolName(symbol) }
	r.progress("the server must run with [store] retention_age = %q (the tool cannot read it; -retention tells it another)", feed.FormatDuration(p.Retention))
	if r.cfg.DB == "" {
		r.progress("no -db: the database file's and the WAL's sizes will not be measured")
	}

	// The log of send times keeps about a minute of each symbol's ticks:
	// deliveries arrive within seconds.
	perSymbol := max(int(p.Rate/float64(p.Symbols)*60), 64)
	sent := NewSentLog(p.Symbols, perSymbol)
	rows := rowsOf(p.Duration, p.Interval)
	// Deliveries and acknowledgements of the drain after the run go to a
	// last row, which the table does not show.
	start := time.Now()
	acks := NewMinutes(start, p.Interval, p.Duration)
	deliveries := NewMinutes(start, p.Interval, p.Duration)

	r.progress("%d subscribers of %s/* and %d of one symbol each", wideSubscribers, prefix, p.Subscribers)
	wide, err := StartAudience(ctx, r.target, AudienceOptions{
		Topic: prefix + "/*", Subscribers: wideSubscribers, Publishers: p.Symbols, Sent: sent, ByMinute: deliveries,
		ReadBuffer: 64 << 10,
	})
	if err != nil {
		return nil, err
	}
	defer wide.Stop()
	narrow, err := StartAudience(ctx, r.target, AudienceOptions{
		TopicOf: func(i int) string { return topicOf(i % p.Symbols) }, Subscribers: p.Subscribers, FirstN: wideSubscribers,
		Publishers: p.Symbols, Sent: sent, ByMinute: deliveries, ReadBuffer: 16 << 10,
	})
	if err != nil {
		return nil, err
	}
	defer narrow.Stop()
	closedBefore, err := r.serverClosed(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics (for the streams the server closes): %w", err)
	}

	conns := make([]*tickerConn, p.Publishers)
	for i := range conns {
		c := &tickerConn{index: i}
		for s := i; s < p.Symbols; s += p.Publishers {
			c.symbols = append(c.symbols, s)
			c.topics = append(c.topics, topicOf(s))
		}
		conns[i] = c
	}
	pos := &positions{keep: p.Retention}
	table := make([]dayRow, rows)
	rowAcked := make([]atomic.Int64, rows+1)
	rowLastID := make([]atomic.Int64, rows+1) // the highest ID acknowledged in each row
	var resumeCounts [3][]atomic.Int64        // ok, reset, wrong by row
	for k := range resumeCounts {
		resumeCounts[k] = make([]atomic.Int64, rows+1)
	}

	r.progress("%d connections stream %g ticks/s of %d symbols for %s; %g resumes/s", p.Publishers, p.Rate, p.Symbols, p.Duration, p.Resumes)
	start = time.Now()
	acks.start, deliveries.start = start, start
	onAck := func(at time.Time, d time.Duration, id int64, symbol int, seq int64) {
		acks.Record(at, d)
		row := acks.row(at)
		rowAcked[row].Add(1)
		for last := rowLastID[row].Load(); id > last && !rowLastID[row].CompareAndSwap(last, id); last = rowLastID[row].Load() {
		}
		if seq%positionSample == 0 {
			pos.add(position{symbol: symbol, seq: seq, id: id, at: at})
		}
	}
	var streams, background, resumers sync.WaitGroup
	for _, c := range conns {
		streams.Go(func() {
			r.streamTicks(ctx, c, p.Rate/float64(p.Publishers), p.Payload, start, start.Add(p.Duration), sent, onAck)
		})
	}
	if p.Resumes > 0 {
		background.Go(func() {
			every := time.Duration(float64(time.Second) / p.Resumes)
			for k := 1; ctx.Err() == nil; k++ {
				at := start.Add(time.Duration(k) * every)
				if !at.Before(start.Add(p.Duration)) {
					return
				}
				time.Sleep(time.Until(at))
				resumers.Go(func() {
					if outcome := r.resumeOne(ctx, p, conns, pos, topicOf, k); outcome >= 0 {
						resumeCounts[outcome][acks.row(at)].Add(1)
					}
				})
			}
		})
	}
	// At the end of each row: the files, the memory and the streams the
	// server closed.
	background.Go(func() {
		closed := closedBefore
		for i := range table {
			at := start.Add(time.Duration(i+1) * p.Interval)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at)):
			}
			row := &table[i]
			row.at, row.measured = time.Now(), true
			row.dbBytes, row.walBytes = fileSize(r.cfg.DB), fileSize(r.cfg.DB+"-wal")
			row.rssKB = -1
			if r.server != nil {
				if rss, err := r.server.RSS(); err == nil {
					row.rssKB = rss
				}
			}
			if now, err := r.serverClosed(ctx); err == nil {
				row.disconnects = now - closed
				closed = now
			}
		}
	})
	streams.Wait()
	background.Wait()
	resumers.Wait()

	var sentTotal, acked, refused, errs int64
	for _, c := range conns {
		sentTotal += c.sent.Load()
		acked += c.acked.Load()
		refused += c.refused.Load()
		errs += c.errs.Load()
		c.err = errors.Join(c.err, c.ackErr)
		if c.err != nil {
			r.progress("connection %d: %v", c.index, c.err)
		}
	}
	if acked == 0 {
		for _, c := range conns {
			if c.err != nil {
				return nil, fmt.Errorf("streaming publish: %w", c.err)
			}
		}
		return nil, errors.New("no tick was acknowledged")
	}
	// What each audience is to receive: every acknowledged tick of the
	// symbols it follows.
	ackedOf := make([]int64, p.Symbols)
	for _, c := range conns {
		n := c.acked.Load()
		for k, s := range c.symbols {
			ackedOf[s] = c.sentOf(k, n)
		}
	}
	expected := acked * wideSubscribers
	for i := range p.Subscribers {
		expected += ackedOf[i%p.Symbols]
	}
	got := func() int64 { return wide.Deliveries() + narrow.Deliveries() }
	waitUntil(ctx, func() bool { return got() >= expected }, r.cfg.Drain)
	tally := wide.Stop()
	tally.Add(narrow.Stop())
	closedAfter, _ := r.serverClosed(ctx)
	oldestID, oldestOK := r.oldestRetained(ctx, prefix)

	for i := range table {
		row := &table[i]
		row.acked = rowAcked[i].Load()
		row.lastID = rowLastID[i].Load()
		row.ackP99 = acks.Row(i).Quantile(0.99)
		row.deliveryP99 = deliveries.Row(i).Quantile(0.99)
		row.resumesOK = resumeCounts[0][i].Load()
		row.resumesReset = resumeCounts[1][i].Load()
		row.resumesWrong = resumeCounts[2][i].Load()
		if !row.measured {
			row.dbBytes, row.walBytes, row.rssKB = -1, -1, -1
		}
	}
	r.writeDayTable(table, p)
	if r.cfg.Plot != "" {
		name := r.cfg.Plot
		if r.run > 1 {
			name = strings.TrimSuffix(name, ".svg") + "-run" + strconv.Itoa(r.run) + ".svg"
		}
		if err := os.WriteFile(name, PlotDay(table, p), 0o644); err != nil {
			r.progress("plot: %v", err)
		} else {
			r.progress("per-minute plot written to %s", name)
		}
	}

	var f Figures
	f.Add("symbols", float64(p.Symbols))
	f.Add("connections", float64(p.Publishers))
	f.Add("subscribers", float64(p.Subscribers+wideSubscribers))
	f.Add("published", float64(acked))
	f.Add("sent", float64(sentTotal))
	f.Add("refused", float64(refused))
	f.Add("publish_errors", float64(refused+errs))
	if d := p.Duration.Seconds(); d > 0 {
		f.Add("events_per_s", float64(acked)/d)
	}
	addTally(&f, "", tally, expected)
	var all Histogram
	for i := range rows + 1 {
		all.Merge(acks.Row(i))
	}
	f.AddMS("ack_p50_ms", all.Quantile(0.5))
	f.AddMS("ack_p99_ms", all.Quantile(0.99))
	addDayBars(&f, table, deliveries, p)
	var ok, reset, wrong int64
	for _, row := range table {
		ok, reset, wrong = ok+row.resumesOK, reset+row.resumesReset, wrong+row.resumesWrong
	}
	f.Add("resumes_ok", float64(ok))
	f.Add("resumes_reset", float64(reset))
	f.Add("resumes_wrong", float64(wrong))
	f.Add("server_disconnects", closedAfter-closedBefore)
	if oldestOK {
		// The row whose acknowledgements reached the oldest tick the
		// server still holds: it was published during that row.
		for i := range rows {
			if rowLastID[i].Load() >= oldestID {
				age := time.Since(start.Add(time.Duration(i) * p.Interval))
				f.Add("oldest_retained_min", age.Minutes())
				if age > p.Retention+2*p.Interval+time.Minute {
					r.progress("the server still holds ticks published %.1f minutes ago: is its store.retention_age %s, as the bars assume?", age.Minutes(), feed.FormatDuration(p.Retention))
				}
				break
			}
		}
	}
	return f, nil
}

// streamTicks is one connection of W14: every millisecond from start
// until end it sends the lines that rate (lines a second) makes due since
// start, records their send time, and flushes; a goroutine reads the
// acknowledgements and calls onAck for each with its latency from the
// flush of its line's batch.
func (r *runner) streamTicks(ctx context.Context, c *tickerConn, rate float64, payload int, start, end time.Time, sent *SentLog,
	onAck func(at time.Time, d time.Duration, id int64, symbol int, seq int64)) {
	cl := client.New("http://"+r.target.Host, r.target.Token)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return r.target.Dial(ctx, c.index, 0) }}
	defer tr.CloseIdleConnections()
	cl.HTTP = &http.Client{Transport: tr}
	in, err := cl.Ingest(ctx)
	if err != nil {
		c.err = err
		return
	}
	defer in.Close()
	type batch struct {
		end int64 // lines sent up to and with it
		at  time.Time
	}
	// Batches in flight: a minute of them before the sender waits.
	batches := make(chan batch, 60_000)
	m := int64(len(c.symbols))
	var recv sync.WaitGroup
	recvDone := make(chan struct{})
	recv.Go(func() {
		defer close(recvDone)
		var n int64
		var cur batch
		for {
			ack, err := in.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					c.ackErr = err
					c.errs.Add(1)
				}
				return
			}
			if ack.Heartbeat {
				continue
			}
			n++
			for cur.end < n {
				cur = <-batches
			}
			if ack.Err != nil {
				c.refused.Add(1)
				c.ackErr = ack.Err
				continue
			}
			c.acked.Add(1)
			now := time.Now()
			j := n - 1
			onAck(now, now.Sub(cur.at), ack.ID, c.symbols[j%m], j/m+1)
		}
	})
	var data []byte
	var lines int64
	for ctx.Err() == nil {
		now := time.Now()
		until := now
		if until.After(end) {
			until = end
		}
		due := int64(rate * until.Sub(start).Seconds())
		if due > lines {
			for ; lines < due; lines++ {
				k, seq := int(lines%m), lines/m+1
				data = AppendTick(data[:0], c.symbols[k], seq, payload)
				sent.Record(c.symbols[k], seq, now)
				if err := in.Send(feed.Update{Topic: c.topics[k], Type: feed.TypeTick, Data: data}, ""); err != nil {
					c.err = err
					break
				}
			}
			c.sent.Store(lines)
			if err := in.Flush(); err != nil {
				c.err = err
				break
			}
			select {
			case batches <- batch{end: lines, at: now}:
			case <-recvDone: // the stream failed: nothing more is answered
				c.err = errors.Join(c.err, errors.New("the acknowledgements ended before the stream"))
			}
		}
		if c.err != nil {
			break
		}
		if !now.Before(end) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Lines of a batch cut short by an error go with CloseSend: a last
	// batch covers them, so that the receiver never waits for one.
	select {
	case batches <- batch{end: math.MaxInt64, at: time.Now()}:
	case <-recvDone:
	}
	if err := in.CloseSend(); err != nil && c.err == nil {
		c.err = err
	}
	recv.Wait()
}

// Outcomes of a resume, indexes of runTradingDay's resumeCounts.
const (
	resumeOK = iota
	resumeReset
	resumeWrong
)

// resumeOne resumes one symbol from a position inside the retention
// window and checks what it receives (see W14's Reading). It returns the
// outcome, or -1 if there was no position to resume from yet.
func (r *runner) resumeOne(ctx context.Context, p Params, conns []*tickerConn, pos *positions, topicOf func(int) string, k int) int {
	now := time.Now()
	at, ok := pos.pick(now, p.Retention)
	if !ok {
		return -1
	}
	c := conns[at.symbol%len(conns)]
	target := c.sentOf(at.symbol/len(conns), c.sent.Load()) // the symbol's last tick sent so far
	last := make([]int64, p.Symbols)
	last[at.symbol] = at.seq
	sub := NewSubscriber(r.target, SubscriberOptions{
		Topic: topicOf(at.symbol), N: wideSubscribers + p.Subscribers + k, Resume: true, After: at.id,
		Publishers: p.Symbols, LastSeq: last,
	})
	done := make(chan Tally, 1)
	go func() { done <- sub.Run(ctx) }()
	missed := target - at.seq
	reached := waitUntil(ctx, func() bool { return sub.Deliveries() >= missed }, r.cfg.Drain)
	sub.Stop()
	t := <-done
	switch {
	case t.Resets > 0:
		// The position was pruned: the reset, then the snapshot (the
		// symbol's latest tick, which skips) and live ticks, once and in
		// order; only near the edge of the window.
		if t.Resets > 1 || t.Duplicates > 0 || t.OrderViolations > 0 || t.Foreign > 0 || t.Failed > 0 ||
			now.Sub(at.at) < p.Retention-time.Minute {
			r.progress("resume of %s after %d (tick %d, %.0f s old): reset wrongly (%+v)", SymbolName(at.symbol), at.id, at.seq, now.Sub(at.at).Seconds(), t)
			return resumeWrong
		}
		return resumeReset
	case !reached || t.Gaps > 0 || t.Duplicates > 0 || t.OrderViolations > 0 || t.Foreign > 0 || t.Failed > 0 || t.Reconnects > 0:
		r.progress("resume of %s after %d (tick %d): %d of the %d ticks it missed, %d gaps, %d duplicates, %d out of order, %d reconnects",
			SymbolName(at.symbol), at.id, at.seq, t.Deliveries, missed, t.Gaps, t.Duplicates, t.OrderViolations, t.Reconnects)
		return resumeWrong
	}
	return resumeOK
}

// serverClosed returns the streams the server has closed of its own
// accord (lag, a write timeout, shutdown), from /metrics.
func (r *runner) serverClosed(ctx context.Context) (float64, error) {
	m, err := r.target.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	var n float64
	for _, reason := range []string{"lag", "write_timeout", "shutdown"} {
		n += m[`livefeed_streams_closed_total{reason="`+reason+`"}`]
	}
	return n, nil
}

// oldestRetained returns the ID of the oldest event under prefix that the
// server still holds.
func (r *runner) oldestRetained(ctx context.Context, prefix string) (int64, bool) {
	c := client.New("http://"+r.target.Host, r.target.Token)
	page, err := c.History(ctx, client.HistoryQuery{Topics: []string{prefix + "/*"}, Limit: 1})
	if err != nil || len(page.Events) == 0 {
		if err != nil {
			r.progress("GET /api/history: %v", err)
		}
		return 0, false
	}
	return page.Events[0].ID, true
}

// fileSize returns the size of the file at path, or -1.
func fileSize(path string) int64 {
	if path == "" || path == "-wal" {
		return -1
	}
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// addDayBars adds the figures W14's bars read from the rows (see its
// Reading).
func addDayBars(f *Figures, table []dayRow, deliveries *Minutes, p Params) {
	var worst time.Duration
	for _, row := range table {
		worst = max(worst, row.ackP99)
	}
	f.AddMS("ack_p99_worst_minute_ms", worst)
	rows := len(table)
	if n := min(5, rows/2); n > 0 {
		var first, last Histogram
		for i := range n {
			first.Merge(deliveries.Row(i))
			last.Merge(deliveries.Row(rows - 1 - i))
		}
		f.AddMS("delivery_p99_first5_ms", first.Quantile(0.99))
		f.AddMS("delivery_p99_last5_ms", last.Quantile(0.99))
		if q := first.Quantile(0.99); q > 0 {
			f.Add("delivery_p99_last5_ratio_to_first5", float64(last.Quantile(0.99))/float64(q))
		}
	}
	var all Histogram
	for i := range rows + 1 {
		all.Merge(deliveries.Row(i))
	}
	f.AddMS("delivery_p50_ms", all.Quantile(0.5))
	f.AddMS("delivery_p99_ms", all.Quantile(0.99))

	// The end of the first retention period: the row after which the
	// server starts pruning.
	r0 := rowsOf(p.Retention, p.Interval) - 1
	var dbMax, walMax, walFirst, walSecond int64
	for i, row := range table {
		dbMax, walMax = max(dbMax, row.dbBytes), max(walMax, row.walBytes)
		if i < rows/2 {
			walFirst = max(walFirst, row.walBytes)
		} else {
			walSecond = max(walSecond, row.walBytes)
		}
	}
	if dbMax > 0 {
		f.Add("db_max_mb", float64(dbMax)/(1<<20))
		f.Add("wal_max_mb", float64(walMax)/(1<<20))
		if walFirst > 0 {
			f.Add("wal_growth_ratio", float64(walSecond)/float64(walFirst))
		}
	}
	if r0+1 >= rows {
		return // the run ends within the first retention period
	}
	if base := table[r0].dbBytes; base > 0 {
		var after int64
		for _, row := range table[r0+1:] {
			after = max(after, row.dbBytes)
		}
		f.Add("db_retained_mb", float64(base)/(1<<20))
		f.Add("db_growth_ratio", float64(after)/float64(base))
	}
	if base := table[r0].rssKB; base > 0 {
		var drift int64
		for _, row := range table[r0+1:] {
			if d := row.rssKB - base; row.rssKB > 0 && abs(d) > abs(drift) {
				drift = d
			}
		}
		f.Add("rss_drift_mb", float64(drift)/1024)
	}
}

// writeDayTable prints W14's rows as comment lines of the report.
func (r *runner) writeDayTable(table []dayRow, p Params) {
	mb := func(b int64) string {
		if b < 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64)
	}
	fmt.Fprintf(r.out, "# %s run %d, per %s: row | acked | ack_p99_ms | delivery_p99_ms | db_mb | wal_mb | rss_mb | resumes ok/reset/wrong | server_closed\n", r.name, r.run, p.Interval)
	for i, row := range table {
		rss := int64(-1)
		if row.rssKB >= 0 {
			rss = row.rssKB << 10
		}
		fmt.Fprintf(r.out, "# %s run %d | %3d | %d | %s | %s | %s | %s | %s | %d/%d/%d | %g\n", r.name, r.run, i+1, row.acked,
			FormatValue(float64(row.ackP99)/float64(time.Millisecond)), FormatValue(float64(row.deliveryP99)/float64(time.Millisecond)),
			mb(row.dbBytes), mb(row.walBytes), mb(rss), row.resumesOK, row.resumesReset, row.resumesWrong, row.disconnects)
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
