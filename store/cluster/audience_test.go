package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed/fanout"
	"livefeed/feed/poll"
	"livefeed/store/cluster"
)

// counted is a node's own audience, as its hub would count it, set by
// the test.
type counted struct {
	mu  sync.Mutex
	aud *fanout.Audience
}

func (c *counted) set(streams int, viewers map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aud = &fanout.Audience{At: time.Now(), Streams: streams, Viewers: viewers}
}

func (c *counted) get() *fanout.Audience {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aud
}

// countingNode is mustNode sharing own, its audience, every interval
// (and at once as it starts).
func countingNode(t *testing.T, ns *natsServer, dir, name string, every time.Duration, own *counted) *node {
	t.Helper()
	return nodeWith(t, filepath.Join(dir, name+".db"), cluster.Options{URLs: []string{ns.url()}, Node: name, CatchUpWait: 2 * time.Second, Audience: own.get, AudienceEvery: every})
}

func audienceOf(streams int, viewers map[string]int) *counted {
	c := new(counted)
	c.set(streams, viewers)
	return c
}

// sums reports whether n's own audience summed with the others' (as
// Backends.Audience gives it) has streams and viewers.
func sums(n *node, own *counted, streams int, viewers map[string]int) bool {
	got := n.Audience(own.get())
	return got.Streams == streams && reflect.DeepEqual(got.Viewers, viewers)
}

// rawAudience publishes an audience message as any client of the NATS
// network may: from in the Livefeed-From header (none if empty), body
// as it is, and a goodbye if bye.
func rawAudience(t *testing.T, nc *nats.Conn, from, body string, bye bool) {
	t.Helper()
	m := nats.NewMsg("livefeed_audience")
	if from != "" {
		m.Header.Set("Livefeed-From", from)
	}
	if bye {
		m.Header.Set("Livefeed-Bye", "1")
	}
	m.Data = []byte(body)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// senderOf returns the Livefeed-From of the next message of sub.
func senderOf(t *testing.T, sub *nats.Subscription) string {
	t.Helper()
	m, err := sub.NextMsg(poll.Deadline)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get("Livefeed-From")
}

// TestAudienceShared: each node's sum is its own count and the latest of
// every other node, each counted once, topics it does not know included;
// the counts travel beside the stream, never in it. A message claiming
// the receiving node's own ID is ignored by it; malformed ones, and ones
// from more nodes than are kept, are dropped and counted. A node that
// closes is dropped from the others' sums at once, long before its
// count would expire.
func TestAudienceShared(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("livefeed_audience")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	// Node a, the one whose sum is read, counts with an interval of a
	// minute: a count leaves its sum within the test only by a goodbye
	// (and it shares its own once, as it starts). Node b shares its own
	// every 100 ms.
	ownA := audienceOf(2, map[string]int{"nba/a": 2, "nba/b": 0})
	a := countingNode(t, ns, dir, "a", time.Minute, ownA)
	idA := senderOf(t, sub)
	ownB := audienceOf(3, map[string]int{"nba/a": 1, "nba/c": 3}) // nba/c: a topic a does not know
	b := countingNode(t, ns, dir, "b", 100*time.Millisecond, ownB)
	if idB := senderOf(t, sub); idA == "" || idB == "" || idA == idB {
		t.Fatalf("the nodes send as %q and %q: want an ID each", idA, idB)
	}
	sub.Unsubscribe()

	both := map[string]int{"nba/a": 3, "nba/b": 0, "nba/c": 3}
	poll.Until(t, "node a's sum of both", func() bool { return sums(a, ownA, 5, both) })
	ownB.set(4, map[string]int{"nba/a": 4, "nba/c": 3})
	poll.Until(t, "node a to take node b's latest", func() bool {
		return sums(a, ownA, 6, map[string]int{"nba/a": 6, "nba/b": 0, "nba/c": 3})
	})
	ownB.set(3, map[string]int{"nba/a": 1, "nba/c": 3})
	poll.Until(t, "node a to take node b's latest", func() bool { return sums(a, ownA, 5, both) })

	js, _ := jetstream.New(nc)
	stream, err := js.Stream(context.Background(), "LIVEFEED")
	if err != nil {
		t.Fatal(err)
	}
	if state := stream.CachedInfo().State; state.Msgs != 0 {
		t.Fatalf("the stream holds %d messages after audience counts only: counts were stored", state.Msgs)
	}

	t.Run("OwnIDIgnored", func(t *testing.T) {
		// A count claiming a's ID: a passes over it; b, for whom it is
		// a's latest, takes it (it is well formed).
		rawAudience(t, nc, idA, `{"streams":100,"patterns":0,"delayed":0,"conflated":0,"viewers":{"nba/a":100}}`, false)
		poll.Until(t, "node b to take it", func() bool {
			return sums(b, ownB, 103, map[string]int{"nba/a": 101, "nba/c": 3})
		})
		rawAudience(t, nc, idA, "", true) // b forgets it
		// Messages from one connection reach a in order: once a took the
		// next, it had the forged one.
		rawAudience(t, nc, "next", `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`, false)
		poll.Until(t, "node a to take the next count", func() bool { return a.Audience(ownA.get()).Streams != 5 })
		if !sums(a, ownA, 6, both) {
			t.Fatalf("node a took a count claiming its own ID: %+v", a.Audience(ownA.get()))
		}
		rawAudience(t, nc, "next", "", true)
		poll.Until(t, "node a to drop the next count", func() bool { return sums(a, ownA, 5, both) })
	})

	t.Run("MalformedDropped", func(t *testing.T) {
		bad := a.Status().BadAudience
		for _, m := range []struct{ from, body string }{
			{"", `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"x":1}}`},
			{"m", `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"x":-1}}`},
			{"m", `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"x":2}}`},
			{"m", `{"streams":99999999999,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`},
			{"m", `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"x y":1}}`},
			{"m", `{"streams":1,"viewers":{}}`},
			{"m", "{\"streams\":1,\"patterns\":0,\"delayed\":0,\"conflated\":0,\"viewers\":{\"\xff\":1}}"},
			{string(make([]byte, 65)), `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"x":1}}`},
		} {
			rawAudience(t, nc, m.from, m.body, false)
		}
		rawAudience(t, nc, "c", `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{"nba/a":1}}`, false)
		poll.Until(t, "node a to take the good count after the bad ones", func() bool {
			return sums(a, ownA, 6, map[string]int{"nba/a": 4, "nba/b": 0, "nba/c": 3})
		})
		if got := a.Status().BadAudience - bad; got != 8 {
			t.Fatalf("node a counted %d dropped audience counts, want 8", got)
		}
		rawAudience(t, nc, "c", "", true)
		poll.Until(t, "node a to drop c on its goodbye", func() bool { return sums(a, ownA, 5, both) })
	})

	t.Run("NodeClosed", func(t *testing.T) {
		b.close()
		poll.Until(t, "node a to drop node b on its goodbye", func() bool {
			return sums(a, ownA, 2, map[string]int{"nba/a": 2, "nba/b": 0})
		})
	})

	t.Run("TooManyNodes", func(t *testing.T) {
		bad := a.Status().BadAudience
		for i := range 70 {
			rawAudience(t, nc, fmt.Sprint("n", i), `{"streams":1,"patterns":0,"delayed":0,"conflated":0,"viewers":{}}`, false)
		}
		poll.Until(t, "node a to drop 6 counts", func() bool { return a.Status().BadAudience-bad >= 6 })
		if got, streams := a.Status().BadAudience-bad, a.Audience(ownA.get()).Streams; got != 6 || streams != 2+64 {
			t.Fatalf("node a dropped %d counts of nodes beyond the 64 it keeps and sums %d streams, want 6 and 66", got, streams)
		}
	})
}

// TestAudienceVanished: the count of a node that vanishes without a
// goodbye (killed, cut off from NATS) is summed no longer than three
// intervals after it arrived.
func TestAudienceVanished(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	const every = 200 * time.Millisecond
	ownA := audienceOf(1, map[string]int{"nba/a": 1})
	a := countingNode(t, ns, t.TempDir(), "a", every, ownA)
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rawAudience(t, nc, "gone", `{"streams":4,"patterns":0,"delayed":0,"conflated":0,"viewers":{"nba/a":4}}`, false)
	poll.Until(t, "node a to count the node", func() bool { return sums(a, ownA, 5, map[string]int{"nba/a": 5}) })
	// It arrived before now: three intervals from now, it is gone.
	seen := time.Now()
	time.Sleep(time.Until(seen.Add(3 * every)))
	if !sums(a, ownA, 1, map[string]int{"nba/a": 1}) {
		t.Fatalf("three intervals after its last count, node a still counts the node that vanished: %+v", a.Audience(ownA.get()))
	}
}
