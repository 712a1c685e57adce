package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

// historyFixture stores ten events on four topics:
//
//	1 nba/a  2 nba/b  3 stocks/X  4 nba/a  5 misc  6 nba/b  7 stocks/X  8 nba/a  9 nba/ab  10 misc
func historyFixture(t *testing.T) *store.Store {
	t.Helper()
	s := MustOpenStore(t, store.Options{})
	for i, topic := range []string{"nba/a", "nba/b", "stocks/X", "nba/a", "misc", "nba/b", "stocks/X", "nba/a", "nba/ab", "misc"} {
		MustAppend(t, s, note(topic, i+1))
	}
	return s
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s := historyFixture(t)
	for _, tc := range []struct {
		name   string
		r      feed.Range
		limit  int
		newest bool
		want   string
		more   bool
	}{
		{"OKAll", feed.Range{}, 100, false, "1,2,3,4,5,6,7,8,9,10", false},
		{"OKAllNewestFirst", feed.Range{}, 3, true, "10,9,8", true},
		{"OKLimit", feed.Range{Filter: all(t)}, 4, false, "1,2,3,4", true},
		{"OKAfter", feed.Range{After: 4}, 3, false, "5,6,7", true},
		{"OKBefore", feed.Range{Before: 4}, 10, false, "1,2,3", false},
		{"OKBeforeNewestFirst", feed.Range{Before: 8}, 2, true, "7,6", true},
		{"OKBetween", feed.Range{After: 2, Before: 6}, 10, true, "5,4,3", false},
		{"OKTopic", feed.Range{Filter: mustFilter(t, "nba/a")}, 10, false, "1,4,8", false},
		{"OKTopicNewestFirst", feed.Range{Filter: mustFilter(t, "nba/a")}, 2, true, "8,4", true},
		{"OKTwoTopics", feed.Range{Filter: mustFilter(t, "nba/a", "misc")}, 10, false, "1,4,5,8,10", false},
		{"OKTwoTopicsLimit", feed.Range{Filter: mustFilter(t, "nba/a", "misc"), After: 1}, 3, false, "4,5,8", true},
		{"OKTwoTopicsNewestFirst", feed.Range{Filter: mustFilter(t, "nba/a", "misc"), Before: 10}, 2, true, "8,5", true},
		{"OKPrefix", feed.Range{Filter: mustFilter(t, "nba/*")}, 10, false, "1,2,4,6,8,9", false},
		{"OKPrefixAndTopic", feed.Range{Filter: mustFilter(t, "nba/*", "misc")}, 10, true, "10,9,8,6,5,4,2,1", false},
		{"OKLimitClamped", feed.Range{}, 0, false, "1", true},
		{"OKEmptyRange", feed.Range{After: 5, Before: 6}, 10, false, "", false},
		{"OKAfterTheEnd", feed.Range{After: 10}, 10, false, "", false},
		{"OKNoSuchTopic", feed.Range{Filter: mustFilter(t, "nba/c")}, 10, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, more, err := s.Page(context.Background(), tc.r, tc.limit, tc.newest)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(events); got != tc.want || more != tc.more {
				t.Fatalf("got %s, more %v; want %s, more %v", got, more, tc.want, tc.more)
			}
		})
	}
}

// TestHistoryFullEvents checks that a page carries whole events.
func TestHistoryFullEvents(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	want := MustAppend(t, s, feed.Update{Topic: "nba/a", Type: "score",
		Data: json.RawMessage(`{"home":"A","away":"B","home_score":1,"away_score":0}`)})
	got, _, err := s.Page(context.Background(), feed.Range{}, 10, false)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", got, err)
	}
	a, _ := json.Marshal(got[0])
	b, _ := json.Marshal(want[0])
	if string(a) != string(b) {
		t.Fatalf("got %s, want %s", a, b)
	}
}

// nextMillisecond waits until the clock has moved to a later millisecond,
// so the next commit gets a later time than the last one.
func nextMillisecond(t *testing.T, after time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !time.Now().Truncate(time.Millisecond).After(after) {
		if time.Now().After(deadline) {
			t.Fatal("the clock does not move")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// timedFixture stores events in commits a millisecond or more apart, some
// commits holding several events with the same time.
func timedFixture(t *testing.T) (*store.Store, []feed.Event) {
	t.Helper()
	s := MustOpenStore(t, store.Options{})
	var events []feed.Event
	for i := range 12 {
		batch := []feed.Update{note("a", i)}
		if i%3 == 0 {
			batch = append(batch, note("b", i), note("a", i))
		}
		events = append(events, MustAppend(t, s, batch...)...)
		nextMillisecond(t, events[len(events)-1].Time)
	}
	return s, events
}

func TestFirstAt(t *testing.T) {
	t.Parallel()
	s, events := timedFixture(t)
	ctx := context.Background()
	// want is the ID of the first event at or after at, by a linear search.
	want := func(at time.Time) int64 {
		for _, e := range events {
			if !e.Time.Before(at) {
				return e.ID
			}
		}
		return s.LastID() + 1
	}
	instants := []time.Time{{}, time.Unix(0, 0), events[0].Time.Add(-time.Hour), time.Now().Add(time.Hour)}
	for _, e := range events {
		instants = append(instants, e.Time, e.Time.Add(-time.Millisecond), e.Time.Add(time.Microsecond), e.Time.Add(-time.Microsecond))
	}
	for _, at := range instants {
		got, err := s.FirstAt(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if got != want(at) {
			t.Errorf("FirstAt(%s) = %d, want %d", at.Format(time.RFC3339Nano), got, want(at))
		}
	}
	t.Run("OKEmpty", func(t *testing.T) {
		empty := MustOpenStore(t, store.Options{})
		if got, err := empty.FirstAt(ctx, time.Now()); got != 1 || err != nil {
			t.Fatalf("FirstAt on an empty store = %d, %v; want 1", got, err)
		}
	})
}

func TestHistoryTimeRange(t *testing.T) {
	t.Parallel()
	s, events := timedFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"OKFrom", events[4].Time, time.Time{}},
		{"OKTo", time.Time{}, events[7].Time},
		{"OKBoth", events[2].Time, events[10].Time},
		{"OKInsideAMillisecond", events[3].Time.Add(time.Microsecond), events[9].Time.Add(time.Microsecond)},
		{"OKEmpty", events[5].Time, events[5].Time},
		{"OKReversed", events[8].Time, events[2].Time},
		{"OKFuture", time.Now().Add(time.Hour), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []feed.Event
			for _, e := range events {
				if (tc.from.IsZero() || !e.Time.Before(tc.from)) && (tc.to.IsZero() || e.Time.Before(tc.to)) {
					want = append(want, e)
				}
			}
			r := feed.Range{From: tc.from, To: tc.to}
			got, _, err := s.Page(ctx, r, feed.MaxPage, false)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != ids(want) {
				t.Fatalf("got %s, want %s", ids(got), ids(want))
			}
			r.Filter = mustFilter(t, "b")
			got, _, err = s.Page(ctx, r, feed.MaxPage, true)
			if err != nil {
				t.Fatal(err)
			}
			var wantB []feed.Event
			for i := len(want) - 1; i >= 0; i-- {
				if want[i].Topic == "b" {
					wantB = append(wantB, want[i])
				}
			}
			if ids(got) != ids(wantB) {
				t.Fatalf("topic b: got %s, want %s", ids(got), ids(wantB))
			}
		})
	}
}

// TestHistoryPaging walks all events page by page in both directions.
func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	s := historyFixture(t)
	ctx := context.Background()
	for _, newest := range []bool{false, true} {
		t.Run(fmt.Sprintf("NewestFirst=%v", newest), func(t *testing.T) {
			var all []feed.Event
			r := feed.Range{Filter: mustFilter(t, "nba/a", "nba/b", "misc")}
			for range 20 {
				page, more, err := s.Page(ctx, r, 2, newest)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, page...)
				if !more {
					break
				}
				if newest {
					r.Before = page[len(page)-1].ID
				} else {
					r.After = page[len(page)-1].ID
				}
			}
			want := "1,2,4,5,6,8,10"
			if newest {
				want = "10,8,6,5,4,2,1"
			}
			if got := ids(all); got != want {
				t.Fatalf("pages gave %s, want %s", got, want)
			}
		})
	}
}

func TestLatestOf(t *testing.T) {
	t.Parallel()
	s := historyFixture(t)
	ctx := context.Background()
	e, found, err := s.LatestOf(ctx, "nba/a")
	if err != nil || !found || e.ID != 8 || e.Topic != "nba/a" || string(e.Data) != `{"n":8}` || e.Time.IsZero() {
		t.Fatalf("LatestOf(nba/a) = %+v, %v, %v", e, found, err)
	}
	if _, found, err := s.LatestOf(ctx, "nba/zz"); found || err != nil {
		t.Fatalf("LatestOf(nba/zz) found %v, %v", found, err)
	}
}

// TestHistoryManyTopicsMatchesModel compares History and Export with a
// plain scan of everything appended, for selections of many topics (more
// than the 32 that used to be the limit of reading by topic), dense and
// sparse ones mixed, in both orders, for many ranges and page sizes,
// while the topic index lags behind the commits and after a reopen
// (which indexes everything).
func TestHistoryManyTopicsMatchesModel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	var model []feed.Event
	filters := [][]string{{"many/*"}, {"many/t00", "many/t07", "many/sparse/*"}, {"many/sparse/*"}, {"many/*", "other"}, {"many/t03"}, {"none/*"}}
	check := func(s *store.Store) {
		t.Helper()
		ctx := context.Background()
		last := int64(len(model))
		for _, patterns := range filters {
			f := mustFilter(t, patterns...)
			for _, r := range []feed.Range{{}, {After: 17}, {Before: last / 2}, {After: last / 3, Before: last - 5}, {After: last - 2}, {Before: 1}} {
				r.Filter = f
				var want []feed.Event
				for _, e := range model {
					if e.ID > r.After && (r.Before == 0 || e.ID < r.Before) && f.Match(e.Topic) {
						want = append(want, e)
					}
				}
				for _, newest := range []bool{false, true} {
					for _, limit := range []int{1, 3, 40, 1000} {
						got, more, err := s.Page(ctx, r, limit, newest)
						if err != nil {
							t.Fatal(err)
						}
						w := slices.Clone(want)
						if newest {
							slices.Reverse(w)
						}
						wantMore := len(w) > limit
						w = w[:min(limit, len(w))]
						if ids(got) != ids(w) || more != wantMore {
							t.Fatalf("History(%v %+v, %d, newest %v) = [%s] more %v, want [%s] more %v", patterns, r, limit, newest, ids(got), more, ids(w), wantMore)
						}
					}
				}
				var csv bytes.Buffer
				n, err := s.Export(ctx, &csv, r)
				if err != nil || n != int64(len(want)) {
					t.Fatalf("Export(%v %+v) = %d rows, %v; want %d", patterns, r, n, err, len(want))
				}
			}
		}
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 40 topics: t00 takes half the events, t01-t09 most of the rest;
	// 30 sparse topics have a few events each.
	topic := func(i int) string {
		switch {
		case i%2 == 0:
			return "many/t00"
		case i%37 == 1:
			return fmt.Sprintf("many/sparse/s%02d", (i/37)%30)
		case i%11 == 3:
			return "other"
		}
		return fmt.Sprintf("many/t%02d", 1+i%9)
	}
	for i := range 1200 {
		model = append(model, MustAppend(t, s, note(topic(i), i))...)
	}
	check(s)
	s.Close()
	s = MustOpenStoreAt(t, path, store.Options{})
	check(s)
	for i := range 60 {
		model = append(model, MustAppend(t, s, note(topic(i*3+1), i))...)
	}
	check(s)
}

// TestLatestAsOf: what the feed was at a moment, for a delayed reader:
// the latest event of each topic stored at or before it (an archive
// included), and the newest ID that old, whichever topics changed since.
func TestLatestAsOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpenStore(t, store.Options{})
	t0 := time.Date(2026, 11, 21, 19, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(id int64, topic, typ string, ms int) feed.Event {
		return feed.Event{ID: id, Topic: topic, Type: typ, Time: at(ms), Data: []byte(`{}`)}
	}
	if _, err := s.Apply(ctx, []feed.Event{
		ev(1, "a", "note", 0), ev(2, "b", "note", 1000), ev(3, "a", "note", 2000),
		ev(4, "c", "note", 2000), ev(5, "c", feed.TypeArchive, 3000), ev(6, "b", "note", 4000),
	}); err != nil {
		t.Fatal(err)
	}
	check := func(moment time.Time, want string, wantThrough int64, topics ...string) {
		t.Helper()
		latest, through, err := s.LatestAsOf(ctx, moment, topics...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range latest {
			got = append(got, fmt.Sprintf("%d%s", e.ID, e.Topic))
		}
		if fmt.Sprint(got) != want || through != wantThrough {
			t.Errorf("LatestAsOf(+%v) = %v through %d, want %s through %d", moment.Sub(t0), got, through, want, wantThrough)
		}
	}
	check(at(-1), "[]", 0)
	check(at(0), "[1a]", 1)
	check(at(999), "[1a]", 1)
	check(at(1000).Add(500*time.Microsecond), "[1a 2b]", 2)
	check(at(2500), "[2b 3a 4c]", 4)
	check(at(3000), "[2b 3a 5c]", 5)
	check(at(60000), "[3a 5c 6b]", 6)
	// Of some topics only.
	check(at(2500), "[2b 4c]", 4, "c", "b", "nope")
	check(at(60000), "[3a]", 6, "a")
	check(at(999), "[]", 1, "b")
}

// TestLatestPage: the latest events of the topics a reader sees, a page at
// a time in topic order, from after a topic, for every topic, prefixes and
// exact topics (each searched from the page's start), leaving out the
// private topics it is not granted; the pages together are Latest's
// events of those topics, each once.
func TestLatestPage(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, store.Options{})
	topics := []string{"a", "b/1", "b/2", "b/3", "b0", "c", "p/x", "p/y", "z"}
	for i, topic := range topics {
		MustAppend(t, s, note(topic, i))
	}
	MustAppend(t, s, note("b/2", 100)) // a later latest event
	filter := func(patterns ...string) feed.Filter {
		f, err := feed.ParseFilter(patterns)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	private := filter("p/*")
	for _, c := range []struct {
		name     string
		patterns []string
		access   feed.Access
		want     []string
	}{
		{"All", nil, feed.Access{}, topics},
		{"AllWithoutPrivate", nil, feed.Access{Private: private}, []string{"a", "b/1", "b/2", "b/3", "b0", "c", "z"}},
		{"AllGranted", nil, feed.Access{Private: private, Granted: filter("p/y")}, []string{"a", "b/1", "b/2", "b/3", "b0", "c", "p/y", "z"}},
		{"Prefix", []string{"b/*"}, feed.Access{}, []string{"b/1", "b/2", "b/3"}},
		{"PrefixesAndExact", []string{"z", "b/*", "a", "p/*", "nope"}, feed.Access{}, []string{"a", "b/1", "b/2", "b/3", "p/x", "p/y", "z"}},
		{"PrivatePrefix", []string{"p/*", "c"}, feed.Access{Private: private}, []string{"c"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := feed.Filter{All: true}
			if c.patterns != nil {
				f = filter(c.patterns...)
			}
			v := c.access.Narrow(f)
			for _, limit := range []int{1, 2, 3, 100} {
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					page, more, err := s.LatestPage(context.Background(), v, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit || more && len(page) < limit || pages > len(topics) {
						t.Fatalf("limit %d: a page of %d, more %v", limit, len(page), more)
					}
					for _, e := range page {
						got = append(got, e.Topic)
						if e.Topic == "b/2" && string(e.Data) != `{"n":100}` {
							t.Fatalf("b/2's latest event: %s", e.Data)
						}
					}
					if !more {
						break
					}
					after = page[len(page)-1].Topic
				}
				if !slices.Equal(got, c.want) {
					t.Fatalf("limit %d: %q, want %q", limit, got, c.want)
				}
			}
		})
	}
}
