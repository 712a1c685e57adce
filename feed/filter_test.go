package feed_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"livefeed/feed"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns []string
		want     string // Filter.String(), or "" for an error
	}{
		{"OKTopic", []string{"nba/lal-bos"}, "nba/lal-bos"},
		{"OKPrefix", []string{"nba/*"}, "nba/*"},
		{"OKAll", []string{"*"}, "*"},
		{"OKAllWins", []string{"nba/x", "*", "stocks/*"}, "*"},
		{"OKSortedDeduplicated", []string{"b", "a", "b"}, "a,b"},
		{"OKTopicUnderPrefixDropped", []string{"nba/x", "nba/*", "nbax"}, "nbax,nba/*"},
		{"OKNestedPrefixDropped", []string{"nba/west/*", "nba/*"}, "nba/*"},
		{"OKSiblingPrefixesKept", []string{"nba/*", "nbax/*"}, "nba/*,nbax/*"},
		{"OKDeepPrefix", []string{"nba/2026-11-21/*"}, "nba/2026-11-21/*"},
		{"ErrNone", nil, ""},
		{"ErrEmpty", []string{""}, ""},
		{"ErrBareSuffix", []string{"/*"}, ""},
		{"ErrStarInside", []string{"nba/*/x"}, ""},
		{"ErrStarSuffix", []string{"nba*"}, ""},
		{"ErrBadTopic", []string{"nba lal"}, ""},
		{"ErrTooMany", slices.Repeat([]string{"a"}, feed.MaxPatterns+1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := feed.ParseFilter(tc.patterns)
			if tc.want == "" {
				if !errors.Is(err, feed.ErrInvalid) {
					t.Fatalf("ParseFilter(%q) = %v, %v; want ErrInvalid", tc.patterns, f, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFilter(%q) = %v", tc.patterns, err)
			}
			if got := f.String(); got != tc.want {
				t.Fatalf("ParseFilter(%q) = %s, want %s", tc.patterns, got, tc.want)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	f, err := feed.ParseFilter([]string{"nba/*", "stocks/AAPL"})
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{
		"nba/lal-bos":         true,
		"nba/2026/lal-bos":    true,
		"nba":                 false,
		"nbax/y":              false,
		"stocks/AAPL":         true,
		"stocks/AAPLX":        false,
		"stocks/AAPL/options": false,
	} {
		if got := f.Match(topic); got != want {
			t.Errorf("Match(%q) = %v, want %v", topic, got, want)
		}
	}
}

// FuzzParseFilter checks that a parsed filter matches exactly the topics its
// patterns describe, and that each matching topic is matched by exactly one
// of its keys (the hub's index relies on that).
func FuzzParseFilter(f *testing.F) {
	f.Add("nba/*", "nba/x", "nba/lal")
	f.Add("*", "a", "b")
	f.Add("a/b/*", "a/*", "a/b/c")
	f.Add("x", "x/*", "x")
	f.Fuzz(func(t *testing.T, p1, p2, topic string) {
		filter, err := feed.ParseFilter([]string{p1, p2})
		if err != nil {
			return
		}
		if feed.ValidateTopic(topic) != nil {
			return
		}
		want := false
		for _, p := range []string{p1, p2} {
			switch {
			case p == "*":
				want = true
			case strings.HasSuffix(p, "/*"):
				want = want || strings.HasPrefix(topic, strings.TrimSuffix(p, "*"))
			default:
				want = want || p == topic
			}
		}
		if got := filter.Match(topic); got != want {
			t.Fatalf("filter %v: Match(%q) = %v, want %v", filter, topic, got, want)
		}
		topics, prefixes, all := filter.Keys()
		matches := 0
		for _, t := range topics {
			if t == topic {
				matches++
			}
		}
		for _, p := range prefixes {
			if strings.HasPrefix(topic, p) {
				matches++
			}
		}
		if all {
			matches++
		}
		if want && matches != 1 {
			t.Fatalf("filter %v matches %q through %d keys, want 1", filter, topic, matches)
		}
	})
}
