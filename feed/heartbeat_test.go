package feed_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"livefeed/feed"
)

func TestParseHeartbeat(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"topics":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"stocks/S%d"`, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	for _, tc := range []struct {
		name, body string
		want       string // the filter, as String writes it; "" for an error
		err        string // substring of the error
	}{
		{"OK", `{"topics":["stocks/*"]}`, "stocks/*", ""},
		{"Several", ` {"topics": ["nba/lal-bos", "stocks/*", "stocks/AAPL"]} `, "nba/lal-bos,stocks/*", ""},
		{"All", `{"topics":["*"]}`, "*", ""},
		{"EscapedName", `{"t\u006fpics":["a"]}`, "a", ""},
		{"Limit", many(feed.MaxHeartbeatPatterns), "", ""},
		{"ErrOverLimit", many(feed.MaxHeartbeatPatterns + 1), "", "at most 100"},
		{"ErrEmptyBody", ``, "", "empty"},
		{"ErrEmptyList", `{"topics":[]}`, "", "at least one topic"},
		{"ErrMissing", `{}`, "", `"topics" is missing`},
		{"ErrUnknownField", `{"topics":["a"],"ttl":5}`, "", `unknown field "ttl"`},
		{"ErrCase", `{"Topics":["a"]}`, "", `unknown field "Topics"`},
		{"ErrTwice", `{"topics":["a"],"topics":["b"]}`, "", "given twice"},
		{"ErrNotArray", `{"topics":"a"}`, "", "must be an array"},
		{"ErrNumber", `{"topics":[1]}`, "", "as strings"},
		{"ErrNull", `{"topics":[null]}`, "", "as strings"},
		{"ErrBadTopic", `{"topics":["a b"]}`, "", "not allowed"},
		{"ErrBadPrefix", `{"topics":["/*"]}`, "", "not a valid topic"},
		{"ErrArray", `["a"]`, "", "JSON object"},
		{"ErrTrailing", `{"topics":["a"]}x`, "", "after the JSON value"},
		{"ErrUnterminated", `{"topics":["a"`, "", "ends too early"},
		{"ErrNoClose", `{"topics":["a"]`, "", "ends too early"},
		{"ErrNUL", "{\"topics\":[\"a\x00\"]}", "", "control character"},
		{"ErrInvalidUTF8", "{\"topics\":[\"a\xff\"]}", "", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := feed.ParseHeartbeat([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, feed.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && f.String() != tc.want {
				t.Fatalf("filter %q, want %q", f.String(), tc.want)
			}
		})
	}
}

func TestParseHeartbeatLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		heartbeat  bool
		want, err  string
	}{
		{"OK", `{"heartbeat":["stocks/*"]}`, true, "stocks/*", ""},
		{"Spaces", " {\"heartbeat\" : [ \"a\" ] }\r\n", true, "a", ""},
		{"Event", `{"topic":"a","type":"note","data":{}}`, false, "", ""},
		{"EventThenHeartbeat", `{"topic":"a","heartbeat":["a"]}`, false, "", ""}, // ParseLine refuses it
		{"NotObject", `[1]`, false, "", ""},
		{"ErrExtraField", `{"heartbeat":["a"],"topic":"a"}`, true, "", `unknown field "topic"`},
		{"ErrTopicsField", `{"heartbeat":["a"],"topics":["a"]}`, true, "", `unknown field "topics"`},
		{"ErrEmpty", `{"heartbeat":[]}`, true, "", "at least one topic"},
		{"ErrTrailing", `{"heartbeat":["a"]} {}`, true, "", "after the heartbeat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, hb, err := feed.ParseHeartbeatLine([]byte(tc.line))
			if hb != tc.heartbeat {
				t.Fatalf("heartbeat = %v, want %v", hb, tc.heartbeat)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.String() != tc.want {
				t.Fatalf("filter %q, want %q", f.String(), tc.want)
			}
		})
	}
}

func TestFilterCovers(t *testing.T) {
	parse := func(p ...string) feed.Filter {
		f, err := feed.ParseFilter(p)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		scope, asked []string
		want         bool
	}{
		{[]string{"stocks/*"}, []string{"stocks/AAPL"}, true},
		{[]string{"stocks/*"}, []string{"stocks/*"}, true},
		{[]string{"stocks/*"}, []string{"stocks/us/*", "stocks/X"}, true},
		{[]string{"stocks/*"}, []string{"*"}, false},
		{[]string{"stocks/*"}, []string{"stocks/AAPL", "nba/x"}, false},
		{[]string{"stocks/AAPL"}, []string{"stocks/*"}, false},
		{[]string{"stocks/AAPL"}, []string{"stocks/AAPL"}, true},
		{[]string{"*"}, []string{"*"}, true},
	} {
		if got := parse(tc.scope...).Covers(parse(tc.asked...)); got != tc.want {
			t.Errorf("%v covers %v = %v, want %v", tc.scope, tc.asked, got, tc.want)
		}
	}
}

func TestFinished(t *testing.T) {
	for _, tc := range []struct {
		typ, data string
		want      bool
	}{
		{"archive", `{}`, true},
		{"score", `{"home":"A","away":"B","home_score":1,"away_score":2,"status":"final"}`, true},
		{"score", `{"status":"fin\u0061l"}`, true},
		{"score", `{"home":"A","away":"B","home_score":1,"away_score":2,"status":"live"}`, false},
		{"score", `{"home":"final","away":"B"}`, false},
		{"tick", `{"status":"final"}`, false},
		{"note", `{"status":"final"}`, false},
	} {
		if got := feed.Finished(feed.Event{Type: tc.typ, Data: json.RawMessage(tc.data)}); got != tc.want {
			t.Errorf("%s %s: Finished = %v, want %v", tc.typ, tc.data, got, tc.want)
		}
	}
}

func FuzzParseHeartbeat(f *testing.F) {
	f.Add([]byte(`{"topics":["stocks/*"]}`))
	f.Add([]byte(`{"topics":["a","b/*","*"]}`))
	f.Add([]byte(`{"topics":["a"],"topics":["b"]}`))
	f.Add([]byte(`{"Topics":["a"]}`))
	f.Add([]byte(`{"heartbeat":["a"]}`))
	f.Add([]byte(`{"topics":["\u0061"]} `))
	f.Add([]byte(`{"topics":[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := feed.ParseHeartbeat(body)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		} else {
			// What encoding/json reads must be what was parsed.
			var v struct{ Topics []string }
			if json.Unmarshal(body, &v) != nil {
				t.Fatalf("accepted %q, which is not JSON", body)
			}
			want, err := feed.ParseFilter(v.Topics)
			if err != nil && len(v.Topics) <= feed.MaxPatterns {
				t.Fatalf("accepted %q, whose patterns ParseFilter refuses: %v", body, err)
			}
			if err == nil && got.String() != want.String() {
				t.Fatalf("parsed %q, encoding/json reads %q", got.String(), want.String())
			}
		}
		line, hb, err := feed.ParseHeartbeatLine(body)
		if err != nil && !hb {
			t.Fatalf("an error %v for a line that is no heartbeat", err)
		}
		if hb && err == nil && len(line.Topics)+len(line.Prefixes) == 0 && !line.All {
			t.Fatalf("a heartbeat line of no topics: %q", body)
		}
	})
}
