package cluster

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParseHeartbeat: a heartbeat message from the NATS network is taken
// only whole and well formed; a time ahead of the receiver's now is taken
// as now.
func TestParseHeartbeat(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_800_000_000_000)
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	for _, tc := range []struct {
		name, at, body string
		patterns       string        // the filter, as Filter.String gives it
		want           time.Duration // the time taken, from now
		err            string
	}{
		{name: "OK", at: ms(-time.Second), body: `{"topics":["stocks/*","nba/g"]}`, patterns: "nba/g,stocks/*", want: -time.Second},
		{name: "All", at: ms(0), body: `{"topics":["*"]}`, patterns: "*"},
		{name: "Old", at: ms(-time.Hour), body: `{"topics":["a"]}`, patterns: "a", want: -time.Hour},
		{name: "AheadCappedToNow", at: ms(3 * time.Hour), body: `{"topics":["a"]}`, patterns: "a"},
		{name: "AheadByAMillisecond", at: ms(time.Millisecond), body: `{"topics":["a"]}`, patterns: "a"},
		{name: "ErrAtMissing", at: "", body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrAtSigned", at: "+" + ms(0), body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrAtNegative", at: "-5", body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrAtNotANumber", at: "1e12", body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrAtRFC3339", at: now.Format(time.RFC3339), body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrAtHuge", at: "9223372036854775808", body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrAtSpace", at: " " + ms(0), body: `{"topics":["a"]}`, err: "Livefeed-At"},
		{name: "ErrBodyEmpty", at: ms(0), body: ``, err: "empty"},
		{name: "ErrBodyNotJSON", at: ms(0), body: `topics=a`, err: "JSON object"},
		{name: "ErrFieldCase", at: ms(0), body: `{"Topics":["a"]}`, err: "unknown field"},
		{name: "ErrFieldTwice", at: ms(0), body: `{"topics":["a"],"topics":["b"]}`, err: "twice"},
		{name: "ErrBadTopic", at: ms(0), body: `{"topics":["a b"]}`, err: "topic"},
		{name: "ErrNoTopics", at: ms(0), body: `{"topics":[]}`, err: "at least one"},
		{name: "ErrTrailing", at: ms(0), body: `{"topics":["a"]}x`, err: "after the JSON value"},
		{name: "ErrTooLarge", at: ms(0), body: `{"topics":["a"]}` + strings.Repeat(" ", maxHeartbeatBytes), err: "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, at, err := parseHeartbeat(tc.at, []byte(tc.body), now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.String() != tc.patterns || !at.Equal(now.Add(tc.want)) {
				t.Fatalf("got %s at %v, want %s at %v", f, at, tc.patterns, now.Add(tc.want))
			}
		})
	}
}

// FuzzParseHeartbeat: whatever a message holds, the parser answers
// without panicking, and what it takes is never after now.
func FuzzParseHeartbeat(f *testing.F) {
	f.Add("1800000000000", []byte(`{"topics":["stocks/*"]}`))
	f.Add("99999999999999", []byte(`{"topics":["*","a/*","a/b"]}`))
	f.Add("-1", []byte(`{"topics":["a"]}`))
	f.Add("", []byte(`{"topics":[]}`))
	f.Add("1", []byte(`{"topics":["a"],"topics":["a"]}`))
	f.Add("17", []byte("{\"topics\":[\"\xff\"]}"))
	f.Add("17", []byte(`{"topics":["\ud800"]}`))
	now := time.UnixMilli(1_800_000_000_000)
	f.Fuzz(func(t *testing.T, at string, body []byte) {
		fl, when, err := parseHeartbeat(at, body, now)
		if err != nil {
			return
		}
		if when.After(now) {
			t.Fatalf("took %v, after now %v", when, now)
		}
		if fl.IsZero() {
			t.Fatal("took a heartbeat for no topic")
		}
	})
}
