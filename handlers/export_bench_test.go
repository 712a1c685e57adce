package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// BenchmarkExportCSV downloads an export of 1,000,000 events (half score,
// half tick, on 100 topics) over a real socket, as W6 of the performance bars (web/docs/performance.md) asks:
//
//	go test -run '^$' -bench ExportCSV -benchtime 3x ./handlers
//
// It reports the median rows/s and the growth of the process's resident
// memory (VmRSS) from before an export to its peak, the largest of the
// runs: the server's memory must stay flat.
func BenchmarkExportCSV(b *testing.B) {
	const rows = 1_000_000
	cfg := nodetest.Config(b)
	cfg.Feed.WriteTimeout = 30 * time.Second
	n := nodetest.Start(b, cfg, node.Options{})
	st, srvURL := n.Store(), n.URL
	// No GC is forced before measuring: like a server that has been
	// running, this one has just stored a million events, and its heap is
	// at the size the garbage collector keeps it at. The first export
	// after a forced collection (debug.FreeOSMemory) grows RSS back to
	// that size, by about the size of the live heap (mostly the hub's
	// window of recent events), not by anything that grows with the rows.
	fill(b, st, rows)

	var rates []float64
	var before, growth int64
	for b.Loop() {
		before = rss(b)
		var peak atomic.Int64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				peak.Store(max(peak.Load(), rss(b)))
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		start := time.Now()
		resp, err := http.Get(srvURL + "/api/export.csv")
		if err != nil {
			b.Fatal(err)
		}
		lines, err := countLines(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		close(stop)
		sampler.Wait()
		if err != nil || lines != rows+1 {
			b.Fatalf("%d lines, %v", lines, err)
		}
		rate := float64(rows) / elapsed.Seconds()
		rates = append(rates, rate)
		growth = max(growth, peak.Load()-before)
		b.Logf("export of %d rows: %v, %.0f rows/s, RSS %.1f MB before, %.1f MB at the peak",
			rows, elapsed.Round(time.Millisecond), rate, float64(before)/(1<<20), float64(peak.Load())/(1<<20))
	}
	slices.Sort(rates)
	b.ReportMetric(rates[len(rates)/2], "rows/s")
	b.ReportMetric(float64(before)/(1<<20), "MB-rss-before")
	b.ReportMetric(float64(growth)/(1<<20), "MB-rss-growth")
}

// fill stores n events through the store, from several publishers at once
// so that the writer commits large groups.
func fill(b *testing.B, st *store.Store, n int) {
	b.Helper()
	start := time.Now()
	const publishers = 8
	var wg sync.WaitGroup
	var failed atomic.Value
	for p := range publishers {
		wg.Go(func() {
			for first := p * feed.MaxBatch; first < n; first += publishers * feed.MaxBatch {
				batch := make([]feed.Update, 0, feed.MaxBatch)
				for i := first; i < min(first+feed.MaxBatch, n); i++ {
					batch = append(batch, benchUpdate(i))
				}
				if _, err := st.Append(context.Background(), batch); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d events in %v", n, time.Since(start).Round(time.Millisecond))
}

func benchUpdate(i int) feed.Update {
	if i%2 == 0 {
		return feed.Update{Topic: fmt.Sprintf("nba/game-%d", i%50), Type: "score", Data: fmt.Appendf(nil,
			`{"home":"Lakers","away":"Celtics","home_score":%d,"away_score":%d,"period":%d,"clock":"10:22","status":"live"}`, i%150, i%130, 1+i%4)}
	}
	return feed.Update{Topic: fmt.Sprintf("stocks/S%d", i%50), Type: "tick", Data: fmt.Appendf(nil,
		`{"symbol":"S%d","price":%d.25,"change":-1.5,"change_pct":-0.65,"volume":%d,"currency":"USD"}`, i%50, 100+i%500, i)}
}

// countLines reads r to the end and counts its CRLF-terminated lines,
// also those whose CR and LF arrive in two reads.
func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	buf := make([]byte, 256<<10)
	n := 0
	lastCR := false
	for {
		k, err := br.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte("\r\n"))
			if lastCR && buf[0] == '\n' {
				n++
			}
			lastCR = buf[k-1] == '\r'
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rss returns the process's resident memory in bytes.
func rss(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status: resident memory cannot be measured here")
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}
