package fanout_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
)

func parse(t testing.TB, patterns ...string) feed.Filter {
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

// visible is what a subscriber to requested sees when private needs a
// grant and its token grants granted (nil: no token).
func visible(t testing.TB, requested, private, granted []string) feed.Visible {
	t.Helper()
	return feed.Access{Private: parse(t, private...), Granted: parse(t, granted...)}.Narrow(parse(t, requested...))
}

var (
	all     = []string{"*"}
	premium = []string{"premium/*"}
)

// TestPrivateTopics: a private event reaches only the subscribers whose
// token grants it: in the snapshot, replayed from the window or from
// history, and live.
func TestPrivateTopics(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Window: 100})
	l.publish("premium/a", 1) // 1
	l.publish("nba/a", 1)     // 2
	l.publish("premium/b", 1) // 3
	anonymous := visible(t, all, premium, nil)
	granted := visible(t, all, premium, []string{"premium/a"})
	fresh := subscribe(t, h, l, anonymous, fanout.Start{})
	freshGranted := subscribe(t, h, l, granted, fanout.Start{})
	resumed := subscribe(t, h, l, anonymous, fanout.Start{Resume: true, After: 0})
	resumedGranted := subscribe(t, h, l, granted, fanout.Start{Resume: true, After: 0})
	fresh.expectIDs(t, 2)
	freshGranted.expectIDs(t, 1, 2)
	resumed.expectIDs(t, 2)
	resumedGranted.expectIDs(t, 1, 2)

	l.publish("premium/a", 1) // 4
	l.publish("premium/b", 1) // 5
	l.publish("nba/b", 1)     // 6
	fresh.expectIDs(t, 6)
	freshGranted.expectIDs(t, 4, 6)
	resumed.expectIDs(t, 6)
	resumedGranted.expectIDs(t, 4, 6)

	// From history, beyond the window.
	l.publish("premium/b", 150) // 7-156, in one batch: the window cannot hold them all
	l.publish("nba/a", 1)       // 157
	fromHistory := subscribe(t, h, l, anonymous, fanout.Start{Resume: true, After: 3})
	fromHistory.expectIDs(t, 6, 157)
	if st := h.Stats(); st.Dropped != 0 {
		t.Fatalf("%d subscribers dropped for lag: private events they may not see counted as missed", st.Dropped)
	}
}

// TestPrivateEventsNeverMissed: a burst of private events, more than the
// window holds, does not cut off a subscriber that may not see them, as
// it would if they counted as events it missed; and one that may see
// them and could not take them is cut off.
func TestPrivateEventsNeverMissed(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Window: 100})
	l.publish("nba/a", 1) // 1
	anonymous := subscribe(t, h, l, visible(t, all, premium, nil), fanout.Start{})
	public := subscribe(t, h, l, visible(t, []string{"nba/*", "premium/*"}, premium, nil), fanout.Start{})
	granted := subscribe(t, h, l, visible(t, all, premium, premium), fanout.Start{})
	for _, c := range []*peer{anonymous, public, granted} {
		c.expectIDs(t, 1)
	}
	l.publish("premium/a", 250) // 2-251, in one batch: 150 of them leave the window at once
	l.publish("nba/a", 1)       // 252
	anonymous.expectIDs(t, 252)
	public.expectIDs(t, 252)
	granted.expectClosed(t)
	if st := h.Stats(); st.Dropped != 1 {
		t.Fatalf("%d subscribers dropped for lag, want 1 (the one granted the burst)", st.Dropped)
	}
}

// TestExpires: a stream ends when its token expires, with an "expired"
// event first, and the close is counted as the token's.
func TestExpires(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start fanout.Start
		after time.Duration
	}{
		{"Live", fanout.Start{}, 300 * time.Millisecond},
		{"AlreadyExpired", fanout.Start{Resume: true, After: 0}, -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, l := newHub(t, fanout.Options{})
			l.publish("a", 1)
			f := parse(t, "a")
			c := subscribeWith(t, h, fanout.Subscription{Filter: f, Start: tc.start, Replay: l.history(f), Expires: time.Now().Add(tc.after)})
			var got []string
			for {
				ev := c.next(t)
				got = append(got, ev.Type)
				if ev.Type == fanout.EventExpired {
					break
				}
			}
			c.expectClosed(t)
			want := "[note livefeed.position expired]"
			if tc.after < 0 {
				want = "[expired]"
			}
			if fmt.Sprint(got) != want {
				t.Fatalf("events %q, want %s", got, want)
			}
			deadline := time.Now().Add(10 * time.Second)
			for h.Stats().Closed[fanout.CloseExpired] != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("closes %v: none counted as %s", h.Stats().Closed, fanout.CloseReasonName(fanout.CloseExpired))
				}
				time.Sleep(time.Millisecond) // polling the counter
			}
		})
	}
}

// credential is a test's fanout.Credential: revoked once its flag is set.
type credential struct {
	name    string
	revoked atomic.Bool
}

func (c *credential) Revoked() ([]byte, bool) {
	return fanout.Notice(fanout.EventUnauthorized, "revoked", c.name+" was revoked"), c.revoked.Load()
}

// last returns the newest ID published.
func (l *memLog) last() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.msgs))
}

// TestRevoke: Revoke ends exactly the streams whose credential was
// revoked, each with an "unauthorized" event that says why and without
// waiting for an event or a heartbeat; one whose socket is full at once.
// Streams of other credentials and without one go on. A stream that joins
// with a credential already revoked gets the notice only.
func TestRevoke(t *testing.T) {
	t.Parallel()
	h, l := newHub(t, fanout.Options{Heartbeat: time.Hour, WriteTimeout: time.Hour})
	l.publish("a", 1) // 1
	key1, key2 := &credential{name: "key 1"}, &credential{name: "key 2"}
	f := parse(t, "a")
	join := func(c fanout.Credential, start fanout.Start) *peer {
		return subscribeWith(t, h, fanout.Subscription{Filter: f, Start: start, Replay: l.history(f), Credential: c})
	}
	live := join(key1, fanout.Start{})
	resumed := join(key1, fanout.Start{Resume: true, After: 0})
	other := join(key2, fanout.Start{})
	anonymous := join(nil, fanout.Start{})
	for _, c := range []*peer{live, resumed, other, anonymous} {
		c.expectIDs(t, 1)
	}
	// A subscriber of key 1 that reads nothing: its socket fills and it
	// is parked.
	stuck := subscribeTCPWith(t, h, fanout.Subscription{Filter: f, Start: fanout.Start{Resume: true, After: 1}, Replay: l.history(f), Credential: key1}, smallBuffers)
	poll.Until(t, "", func() bool { return h.Stats().Subscribers == 5 })
	for h.Stats().Stalls == 0 {
		l.publishSized("a", 10, 4<<10)
	}
	for _, c := range []*peer{live, resumed, other, anonymous} {
		for c.next(t).ID != strconv.FormatInt(l.last(), 10) {
		}
	}

	key1.revoked.Store(true)
	if n := h.Revoke(); n != 3 {
		t.Fatalf("Revoke ended %d streams, want 3", n)
	}
	for name, c := range map[string]*peer{"live": live, "resumed": resumed} {
		ev := c.next(t)
		if ev.Type != fanout.EventUnauthorized || !strings.Contains(ev.Data, `"reason":"revoked"`) || !strings.Contains(ev.Data, "key 1 was revoked") {
			t.Fatalf("%s: %+v, want the revocation notice", name, ev)
		}
		c.expectClosed(t)
	}
	stuck.expectClosed(t)
	poll.Until(t, "", func() bool { return h.Stats().Closed[fanout.CloseRevoked] == 3 && h.Stats().Subscribers == 2 })
	if n := h.Revoke(); n != 0 {
		t.Fatalf("a second Revoke ended %d streams", n)
	}

	// Revoked before it joins: the notice, and nothing else.
	late := join(key1, fanout.Start{Resume: true, After: 0})
	if ev := late.next(t); ev.Type != fanout.EventUnauthorized {
		t.Fatalf("joining with a revoked credential: %+v", ev)
	}
	late.expectClosed(t)

	l.publish("a", 1)
	other.expectIDs(t, l.last())
	anonymous.expectIDs(t, l.last())
	if st := h.Stats(); st.Closed[fanout.CloseRevoked] != 4 || fanout.CloseReasonName(fanout.CloseRevoked) != "revoked" {
		t.Fatalf("closes %v", st.Closed)
	}
}

// TestReplayRacePrivate is TestReplayRace with private topics: while
// publishers write public and private events, subscribers with and
// without grants resume from random positions. Each gets every event it
// may see after its position, once and in order, and never one it may not
// see: not from history, not in the hand-over to the window, not live.
func TestReplayRacePrivate(t *testing.T) {
	t.Parallel()
	replayRace(t, []string{"nba/a", "premium/a", "premium/b", "stocks/X"}, []fanout.Filter{
		visible(t, all, premium, nil),
		visible(t, all, premium, []string{"premium/a"}),
		visible(t, []string{"premium/*", "nba/a"}, premium, []string{"premium/b"}),
		visible(t, []string{"premium/*"}, premium, nil),
	}, 5)
}
