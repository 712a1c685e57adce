package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/store"
)

// exportFixture stores events of every kind, including text a spreadsheet
// would run as a formula.
func exportFixture(t *testing.T) *store.Store {
	t.Helper()
	s := MustOpenStore(t, store.Options{})
	for _, body := range []string{
		`{"topic":"nba/a","type":"score","data":{"home":"=1+1","away":"+SUM(A1)","home_score":0,"away_score":0,"status":"scheduled"}}`,
		`{"topic":"nba/a","type":"score","data":{"home":"-cmd","away":"@import","home_score":3,"away_score":0,"period":1,"clock":"11:02","status":"live"}}`,
		`{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":99.5,"change":-0.5,"change_pct":-0.5,"volume":100,"currency":"USD"}}`,
		`{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":98.25,"change":-1.25}}`,
		`{"topic":"misc","type":"note","data":{"text":"=HYPERLINK(\"http://evil\")","tags":["a,b"]}}`,
		`{"topic":"nba/b","type":"score","data":{"home":"Home \"H\"","away":"Away, Team","home_score":1,"away_score":1,"period":"OT"}}`,
	} {
		var u feed.Update
		if err := json.Unmarshal([]byte(body), &u); err != nil {
			t.Fatal(err)
		}
		MustAppend(t, s, u)
	}
	return s
}

// TestExport checks an export against the events it selects: the header,
// then each event's record as feed.AppendCSV writes it (whose records read
// back into the events exactly: see feed's TestAppendCSVRoundTrip), in ID
// order, and nothing else.
func TestExport(t *testing.T) {
	t.Parallel()
	s := exportFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		r    feed.Range
	}{
		{"OKAll", feed.Range{}},
		{"OKTopic", feed.Range{Filter: mustFilter(t, "nba/a")}},
		{"OKTopics", feed.Range{Filter: mustFilter(t, "nba/a", "misc")}},
		{"OKPrefix", feed.Range{Filter: mustFilter(t, "nba/*")}},
		{"OKAfterBefore", feed.Range{After: 1, Before: 5}},
		{"OKNothing", feed.Range{Filter: mustFilter(t, "nhl/*")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := s.Export(ctx, &buf, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := s.Page(ctx, tc.r, feed.MaxPage, false)
			if err != nil {
				t.Fatal(err)
			}
			wantCSV := feed.AppendCSVHeader(nil)
			for _, e := range want {
				wantCSV = feed.AppendCSV(wantCSV, e)
			}
			if !bytes.Equal(buf.Bytes(), wantCSV) {
				t.Fatalf("export:\n%s\nwant:\n%s", buf.Bytes(), wantCSV)
			}
			header, records := readCSV(t, buf.Bytes())
			if !slices.Equal(header, feed.CSVColumns) {
				t.Fatalf("header %v", header)
			}
			if n != int64(len(want)) || len(records) != len(want) {
				t.Fatalf("exported %d events in %d records, want %d", n, len(records), len(want))
			}
		})
	}
	t.Run("OKNegativeChangeIsNumber", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := s.Export(ctx, &buf, feed.Range{Filter: mustFilter(t, "stocks/X")}); err != nil {
			t.Fatal(err)
		}
		_, records := readCSV(t, buf.Bytes())
		if got := records[1][13]; got != "-1.25" {
			t.Fatalf("change = %q, want the number -1.25", got)
		}
	})
}

// readCSV parses an export and returns its header and records.
func readCSV(t *testing.T, text []byte) ([]string, [][]string) {
	t.Helper()
	records, err := csv.NewReader(bytes.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v\n%s", err, text)
	}
	if len(records) == 0 {
		t.Fatal("the export has no header")
	}
	return records[0], records[1:]
}

// TestExportWindows exports more events than one read covers, through a
// filter that matches some of them.
func TestExportWindows(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	const total = 10_000
	for start := 0; start < total; start += feed.MaxBatch {
		batch := make([]feed.Update, feed.MaxBatch)
		for i := range batch {
			batch[i] = note(fmt.Sprintf("t/%d", (start+i)%7), start+i)
		}
		MustAppend(t, s, batch...)
	}
	for _, tc := range []struct {
		name     string
		patterns []string
		match    func(n int) bool // on note n, with ID n+1
	}{
		{"OKAll", []string{"*"}, func(int) bool { return true }},
		{"OKTopic", []string{"t/3"}, func(n int) bool { return n%7 == 3 }},
		{"OKTopics", []string{"t/3", "t/5"}, func(n int) bool { return n%7 == 3 || n%7 == 5 }},
		{"OKPrefix", []string{"t/*"}, func(int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := 0
			for n := 5; n < total; n++ { // IDs after 5
				if tc.match(n) {
					want++
				}
			}
			var buf bytes.Buffer
			n, err := s.Export(ctx, &buf, feed.Range{Filter: mustFilter(t, tc.patterns...), After: 5})
			if err != nil {
				t.Fatal(err)
			}
			_, records := readCSV(t, buf.Bytes())
			if n != int64(want) || len(records) != want {
				t.Fatalf("%d events in %d records, want %d", n, len(records), want)
			}
			var last int64 = 5
			for _, rec := range records {
				id, _ := strconv.ParseInt(rec[0], 10, 64)
				if id <= last {
					t.Fatalf("ID %d after %d", id, last)
				}
				last = id
			}
		})
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after--; w.after < 0 {
		return 0, errors.New("client went away")
	}
	return len(p), nil
}

func TestExportStops(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	for start := 0; start < 20_000; start += feed.MaxBatch {
		batch := make([]feed.Update, feed.MaxBatch)
		for i := range batch {
			batch[i] = note("t", start+i)
		}
		MustAppend(t, s, batch...)
	}
	t.Run("ErrWrite", func(t *testing.T) {
		if _, err := s.Export(context.Background(), &failingWriter{after: 1}, feed.Range{}); err == nil || !strings.Contains(err.Error(), "went away") {
			t.Fatalf("Export = %v, want the writer's error", err)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Export(ctx, io.Discard, feed.Range{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Export = %v, want context.Canceled", err)
		}
	})
}
