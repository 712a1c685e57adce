package handlers_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/handlers"
)

func TestParseViewersQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		query string
		want  string // the patterns read, normalized
		err   string // substring of the error, "" for valid
	}{
		{"OKTopic", "topic=nba/lal-bos", "nba/lal-bos", ""},
		{"OKPatterns", "topic=stocks/AAPL&topic=nba/*", "stocks/AAPL,nba/*", ""},
		{"OKCovered", "topic=nba/a&topic=nba/*&topic=nba/*", "nba/*", ""},
		{"OKAll", "topic=nba/*&topic=*", "*", ""},
		{"OKMaxPatterns", strings.Repeat("topic=a&", 63) + "topic=b", "a,b", ""},
		{"ErrNone", "", "", "at least one topic is required"},
		{"ErrEmpty", "topic=", "", "topic is empty"},
		{"ErrPattern", "topic=nba/*/x", "", "is not allowed"},
		{"ErrDots", "topic=a/../b", "", ""},
		{"ErrPrefixOnly", "topic=/*", "", "not a valid topic"},
		{"ErrTooMany", strings.Repeat("topic=a&", 64) + "topic=b", "", "65 topic patterns; the limit is 64"},
		{"ErrTooLong", "topic=" + strings.Repeat("a", 129), "", ""},
		{"ErrUnknown", "topic=a&topics=b", "", `unknown parameter "topics"`},
		{"ErrLetterCase", "Topic=a", "", `unknown parameter "Topic"`},
		{"ErrToken", "topic=a&token=x", "", `unknown parameter "token"`},
		{"ErrNUL", "topic=a%00", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			f, err := handlers.ParseViewersQuery(values)
			if tc.want == "" {
				if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an invalid-input error with %q", err, tc.err)
				}
				return
			}
			if err != nil || f.String() != tc.want {
				t.Fatalf("got %q, %v; want %q", f, err, tc.want)
			}
		})
	}
}

// FuzzParseViewersQuery: whatever the query string, /api/viewers' query
// is refused as invalid input or read as the patterns /events would read
// from its topics.
func FuzzParseViewersQuery(f *testing.F) {
	for _, seed := range []string{
		"topic=nba/*", "topic=*&topic=a", "topic=a&topic=a", "", "topic=", "topic=%", "topic=a;b", "topic=a/../b",
		"topic=a&token=x", "Topic=a", "topic=%E2%80%AE", "topic=a%00", "topic=a/*/*", strings.Repeat("topic=a&", 65),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := handlers.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := handlers.ParseViewersQuery(values)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if len(values) != 1 || len(values["topic"]) == 0 || len(values["topic"]) > feed.MaxPatterns {
			t.Fatalf("accepted %q", raw)
		}
		as, err := feed.ParseFilter(values["topic"])
		if err != nil || as.String() != got.String() {
			t.Fatalf("%q read as %q; /events reads it as %q, %v", raw, got, as, err)
		}
		again, err := feed.ParseFilter(strings.Split(got.String(), ","))
		if err != nil || again.String() != got.String() {
			t.Fatalf("%q read as %q, which reads back as %q, %v", raw, got, again, err)
		}
	})
}
