package fanout_test

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
)

// audienceEvery is how long the tests' counts are kept: short, so that a
// change shows within a poll.
const audienceEvery = 20 * time.Millisecond

// viewersNow polls until the audience's viewers are want.
func viewersNow(t *testing.T, h *fanout.Hub, want map[string]int) *fanout.Audience {
	t.Helper()
	var a *fanout.Audience
	poll.Until(t, fmt.Sprintf("viewers %v", want), func() bool {
		a = h.Audience()
		return maps.Equal(a.Viewers, want)
	})
	return a
}

// TestAudienceCounts: each known topic counts the open streams that
// receive it, through their exact topics and patterns, each stream once
// however many of its patterns match; delayed and conflated streams
// count; archived topics are left out.
func TestAudienceCounts(t *testing.T) {
	t.Parallel()
	h, l := delayedHub(t, fanout.Options{Audience: audienceEvery}, time.Hour)
	for _, topic := range []string{"nba/a", "nba/b", "nba/x/y", "stocks/AAPL", "old/game"} {
		l.publish(topic, 1)
	}
	l.archive("old/game")
	if a := h.Audience(); a.Streams != 0 || len(a.Viewers) != 4 || a.Viewers["nba/a"] != 0 {
		t.Fatalf("nobody watching: %+v", a)
	}
	subscribe(t, h, l, filterOf("nba/a"), fanout.Start{})
	subscribe(t, h, l, parse(t, "nba/a"), fanout.Start{})
	// Overlapping patterns, as a filter that is not feed's may give
	// them: counted once.
	subscribe(t, h, l, filterOf("nba/*", "nba/x/*", "nba/a", "nba/*"), fanout.Start{})
	subscribe(t, h, l, parse(t, "nba/*", "stocks/AAPL"), fanout.Start{})
	subscribeAs(t, h, l, parse(t, "*"), fanout.Start{}, time.Hour, 0)
	subscribeAs(t, h, l, parse(t, "stocks/*"), fanout.Start{}, 0, time.Second)
	a := viewersNow(t, h, map[string]int{"nba/a": 5, "nba/b": 3, "nba/x/y": 3, "stocks/AAPL": 3})
	if a.Streams != 6 || a.Patterns != 4 || a.Delayed != 1 || a.Conflated != 1 {
		t.Fatalf("totals %+v", a)
	}
	// Shared for the interval: the same count.
	if b := h.Audience(); b != a && time.Since(a.At) < audienceEvery/2 {
		t.Fatal("a count was not kept for its interval")
	}
}

// TestAudienceClosedStreams: a stream that closes stops counting within
// the interval, whichever end closed it.
func TestAudienceClosedStreams(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Audience: audienceEvery})
	l.publish("nba/a", 1)
	p1 := subscribe(t, h, l, parse(t, "nba/a"), fanout.Start{})
	p2 := subscribe(t, h, l, parse(t, "nba/*"), fanout.Start{})
	subscribe(t, h, l, parse(t, "nba/a"), fanout.Start{})
	p1.expectIDs(t, 1)
	p2.expectIDs(t, 1)
	viewersNow(t, h, map[string]int{"nba/a": 3})
	p1.conn.Close()
	p2.conn.Close()
	l.publish("nba/a", 1) // a write finds the sockets closed
	a := viewersNow(t, h, map[string]int{"nba/a": 1})
	if a.Streams != 1 || a.Patterns != 0 {
		t.Fatalf("totals %+v", a)
	}
}

// TestAudiencePrivate: a stream counts for the topics it receives, not
// for those its patterns name that it may not see: a reader of "*"
// without a grant is no viewer of a private topic, one with a grant is.
func TestAudiencePrivate(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Audience: audienceEvery})
	l.publish("premium/a", 1)
	l.publish("nba/premium/b", 1)
	l.publish("nba/a", 1)
	for range 3 {
		subscribe(t, h, l, visible(t, all, premium, nil), fanout.Start{})
	}
	subscribe(t, h, l, visible(t, []string{"nba/*"}, []string{"nba/premium/*"}, nil), fanout.Start{})
	subscribe(t, h, l, visible(t, all, premium, premium), fanout.Start{})
	subscribe(t, h, l, visible(t, []string{"premium/*"}, premium, nil), fanout.Start{}) // sees nothing
	subscribe(t, h, l, narrowedFilter{filterOf("*")}, fanout.Start{})
	viewersNow(t, h, map[string]int{"premium/a": 1, "nba/premium/b": 4, "nba/a": 6})
}

// narrowedFilter is a Narrowed filter that is not feed's: the whole
// topic tree in its keys, the topics without "premium" in its Match.
type narrowedFilter struct{ topicFilter }

func (f narrowedFilter) Match(topic string) bool {
	return f.topicFilter.Match(topic) && !strings.Contains(topic, "premium")
}
func (narrowedFilter) Exact() bool { return false }

// TestAudienceOff: a hub without Options.Audience counts nothing.
func TestAudienceOff(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{})
	l.publish("nba/a", 1)
	subscribe(t, h, l, parse(t, "nba/a"), fanout.Start{}).expectIDs(t, 1)
	if a := h.Audience(); a != nil {
		t.Fatalf("Audience = %+v", a)
	}
}

// TestAudienceHoldsNoGoroutine: counting starts no goroutine, per
// subscriber or at all.
func TestAudienceHoldsNoGoroutine(t *testing.T) {
	h, l := newHub(t, fanout.Options{Audience: time.Nanosecond, WriteTimeout: time.Minute})
	l.publish("nba/a", 1)
	const n = 100
	frames := new(atomic.Int64)
	for range n {
		go h.Serve(context.Background(), &sinkConn{frames: frames}, fanout.Subscription{Filter: parse(t, "nba/*"), Start: fanout.Start{Resume: true}, Replay: l.history(parse(t, "nba/*"))})
	}
	poll.Until(t, "every subscriber served", func() bool { return frames.Load() == n })
	before := runtime.NumGoroutine()
	for range 10 {
		if a := h.Audience(); a.Viewers["nba/a"] != n {
			t.Fatalf("viewers %v", a.Viewers)
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines %d → %d counting %d subscribers", before, after, n)
	}
}

// BenchmarkFanoutAudience is BenchmarkFanout with the audience counted
// (audience=on) or not: with it on, a goroutine counts every 10 ms, two
// hundred times more often than the server does, while events go out.
// Publishing does not look at the audience: the figures should be the
// same.
func BenchmarkFanoutAudience(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("subscribers=10000/audience=%v", on), func(b *testing.B) {
			opts := fanout.Options{}
			if on {
				opts.Audience = time.Nanosecond
			}
			h, l := newHub(b, opts)
			for i := range 1000 {
				l.publish(fmt.Sprintf("bench/%d", i), 1)
			}
			frames := attach(b, h, l, 5000, parse(b, "bench/w1"), l.last())
			patterned := attach(b, h, l, 5000, feed.Filter{Prefixes: []string{"bench/"}}, l.last())
			stop := make(chan struct{})
			defer close(stop)
			if on {
				go func() {
					t := time.NewTicker(10 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							h.Audience()
						}
					}
				}()
			}
			b.ResetTimer()
			for i := range b.N {
				l.publish("bench/w1", 1)
				waitFrames(b, frames, int64(i+1)*5000)
				waitFrames(b, patterned, int64(i+1)*5000)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/delivery")
		})
	}
}

// BenchmarkAudienceCount counts the audience of 10,000 subscribers over
// 1,000 topics: 5,000 of one topic, 5,000 of a prefix of all of them.
func BenchmarkAudienceCount(b *testing.B) {
	h, l := newHub(b, fanout.Options{Audience: time.Nanosecond})
	for i := range 1000 {
		l.publish(fmt.Sprintf("bench/%d", i), 1)
	}
	attach(b, h, l, 5000, parse(b, "bench/w1"), l.last())
	attach(b, h, l, 5000, feed.Filter{Prefixes: []string{"bench/"}}, l.last())
	b.ReportAllocs()
	for b.Loop() {
		h.Audience()
	}
}
