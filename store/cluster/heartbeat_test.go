package cluster_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
	"livefeed/feed/poll"
	"livefeed/store/cluster"
)

// heard records the heartbeats a node took from the others.
type heard struct {
	mu    sync.Mutex
	beats []heardBeat
}

type heardBeat struct {
	patterns string
	at       time.Time
}

func (h *heard) take(f feed.Filter, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beats = append(h.beats, heardBeat{f.String(), at})
}

func (h *heard) all() []heardBeat {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]heardBeat(nil), h.beats...)
}

func (h *heard) count() int { return len(h.all()) }

// beatingNode is mustNode with its heartbeats taken by a heard.
func beatingNode(t *testing.T, ns *natsServer, dir, name string) (*node, *heard) {
	t.Helper()
	h := new(heard)
	n := nodeWith(t, filepath.Join(dir, name+".db"), cluster.Options{URLs: []string{ns.url()}, Node: name, CatchUpWait: 2 * time.Second, Heartbeats: h.take})
	return n, h
}

func mustFilter(t *testing.T, patterns ...string) feed.Filter {
	t.Helper()
	f, err := feed.ParseFilter(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// rawBeat publishes a heartbeat message as any client of the NATS network
// may: at in the Livefeed-At header (none if empty), body as it is.
func rawBeat(t *testing.T, nc *nats.Conn, at, body string) {
	t.Helper()
	m := nats.NewMsg("livefeed_heartbeats")
	if at != "" {
		m.Header.Set("Livefeed-At", at)
	}
	m.Data = []byte(body)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestHeartbeats: a heartbeat sent on one node reaches the others with its
// sender's time, and not the sender itself (it applied it when it sent
// it); none is stored in the stream; a time ahead of the receiver's clock
// is taken as its now; malformed messages on the subject are dropped and
// counted, and the next good one is taken; after NATS is away and back the
// nodes hear each other again; a node closed hears no more, and the other
// goes on.
func TestHeartbeats(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	a, heardA := beatingNode(t, ns, dir, "a")
	b, heardB := beatingNode(t, ns, dir, "b")

	sent := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	if err := a.Heartbeat(mustFilter(t, "stocks/*", "nba/g"), sent); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "node b to hear node a's heartbeat", func() bool { return heardB.count() == 1 })
	if got := heardB.all()[0]; got.patterns != "nba/g,stocks/*" || !got.at.Equal(sent) {
		t.Fatalf("node b heard %+v, want nba/g,stocks/* at %v", got, sent)
	}
	// b's heartbeat reaches a after a's own (one connection's messages
	// are delivered in order): a heard only b's.
	if err := b.Heartbeat(mustFilter(t, "*"), time.Now()); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "node a to hear node b's heartbeat", func() bool { return heardA.count() >= 1 })
	if got := heardA.all(); len(got) != 1 || got[0].patterns != "*" {
		t.Fatalf("node a heard %+v, want node b's heartbeat alone", got)
	}

	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	info, err := js.Stream(context.Background(), "LIVEFEED")
	if err != nil {
		t.Fatal(err)
	}
	if state := info.CachedInfo().State; state.Msgs != 0 {
		t.Fatalf("the stream holds %d messages after heartbeats only: heartbeats were stored", state.Msgs)
	}

	t.Run("AheadCappedToNow", func(t *testing.T) {
		before := heardB.count()
		rawBeat(t, nc, strconv.FormatInt(time.Now().Add(3*time.Hour).UnixMilli(), 10), `{"topics":["stocks/A"]}`)
		poll.Until(t, "node b to hear it", func() bool { return heardB.count() > before })
		if got := heardB.all()[before]; got.at.After(time.Now()) {
			t.Fatalf("a heartbeat 3 h ahead was taken at %v, after now", got.at)
		}
	})

	t.Run("MalformedDropped", func(t *testing.T) {
		before, bad := heardB.count(), b.Status().BadHeartbeats
		rawBeat(t, nc, "", `{"topics":["a"]}`)
		rawBeat(t, nc, "12", `{"topics":["a b"]}`)
		rawBeat(t, nc, "12", "{\"topics\":[\"\xff\"]}")
		rawBeat(t, nc, "12", `{"topics":["a"],"extra":1}`)
		rawBeat(t, nc, "12", string(make([]byte, 40<<10)))
		rawBeat(t, nc, strconv.FormatInt(time.Now().UnixMilli(), 10), `{"topics":["after/*"]}`)
		poll.Until(t, "node b to hear the good heartbeat after the bad ones", func() bool { return heardB.count() > before })
		if got := heardB.all()[before:]; len(got) != 1 || got[0].patterns != "after/*" {
			t.Fatalf("node b took %+v, want the good heartbeat alone", got)
		}
		if got := b.Status().BadHeartbeats - bad; got != 5 {
			t.Fatalf("node b counted %d malformed heartbeats, want 5", got)
		}
	})

	t.Run("NATSAwayAndBack", func(t *testing.T) {
		ns.stop()
		poll.Until(t, "node a to see NATS gone", func() bool { return !a.Status().Connected })
		if err := a.Heartbeat(mustFilter(t, "stocks/*"), time.Now()); !errors.Is(err, feed.ErrUnavailable) {
			t.Fatalf("a heartbeat with NATS away: %v, want ErrUnavailable", err)
		}
		ns.start(t)
		// The subscription is made again on reconnect: a's heartbeats
		// reach b again, by themselves.
		before := heardB.count()
		poll.Until(t, "node b to hear node a again", func() bool {
			a.Heartbeat(mustFilter(t, "stocks/*"), time.Now())
			return heardB.count() > before
		})
	})

	t.Run("NodeClosed", func(t *testing.T) {
		watch, err := nats.Connect(ns.url())
		if err != nil {
			t.Fatal(err)
		}
		defer watch.Close()
		sub, err := watch.SubscribeSync("livefeed_heartbeats")
		if err != nil {
			t.Fatal(err)
		}
		watch.Flush()
		b.close()
		closed := heardB.count()
		if err := a.Heartbeat(mustFilter(t, "stocks/*"), time.Now()); err != nil {
			t.Fatalf("node a with node b closed: %v", err)
		}
		if _, err := sub.NextMsg(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := heardB.count(); got != closed {
			t.Fatalf("node b took %d heartbeats after it closed", got-closed)
		}
	})
}
