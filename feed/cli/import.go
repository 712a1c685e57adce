package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"livefeed/feed"
)

// fixturesColumns is the header of a fixtures sheet: a game a row, made a
// score event of 0–0, "scheduled".
var fixturesColumns = []string{"topic", "home", "away", "start"}

// Import is `livefeed import [-url URL] [-token T] [-batch N]
// FILE.csv`: publishes the rows of a CSV in livefeed's export format
// (GET /api/export.csv; the events get new IDs and times) or of a
// fixtures sheet (topic, home, away, start) through the API, in batches
// with Idempotency-Keys made from the rows and their place, so that a
// rerun after an interruption publishes nothing twice.
func Import(ctx context.Context, e Env) error {
	ff := newFeedFlags("import", "publish token", e)
	batch := ff.flags.Int("batch", 500, "events per request, 1 to 1000; each batch is published all or nothing")
	ff.flags.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: livefeed import [-url URL] [-token T] [-batch N] FILE.csv\n\n"+
			"Publishes the rows of a CSV: an export of livefeed's (the header of\n"+
			"/api/export.csv; the events get new IDs and times), or a fixtures sheet with\n"+
			"the header topic,home,away,start (a score event of 0-0, status scheduled, a\n"+
			"row). A rerun on the same file publishes nothing twice.\n\n")
		ff.flags.PrintDefaults()
	}
	if err := ff.flags.Parse(e.Args); err != nil {
		return FlagError(err)
	}
	if *batch < 1 || *batch > maxBatch {
		return UsageError(e.Stderr, ff.flags.Usage, "-batch %d is out of range: use 1 to %d events", *batch, maxBatch)
	}
	if ff.flags.NArg() != 1 {
		return UsageError(e.Stderr, ff.flags.Usage, "import takes one CSV file, not %d arguments", ff.flags.NArg())
	}
	c, err := ff.client(e)
	if err != nil {
		return err
	}
	name := ff.flags.Arg(0)
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var in io.Reader = f
	if bar := progressOn(e.Stderr, f, "importing "+name); bar != nil {
		in = io.TeeReader(f, bar)
		defer bar.Finish()
	}
	published := 0
	b := &batcher{size: *batch, name: name, unit: "row", stdout: io.Discard, send: func(updates []feed.Update, key string) ([]int64, error) {
		ids, err := c.PublishBatch(ctx, updates, key)
		if err == nil {
			published += len(ids)
		}
		return ids, err
	}}
	rows, err := importRows(in, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "imported %d rows of %s: %d events published\n", rows, name, published)
	return nil
}

// importRows reads the CSV in and hands each row to b as an update,
// returning the number of rows.
func importRows(in io.Reader, b *batcher) (int, error) {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return 0, fmt.Errorf("%s: no CSV header: %w", b.name, err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte-order mark
	var row func([]string) (feed.Update, error)
	switch {
	case slices.Equal(header, feed.CSVColumns):
		row = exportRow
	case slices.Equal(header, fixturesColumns):
		row = fixtureRow
	default:
		return 0, fmt.Errorf("%s: the header is %q: use livefeed's export format (%s) or a fixtures sheet (%s)",
			b.name, strings.Join(header, ","), strings.Join(feed.CSVColumns, ","), strings.Join(fixturesColumns, ","))
	}
	n := 0
	for {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // a ParseError names its line
			return n, fmt.Errorf("%s: %w; the rows before it were published", b.name, err)
		}
		line, _ := r.FieldPos(0)
		u, err := row(record)
		if err == nil {
			_, err = feed.ValidateBatch([]feed.Update{u})
		}
		if err != nil {
			return n, fmt.Errorf("%s, row %d (line %d): %w; nothing from this row on was published", b.name, n+1, line, err)
		}
		text, _ := json.Marshal(u)
		n++
		if err := b.add(n, text, u); err != nil {
			return n, err
		}
	}
	return n, b.flush()
}

// exportRow reads a row of livefeed's CSV export back into the update it
// was: the field columns and what the data column holds. Text fields lose
// the apostrophe the export puts before a field a spreadsheet would run
// as a formula (and before one starting with an apostrophe).
func exportRow(record []string) (feed.Update, error) {
	cols := feed.CSVColumns
	u := feed.Update{Topic: unneutralise(record[2]), Type: unneutralise(record[3])}
	data := map[string]json.RawMessage{}
	if rest := unneutralise(record[slices.Index(cols, "data")]); rest != "" {
		if err := json.Unmarshal([]byte(rest), &data); err != nil {
			return u, fmt.Errorf("the data column is not a JSON object: %v", err)
		}
	}
	for _, fd := range feed.FieldsOf(u.Type) {
		cell := record[slices.Index(cols, fd.Name)] // the fields' names are the columns'
		if cell == "" {
			continue // absent
		}
		takesNumbers := fd.Kind == feed.Count || fd.Kind == feed.Number || fd.Kind == feed.Positive || fd.Kind == feed.Period
		if takesNumbers && isNumber(cell) {
			data[fd.Name] = json.RawMessage(cell)
			continue
		}
		s, _ := json.Marshal(unneutralise(cell))
		data[fd.Name] = s
	}
	raw, err := json.Marshal(data)
	u.Data = raw
	return u, err
}

// fixtureRow makes a fixtures sheet's row a score event of 0–0.
func fixtureRow(record []string) (feed.Update, error) {
	start, err := time.Parse(time.RFC3339, strings.TrimSpace(record[3]))
	if err != nil {
		return feed.Update{}, fmt.Errorf("start %q is not an RFC 3339 time such as 2026-11-21T19:30:00Z", record[3])
	}
	data, err := json.Marshal(map[string]any{"home": record[1], "away": record[2], "home_score": 0, "away_score": 0, "status": "scheduled", "start": start.UTC().Format(time.RFC3339)})
	return feed.Update{Topic: strings.TrimSpace(record[0]), Type: feed.TypeScore, Data: data}, err
}

// unneutralise undoes the export's guard against formulas: one leading
// apostrophe (see feed.AppendCSV).
func unneutralise(s string) string { return strings.TrimPrefix(s, "'") }

// isNumber reports whether s is a JSON number.
func isNumber(s string) bool {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return false
	}
	_, ok := v.(float64)
	return ok
}

// progressOn returns a progress bar of reading f, drawn on w if w is a
// terminal; nil otherwise (a log or a pipe gets the summary line only).
func progressOn(w io.Writer, f *os.File, what string) *progressbar.ProgressBar {
	info, err := f.Stat()
	if err != nil {
		return nil
	}
	return terminalBar(w, what, info.Size())
}

// WatchGrowth draws, on w if w is a terminal, a progress bar of the file at
// path growing towards the size of the file at reference (a backup or a
// restore being written from it), until the returned function is called,
// with whether it completed.
func WatchGrowth(w io.Writer, what, path, reference string) (done func(ok bool)) {
	bar := terminalBar(w, what, fileSize(reference))
	if bar == nil {
		return func(bool) {}
	}
	return followGrowth(bar, path, 100*time.Millisecond)
}

// terminalBar is a progress bar of total bytes drawn on w, or nil if w is
// not a terminal or there is nothing to count.
func terminalBar(w io.Writer, what string, total int64) *progressbar.ProgressBar {
	out, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(out.Fd())) || total <= 0 {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// followGrowth sets bar to the size of the file at path every interval
// until done is called; done fills the bar if the work completed.
func followGrowth(bar *progressbar.ProgressBar, path string, every time.Duration) (done func(ok bool)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := fileSize(path); n > 0 {
					bar.Set64(min(n, bar.GetMax64()))
				}
			}
		}
	})
	return func(ok bool) {
		close(stop)
		wg.Wait()
		if ok {
			bar.Finish()
		} else {
			bar.Exit()
		}
	}
}

// fileSize is the size of the file at path, 0 if it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
