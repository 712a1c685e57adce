package feed_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
)

func TestParseConflate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{"1s", time.Second},
		{"100ms", 100 * time.Millisecond},
		{"1h", time.Hour},
		{"1m30s", 90 * time.Second},
		{"0.5s", 500 * time.Millisecond},
		{"99ms", 0},
		{"1h0m0.001s", 0},
		{"0", 0},
		{"0s", 0},
		{"1000", 0},
		{"1.5", 0},
		{"", 0},
		{"-1s", 0},
		{"1 s", 0},
		{" 1s", 0},
		{"1S", 0},
		{"1e3ms", 0},
		{"9223372036854775807ns", 0},
		{"99999999999999999999h", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := feed.ParseConflate(tc.in)
			if tc.want == 0 {
				if !errors.Is(err, feed.ErrInvalid) {
					t.Fatalf("ParseConflate(%q) = %v, %v; want ErrInvalid", tc.in, d, err)
				}
				return
			}
			if err != nil || d != tc.want {
				t.Fatalf("ParseConflate(%q) = %v, %v; want %v", tc.in, d, err, tc.want)
			}
		})
	}
}

func TestParseDelay(t *testing.T) {
	for in, ok := range map[string]bool{"1s": true, "15m": true, "24h": true, "999ms": false, "24h0m1s": false, "15": false} {
		_, err := feed.ParseDelay(in)
		if (err == nil) != ok {
			t.Errorf("ParseDelay(%q): %v", in, err)
		}
	}
}

func FuzzParseConflate(f *testing.F) {
	for _, s := range []string{"1s", "100ms", "1h", "0", "1000", "-1s", "1e3ms", ".1s", "1h1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := feed.ParseConflate(s)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", s, err)
			}
			return
		}
		if d < feed.MinConflate || d > feed.MaxConflate {
			t.Fatalf("%q: %v out of bounds accepted", s, d)
		}
	})
}

func TestDescribeDelay(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute:              "15 min",
		60 * time.Second:              "1 min",
		2 * time.Second:               "2 s",
		90 * time.Second:              "90 s",
		time.Hour:                     "1 h",
		90 * time.Minute:              "1 h 30 min",
		1500 * time.Millisecond:       "1.5 s",
		24 * time.Hour:                "24 h",
		24*time.Hour + 61*time.Second: "86461 s",
	} {
		if got := feed.DescribeDelay(d); got != want {
			t.Errorf("DescribeDelay(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTiers(t *testing.T) {
	f := func(patterns string) feed.Filter { return filterOf(t, strings.Fields(patterns)...) }
	tiers := feed.Tiers{
		{Topics: f("stocks/*"), Duration: 15 * time.Minute},
		{Topics: f("stocks/otc/* fx/EURUSD"), Duration: 20 * time.Minute},
		{Topics: f("nba/2026-11-21/lal-bos"), Duration: 30 * time.Second},
	}
	for _, tc := range []struct {
		name, filter, realtime string
		want                   time.Duration
	}{
		{"Unrelated", "nhl/*", "", 0},
		{"All", "*", "", 20 * time.Minute},
		{"AllRealtimeForAll", "*", "*", 0},
		{"OneTopic", "stocks/AAPL", "", 15 * time.Minute},
		{"OneTopicGranted", "stocks/AAPL", "stocks/AAPL", 0},
		{"DeeperTier", "stocks/otc/X", "", 20 * time.Minute},
		{"PrefixOverTier", "stocks/*", "", 20 * time.Minute},
		{"PrefixUnderTier", "stocks/nasdaq/*", "", 15 * time.Minute},
		{"PrefixGrantedPart", "stocks/*", "stocks/otc/*", 15 * time.Minute},
		{"PrefixGrantedWhole", "stocks/*", "stocks/*", 0},
		{"PrefixGrantedByTopicOnly", "stocks/*", "stocks/AAPL", 20 * time.Minute},
		{"GrantOfOtherTopic", "stocks/AAPL", "stocks/MSFT", 15 * time.Minute},
		{"Sibling", "stocksx/*", "", 0},
		{"Mixed", "nba/* fx/EURUSD", "", 20 * time.Minute},
		{"TopicInPrefixTier", "nba/*", "", 30 * time.Second},
		{"MixedGrantedLonger", "nba/* fx/EURUSD", "fx/*", 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tiers.For(f(tc.filter), f(tc.realtime)); got != tc.want {
				t.Fatalf("For(%s, realtime %q) = %v, want %v", tc.filter, tc.realtime, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		topic, realtime string
		want            time.Duration
	}{
		{"stocks/AAPL", "", 15 * time.Minute},
		{"stocks/otc/X", "", 20 * time.Minute},
		{"stocks/otc/X", "stocks/*", 0},
		{"nba/2026-11-21/lal-bos", "", 30 * time.Second},
		{"nba/x", "", 0},
	} {
		if got := tiers.Of(tc.topic, f(tc.realtime)); got != tc.want {
			t.Errorf("Of(%s, %q) = %v, want %v", tc.topic, tc.realtime, got, tc.want)
		}
	}
	if got := tiers.Durations(); len(got) != 3 || got[0] != 30*time.Second || got[2] != 20*time.Minute {
		t.Errorf("Durations() = %v", got)
	}
}

// TestTiersForMatchesOf: For says of a filter what Of says of the topics
// it holds: never less than the delay of any of them.
func TestTiersForMatchesOf(t *testing.T) {
	tiers := feed.Tiers{
		{Topics: filterOf(t, "a/*"), Duration: time.Minute},
		{Topics: filterOf(t, "a/b/*", "c"), Duration: 2 * time.Minute},
	}
	topics := []string{"a/x", "a/b/c", "a/bx", "c", "c/d", "b"}
	filters := [][]string{{"*"}, {"a/*"}, {"a/b/*"}, {"c"}, {"c/*"}, {"b", "a/x"}, {"a/bx"}}
	for _, fp := range filters {
		for _, rp := range append(filters, nil) {
			flt, rt := filterOf(t, fp...), filterOf(t, rp...)
			got := tiers.For(flt, rt)
			var most time.Duration
			for _, topic := range topics {
				if flt.Match(topic) {
					most = max(most, tiers.Of(topic, rt))
				}
			}
			if got < most {
				t.Errorf("For(%v, %v) = %v, but a topic of it is delayed %v", fp, rp, got, most)
			}
		}
	}
}
