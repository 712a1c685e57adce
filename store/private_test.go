package store_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/store"
)

// TestPrivateMatchesModel compares Page, Export and Missed with a plain
// scan of everything appended when some topics are private: readers with
// no grant, a grant of one topic and a grant of a prefix, selecting every
// topic, a prefix that is partly private, the private prefix itself and a
// mix; while the topic index lags behind the commits and after a reopen.
// A reader sees exactly the events it may see, and pages it may not see
// do not end a page early.
func TestPrivateMatchesModel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db")
	private := mustFilter(t, "premium/*", "nba/premium/*")
	accesses := map[string]feed.Access{
		"anonymous":    {Private: private},
		"one-topic":    {Private: private, Granted: mustFilter(t, "premium/a")},
		"prefix":       {Private: private, Granted: mustFilter(t, "nba/premium/*")},
		"nothing-priv": {},
	}
	filters := [][]string{{"*"}, {"nba/*"}, {"premium/*"}, {"premium/a", "nba/x"}, {"premium/*", "stocks/*"}}
	var model []feed.Event
	check := func(s *store.Store) {
		t.Helper()
		ctx := context.Background()
		last := int64(len(model))
		for name, a := range accesses {
			for _, patterns := range filters {
				f := mustFilter(t, patterns...)
				for _, r := range []feed.Range{{}, {After: 17}, {Before: last / 2}, {After: last / 3, Before: last - 5}} {
					r.Filter, r.Access = f, a
					var want []feed.Event
					for _, e := range model {
						if e.ID > r.After && (r.Before == 0 || e.ID < r.Before) && f.Match(e.Topic) && a.Allows(e.Topic) {
							want = append(want, e)
						}
					}
					what := fmt.Sprintf("%s %v %+v", name, patterns, r)
					for _, newest := range []bool{false, true} {
						for _, limit := range []int{1, 7, 1000} {
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
								t.Fatalf("Page(%s, %d, newest %v) = [%s] more %v, want [%s] more %v", what, limit, newest, ids(got), more, ids(w), wantMore)
							}
						}
					}
					var csv bytes.Buffer
					n, err := s.Export(ctx, &csv, r)
					if err != nil || n != int64(len(want)) {
						t.Fatalf("Export(%s) = %d rows, %v; want %d", what, n, err, len(want))
					}
					if strings.Contains(csv.String(), "premium") && !slices.ContainsFunc(want, func(e feed.Event) bool { return strings.Contains(e.Topic, "premium") }) {
						t.Fatalf("Export(%s) holds a private topic", what)
					}
					if r.Before == 0 {
						got, err := s.Missed(ctx, r.After, r.Visible(), 10)
						if w := want[:min(10, len(want))]; err != nil || ids(got) != ids(w) {
							t.Fatalf("Missed(%s) = [%s], %v; want [%s]", what, ids(got), err, ids(w))
						}
					}
				}
			}
		}
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"premium/a", "premium/b", "nba/x", "nba/premium/p", "stocks/X", "premium/a", "premium/b", "premium/c"}
	for i := range 600 {
		model = append(model, MustAppend(t, s, note(topics[i%len(topics)], i))...)
	}
	check(s)
	s.Close()
	s = MustOpenStoreAt(t, path, store.Options{})
	check(s)
	for i := range 40 {
		model = append(model, MustAppend(t, s, note(topics[(i*3)%len(topics)], i))...)
	}
	check(s)
}
