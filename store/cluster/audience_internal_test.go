package cluster

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"livefeed/feed/fanout"
)

// TestParseAudience: another node's audience count from the NATS network
// is taken only whole and well formed; topics this node may not know are
// taken too.
func TestParseAudience(t *testing.T) {
	t.Parallel()
	body := func(viewers string) string {
		return `{"streams":10,"patterns":3,"delayed":1,"conflated":2,"viewers":{` + viewers + `}}`
	}
	for _, tc := range []struct {
		name, body string
		want       map[string]int // the viewers, when taken
		err        string
	}{
		{name: "OK", body: body(`"nba/a":5,"stocks/A":2`), want: map[string]int{"nba/a": 5, "stocks/A": 2}},
		{name: "NoViewers", body: body(``), want: map[string]int{}},
		{name: "Spacing", body: " {\n\"streams\" : 10 ,\"patterns\":3,\"delayed\":1,\"conflated\":2,\"viewers\":{ \"a\" : 10 } }\n", want: map[string]int{"a": 10}},
		{name: "KeyOrder", body: `{"viewers":{"a":1},"conflated":2,"delayed":1,"patterns":3,"streams":10}`, want: map[string]int{"a": 1}},
		{name: "EscapedSameName", body: `{"stre\u0061ms":10,"patterns":3,"delayed":1,"conflated":2,"viewers":{"\u0061":1}}`, want: map[string]int{"a": 1}},
		{name: "ZeroViewers", body: body(`"a":0`), want: map[string]int{"a": 0}},
		{name: "AllStreams", body: body(`"a":10`), want: map[string]int{"a": 10}},
		{name: "ErrEmpty", body: ``, err: "EOF"},
		{name: "ErrNotObject", body: `[1]`, err: "not a JSON object"},
		{name: "ErrNull", body: `null`, err: "not a JSON object"},
		{name: "ErrTrailing", body: body(`"a":1`) + `x`, err: "after the JSON object"},
		{name: "ErrTwoObjects", body: body(`"a":1`) + body(`"a":1`), err: "after the JSON object"},
		{name: "ErrUnterminated", body: `{"streams":10,"patterns":3`, err: "audience count"},
		{name: "ErrMissingTotal", body: `{"streams":10,"patterns":3,"delayed":1,"viewers":{}}`, err: `without "conflated"`},
		{name: "ErrMissingViewers", body: `{"streams":10,"patterns":3,"delayed":1,"conflated":2}`, err: `without "viewers"`},
		{name: "ErrFieldCase", body: `{"Streams":10,"patterns":3,"delayed":1,"conflated":2,"viewers":{}}`, err: "unknown field"},
		{name: "ErrUnknownField", body: `{"streams":10,"patterns":3,"delayed":1,"conflated":2,"viewers":{},"node":"x"}`, err: "unknown field"},
		{name: "ErrFieldTwice", body: `{"streams":10,"streams":1,"patterns":3,"delayed":1,"conflated":2,"viewers":{}}`, err: "twice"},
		{name: "ErrFieldTwiceEscaped", body: `{"streams":10,"str\u0065ams":1,"patterns":3,"delayed":1,"conflated":2,"viewers":{}}`, err: "twice"},
		{name: "ErrTopicTwice", body: body(`"a":1,"a":2`), err: "twice"},
		{name: "ErrNegative", body: body(`"a":-1`), err: "whole number"},
		{name: "ErrNegativeTotal", body: `{"streams":-10,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`, err: "whole number"},
		{name: "ErrFraction", body: body(`"a":1.5`), err: "whole number"},
		{name: "ErrFractionZero", body: body(`"a":1.0`), err: "whole number"},
		{name: "ErrExponent", body: body(`"a":1e1`), err: "whole number"},
		{name: "ErrHuge", body: `{"streams":99999999999999999999,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`, err: "whole number"},
		{name: "ErrAboveBound", body: fmt.Sprintf(`{"streams":%d,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`, maxAudienceCount+1), err: "whole number"},
		{name: "ErrString", body: body(`"a":"1"`), err: "not a number"},
		{name: "ErrNullCount", body: body(`"a":null`), err: "not a number"},
		{name: "ErrViewersArray", body: `{"streams":10,"patterns":3,"delayed":1,"conflated":2,"viewers":["a"]}`, err: "not a JSON object"},
		{name: "ErrMoreViewersThanStreams", body: body(`"a":11`), err: "11 of which"},
		{name: "ErrMorePatternsThanStreams", body: `{"streams":1,"patterns":2,"delayed":0,"conflated":0,"viewers":{}}`, err: "a total of 2"},
		{name: "ErrBadTopic", body: body(`"a b":1`), err: "topic"},
		{name: "ErrPatternAsTopic", body: body(`"nba/*":1`), err: "topic"},
		{name: "ErrEmptyTopic", body: body(`"":1`), err: "topic"},
		{name: "ErrInvalidUTF8", body: body("\"a\xff\":1"), err: "topic"},
		{name: "ErrLoneSurrogate", body: body(`"\ud800":1`), err: "topic"},
		{name: "ErrTopicTooLong", body: body(`"` + strings.Repeat("a", 129) + `":1`), err: "topic"},
		{name: "ErrTooLarge", body: body(`"a":1`) + strings.Repeat(" ", maxAudienceBytes), err: "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseAudience([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Streams != 10 || a.Patterns != 3 || a.Delayed != 1 || a.Conflated != 2 || !reflect.DeepEqual(a.Viewers, tc.want) {
				t.Fatalf("got %+v, want 10 streams, 3 patterns, 1 delayed, 2 conflated and viewers %v", a, tc.want)
			}
		})
	}
}

// FuzzParseAudience: whatever a message holds, the parser answers
// without panicking, and what it takes is within the bounds: no figure
// negative or above maxAudienceCount, no topic with more viewers than
// streams.
func FuzzParseAudience(f *testing.F) {
	f.Add([]byte(`{"streams":10,"patterns":3,"delayed":1,"conflated":2,"viewers":{"nba/a":5,"stocks/A":2}}`))
	f.Add([]byte(`{"streams":0,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`))
	f.Add([]byte(`{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"a":-1}}`))
	f.Add([]byte(`{"streams":1e3,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`))
	f.Add([]byte(`{"streams":1,"streams":2,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`))
	f.Add([]byte("{\"streams\":1,\"patterns\":0,\"delayed\":0,\"conflated\":0,\"viewers\":{\"\xff\":1}}"))
	f.Add([]byte(`{"streams":16777216,"patterns":0,"delayed":0,"conflated":0,"viewers":{"a":16777216}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseAudience(body)
		if err != nil {
			return
		}
		for _, n := range []int{a.Streams, a.Patterns, a.Delayed, a.Conflated} {
			if n < 0 || n > maxAudienceCount {
				t.Fatalf("took a figure of %d", n)
			}
		}
		for topic, n := range a.Viewers {
			if n < 0 || n > a.Streams {
				t.Fatalf("took %d viewers of %q, of %d streams", n, topic, a.Streams)
			}
		}
		// What a node sends of it, another takes as it is.
		back, _ := encodeAudience(a, maxAudienceBytes)
		again, err := parseAudience(back)
		if err != nil {
			t.Fatalf("its encoding %q: %v", back, err)
		}
		for topic, n := range a.Viewers {
			if n > 0 && again.Viewers[topic] != n {
				t.Fatalf("%q: %d viewers, %d after encoding", topic, n, again.Viewers[topic])
			}
		}
	})
}

// TestEncodeAudience: a node shares its totals and its watched topics;
// where they do not fit, its most watched, and says how many it left
// out. Measured: 100,000 watched topics of the shape
// "nba/2026-11-21/g00000" do not fit in a mebibyte, and the count keeps
// the most watched that do.
func TestEncodeAudience(t *testing.T) {
	t.Parallel()
	a := &fanout.Audience{Streams: 9, Patterns: 2, Delayed: 1, Conflated: 0, Viewers: map[string]int{"a": 3, "b": 0, "c/d": 9}}
	body, left := encodeAudience(a, maxAudienceBytes)
	got, err := parseAudience(body)
	if err != nil || left != 0 {
		t.Fatalf("%q: %v, %d left out", body, err, left)
	}
	if got.Streams != 9 || got.Patterns != 2 || got.Delayed != 1 || !reflect.DeepEqual(got.Viewers, map[string]int{"a": 3, "c/d": 9}) {
		t.Fatalf("took %+v back, want the totals and the topics with viewers", got)
	}

	big := &fanout.Audience{Streams: 200_000, Viewers: map[string]int{}}
	for i := range 100_000 {
		big.Viewers[fmt.Sprintf("nba/2026-11-21/g%05d", i)] = 1 + i%1000
	}
	body, left = encodeAudience(big, maxAudienceBytes-512)
	if len(body) > maxAudienceBytes-512 || left == 0 {
		t.Fatalf("%d bytes, %d topics left out: want at most %d bytes, some left out", len(body), left, maxAudienceBytes-512)
	}
	got, err = parseAudience(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Viewers)+left != len(big.Viewers) {
		t.Fatalf("%d topics shared and %d left out, of %d", len(got.Viewers), left, len(big.Viewers))
	}
	least := 1000
	for _, n := range got.Viewers {
		least = min(least, n)
	}
	for topic, n := range big.Viewers {
		if _, shared := got.Viewers[topic]; !shared && n > least {
			t.Fatalf("%s (%d viewers) was left out, and one of %d shared", topic, n, least)
		}
	}
	t.Logf("100,000 watched topics: %d shared in %d bytes, %d left out", len(got.Viewers), len(body), left)
}
