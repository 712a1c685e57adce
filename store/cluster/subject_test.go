package cluster

import (
	"strings"
	"testing"

	"livefeed/feed"
)

func TestSubjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ topic, subject string }{
		{"nba/2026-11-21/lal-bos", "livefeed.nba.2026-11-21.lal-bos"},
		{"stocks/AAPL", "livefeed.stocks.AAPL"},
		{"a.b/c", "livefeed.a~b.c"},
		{"a/b.c", "livefeed.a.b~c"},
		{"x_y-z", "livefeed.x_y-z"},
	} {
		got := subjectOf("livefeed", tc.topic)
		if got != tc.subject {
			t.Errorf("subjectOf(%q) = %q, want %q", tc.topic, got, tc.subject)
		}
		back, err := topicOf("livefeed", got)
		if err != nil || back != tc.topic {
			t.Errorf("topicOf(%q) = %q, %v", got, back, err)
		}
	}
	for _, bad := range []string{"other.x", "livefeed.", "livefeed", "livefeed.a/b"} {
		if _, err := topicOf("livefeed", bad); err == nil {
			t.Errorf("topicOf(%q) accepted it", bad)
		}
	}
	for in, want := range map[string]string{"livefeed.>": "livefeed", "lf.prod.>": "lf.prod", "livefeed": "", ">": "", "a..b.>": "", "a *.>": ""} {
		got, err := prefixOf(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("prefixOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzSubjects: every valid topic has a subject NATS accepts (no empty or
// wildcard token, no space) that gives back the topic, and no two topics
// share one.
func FuzzSubjects(f *testing.F) {
	for _, s := range []string{"nba/a", "a.b/c", "a/b.c", "x~y", "a//b", "..", "*"} {
		f.Add(s, "b.c/a")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if feed.ValidateTopic(a) != nil {
			return
		}
		s := subjectOf("livefeed", a)
		for _, tok := range strings.Split(s, ".") {
			if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
				t.Fatalf("topic %q: subject %q has token %q", a, s, tok)
			}
		}
		if back, err := topicOf("livefeed", s); err != nil || back != a {
			t.Fatalf("topic %q: subject %q gives back %q, %v", a, s, back, err)
		}
		if feed.ValidateTopic(b) == nil && a != b && subjectOf("livefeed", b) == s {
			t.Fatalf("topics %q and %q share subject %q", a, b, s)
		}
	})
}
