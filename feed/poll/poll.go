// Package poll is how livefeed's tests wait for something that happens on
// another goroutine or in another process: Until polls a condition until
// it holds, and fails the test, saying what it waited for, once a
// deadline passes. Never a sleep that hopes to be long enough
// (nats-server's checkFor is the model). It imports nothing of livefeed's,
// so the tests of every floor use it.
package poll

import (
	"testing"
	"time"
)

// Deadline is how long Until waits: what takes milliseconds on an idle
// machine can take seconds on a loaded CI machine running the race
// detector.
const Deadline = 30 * time.Second

// Until polls cond until it holds, failing tb after Deadline with what it
// waited for (what: "the hub to hear of event 5").
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	Within(tb, Deadline, what, cond)
}

// Within is Until with a deadline of its own.
func Within(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	// From a millisecond, doubling up to 50: quick for what is quick,
	// and no spinning on what takes long (an HTTP request per poll).
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			if what == "" {
				what = "the condition"
			}
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(wait)
	}
}
