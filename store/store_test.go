package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

// MustOpenStore opens a store on a new database file in a temporary
// directory and closes it when the test ends.
func MustOpenStore(tb testing.TB, opts store.Options) *store.Store {
	tb.Helper()
	return MustOpenStoreAt(tb, filepath.Join(tb.TempDir(), "feed.db"), opts)
}

// MustOpenStoreAt opens the store at path and closes it when the test ends.
func MustOpenStoreAt(tb testing.TB, path string, opts store.Options) *store.Store {
	tb.Helper()
	s, err := store.Open(path, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustAppend appends updates and fails the test on error.
func MustAppend(tb testing.TB, s *store.Store, updates ...feed.Update) []feed.Event {
	tb.Helper()
	events, err := s.Append(context.Background(), updates)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	return events
}

func note(topic string, n int) feed.Update {
	return feed.Update{Topic: topic, Type: "note", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		var committed [][]feed.Event
		s := MustOpenStore(t, store.Options{Committed: func(e []feed.Event) { committed = append(committed, e) }})
		before := time.Now().Truncate(time.Millisecond)
		events := MustAppend(t, s, feed.Update{Topic: "nba/lal-bos", Type: "score",
			Data: json.RawMessage(`{ "home": "Lakers", "away": "Celtics", "home_score": 3, "away_score": 0 }`)})
		if len(events) != 1 || events[0].ID != 1 {
			t.Fatalf("events = %+v, want one with ID 1", events)
		}
		e := events[0]
		if string(e.Data) != `{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0}` {
			t.Errorf("data not compacted: %s", e.Data)
		}
		if e.Time.Location() != time.UTC || e.Time.Before(before) || e.Time.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("time %v is not UTC milliseconds after %v", e.Time, before)
		}
		s.Close() // the hook has run once Close returns
		if len(committed) != 1 || committed[0][0].ID != 1 {
			t.Errorf("Committed saw %v", committed)
		}
		if s.LastID() != 1 {
			t.Errorf("LastID = %d", s.LastID())
		}
	})
	t.Run("OKBatch", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		events := MustAppend(t, s, note("a", 1), note("b", 2), note("a", 3))
		for i, e := range events {
			if e.ID != int64(i+1) {
				t.Fatalf("event %d has ID %d", i, e.ID)
			}
		}
	})
	t.Run("ErrInvalidWritesNothing", func(t *testing.T) {
		var committed int
		s := MustOpenStore(t, store.Options{Committed: func([]feed.Event) { committed++ }})
		MustAppend(t, s, note("a", 1))
		_, err := s.Append(context.Background(), []feed.Update{note("a", 2), {Topic: "a", Type: "note", Data: json.RawMessage(`[1]`)}})
		if !errors.Is(err, feed.ErrInvalid) {
			t.Fatalf("Append = %v, want feed.ErrInvalid", err)
		}
		got, err := s.After(context.Background(), 0, all(t), 10)
		s.Close()
		if err != nil || len(got) != 1 || s.LastID() != 1 || committed != 1 {
			t.Fatalf("after a rejected batch: %d events (%v), LastID %d, %d commits", len(got), err, s.LastID(), committed)
		}
	})
	t.Run("ErrCanceledWritesNothing", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Append(ctx, []feed.Update{note("a", 1)}); err == nil {
			t.Fatal("Append with a canceled context succeeded")
		}
		if s.LastID() != 0 {
			t.Fatalf("LastID = %d after a canceled append", s.LastID())
		}
	})
	t.Run("feed.ErrClosed", func(t *testing.T) {
		s, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := s.Append(context.Background(), []feed.Update{note("a", 1)}); !errors.Is(err, feed.ErrClosed) {
			t.Fatalf("Append after Close = %v", err)
		}
	})
}

// TestAppendConcurrent checks group commit: concurrent publishers all get
// distinct IDs, and the Committed hook sees every ID once, in order.
func TestAppendConcurrent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []int64
	s := MustOpenStore(t, store.Options{Committed: func(events []feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			seen = append(seen, e.ID)
		}
	}})
	const publishers, each = 16, 100
	var wg sync.WaitGroup
	ids := make(chan int64, publishers*each*2)
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				for _, e := range MustAppend(t, s, note(fmt.Sprintf("t/%d", p), i), note("shared", i)) {
					ids <- e.ID
				}
			}
		})
	}
	wg.Wait()
	s.Close() // the last Committed call has returned
	close(ids)
	got := make(map[int64]bool)
	for id := range ids {
		if got[id] {
			t.Fatalf("ID %d given out twice", id)
		}
		got[id] = true
	}
	if len(seen) != publishers*each*2 {
		t.Fatalf("Committed saw %d events, want %d", len(seen), publishers*each*2)
	}
	for i, id := range seen {
		if id != int64(i+1) {
			t.Fatalf("Committed saw ID %d at position %d: not in order", id, i)
		}
	}
}

// TestIDsNeverReused deletes every row and restarts: new IDs continue above
// the old ones, because the high-water mark is kept apart from the rows.
func TestIDsNeverReused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	MustAppend(t, s, note("a", 1), note("a", 2), note("a", 3))
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM events`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = MustOpenStoreAt(t, path, store.Options{})
	if s.LastID() != 3 {
		t.Fatalf("LastID after reopen = %d, want 3", s.LastID())
	}
	if e := MustAppend(t, s, note("a", 4)); e[0].ID != 4 {
		t.Fatalf("new ID = %d, want 4", e[0].ID)
	}
}

func TestTimesNeverDecrease(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	var last time.Time
	for i := range 50 {
		e := MustAppend(t, s, note("a", i))[0]
		if e.Time.Before(last) {
			t.Fatalf("event %d time %v is before %v", e.ID, e.Time, last)
		}
		last = e.Time
	}
}

func all(tb testing.TB) feed.Filter {
	return mustFilter(tb, "*")
}

func mustFilter(tb testing.TB, patterns ...string) feed.Filter {
	tb.Helper()
	f, err := feed.ParseFilter(patterns)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func ids(events []feed.Event) string {
	var b strings.Builder
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, e.ID)
	}
	return b.String()
}

func TestAfter(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	MustAppend(t, s,
		note("nba/a", 1),     // 1
		note("stocks/X", 2),  // 2
		note("nba/b", 3),     // 3
		note("nbax", 4),      // 4
		note("nba/a/q", 5),   // 5
		note("stocks/Y", 6),  // 6
		note("nba/a", 7),     // 7
		note("stocks/XY", 8), // 8
	)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		patterns []string
		after    int64
		limit    int
		want     string
	}{
		{"All", []string{"*"}, 0, 100, "1,2,3,4,5,6,7,8"},
		{"AllAfter", []string{"*"}, 5, 100, "6,7,8"},
		{"AllLimit", []string{"*"}, 2, 3, "3,4,5"},
		{"Topic", []string{"nba/a"}, 0, 100, "1,7"},
		{"TopicAfter", []string{"nba/a"}, 1, 100, "7"},
		{"Topics", []string{"stocks/X", "nba/b"}, 0, 100, "2,3"},
		{"Prefix", []string{"nba/*"}, 0, 100, "1,3,5,7"},
		{"PrefixNotSibling", []string{"stocks/*"}, 0, 100, "2,6,8"},
		{"PrefixAndTopic", []string{"nba/*", "nbax"}, 2, 100, "3,4,5,7"},
		{"None", []string{"nope"}, 0, 100, ""},
		{"AfterEnd", []string{"*"}, 8, 100, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.After(ctx, tc.after, mustFilter(t, tc.patterns...), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Fatalf("After(%d, %v) = [%s], want [%s]", tc.after, tc.patterns, ids(got), tc.want)
			}
		})
	}
}

func TestAfterPruned(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		MustAppend(t, s, note("a", i))
	}
	s.Close()
	// Retention removed events 1-5 (issue-level retention does this in one
	// transaction; here it is done by hand).
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM events WHERE id <= 5; UPDATE counters SET value = 5 WHERE name = 'floor'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = MustOpenStoreAt(t, path, store.Options{})
	if s.Floor() != 5 {
		t.Fatalf("Floor = %d, want 5", s.Floor())
	}
	if _, err := s.After(context.Background(), 4, all(t), 10); !errors.Is(err, feed.ErrPruned) {
		t.Fatalf("After(4) = %v, want feed.ErrPruned", err)
	}
	got, err := s.After(context.Background(), 5, all(t), 10)
	if err != nil || ids(got) != "6,7,8,9,10" {
		t.Fatalf("After(5) = [%s], %v", ids(got), err)
	}
}

func TestLatestAndRecent(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	MustAppend(t, s, note("a", 1), note("b", 2))
	MustAppend(t, s, note("a", 3))
	MustAppend(t, s, note("c", 4), note("b", 5), note("b", 6))
	ctx := context.Background()
	latest, err := s.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids(latest) != "3,4,6" {
		t.Fatalf("Latest = [%s], want [3,4,6]", ids(latest))
	}
	if string(latest[2].Data) != `{"n":6}` || latest[2].Topic != "b" {
		t.Fatalf("latest of b = %+v", latest[2])
	}
	recent, err := s.Recent(ctx, 4)
	if err != nil || ids(recent) != "3,4,5,6" {
		t.Fatalf("Recent(4) = [%s], %v", ids(recent), err)
	}
	if all, err := s.Recent(ctx, 100); err != nil || ids(all) != "1,2,3,4,5,6" {
		t.Fatalf("Recent(100) = [%s], %v", ids(all), err)
	}
}

func TestEventJSON(t *testing.T) {
	t.Parallel()
	e := feed.Event{ID: 42, Topic: "nba/lal-bos", Type: "score",
		Time: time.Date(2026, 11, 21, 19, 4, 5, 123_000_000, time.UTC), Data: json.RawMessage(`{"home":"A"}`)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":42,"topic":"nba/lal-bos","type":"score","time":"2026-11-21T19:04:05.123Z","data":{"home":"A"}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back feed.Event
	if err := json.Unmarshal(b, &back); err != nil || back.ID != 42 || !back.Time.Equal(e.Time) || string(back.Data) != `{"home":"A"}` {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	t.Run("OKWAL", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "dir", "feed.db")
		MustOpenStoreAt(t, path, store.Options{Synchronous: "full"})
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var mode string
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v", mode, err)
		}
	})
	t.Run("ErrSynchronous", func(t *testing.T) {
		if _, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{Synchronous: "sometimes"}); err == nil {
			t.Fatal("Open accepted synchronous=sometimes")
		}
	})
	t.Run("ErrCorruptFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "garbage.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 400)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(path, store.Options{})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open(corrupt) = %v, want an error naming %s", err, path)
		}
	})
	t.Run("ErrNewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "feed.db")
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, _ := sql.Open("sqlite", path)
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (999, 'future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, err := store.Open(path, store.Options{}); err == nil || !strings.Contains(err.Error(), "newer livefeed") {
			t.Fatalf("Open(newer schema) = %v", err)
		}
	})
	t.Run("OKMigrationsOnce", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "feed.db")
		for range 3 {
			s, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
		db, _ := sql.Open("sqlite", path)
		defer db.Close()
		files, _ := filepath.Glob("migrations/*.sql")
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
			t.Fatalf("%d migrations recorded (%v), want one of each of the %d files", n, err, len(files))
		}
	})
}

// TestAfterMatchesModel compares After with a plain scan of everything
// appended, for many filters, positions and limits, while the topic index
// lags behind the commits and after a reopen (which indexes everything).
func TestAfterMatchesModel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	topics := []string{"nba/a", "nba/b", "nba/c/x", "nbax", "stocks/A", "stocks/B", "z"}
	filters := [][]string{{"*"}, {"nba/a"}, {"nba/*"}, {"nba/a", "stocks/B"}, {"stocks/*", "z"}, {"nba/c/*"}, {"absent"}, {"absent/*"}}
	var model []feed.Event
	check := func(s *store.Store) {
		t.Helper()
		ctx := context.Background()
		for _, patterns := range filters {
			f := mustFilter(t, patterns...)
			for _, after := range []int64{0, 1, 7, int64(len(model) / 2), int64(len(model) - 3), int64(len(model))} {
				for _, limit := range []int{1, 5, 1000} {
					got, err := s.After(ctx, after, f, limit)
					if err != nil {
						t.Fatal(err)
					}
					var want []feed.Event
					for _, e := range model {
						if e.ID > after && f.Match(e.Topic) && len(want) < limit {
							want = append(want, e)
						}
					}
					if ids(got) != ids(want) {
						t.Fatalf("After(%d, %v, %d) = [%s], want [%s]", after, patterns, limit, ids(got), ids(want))
					}
				}
			}
		}
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		model = append(model, MustAppend(t, s, note(topics[(i*7+i/5)%len(topics)], i))...)
	}
	check(s)
	s.Close()
	s = MustOpenStoreAt(t, path, store.Options{})
	check(s)
	for i := range 50 {
		model = append(model, MustAppend(t, s, note(topics[i%len(topics)], i))...)
	}
	check(s)
}

// TestGroupCommit: concurrent publishers share commits, while a lone
// publisher is never held back waiting for company.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	t.Run("Lone", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		for i := range 50 {
			MustAppend(t, s, note("a", i))
		}
		if st := s.Stats(); st.Commits != 50 || st.Events != 50 {
			t.Fatalf("a lone publisher: %+v, want one commit per publish", st)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		var wg sync.WaitGroup
		for p := range 16 {
			wg.Go(func() {
				for i := range 200 {
					MustAppend(t, s, note(fmt.Sprintf("t/%d", p), i))
				}
			})
		}
		wg.Wait()
		st := s.Stats()
		t.Logf("16 concurrent publishers: %d events in %d commits (%.1f per commit)", st.Events, st.Commits, float64(st.Events)/float64(st.Commits))
		if st.Events != 3200 || st.Commits >= st.Events {
			t.Fatalf("%+v: concurrent publishes were not grouped", st)
		}
	})
}

// TestWALStaysBounded: under a steady stream of commits the write-ahead
// log is still started over, so it does not grow with the history (it
// reached gigabytes before checkpoints could restart it).
func TestWALStaysBounded(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("writes for a few seconds")
	}
	path := filepath.Join(t.TempDir(), "feed.db")
	s := MustOpenStoreAt(t, path, store.Options{WALRestartPages: 256})
	batch := make([]feed.Update, 500)
	for i := range batch {
		batch[i] = feed.Update{Topic: fmt.Sprintf("t/%d", i%50), Type: "note",
			Data: json.RawMessage(`{"pad":"` + strings.Repeat("x", 400) + `"}`)}
	}
	// Several checkpoint intervals, then until the log was started over
	// at least once since: on a loaded machine a restarting checkpoint
	// may find the writer busy for longer than it waits, and tries again
	// a second later.
	start := time.Now()
	frames, pages := untilWALRestarted(t, s, path, func() { MustAppend(t, s, batch...) })
	t.Logf("%d events in %v: %d pages in the database, %d in the write-ahead log at the last checkpoint", s.LastID(), time.Since(start).Round(time.Millisecond), pages, frames)
	if frames <= 0 || frames >= pages {
		t.Fatalf("the write-ahead log holds %d pages for a %d-page database: it is never started over", frames, pages)
	}
}

// untilWALRestarted calls step over and over: for 4 s (several checkpoint
// intervals), then until the write-ahead log has started over since its
// last checkpoint, or for 30 s at most. It returns the pages in the log at
// its last checkpoint (frames) and in the database file at path (pages):
// without restarts the log holds every page ever written, more than the
// database holds; with them, a second or two of writes.
func untilWALRestarted(t *testing.T, s *store.Store, path string, step func()) (frames, pages int64) {
	t.Helper()
	start := time.Now()
	for {
		step()
		if time.Since(start) < 4*time.Second {
			continue
		}
		frames = s.Stats().WALFrames
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		pages = fi.Size() / 4096
		if frames > 0 && frames < pages || time.Since(start) > 30*time.Second {
			return frames, pages
		}
	}
}

// TestApply stores events that already have IDs, as a node mirroring a
// replicated log does: they are handed on in order, applying again skips
// what is stored, IDs that go back are refused, and the IDs hold across a
// reopen.
func TestApply(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	var got []int64
	s, err := store.Open(path, store.Options{Committed: func(events []feed.Event) {
		for _, e := range events {
			got = append(got, e.ID)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	ev := func(id int64, topic string) feed.Event {
		return feed.Event{ID: id, Topic: topic, Type: "note", Time: at.Add(time.Duration(id) * time.Millisecond), Data: []byte(`{"n":1}`)}
	}
	ctx := context.Background()
	if _, err := s.Apply(ctx, []feed.Event{ev(1, "a"), ev(2, "b"), ev(3, "a")}); err != nil {
		t.Fatal(err)
	}
	if stored, err := s.Apply(ctx, []feed.Event{ev(2, "b"), ev(3, "a"), ev(4, "a")}); err != nil || len(stored) != 1 || stored[0].ID != 4 {
		t.Fatalf("applying again with one new event: stored %+v, %v", stored, err)
	}
	if _, err := s.Apply(ctx, []feed.Event{ev(6, "a"), ev(5, "a")}); !errors.Is(err, feed.ErrInvalid) {
		t.Fatalf("IDs going back: %v, want ErrInvalid", err)
	}
	if _, err := s.Apply(ctx, []feed.Event{ev(6, "a")}); err != nil {
		t.Fatalf("a skipped ID (a message deleted from the log): %v", err)
	}
	latest, found, err := s.LatestOf(ctx, "a")
	if err != nil || !found || latest.ID != 6 || !latest.Time.Equal(at.Add(6*time.Millisecond)) {
		t.Fatalf("latest of a: %+v, %v, %v", latest, found, err)
	}
	s.Close() // the hook has run once Close returns
	if !slices.Equal(got, []int64{1, 2, 3, 4, 6}) || s.LastID() != 6 {
		t.Fatalf("handed on %v, last ID %d", got, s.LastID())
	}
	s = MustOpenStoreAt(t, path, store.Options{})
	if events := MustAppend(t, s, note("a", 9)); events[0].ID != 7 {
		t.Fatalf("after a reopen the next ID is %d, want 7", events[0].ID)
	}
}

// TestAppendIf: a conditional append goes through only while its topic's
// latest event is the one it names, also against publishes in the same
// commit; a retry with its key is answered whatever the latest is by then.
func TestAppendIf(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	if _, _, err := s.AppendIf(ctx, nil, 0, note("g", 1)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, _, err := s.AppendIf(ctx, nil, 0, note("g", 2)); !errors.Is(err, feed.ErrConflict) {
		t.Fatalf("create again: %v, want ErrConflict", err)
	}
	once := feed.NewIdempotency("operator:ann", "tap-1", []byte("+3"))
	events, replayed, err := s.AppendIf(ctx, &once, 1, note("g", 3))
	if err != nil || replayed || events[0].ID != 2 {
		t.Fatalf("after 1: %+v, %v, %v", events, replayed, err)
	}
	if _, _, err := s.AppendIf(ctx, nil, 1, note("g", 4)); !errors.Is(err, feed.ErrConflict) {
		t.Fatalf("after a stale ID: %v, want ErrConflict", err)
	}
	events, replayed, err = s.AppendIf(ctx, &once, 1, note("g", 3))
	if err != nil || !replayed || events[0].ID != 2 {
		t.Fatalf("the retry: %+v, %v, %v", events, replayed, err)
	}
}
