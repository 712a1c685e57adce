package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

// BenchmarkAppend appends batches of events: the cost per event of
// validation, the insert and the commit.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 16, 256} {
		for _, sync := range []string{"normal", "full"} {
			b.Run(fmt.Sprintf("batch=%d/synchronous=%s", size, sync), func(b *testing.B) {
				s := MustOpenStore(b, store.Options{Synchronous: sync})
				batch := make([]feed.Update, size)
				for i := range batch {
					batch[i] = feed.Update{Topic: fmt.Sprintf("stocks/S%d", i%50), Type: "tick",
						Data: json.RawMessage(`{"symbol":"AAPL","price":231.42,"change":-1.25,"change_pct":-0.54,"volume":120000,"currency":"USD"}`)}
				}
				ctx := context.Background()
				cpu := cpuTime()
				b.ResetTimer()
				for b.Loop() {
					if _, err := s.Append(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*size), "cpu-ns/event")
			})
		}
	}
}

// BenchmarkGroupCommit is W4 without HTTP: 16 publishers, each on its own
// topic, appending one event at a time and waiting for it, as concurrent
// publish requests do. It measures the hand-off to the writer and back,
// the insert and the commit per event, and how many events a commit
// carries.
func BenchmarkGroupCommit(b *testing.B) {
	for _, mode := range []string{"normal", "full"} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := MustOpenStore(b, store.Options{Synchronous: mode})
			ctx := context.Background()
			const publishers = 16
			var next atomic.Int64
			cpu := cpuTime()
			before := s.Stats()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Go(func() {
					u := []feed.Update{{Topic: fmt.Sprintf("stocks/S%d", p), Type: "tick",
						Data: json.RawMessage(`{"symbol":"AAPL","price":231.42,"change":-1.25,"change_pct":-0.54,"volume":120000,"currency":"USD"}`)}}
					for next.Add(1) <= int64(b.N) {
						if _, err := s.Append(ctx, u); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/event")
			b.ReportMetric(float64(st.Events-before.Events)/float64(max(st.Commits-before.Commits, 1)), "events/commit")
		})
	}
}

// BenchmarkAfter replays 5,000 events of one topic from SQLite, in the pages
// a resuming subscriber reads.
func BenchmarkAfter(b *testing.B) {
	s := MustOpenStore(b, store.Options{})
	batch := make([]feed.Update, 1000)
	for i := range batch {
		batch[i] = feed.Update{Topic: "bench/w5", Type: "bench", Data: json.RawMessage(`{"ts":1763751845123456789,"seq":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)}
	}
	for range 5 {
		MustAppend(b, s, batch...)
	}
	for _, patterns := range [][]string{{"bench/w5"}, {"bench/*"}, {"*"}} {
		f := mustFilter(b, patterns...)
		b.Run(f.String(), func(b *testing.B) {
			ctx := context.Background()
			cpu := cpuTime()
			for b.Loop() {
				after, n := int64(0), 0
				for n < 5000 {
					page, err := s.After(ctx, after, f, 1000)
					if err != nil {
						b.Fatal(err)
					}
					n += len(page)
					after = page[len(page)-1].ID
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*5000), "ns/event")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*5000), "cpu-ns/event")
		})
	}
}

// cpuTime is the CPU time the process has used: on a shared machine it
// moves far less with other load than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSparsePrefix reads a prefix whose 40 topics have one event each,
// spread over 1,000,000 stored events: a page of history and an export
// must cost what they return and the number of topics, not the table. For
// comparison, a page of 1,000 events of a dense prefix (50 topics sharing
// the rest of the events):
//
//	go test -run '^$' -bench SparsePrefix ./store
func BenchmarkSparsePrefix(b *testing.B) {
	const rows, sparse = 1_000_000, 40
	path := filepath.Join(b.TempDir(), "feed.db")
	s := MustOpenStoreAt(b, path, store.Options{})
	batch := make([]feed.Update, 0, 1000)
	for i := range rows {
		u := feed.Update{Topic: fmt.Sprintf("dense/t%02d", i%50), Type: "note", Data: json.RawMessage(`{"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)}
		if i%(rows/sparse) == rows/sparse/2 {
			u.Topic = fmt.Sprintf("sparse/s%02d", i/(rows/sparse))
		}
		if batch = append(batch, u); len(batch) == cap(batch) {
			MustAppend(b, s, batch...)
			batch = batch[:0]
		}
	}
	s.Close() // indexes everything: the reads below use topic_runs alone
	s = MustOpenStoreAt(b, path, store.Options{})
	ctx := context.Background()
	sparsePrefix, densePrefix := mustFilter(b, "sparse/*"), mustFilter(b, "dense/*")
	for _, bc := range []struct {
		name string
		want int
		read func() (int, error)
	}{
		{"history", sparse, func() (int, error) {
			events, _, err := s.Page(ctx, feed.Range{Filter: sparsePrefix}, 100, false)
			return len(events), err
		}},
		{"history-newest-first", sparse, func() (int, error) {
			events, _, err := s.Page(ctx, feed.Range{Filter: sparsePrefix}, 100, true)
			return len(events), err
		}},
		{"export", sparse, func() (int, error) {
			n, err := s.Export(ctx, io.Discard, feed.Range{Filter: sparsePrefix})
			return int(n), err
		}},
		{"dense-history-1000", 1000, func() (int, error) {
			events, _, err := s.Page(ctx, feed.Range{Filter: densePrefix, After: rows / 2}, 1000, false)
			return len(events), err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n, err := bc.read()
				if err != nil || n != bc.want {
					b.Fatalf("read %d events, %v; want %d", n, err, bc.want)
				}
			}
		})
	}
}

// BenchmarkIngest is W9 without HTTP: groups of 4,096 tick lines, as a
// streaming publish hands them over, for 1,600 symbols (4 connections of
// 400), each on its own topic. It measures the store's CPU per event:
// validation, the commit, the latest rows and the topic index the writer
// brings up to date between commits.
func BenchmarkIngest(b *testing.B) {
	s := MustOpenStore(b, store.Options{})
	const group, symbols = 4096, 1600
	updates := make([]feed.Checked, group)
	seq := 0
	ctx := context.Background()
	cpu := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		for i := range updates {
			sym := seq % symbols
			u := feed.Update{Topic: fmt.Sprintf("w9/S%04d", sym), Type: "tick",
				Data: json.RawMessage(fmt.Sprintf(`{"symbol":"S%04d","price":117.25,"change":-7.75,"volume":%d}`, sym, seq/symbols+1))}
			var err error
			if updates[i], err = u.Check(feed.MaxDataBytes); err != nil {
				b.Fatal(err)
			}
			seq++
		}
		for _, o := range s.AppendEach(ctx, updates, nil) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*group), "ns/event")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*group), "cpu-ns/event")
}

// tickHistory returns a store holding rows ticks of topics symbols in
// turn (stocks/S0000 ...), every one in topic_runs: opened again after
// they were published, as a store that closed indexes everything.
func tickHistory(b *testing.B, topics, rows int) *store.Store {
	path := filepath.Join(b.TempDir(), "feed.db")
	s := MustOpenStoreAt(b, path, store.Options{})
	batch := make([]feed.Update, 0, feed.MaxBatch)
	for i := range rows {
		sym := i % topics
		batch = append(batch, feed.Update{Topic: fmt.Sprintf("stocks/S%04d", sym), Type: "tick",
			Data: json.RawMessage(fmt.Sprintf(`{"symbol":"S%04d","price":117.25,"change":-7.75,"volume":%d}`, sym, i/topics+1))})
		if len(batch) == cap(batch) {
			MustAppend(b, s, batch...)
			batch = batch[:0]
		}
	}
	s.Close()
	return MustOpenStoreAt(b, path, store.Options{})
}

// BenchmarkWidePrefix resumes a subscriber of a prefix of 2,000 topics
// (a service following every symbol of a ticker) 10,000 events behind, in
// the pages a resuming subscriber reads, from a database of 400,000
// events whose topic index is in topic_runs.
func BenchmarkWidePrefix(b *testing.B) {
	const topics, rows, behind = 2000, 400_000, 10_000
	s := tickHistory(b, topics, rows)
	f := mustFilter(b, "stocks/*")
	ctx := context.Background()
	cpu := cpuTime()
	for b.Loop() {
		after, n := int64(rows-behind), 0
		for n < behind {
			page, err := s.After(ctx, after, f, 1000)
			if err != nil || len(page) == 0 {
				b.Fatal(len(page), err)
			}
			n += len(page)
			after = page[len(page)-1].ID
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*behind), "ns/event")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*behind), "cpu-ns/event")
}

// BenchmarkResumeSymbol is a W14 resume: a subscriber of one symbol of
// 2,000 (each tick of it one event in 2,000 of the table) comes back 500
// of its ticks behind, and reads them in one page, as a commit has just
// emptied the read connection's page cache.
//
//	go test -run '^$' -bench ResumeSymbol ./store
func BenchmarkResumeSymbol(b *testing.B) {
	const topics, rows, behind = 2000, 1_000_000, 500
	s := tickHistory(b, topics, rows)
	ctx := context.Background()
	other := feed.Update{Topic: "other/x", Type: "note", Data: json.RawMessage(`{"n":1}`)}
	filters := make([]feed.Filter, 97)
	for i := range filters {
		filters[i] = mustFilter(b, fmt.Sprintf("stocks/S%04d", i*17))
	}
	cpu := cpuTime()
	i := 0
	for b.Loop() {
		MustAppend(b, s, other)
		page, err := s.After(ctx, int64(rows-behind*topics), filters[i%len(filters)], 1000)
		if err != nil || len(page) != behind {
			b.Fatal(len(page), err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*behind), "ns/event")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*behind), "cpu-ns/event")
}
