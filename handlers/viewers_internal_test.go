package handlers

import (
	"fmt"
	"strings"
	"testing"

	"livefeed/feed/fanout"
)

// TestViewerAnswers: an answer is encoded once per count and query, a
// new count encodes again, and what is kept is bounded (in answers and
// in bytes): past the bounds, answers are encoded for their request
// alone, still right.
func TestViewerAnswers(t *testing.T) {
	t.Parallel()
	var va viewerAnswers
	encoded := 0
	encode := func(body string) func() ([]byte, error) {
		return func() ([]byte, error) { encoded++; return []byte(body), nil }
	}
	count := &fanout.Audience{}
	for range 3 {
		a, err := va.answer(count, "nba/*", encode(`{"topics":[]}`))
		if err != nil || string(a.body) != `{"topics":[]}` || a.etag == "" {
			t.Fatalf("%q %q %v", a.body, a.etag, err)
		}
	}
	if encoded != 1 {
		t.Fatalf("encoded %d times for one count and query", encoded)
	}
	first, _ := va.answer(count, "nba/*", nil)
	next := &fanout.Audience{}
	same, _ := va.answer(next, "nba/*", encode(`{"topics":[]}`))
	other, _ := va.answer(next, "stocks/*", encode(`{"topics":[{"topic":"stocks/A","viewers":1}]}`))
	if encoded != 3 || same.etag != first.etag || other.etag == first.etag {
		t.Fatalf("a new count: %d encodings, ETags %s %s %s", encoded, first.etag, same.etag, other.etag)
	}

	// Many queries: at most maxViewerAnswers kept.
	for i := range maxViewerAnswers + 10 {
		va.answer(next, fmt.Sprint("q", i), encode("{}"))
	}
	if len(va.answers) > maxViewerAnswers {
		t.Fatalf("%d answers kept", len(va.answers))
	}
	// Large answers: at most maxViewerAnswerBytes kept.
	big := strings.Repeat("x", 1<<20)
	va = viewerAnswers{}
	for i := range 10 {
		a, _ := va.answer(count, fmt.Sprint("big", i), encode(big))
		if len(a.body) != len(big) {
			t.Fatalf("answer %d: %d bytes", i, len(a.body))
		}
	}
	if va.bytes > maxViewerAnswerBytes || len(va.answers) != maxViewerAnswerBytes/len(big) {
		t.Fatalf("%d bytes in %d answers kept", va.bytes, len(va.answers))
	}
	before := encoded
	va.answer(count, "big9", encode(big))
	if encoded != before+1 {
		t.Fatal("an answer past the bounds was kept")
	}
}

func TestMatchesETag(t *testing.T) {
	t.Parallel()
	const etag = `"abc"`
	for header, want := range map[string]bool{
		`"abc"`: true, `W/"abc"`: true, ` "x" , "abc" `: true, "*": true,
		"": false, `"abcd"`: false, `abc`: false, `"ABC"`: false, `W/"x"`: false,
	} {
		if got := matchesETag(header, etag); got != want {
			t.Errorf("If-None-Match: %s: %v, want %v", header, got, want)
		}
	}
}
