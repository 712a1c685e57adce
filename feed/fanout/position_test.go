package fanout_test

import (
	"strconv"
	"testing"

	"livefeed/feed/fanout"
)

func TestParseLastEventID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want fanout.Start
	}{
		{"", fanout.Start{}},
		{"0", fanout.Start{Resume: true, After: 0}},
		{"42", fanout.Start{Resume: true, After: 42}},
		{"007", fanout.Start{Resume: true, After: 7}},
		{"9223372036854775807", fanout.Start{Resume: true, After: 9223372036854775807}},
		{"9223372036854775808", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"abc", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"-5", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"+5", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"1e3", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"1.0", fanout.Start{Invalid: fanout.ResetInvalid}},
		{" 1", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"1 ", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"0x10", fanout.Start{Invalid: fanout.ResetInvalid}},
		{"١٢", fanout.Start{Invalid: fanout.ResetInvalid}}, // Arabic-Indic digits
	} {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			if got := fanout.ParseLastEventID(tc.in); got != tc.want {
				t.Fatalf("ParseLastEventID(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzParseLastEventID checks that a position is accepted exactly when it is
// the decimal form of a non-negative int64, and then read as that number.
func FuzzParseLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "42", "-1", "1e3", "abc", "99999999999999999999", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := fanout.ParseLastEventID(s)
		n, err := strconv.ParseUint(s, 10, 63)
		switch {
		case s == "":
			if got != (fanout.Start{}) {
				t.Fatalf("empty: %+v", got)
			}
		case err == nil:
			if !got.Resume || got.After != int64(n) || got.Invalid != "" {
				t.Fatalf("%q: %+v, want resume after %d", s, got, n)
			}
		default:
			if got.Resume || got.Invalid != fanout.ResetInvalid {
				t.Fatalf("%q: %+v, want invalid", s, got)
			}
		}
	})
}
