package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
)

// indexNow runs an indexing pass on the writer, as it does once
// indexBacklog events wait.
func indexNow(t *testing.T, s *Store) {
	t.Helper()
	if err := s.runTask(context.Background(), func() error { s.indexAll(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// holdPasses keeps the writer from beginning an indexing pass on its own
// (every indexEvery, counted from the last): passes run only when the test
// asks, so a slow run cannot find one done that it meant to hold.
func holdPasses(t *testing.T, s *Store) {
	t.Helper()
	if err := s.runTask(context.Background(), func() error { s.indexEvery, s.lastIndexed = time.Hour, time.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// eachData calls fn with each row of topic_data of the topics LIKE
// pattern, once all are read.
func eachData(db *sql.DB, pattern string, fn func(run int64, events []byte) error) error {
	rows, err := db.Query(`SELECT run, events FROM topic_data WHERE run IN (SELECT rowid FROM topic_runs WHERE topic LIKE ?)`, pattern)
	if err != nil {
		return err
	}
	found := map[int64][]byte{}
	for rows.Next() {
		var run int64
		var blob []byte
		if err := rows.Scan(&run, &blob); err != nil {
			rows.Close()
			return err
		}
		found[run] = blob
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("no rows of topic_data for %q", pattern)
	}
	for run, blob := range found {
		if err := fn(run, blob); err != nil {
			return err
		}
	}
	return nil
}

// rowsAbove counts the rows of topic_runs and of topic_data above
// indexed_through: those of a pass not yet finished.
func rowsAbove(s *Store) (n int, err error) {
	err = s.rdb.QueryRow(`SELECT
		(SELECT COUNT(*) FROM topic_runs WHERE last > (SELECT value FROM counters WHERE name = 'indexed_through')) +
		(SELECT COUNT(*) FROM topic_data WHERE last > (SELECT value FROM counters WHERE name = 'indexed_through'))`).Scan(&n)
	return n, err
}

// oracle is every event of a store as a test stored it, for the answer a
// read must give.
type oracle struct{ events []feed.Event }

// same checks that each of got is the event the test stored with its ID.
func (o *oracle) same(got []feed.Event) error {
	for _, e := range got {
		i, ok := slices.BinarySearchFunc(o.events, e.ID, func(w feed.Event, id int64) int { return cmp.Compare(w.ID, id) })
		if !ok {
			return fmt.Errorf("event %d was never stored", e.ID)
		}
		w := o.events[i]
		if e.Topic != w.Topic || e.Type != w.Type || !e.Time.Equal(w.Time) || e.Time.Location() != time.UTC ||
			string(e.Data) != string(w.Data) || e.Operator != w.Operator {
			return fmt.Errorf("read %+v, stored %+v", e, w)
		}
	}
	return nil
}

func (o *oracle) read(f feed.Filter, floor, after, before int64, limit int, newestFirst bool) []int64 {
	var out []int64
	for _, e := range o.events {
		if e.ID > max(after, floor) && (before == 0 || e.ID < before) && f.Match(e.Topic) {
			out = append(out, e.ID)
		}
	}
	if newestFirst {
		slices.Reverse(out)
	}
	return out[:min(limit, len(out))]
}

func eventIDs(events []feed.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// TestIndexedReads checks every read of a selection of topics against
// the events themselves, with the IDs of the topic index in each of its
// places: all in the writer's memory, in topic_runs and memory, in runs of
// more than maxRun IDs, after a restart, and after a prune.
func TestIndexedReads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	holdPasses(t, s) // else midPass may find a pass the writer began done
	rng := rand.New(rand.NewPCG(1, 2))
	var o oracle
	publish := func(n int) {
		t.Helper()
		for n > 0 {
			batch := make([]feed.Update, min(n, 500))
			n -= len(batch)
			for i := range batch {
				topic := fmt.Sprintf("g/t%02d", rng.IntN(30))
				switch r := rng.IntN(100); {
				case r < 45:
					topic = "hot"
				case r < 46:
					topic = fmt.Sprintf("s/x%d", rng.IntN(3))
				case r < 56:
					topic = fmt.Sprintf("m/t%03d", rng.IntN(walkTopics+36))
				}
				batch[i] = feed.Update{Topic: topic, Type: "note", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, rng.IntN(1e6)))}
				if rng.IntN(10) == 0 {
					batch[i].Type, batch[i].Operator = "alert", fmt.Sprintf("op%d", rng.IntN(3))
				}
			}
			events, err := s.Append(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			o.events = append(o.events, events...)
		}
	}
	filters := [][]string{{"hot"}, {"g/t05"}, {"s/x1", "hot"}, {"g/*", "s/*"}, {"m/*"}, {"m/*", "s/*", "hot"}, {"nothing"}}
	checkStore := func(stage string, s *Store) {
		t.Helper()
		last, floor := s.LastID(), s.Floor()
		positions := []int64{floor, last / 2, last - 50, last + 10}
		for range 2 {
			positions = append(positions, rng.Int64N(last+1))
		}
		for _, patterns := range filters {
			f, err := feed.ParseFilter(patterns)
			if err != nil {
				t.Fatal(err)
			}
			for _, after := range positions {
				if after < floor {
					continue
				}
				for _, before := range []int64{0, after + 1 + rng.Int64N(2000)} {
					for _, limit := range []int{7, feed.MaxPage} {
						for _, newest := range []bool{false, true} {
							got, more, err := s.Page(ctx, feed.Range{Filter: f, After: after, Before: before}, limit, newest)
							if err != nil {
								t.Fatalf("%s: %v after %d before %d: %v", stage, patterns, after, before, err)
							}
							want := o.read(f, floor, after, before, limit+1, newest)
							wantMore := len(want) > limit
							want = want[:min(limit, len(want))]
							if !slices.Equal(eventIDs(got), want) || more != wantMore {
								t.Fatalf("%s: %v after %d before %d limit %d newest first %v:\n got %v (more %v)\nwant %v (more %v)",
									stage, patterns, after, before, limit, newest, eventIDs(got), more, want, wantMore)
							}
							if err := o.same(got); err != nil {
								t.Fatalf("%s: %v after %d before %d limit %d newest first %v: %v", stage, patterns, after, before, limit, newest, err)
							}
						}
					}
				}
				got, err := s.After(ctx, after, f, 300)
				if want := o.read(f, floor, after, 0, 300, false); err != nil || !slices.Equal(eventIDs(got), want) {
					t.Fatalf("%s: After(%d, %v) = %v, %v; want %v", stage, after, patterns, eventIDs(got), err, want)
				}
				if err := o.same(got); err != nil {
					t.Fatalf("%s: After(%d, %v): %v", stage, after, patterns, err)
				}
			}
		}
	}

	check := func(stage string) { t.Helper(); checkStore(stage, s) }
	// midPass holds the writer after the first step of a pass, while
	// during runs: topic_runs then holds rows above indexed_through.
	midPass := func(during func()) {
		t.Helper()
		started, release, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			errc <- s.runTask(ctx, func() error {
				s.indexStep(40, math.MaxInt)
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		defer func() {
			close(release) // also when during fails the test
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}()
		if above, err := rowsAbove(s); err != nil || above == 0 {
			t.Errorf("a pass's first step wrote %d rows above indexed_through (%v)", above, err)
		}
		during()
	}

	publish(3000)
	check("in memory")
	indexNow(t, s)
	publish(12000) // "hot" gets more than maxRun IDs in the next pass
	check("stored and in memory")
	backup := filepath.Join(t.TempDir(), "mid-pass.db")
	midPass(func() {
		check("a pass half written")
		if err := s.Backup(ctx, backup); err != nil {
			t.Fatal(err)
		}
	})
	// The backup holds a pass's first step and not its last, as a crash
	// between them leaves the database: opening it drops the step's rows
	// and writes them again. It reads the 12,000 events after the last
	// finished pass back in chunks of 1,000, writing a pass after each
	// full one, so that memory holds at most two chunks of them.
	b, err := Open(backup, Options{catchUpChunk: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if above, err := rowsAbove(b); err != nil || above != 0 {
		t.Fatalf("opened after a pass half written: %d rows above indexed_through (%v)", above, err)
	}
	if pending := b.LastID() - b.indexedThrough.Load(); pending >= 1000 {
		t.Fatalf("opened after a pass half written: %d events left unindexed, more than a chunk", pending)
	}
	checkStore("a pass half written, reopened", b)
	if err := b.runTask(ctx, func() error { b.indexAll(); return nil }); err != nil {
		t.Fatal(err)
	}
	checkStore("a pass half written, reopened and indexed", b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	indexNow(t, s)
	check("stored, the last pass still in memory")
	indexNow(t, s)
	publish(700)
	check("stored in runs longer than maxRun")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	check("reopened")
	publish(900)
	if _, err := s.Prune(ctx, Retention{MaxRows: 9000}); err != nil {
		t.Fatal(err)
	}
	check("pruned")
	publish(300)
	indexNow(t, s)
	check("pruned and indexed")
	var n int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM topic_runs WHERE last <= ?`, s.Floor()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d runs wholly below the floor remain (%v)", n, err)
	}
	var longest int
	if err := s.rdb.QueryRow(`SELECT MAX(length(ids)) FROM topic_runs`).Scan(&longest); err != nil || longest == 0 {
		t.Fatalf("longest run %d bytes, %v", longest, err)
	}

	// Every run holds its events in topic_data, and the prune removed
	// those of the runs it removed.
	var bare, orphans int
	if err := s.rdb.QueryRow(`SELECT
		(SELECT COUNT(*) FROM topic_runs r LEFT JOIN topic_data d ON d.run = r.rowid AND d.last = r.last WHERE d.run IS NULL),
		(SELECT COUNT(*) FROM topic_data d LEFT JOIN topic_runs r ON r.rowid = d.run WHERE r.rowid IS NULL)`).Scan(&bare, &orphans); err != nil || bare != 0 || orphans != 0 {
		t.Fatalf("%d runs without their events in topic_data, %d rows of topic_data without their run (%v)", bare, orphans, err)
	}
	// A run with no row of topic_data (written by a livefeed before it),
	// or whose row is not its own, is read from the events table.
	if err := s.runTask(ctx, func() error {
		if _, err := s.db.Exec(`DELETE FROM topic_data WHERE run IN (SELECT rowid FROM topic_runs WHERE topic LIKE 'm/%')`); err != nil {
			return err
		}
		_, err := s.db.Exec(`UPDATE topic_data SET last = last + 1 WHERE run IN (SELECT rowid FROM topic_runs WHERE topic LIKE 'g/%')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check("some runs' events in the events table only")

	// A damaged row of topic_data is read from the events table too, and
	// the operator is told. Rows of "hot": every other one with its data
	// changed so that it still decodes (its checksum tells), the others
	// with their framing cut; rows of "s/" topics with every other record
	// damaged. Those two kinds as rows written before checksums (sum
	// NULL): the decoding finds them.
	var logged bytes.Buffer
	s.bad = badData{log: slog.New(slog.NewTextHandler(&logged, nil))} // every line
	if err := s.runTask(ctx, func() error {
		// The new events of each row, with its checksum kept (true) or
		// dropped.
		damaged := map[int64][]byte{}
		keepSum := map[int64]bool{}
		err := eachData(s.db, "hot", func(run int64, blob []byte) error {
			if run%2 == 1 {
				damaged[run] = blob[:len(blob)-1]
				return nil
			}
			changed := bytes.ReplaceAll(blob, []byte(`{"n":`), []byte(`{"m":`))
			if bytes.Equal(changed, blob) {
				return fmt.Errorf("run %d: no data to change", run)
			}
			if _, err := records(changed); err != nil {
				return err
			}
			damaged[run], keepSum[run] = changed, true
			return nil
		})
		if err != nil {
			return err
		}
		err = eachData(s.db, "s/%", func(run int64, blob []byte) error {
			recs, err := records(blob)
			if err != nil {
				return err
			}
			var out []byte
			for i, rec := range recs {
				if i%2 == 1 {
					rec = []byte{0xff}
				}
				out = append(binary.AppendUvarint(out, uint64(len(rec))), rec...)
			}
			damaged[run] = out
			return nil
		})
		if err != nil {
			return err
		}
		for run, blob := range damaged {
			update := `UPDATE topic_data SET events = ?, sum = NULL WHERE run = ?`
			if keepSum[run] {
				update = `UPDATE topic_data SET events = ? WHERE run = ?`
			}
			if _, err := s.db.Exec(update, blob, run); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("some runs' rows of topic_data damaged")
	// Each kind was read (a record's warning names its ID).
	for _, kind := range []string{`err="topic_data holds a damaged row (its checksum does not match)"`, `err="topic_data holds a damaged row"`, `err="topic_data holds a damaged row (ID `} {
		if !strings.Contains(logged.String(), kind) {
			t.Fatalf("no warning %s of the damaged rows; the log:\n%s", kind, logged.String())
		}
	}
}

// TestReadAcrossPasses: a read whose snapshot was taken before the writer
// ran two indexing passes (and so forgot IDs the snapshot has not seen in
// topic_runs) still gets every event of its snapshot, from the events
// table.
func TestReadAcrossPasses(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var o oracle
	publish := func(n int) {
		for i := range n {
			events, err := s.Append(ctx, []feed.Update{{Topic: fmt.Sprintf("t/%d", i%4), Type: "note", Data: json.RawMessage(`{}`)}})
			if err != nil {
				t.Fatal(err)
			}
			o.events = append(o.events, events...)
		}
	}
	publish(40)
	indexNow(t, s)
	publish(40)
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var snapshot int64
	if err := tx.QueryRow(`SELECT value FROM counters WHERE name = 'indexed_through'`).Scan(&snapshot); err != nil || snapshot != 40 {
		t.Fatalf("indexed_through %d, %v", snapshot, err)
	}
	seen := len(o.events)
	for range 2 {
		indexNow(t, s)
		publish(40)
	}
	if got, through := s.recent.read([]string{"t/1"}, snapshot, snapshot, math.MaxInt64, s.LastID()); got != nil || through != snapshot {
		t.Fatalf("the writer's memory answered for a snapshot it no longer covers: %v through %d", got, through)
	}
	f, _ := feed.ParseFilter([]string{"t/1", "t/2"})
	got, err := s.readRange(ctx, tx, feed.Access{}.Narrow(f), 0, math.MaxInt64, 1000, false, new(eventBuf), nil)
	snap := oracle{o.events[:seen]}
	if want := snap.read(f, 0, 0, 0, 1000, false); err != nil || !slices.Equal(eventIDs(got), want) {
		t.Fatalf("read of an old snapshot = %v, %v; want %v", eventIDs(got), err, want)
	}
}

// TestPassSteps checks how a pass is cut into steps: topics are taken in
// order until a step holds its most topics or, past its first topic, its
// most IDs; only the last step moves indexed_through.
func TestPassSteps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		topics, ids int
		want        [][]string // the topics each step writes
	}{
		{math.MaxInt, math.MaxInt, [][]string{{"a", "b", "c", "d", "e", "f"}}},
		{2, math.MaxInt, [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}}},
		{math.MaxInt, 20, [][]string{{"a"}, {"b", "c"}, {"d", "e", "f"}}},
		{math.MaxInt, 21, [][]string{{"a"}, {"b", "c", "d"}, {"e", "f"}}},
		{2, 1, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}}},
		{1, math.MaxInt, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}}},
	} {
		name := fmt.Sprintf("topics %d ids %d", c.topics, c.ids)
		s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		holdPasses(t, s)
		var updates []feed.Update
		for topic, n := range map[string]int{"a": 50, "b": 10, "c": 10, "d": 1, "e": 10, "f": 1} {
			for range n {
				updates = append(updates, feed.Update{Topic: topic, Type: "note", Data: json.RawMessage(`{}`)})
			}
		}
		if _, err := s.Append(ctx, updates); err != nil {
			t.Fatal(err)
		}
		var got [][]string
		err = s.runTask(ctx, func() error {
			seen := 0
			for range 10 {
				s.indexStep(c.topics, c.ids)
				var topics []string
				rows, err := s.rdb.Query(`SELECT topic FROM topic_runs ORDER BY rowid LIMIT -1 OFFSET ?`, seen)
				if err != nil {
					return err
				}
				for rows.Next() {
					var topic string
					if err := rows.Scan(&topic); err != nil {
						return err
					}
					topics = append(topics, topic)
				}
				if err := rows.Err(); err != nil {
					return err
				}
				seen += len(topics)
				got = append(got, topics)
				if s.passing == nil {
					break
				}
				if s.indexedThrough.Load() != 0 {
					return fmt.Errorf("indexed_through moved to %d before the pass's last step", s.indexedThrough.Load())
				}
			}
			if s.indexedThrough.Load() != s.LastID() {
				return fmt.Errorf("indexed_through %d after the pass, want %d", s.indexedThrough.Load(), s.LastID())
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s: steps wrote %v, want %v", name, got, c.want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStepFollowsCommits: a step after a commit takes twice the commit's
// events or stepIDs, whichever is more, and as many topics or stepTopics,
// so that a pass writes IDs faster than commits add them however many
// topics hold them. With stepTopics alone, 100,000 symbols of a few ticks
// a pass each fell behind under streaming ingest: a minute in, 3.5 million
// events were unindexed and their runs had no events beside them.
func TestStepFollowsCommits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name              string
		topics, perTopic  int
		commits, wantRows []int
	}{
		// 6,000 IDs after a commit of 3,000 events: 60 topics; then
		// stepIDs (4,096): 41 more.
		{"FewTopics", 200, 100, []int{3000, 0}, []int{60, 101}},
		// 2,000 topics after a commit of 1,000 events; then stepTopics
		// (128) more.
		{"ManyTopics", 3000, 1, []int{1000, 0}, []int{2000, 2128}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := stepRows(t, c.topics, c.perTopic, c.commits); !slices.Equal(got, c.wantRows) {
				t.Fatalf("rows of topic_runs after each step: %v, want %v", got, c.wantRows)
			}
		})
	}
}

// stepRows stores perTopic events on each of topics topics, then writes a
// step of a pass after commits of each of committed events, and returns
// the rows of topic_runs after each.
func stepRows(t *testing.T, topics, perTopic int, committed []int) []int {
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	holdPasses(t, s)
	var updates []feed.Update
	for i := range topics {
		for range perTopic {
			updates = append(updates, feed.Update{Topic: fmt.Sprintf("t/%04d", i), Type: "note", Data: json.RawMessage(`{}`)})
		}
	}
	for part := range slices.Chunk(updates, 1000) {
		if _, err := s.Append(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	var rows []int
	err = s.runTask(ctx, func() error {
		for _, n := range committed {
			s.indexTopics(n)
			var count int
			if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM topic_runs`).Scan(&count); err != nil {
				return err
			}
			rows = append(rows, count)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// copyTestdata copies testdata/name (a database an earlier livefeed
// wrote) to a file of the test's, and returns its path.
func copyTestdata(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "feed.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openTestdata opens a copy of testdata/name, closed when the test ends,
// with the writer's own indexing passes held back.
func openTestdata(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(copyTestdata(t, name), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	holdPasses(t, s)
	return s
}

// publishNotes publishes n notes over the topics stocks/S00 to
// stocks/S<topics-1> in turn, data {"<key>":i}, adds them to o, and
// writes an indexing pass.
func publishNotes(t *testing.T, s *Store, o *oracle, n, topics int, key string) {
	t.Helper()
	more := make([]feed.Update, n)
	for i := range more {
		more[i] = feed.Update{Topic: fmt.Sprintf("stocks/S%02d", i%topics), Type: "note", Data: json.RawMessage(fmt.Sprintf(`{%q:%d}`, key, i))}
	}
	events, err := s.Append(context.Background(), more)
	if err != nil {
		t.Fatal(err)
	}
	o.events = append(o.events, events...)
	indexNow(t, s)
}

// TestMigrateTopicIndex opens a database written by the livefeed before
// topic_runs (testdata/v5.db: 3,501 events over 28 topics, the first
// 1,000 pruned, three index entries left below the floor, the index 301
// events behind as after a crash) and checks that every topic's history
// reads as its events say, and that publishing goes on after the last ID.
func TestMigrateTopicIndex(t *testing.T) {
	t.Parallel()
	path := copyTestdata(t, "v5.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var version, oldIndex int
	if err := s.rdb.QueryRow(`SELECT MAX(version), (SELECT COUNT(*) FROM sqlite_schema WHERE name = 'topic_index') FROM schema_migrations`).Scan(&version, &oldIndex); err != nil || version != 8 || oldIndex != 0 {
		t.Fatalf("schema version %d, topic_index tables %d (%v)", version, oldIndex, err)
	}
	var runs, below int
	if err := s.rdb.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE first <= 1000) FROM topic_runs`).Scan(&runs, &below); err != nil || runs == 0 || below != 0 {
		t.Fatalf("%d runs, %d reaching below the floor (%v)", runs, below, err)
	}
	if s.Floor() != 1000 || s.LastID() != 3501 {
		t.Fatalf("floor %d, last %d", s.Floor(), s.LastID())
	}
	rows, err := s.rdb.Query(`SELECT id, topic FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var o oracle
	topics := map[string]bool{}
	for rows.Next() {
		var e feed.Event
		if err := rows.Scan(&e.ID, &e.Topic); err != nil {
			t.Fatal(err)
		}
		o.events = append(o.events, e)
		topics[e.Topic] = true
	}
	rows.Close()
	if len(topics) != 28 || len(o.events) != 2501 {
		t.Fatalf("%d topics, %d events", len(topics), len(o.events))
	}
	for topic := range topics {
		f, _ := feed.ParseFilter([]string{topic})
		for _, newest := range []bool{false, true} {
			got, _, err := s.Page(ctx, feed.Range{Filter: f}, feed.MaxPage, newest)
			if want := o.read(f, 1000, 0, 0, feed.MaxPage, newest); err != nil || !slices.Equal(eventIDs(got), want) {
				t.Fatalf("%s (newest first %v): %v, %v; want %v", topic, newest, eventIDs(got), err, want)
			}
		}
	}
	all, _ := feed.ParseFilter([]string{"stocks/*", "nba/*"})
	n, err := s.Export(ctx, io.Discard, feed.Range{Filter: all})
	if err != nil || n != 2501 {
		t.Fatalf("exported %d events, %v", n, err)
	}
	e, err := s.Append(ctx, []feed.Update{{Topic: "stocks/S001", Type: "note", Data: json.RawMessage(`{}`)}})
	if err != nil || e[0].ID != 3502 {
		t.Fatalf("append after the migration: %v, %v", e, err)
	}
	// Opening it again migrates nothing more and reads the same.
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	f, _ := feed.ParseFilter([]string{"stocks/S001"})
	got, err := s.After(ctx, 1000, f, 1000)
	o.events = append(o.events, e...)
	if want := o.read(f, 1000, 1000, 0, 1000, false); err != nil || !slices.Equal(eventIDs(got), want) {
		t.Fatalf("after reopening: %v, %v; want %v", eventIDs(got), err, want)
	}
}

// TestMigrateTopicData opens a database written by the livefeed before
// topic_data (testdata/v6.db: 2,800 events over 29 topics in two indexing
// passes and 300 events after them, the first 500 pruned) and checks that
// every topic's history reads as its events say, from the events table
// for the runs written before, and from topic_data for the runs written
// after.
func TestMigrateTopicData(t *testing.T) {
	t.Parallel()
	s := openTestdata(t, "v6.db")
	// The runs written before have no events in topic_data (a pass of
	// the 300 events after them may have run since it opened).
	var version, runs, data int
	if err := s.rdb.QueryRow(`SELECT (SELECT MAX(version) FROM schema_migrations),
		(SELECT COUNT(*) FROM topic_runs WHERE last <= 2500),
		(SELECT COUNT(*) FROM topic_data WHERE last <= 2500)`).Scan(&version, &runs, &data); err != nil || version != 8 || runs == 0 || data != 0 {
		t.Fatalf("schema version %d, %d runs written before, %d of them in topic_data (%v)", version, runs, data, err)
	}
	if s.Floor() != 500 || s.LastID() != 2800 {
		t.Fatalf("floor %d, last %d", s.Floor(), s.LastID())
	}
	o, topics := storedEvents(t, s)
	if len(topics) != 29 || len(o.events) != 2300 {
		t.Fatalf("%d topics, %d events", len(topics), len(o.events))
	}
	check := func(stage string) { t.Helper(); checkTopics(t, stage, s, &o, topics, []int64{0, 1500, 2700}) }
	check("migrated")

	// The events after the last pass were read back when it opened, and
	// a pass writes them to topic_data with those published since.
	publishNotes(t, s, &o, 400, 24, "m")
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM topic_data d JOIN topic_runs r ON r.rowid = d.run AND r.last = d.last
		WHERE r.first > 2500`).Scan(&data); err != nil || data < 24 {
		t.Fatalf("%d runs of the pass after the migration hold their events (%v)", data, err)
	}
	check("migrated and indexed")
}

// storedEvents returns every event s holds, as an oracle, and their
// topics.
func storedEvents(t *testing.T, s *Store) (oracle, map[string]bool) {
	t.Helper()
	stored, err := s.queryEvents(context.Background(), s.rdb, `SELECT id, topic, type, time, data, operator FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	topics := map[string]bool{}
	for _, e := range stored {
		topics[e.Topic] = true
	}
	return oracle{events: stored}, topics
}

// checkTopics checks a page of each topic's history, oldest and newest
// first, after each of positions, against o.
func checkTopics(t *testing.T, stage string, s *Store, o *oracle, topics map[string]bool, positions []int64) {
	t.Helper()
	for topic := range topics {
		f, _ := feed.ParseFilter([]string{topic})
		for _, after := range positions {
			for _, newest := range []bool{false, true} {
				got, _, err := s.Page(context.Background(), feed.Range{Filter: f, After: after}, 50, newest)
				if want := o.read(f, s.Floor(), after, 0, 50, newest); err != nil || !slices.Equal(eventIDs(got), want) {
					t.Fatalf("%s: %s after %d (newest first %v): %v, %v; want %v", stage, topic, after, newest, eventIDs(got), err, want)
				}
				if err := o.same(got); err != nil {
					t.Fatalf("%s: %s after %d (newest first %v): %v", stage, topic, after, newest, err)
				}
			}
		}
	}
}

// TestMigrateDataSum opens a database written by the livefeed before
// topic_data's checksums (testdata/v7.db: 2,200 events of 20 symbols, two
// indexing passes over the first 2,000 and 200 after them, the first 300
// pruned): its rows have none and read as they are; the rows written
// after have one, and a row of them changed so that it still decodes is
// read from the events table.
func TestMigrateDataSum(t *testing.T) {
	t.Parallel()
	s := openTestdata(t, "v7.db")
	ctx := context.Background()
	var logged bytes.Buffer
	s.bad = badData{log: slog.New(slog.NewTextHandler(&logged, nil))}
	var version, before, unsummed int
	if err := s.rdb.QueryRow(`SELECT (SELECT MAX(version) FROM schema_migrations),
		(SELECT COUNT(*) FROM topic_data WHERE last <= 2000),
		(SELECT COUNT(*) FROM topic_data WHERE last <= 2000 AND sum IS NULL)`).Scan(&version, &before, &unsummed); err != nil ||
		version != 8 || before != 40 || unsummed != before {
		t.Fatalf("schema version %d; %d rows written before, %d of them without a checksum (%v)", version, before, unsummed, err)
	}
	if s.Floor() != 300 || s.LastID() != 2200 {
		t.Fatalf("floor %d, last %d", s.Floor(), s.LastID())
	}
	o, topics := storedEvents(t, s)
	if len(topics) != 20 || len(o.events) != 1900 {
		t.Fatalf("%d topics, %d events", len(topics), len(o.events))
	}
	positions := []int64{0, 1000, 1990, 2150}
	checkTopics(t, "migrated", s, &o, topics, positions)

	// The events read back when it opened, and those published since,
	// go to rows with checksums.
	publishNotes(t, s, &o, 400, 20, "n")
	var after, summed int
	err := func() error {
		rows, err := s.rdb.Query(`SELECT events, sum FROM topic_data WHERE last > 2000`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var blob []byte
			var sum sql.NullInt64
			if err := rows.Scan(&blob, &sum); err != nil {
				return err
			}
			after++
			if sum.Valid && sum.Int64 == dataSum(blob) {
				summed++
			}
		}
		return rows.Err()
	}()
	if err != nil || after < 20 || summed != after {
		t.Fatalf("%d rows written after the migration, %d with their checksum (%v)", after, summed, err)
	}
	checkTopics(t, "indexed after", s, &o, topics, append(positions, 2400))

	// A row of one of them changed so that it still decodes.
	if err := s.runTask(ctx, func() error {
		return eachData(s.db, "stocks/S07", func(run int64, blob []byte) error {
			changed := bytes.ReplaceAll(blob, []byte(`{"n":`), []byte(`{"m":`))
			if bytes.Equal(changed, blob) {
				return nil // a row written before
			}
			_, err := s.db.Exec(`UPDATE topic_data SET events = ? WHERE run = ?`, changed, run)
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	checkTopics(t, "a row changed", s, &o, topics, append(positions, 2400))
	if !strings.Contains(logged.String(), `err="topic_data holds a damaged row (its checksum does not match)"`) {
		t.Fatalf("no warning of the changed row; the log:\n%s", logged.String())
	}
}

// TestStash: the writer's stash gives a run's records only when it holds
// every one of them, and forgets those a pass wrote.
func TestStash(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	var events []feed.Event
	for id := int64(1); id <= 9; id++ {
		topic := "a"
		if id%3 == 0 {
			topic = "b"
		}
		events = append(events, feed.Event{ID: id, Topic: topic, Type: "note", Time: at, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, id))})
	}
	var s stash
	s.add(events[:5])
	s.add(events[5:])
	want := func(ids ...int64) []byte {
		var b []byte
		for _, id := range ids {
			b = appendRecord(b, events[id-1])
		}
		return b
	}
	for _, c := range []struct {
		topic string
		ids   []int64
		want  []byte
	}{
		{"a", []int64{1, 2, 4}, want(1, 2, 4)},
		{"a", []int64{5, 7, 8}, want(5, 7, 8)},
		{"b", []int64{3, 6, 9}, want(3, 6, 9)},
		{"b", []int64{6}, want(6)},
		{"a", []int64{1, 4}, nil},  // not every ID between
		{"a", []int64{8, 10}, nil}, // one never stashed
		{"c", []int64{1}, nil},
	} {
		if got := s.records(c.topic, c.ids); string(got) != string(c.want) {
			t.Errorf("records(%s, %v) = %x, want %x", c.topic, c.ids, got, c.want)
		}
	}
	size := s.size
	s.drop(6)
	if got := s.records("a", []int64{7, 8}); string(got) != string(want(7, 8)) {
		t.Errorf("after drop(6): records(a, [7 8]) = %x", got)
	}
	if got := s.records("b", []int64{9}); string(got) != string(want(9)) {
		t.Errorf("after drop(6): records(b, [9]) = %x", got)
	}
	if got := s.records("a", []int64{5}); got != nil {
		t.Errorf("after drop(6): records(a, [5]) = %x, want nil", got)
	}
	if s.size <= 0 || s.size >= size {
		t.Errorf("size %d after drop(6), %d before", s.size, size)
	}
	s.drop(9)
	if len(s.topics) != 0 || s.size != 0 {
		t.Errorf("after drop(9): %d topics, size %d", len(s.topics), s.size)
	}
}

// TestStashWhilePassesFail: while the disk refuses the index's writes,
// the events the writer keeps for the next pass stop at the stash's cap
// and reads stay exact; once a pass succeeds, the runs whose events the
// stash skipped have no row of topic_data and are read from the events
// table, and the runs of the events after it have theirs again.
func TestStashWhilePassesFail(t *testing.T) {
	t.Parallel()
	const limit = 32 << 10
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{stashCap: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	exec := func(query string) {
		t.Helper()
		if err := s.runTask(ctx, func() error { _, err := s.db.Exec(query); return err }); err != nil {
			t.Fatal(err)
		}
	}
	holdPasses(t, s)
	exec(`CREATE TRIGGER refuse BEFORE INSERT ON topic_runs BEGIN SELECT RAISE(ABORT, 'the disk refuses'); END`)

	var o oracle
	const batch = 100
	publish := func(n int) {
		t.Helper()
		for range n / batch {
			updates := make([]feed.Update, batch)
			for i := range updates {
				updates[i] = feed.Update{Topic: string(rune('a' + (len(o.events)+i)%3)), Type: "note",
					Data: json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, len(o.events)+i, strings.Repeat("x", 100)))}
			}
			events, err := s.Append(ctx, updates)
			if err != nil {
				t.Fatal(err)
			}
			o.events = append(o.events, events...)
		}
	}
	check := func(stage string) {
		t.Helper()
		for _, topic := range []string{"a", "b", "c"} {
			f, err := feed.ParseFilter([]string{topic})
			if err != nil {
				t.Fatal(err)
			}
			for _, newest := range []bool{false, true} {
				got, _, err := s.Page(ctx, feed.Range{Filter: f}, feed.MaxPage, newest)
				if want := o.read(f, 0, 0, 0, feed.MaxPage, newest); err != nil || !slices.Equal(eventIDs(got), want) {
					t.Fatalf("%s: %s newest first %v: %v, %v; want %v", stage, topic, newest, eventIDs(got), err, want)
				}
				if err := o.same(got); err != nil {
					t.Fatalf("%s: %s: %v", stage, topic, err)
				}
			}
		}
	}
	// The stash's size and indexed_through, read on the writer.
	stashed := func() (size int, indexed int64) {
		t.Helper()
		if err := s.runTask(ctx, func() error { size, indexed = s.stash.size, s.indexedThrough.Load(); return nil }); err != nil {
			t.Fatal(err)
		}
		return size, indexed
	}

	publish(2000) // about 260 KB of records
	indexNow(t, s)
	indexNow(t, s)
	if size, indexed := stashed(); size < limit || size > limit+batch*200 || indexed != 0 {
		t.Fatalf("the stash holds %d bytes while passes fail (its cap is %d, and a commit's events beyond); indexed through %d", size, limit, indexed)
	}
	check("passes failing")

	exec(`DROP TRIGGER refuse`)
	indexNow(t, s)
	if size, indexed := stashed(); size != 0 || indexed != s.LastID() {
		t.Fatalf("after a pass: stash %d bytes, indexed through %d of %d", size, indexed, s.LastID())
	}
	publish(200) // under the cap
	indexNow(t, s)
	var bare, full int
	if err := s.rdb.QueryRow(`SELECT
		(SELECT COUNT(*) FROM topic_runs r LEFT JOIN topic_data d ON d.run = r.rowid WHERE d.run IS NULL AND r.last <= 2000),
		(SELECT COUNT(*) FROM topic_runs r JOIN topic_data d ON d.run = r.rowid AND d.last = r.last WHERE r.first > 2000)`).Scan(&bare, &full); err != nil {
		t.Fatal(err)
	}
	if bare != 3 || full != 3 {
		t.Fatalf("%d runs of the events while passes failed without topic_data (want 3), %d runs after it with (want 3)", bare, full)
	}
	check("passes succeeding again")
}

// TestBadDataLogs: the damaged rows reads find are logged at most once per
// interval, and the next line says how many were left out.
func TestBadDataLogs(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	b := badData{log: slog.New(slog.NewTextHandler(&logged, nil)), every: time.Hour}
	for run := range int64(3) {
		b.note(run+1, errBadData)
	}
	if n := strings.Count(logged.String(), "topic_data is damaged"); n != 1 || !strings.Contains(logged.String(), "run=1 ") {
		t.Fatalf("%d lines for 3 damaged rows within the interval, want 1 (of run 1):\n%s", n, logged.String())
	}
	b.every = 0 // the interval has passed
	b.note(4, errBadData)
	if n := strings.Count(logged.String(), "topic_data is damaged"); n != 2 || !strings.Contains(logged.String(), "run=4 ") ||
		!strings.Contains(logged.String(), "not_logged_since_last=2") {
		t.Fatalf("after the interval: %d lines, want 2, the second of run 4 with 2 left out:\n%s", n, logged.String())
	}
}

func TestRunEncoding(t *testing.T) {
	t.Parallel()
	for _, ids := range [][]int64{{1}, {5, 6, 7}, {1, 1 << 40, 1<<40 + 3}, {math.MaxInt64 - 1, math.MaxInt64}} {
		blob := encodeRun(nil, ids)
		got, err := decodeRun(nil, ids[0], ids[len(ids)-1], blob)
		if err != nil || !slices.Equal(got, ids) {
			t.Errorf("%v: decoded %v, %v", ids, got, err)
		}
	}
	for _, bad := range []struct {
		first, last int64
		blob        []byte
	}{
		{5, 9, encodeRun(nil, []int64{5, 7})},           // ends before last
		{5, 6, encodeRun(nil, []int64{5, 7})},           // goes past last
		{5, 7, []byte{0x80}},                            // a varint cut short
		{5, 7, []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff}}, // cut short too
		{5, 5, nil},             // empty
		{5, 7, []byte{2}},       // the first is not first
		{5, 7, []byte{0, 0, 2}}, // an ID twice
	} {
		if got, err := decodeRun(nil, bad.first, bad.last, bad.blob); err == nil {
			t.Errorf("decodeRun(%d, %d, %x) = %v, want an error", bad.first, bad.last, bad.blob, got)
		}
	}
}

func TestRecordEncoding(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 9, 30, 0, 123_000_000, time.UTC)
	events := []feed.Event{
		{ID: 1, Topic: "stocks/S1", Type: "tick", Time: at, Data: json.RawMessage(`{"symbol":"S1","price":1.5}`)},
		{ID: 9, Topic: "stocks/S1", Type: "note", Time: at.Add(time.Hour), Data: json.RawMessage(`{}`), Operator: "ana"},
		{ID: 12, Topic: "stocks/S1", Type: "x", Time: time.UnixMilli(0).UTC(), Data: json.RawMessage(`{"s":"` + strings.Repeat("é", 300) + `"}`)},
	}
	var blob []byte
	for _, e := range events {
		blob = appendRecord(blob, e)
	}
	recs, err := records(blob)
	if err != nil || len(recs) != len(events) {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	var buf eventBuf
	for i, rec := range recs {
		got := feed.Event{ID: events[i].ID, Topic: events[i].Topic}
		if err := readRecord(rec, &got, &buf); err != nil {
			t.Fatal(err)
		}
		o := oracle{events: events}
		if err := o.same([]feed.Event{got}); err != nil {
			t.Error(err)
		}
	}
	for _, bad := range [][]byte{
		{0x80},            // a length cut short
		{5, 1, 2},         // a record cut short
		{0},               // an empty record
		{3, 1, 0, 0},      // no type
		{4, 1, 1, 'x', 5}, // an operator longer than the record
		{2, 0xff, 0xff},   // a time cut short
		{11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 'x'}, // a time past any date
	} {
		recs, err := records(bad)
		for _, rec := range recs {
			if err == nil {
				err = readRecord(rec, new(feed.Event), &buf)
			}
		}
		if !errors.Is(err, errBadData) {
			t.Errorf("%x: %v, want errBadData", bad, err)
		}
	}
}

// FuzzRecords: a damaged row of topic_data gives an error, never a panic;
// what appendRecord writes reads back the same.
func FuzzRecords(f *testing.F) {
	f.Add([]byte{}, "tick", "", int64(1765099800123), []byte(`{"price":1}`))
	f.Add([]byte{5, 1, 2}, "note", "ana", int64(0), []byte(`{}`))
	f.Fuzz(func(t *testing.T, blob []byte, typ, operator string, ms int64, data []byte) {
		var buf eventBuf
		if recs, err := records(blob); err == nil {
			for _, rec := range recs {
				readRecord(rec, new(feed.Event), &buf)
			}
		}
		if typ == "" || ms < 0 || ms > 1<<50 {
			return
		}
		e := feed.Event{ID: 1, Topic: "t", Type: typ, Time: time.UnixMilli(ms).UTC(), Data: data, Operator: operator}
		recs, err := records(appendRecord(appendRecord(nil, e), e))
		if err != nil || len(recs) != 2 {
			t.Fatalf("%d records, %v", len(recs), err)
		}
		got := feed.Event{ID: 1, Topic: "t"}
		if err := readRecord(recs[1], &got, &buf); err != nil {
			t.Fatal(err)
		}
		if got.Type != typ || got.Operator != operator || !got.Time.Equal(e.Time) || string(got.Data) != string(data) {
			t.Fatalf("read %+v, wrote %+v", got, e)
		}
	})
}

// FuzzDecodeRun: a damaged row gives an error, never a panic or IDs out
// of its bounds.
func FuzzDecodeRun(f *testing.F) {
	f.Add(int64(5), int64(7), encodeRun(nil, []int64{5, 6, 7}))
	f.Add(int64(1), int64(1<<40), encodeRun(nil, []int64{1, 1 << 40}))
	f.Add(int64(0), int64(0), []byte{0x80, 0x80})
	f.Fuzz(func(t *testing.T, first, last int64, blob []byte) {
		ids, err := decodeRun(nil, first, last, blob)
		if err != nil {
			return
		}
		if len(ids) == 0 || ids[0] != first || ids[len(ids)-1] != last || !slices.IsSorted(ids) {
			t.Fatalf("decodeRun(%d, %d, %x) = %v", first, last, blob, ids)
		}
	})
}

// decodeRun appends the IDs of a row of topic_runs to dst.
func decodeRun(dst []int64, first, last int64, blob []byte) ([]int64, error) {
	d := runDecoder{first: first, last: last, blob: blob}
	dst = slices.Grow(dst, len(blob))
	for {
		id, ok, err := d.next()
		if err != nil || !ok {
			return dst, err
		}
		dst = append(dst, id)
	}
}

// TestUnindexed: Stats tells how many committed events the topic index
// does not hold yet, for the operator's gauge.
func TestUnindexed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	holdPasses(t, s)
	for i := range 3 {
		if _, err := s.Append(ctx, []feed.Update{{Topic: fmt.Sprintf("t/%d", i), Type: "note", Data: json.RawMessage(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Stats().Unindexed; n != 3 {
		t.Fatalf("Unindexed = %d with passes held back after 3 events, want 3", n)
	}
	if err := s.runTask(ctx, func() error { s.indexAll(); return nil }); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Unindexed; n != 0 {
		t.Fatalf("Unindexed = %d after a pass, want 0", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.Stats().Unindexed; n != 0 || s.LastID() != 3 {
		t.Fatalf("reopened: Unindexed = %d, last ID %d; want 0 and 3", n, s.LastID())
	}
}

// TestIndexMapsShrink: once a burst of topics has passed, the index's maps
// (the IDs it holds for the next passes, the stash of their events) are
// made anew with what is left, rather than keep the room they grew to;
// a map that never held many, or still holds a good share of them, stays.
func TestIndexMapsShrink(t *testing.T) {
	t.Parallel()
	same := func(a, b map[string][]int64) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	withTopics := func(n int) map[string][]int64 {
		m := make(map[string][]int64, n)
		for i := range n {
			m[fmt.Sprint(i)] = []int64{int64(i + 1)}
		}
		return m
	}
	for _, c := range []struct {
		name         string
		topics, peak int
		kept         bool
		wantPeak     int
	}{
		{"NeverMany", 2, shrinkFrom - 1, true, shrinkFrom - 1},
		{"MoreThanAQuarter", shrinkFrom/4 + 1, shrinkFrom, true, shrinkFrom},
		{"AQuarter", shrinkFrom / 4, shrinkFrom, false, shrinkFrom / 4},
		{"Few", 2, 100_000, false, 2},
		{"None", 0, 100_000, false, 0},
	} {
		m := withTopics(c.topics)
		got, peak := shrunk(m, c.peak)
		if same(got, m) != c.kept || peak != c.wantPeak || !reflect.DeepEqual(got, m) {
			t.Errorf("%s: kept %v, peak %d, %d topics; want kept %v, peak %d", c.name, same(got, m), peak, len(got), c.kept, c.wantPeak)
		}
	}

	at := time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC)
	var burst []feed.Event
	for i := range 2 * shrinkFrom {
		burst = append(burst, feed.Event{ID: int64(i + 1), Topic: fmt.Sprintf("burst/%d", i), Type: "note", Time: at, Data: json.RawMessage(`{}`)})
	}
	last := feed.Event{ID: int64(len(burst) + 1), Topic: "steady", Type: "note", Time: at, Data: json.RawMessage(`{}`)}
	r := newRecent(0)
	r.add(burst)
	r.add([]feed.Event{last})
	before := r.topics
	r.forget(int64(len(burst)))
	if same(r.topics, before) || r.peak != 1 || !reflect.DeepEqual(r.topics, map[string][]int64{"steady": {last.ID}}) {
		t.Errorf("recent after the burst: kept its map %v, peak %d, %v", same(r.topics, before), r.peak, r.topics)
	}
	var s stash
	s.add(burst)
	s.add([]feed.Event{last})
	s.drop(int64(len(burst)))
	if s.peak != 1 || len(s.topics) != 1 || string(s.records("steady", []int64{last.ID})) != string(appendRecord(nil, last)) {
		t.Errorf("the stash after the burst: peak %d, %d topics", s.peak, len(s.topics))
	}
}
