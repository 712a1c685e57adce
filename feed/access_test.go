package feed_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"livefeed/feed"
)

func filterOf(t testing.TB, patterns ...string) feed.Filter {
	t.Helper()
	if len(patterns) == 0 {
		return feed.Filter{}
	}
	f, err := feed.ParseFilter(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// accessTopics are the topics the narrowing tests match, public and
// private ones at every depth.
var accessTopics = []string{"nba/a", "nba/premium/a", "nba/premium/b", "nba/premium", "premium/x", "premium/y/z", "premiumx", "stocks/AAPL", "stocks/rt/AAPL", "stocks/rt/MSFT", "a"}

func TestAccessNarrow(t *testing.T) {
	for _, tc := range []struct {
		name             string
		requested        []string
		private, granted []string
		bounds           string // Visible.Bounds().String(); "" for none
		exact            bool
		visible          string // the visible topics of accessTopics, comma-separated
	}{
		{"NothingPrivate", []string{"*"}, nil, nil, "*", true, strings.Join(accessTopics, ",")},
		{"AllGranted", []string{"nba/*"}, []string{"nba/premium/*"}, []string{"*"}, "nba/*", true, "nba/a,nba/premium/a,nba/premium/b,nba/premium"},
		{"AnonymousAll", []string{"*"}, []string{"premium/*", "stocks/rt/*"}, nil, "*", false, "nba/a,nba/premium/a,nba/premium/b,nba/premium,premiumx,stocks/AAPL,a"},
		{"AnonymousPrivatePrefix", []string{"premium/*"}, []string{"premium/*"}, nil, "", true, ""},
		{"AnonymousPrivateTopic", []string{"premium/x", "a"}, []string{"premium/*"}, nil, "a", true, "a"},
		{"GrantedPartOfPrefix", []string{"stocks/rt/*"}, []string{"stocks/rt/*"}, []string{"stocks/rt/AAPL"}, "stocks/rt/AAPL", true, "stocks/rt/AAPL"},
		{"GrantedDeeperPrefix", []string{"premium/*"}, []string{"premium/*"}, []string{"premium/y/*", "nba/*"}, "premium/y/*", true, "premium/y/z"},
		{"GrantedWiderPrefix", []string{"premium/y/*"}, []string{"premium/*"}, []string{"premium/*"}, "premium/y/*", true, "premium/y/z"},
		{"PublicPrefixUntouched", []string{"stocks/*"}, []string{"premium/*"}, nil, "stocks/*", true, "stocks/AAPL,stocks/rt/AAPL,stocks/rt/MSFT"},
		{"MixedPrefix", []string{"nba/*"}, []string{"nba/premium/*"}, []string{"nba/premium/a"}, "nba/*", false, "nba/a,nba/premium/a,nba/premium"},
		{"MixedAllPartGranted", []string{"*"}, []string{"premium/*"}, []string{"premium/x"}, "*", false, "nba/a,nba/premium/a,nba/premium/b,nba/premium,premium/x,premiumx,stocks/AAPL,stocks/rt/AAPL,stocks/rt/MSFT,a"},
		{"EverythingPrivate", []string{"*"}, []string{"*"}, []string{"stocks/*"}, "stocks/*", true, "stocks/AAPL,stocks/rt/AAPL,stocks/rt/MSFT"},
		{"EverythingPrivateAnonymous", []string{"nba/*", "a"}, []string{"*"}, nil, "", true, ""},
		{"PrivateTopicUnderPrefix", []string{"nba/*"}, []string{"nba/premium"}, nil, "nba/*", false, "nba/a,nba/premium/a,nba/premium/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := feed.Access{Private: filterOf(t, tc.private...), Granted: filterOf(t, tc.granted...)}
			v := a.Narrow(filterOf(t, tc.requested...))
			bounds := v.Bounds().String()
			if v.Bounds().IsZero() {
				bounds = ""
			}
			if bounds != tc.bounds || v.Exact() != tc.exact {
				t.Errorf("bounds %q exact %v; want %q %v", bounds, v.Exact(), tc.bounds, tc.exact)
			}
			var visible []string
			for _, topic := range accessTopics {
				if v.Match(topic) {
					visible = append(visible, topic)
				}
			}
			if got := strings.Join(visible, ","); got != tc.visible {
				t.Errorf("visible %q; want %q", got, tc.visible)
			}
		})
	}
}

// TestAccessNarrowAgrees checks Narrow against its definition on random
// patterns: a topic is visible exactly when it is requested and allowed,
// its bounds hold every visible topic, and exact bounds hold no other.
// The hub relies on the last two: it finds subscribers by their bounds.
func TestAccessNarrowAgrees(t *testing.T) {
	segs := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(12, 1))
	topic := func() string {
		n := 1 + rng.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[rng.IntN(len(segs))]
		}
		return strings.Join(parts, "/")
	}
	patterns := func(min int) []string {
		var ps []string
		for range min + rng.IntN(3) {
			switch rng.IntN(6) {
			case 0:
				ps = append(ps, "*")
			case 1, 2:
				ps = append(ps, topic()+"/*")
			default:
				ps = append(ps, topic())
			}
		}
		return ps
	}
	var topics []string
	for _, a := range segs {
		topics = append(topics, a)
		for _, b := range segs {
			topics = append(topics, a+"/"+b)
			for _, c := range segs {
				topics = append(topics, a+"/"+b+"/"+c)
			}
		}
	}
	for range 20000 {
		requested := filterOf(t, patterns(1)...)
		a := feed.Access{Private: filterOf(t, patterns(0)...), Granted: filterOf(t, patterns(0)...)}
		v := a.Narrow(requested)
		for _, tp := range topics {
			want := requested.Match(tp) && a.Allows(tp)
			if v.Match(tp) != want {
				t.Fatalf("requested %v, %+v: Match(%q) = %v, want %v", requested, a, tp, !want, want)
			}
			if want && !v.Bounds().Match(tp) {
				t.Fatalf("requested %v, %+v: visible %q is outside the bounds %v", requested, a, tp, v.Bounds())
			}
			if v.Exact() && v.Bounds().Match(tp) != want {
				t.Fatalf("requested %v, %+v: exact bounds %v match %q, which is not visible", requested, a, v.Bounds(), tp)
			}
		}
	}
}
