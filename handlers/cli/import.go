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

// Import is `livefeed import [-url URL] [-token T] [-batch N] [-keys
// none|file] FILE.csv`: publishes the rows of a CSV in livefeed's export
// format (GET /api/export.csv; the events get new IDs and times) or of a
// fixtures sheet (topic, home, away, start) through the API, in batches,
// as publish does its lines: every row, also one the same as an earlier
// run's, unless -keys=file makes a rerun skip what was stored.
func Import(ctx context.Context, e Env) error {
	ff := newFeedFlags("import", "publish token", e)
	batch := ff.flags.Int("batch", 500, "events per request, 1 to 1000; each batch is published all or nothing")
	keys := ff.flags.String("keys", keysNone, keysUsage("row"))
	ff.flags.Usage = func() {
		fmt.Fprintf(ff.flags.Output(), "usage: livefeed import [-url URL] [-token T] [-batch N] [-keys none|file] FILE.csv\n\n"+
			"Publishes the rows of a CSV: an export of livefeed's (the header of\n"+
			"/api/export.csv; the events get new IDs and times), or a fixtures sheet with\n"+
			"the header topic,home,away,start (a score event of 0-0, status scheduled, a\n"+
			"row). Every row is published, also one an earlier run published. The file is\n"+
			"checked whole before anything is sent: a bad row publishes nothing. At the\n"+
			"end it says which rows were published, with their IDs; the exit status is not\n"+
			"0 when any row was not stored, and the message says which were stored, which\n"+
			"were not, and which may or may not be.\n\n")
		ff.flags.PrintDefaults()
	}
	args, err := ff.parseBatched(e, batch)
	if err != nil {
		return FlagError(err)
	}
	if len(args) != 1 {
		return UsageError(e.Stderr, ff.flags.Usage, "import takes one CSV file, not %d arguments", len(args))
	}
	if err := checkKeys(*keys, args[0], "import", ff.flags.Usage, e.Stderr); err != nil {
		return err
	}
	in, err := openInput(args[0], nil)
	if err != nil {
		return err
	}
	defer in.close()
	if *keys == keysFile && !in.regular {
		return UsageError(e.Stderr, ff.flags.Usage, "-keys=file needs a regular file, which a rerun reads again the same; %s is not one", in.name)
	}
	c, r, tokenFrom, err := ff.publisher(e)
	if err != nil {
		return err
	}
	j := &job{
		name: in.name, unit: "row", size: *batch, paced: !in.regular,
		tokenFrom: tokenFrom, server: r, send: c.PublishBatchAck,
	}
	if *keys == keysFile {
		j.key = fileKeys("import", in.path)
	}
	// A file is read twice: the progress bar follows the second reading,
	// which sends.
	reads := 0
	var bar *progressbar.ProgressBar
	open := func(r io.Reader) (reader, error) {
		if reads++; in.regular && reads == 2 {
			if bar = progressOn(e.Stderr, in.f, "importing "+in.name); bar != nil {
				r = io.TeeReader(r, bar)
			}
		}
		return newCSVReader(r)
	}
	err = j.run(ctx, in, open)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "livefeed import: %s\n", j.summary())
	return nil
}

// csvReader reads the rows of a CSV export or fixtures sheet as events,
// checking each as the server would.
type csvReader struct {
	r   *csv.Reader
	row func([]string) (feed.Update, error)
	n   int // rows read
}

// newCSVReader reads the header of in, which says what its rows are.
func newCSVReader(in io.Reader) (*csvReader, error) {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, &badInput{where: "line 1", err: fmt.Errorf("no CSV header: %w", err)}
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte-order mark
	c := &csvReader{r: r}
	switch {
	case slices.Equal(header, feed.CSVColumns):
		c.row = exportRow
	case slices.Equal(header, fixturesColumns):
		c.row = fixtureRow
	default:
		return nil, &badInput{where: "line 1", err: fmt.Errorf("the header is %q: use livefeed's export format (%s) or a fixtures sheet (%s)",
			strings.Join(header, ","), strings.Join(feed.CSVColumns, ","), strings.Join(fixturesColumns, ","))}
	}
	return c, nil
}

func (c *csvReader) next() (int, feed.Update, error) {
	record, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return 0, feed.Update{}, io.EOF
	}
	c.n++
	if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
		return c.n, feed.Update{}, &badInput{pos: c.n, where: fmt.Sprintf("row %d (line %d)", c.n, pe.Line), err: pe.Err}
	}
	if err != nil {
		return c.n, feed.Update{}, err
	}
	line, _ := c.r.FieldPos(0)
	u, err := c.row(record)
	if err == nil {
		_, err = feed.ValidateBatch([]feed.Update{u})
	}
	if err != nil {
		return c.n, feed.Update{}, &badInput{pos: c.n, where: fmt.Sprintf("row %d (line %d)", c.n, line), err: err}
	}
	return c.n, u, nil
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
		if fd.InData {
			continue // in the data column
		}
		cell := record[slices.Index(cols, fd.Name)] // the fields' names are the columns'
		if cell == "" {
			continue // absent
		}
		if fd.Kind.TakesNumber() && isNumber(cell) {
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
