package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// subscriber is a kind of subscriber of the replay race: what it asks for
// (its query and header lines) and which topics it may see.
type subscriber struct {
	query  string
	header []string
	sees   func(topic string) bool
}

// TestReplayRaceEndToEnd publishes from many clients while subscribers keep
// connecting and reconnecting with random Last-Event-IDs, with a window so
// small that most replays read SQLite. Every subscriber must see every
// matching ID after its position exactly once, in increasing order.
func TestReplayRaceEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Feed.Window = 100
	n := nodetest.Start(t, cfg, node.Options{})
	prefix := func(p string) func(string) bool { return func(tp string) bool { return strings.HasPrefix(tp, p) } }
	replayRace(t, n.URL, []string{"nba/a", "nba/b", "stocks/X", "stocks/Y"}, []subscriber{
		{query: "topic=*", sees: func(string) bool { return true }},
		{query: "topic=nba/*", sees: prefix("nba/")},
		{query: "topic=stocks/X", sees: func(tp string) bool { return tp == "stocks/X" }},
		{query: "topic=nba/a&topic=stocks/Y", sees: func(tp string) bool { return tp == "nba/a" || tp == "stocks/Y" }},
	}, 3)
}

// TestPrivateReplayRaceEndToEnd: while publishers write public and private
// events, subscribers resume from random positions over real sockets:
// anonymous ones to "*" and to the private prefix, and ones with a token
// granting part of it. Each gets exactly the events it may see after its
// position, in order, none missing and none twice, and an anonymous one
// never a private event: not from history, not from the window during the
// hand-over, not live.
func TestPrivateReplayRaceEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "e2e-subscriber-secret-0123456789abcdef"
	cfg := nodetest.Config(t)
	cfg.Feed.Window = 100
	cfg.Auth.PrivateTopics = []string{"premium/*"}
	cfg.Auth.SubscriberKeys = []string{secret}
	n := nodetest.Start(t, cfg, node.Options{})
	granted := nodetest.SubscriberToken(t, secret, "premium/a")
	delivered := replayRace(t, n.URL, []string{"nba/a", "premium/a", "premium/b", "stocks/X"}, []subscriber{
		{query: "topic=*", sees: func(tp string) bool { return !strings.HasPrefix(tp, "premium/") }},
		{query: "topic=premium/*&topic=nba/a", sees: func(tp string) bool { return tp == "nba/a" }},
		{query: "topic=*", header: []string{"Authorization: Bearer " + granted}, sees: func(tp string) bool { return tp != "premium/b" }},
	}, 7)
	if delivered["premium/a"] == 0 {
		t.Fatal("no private event was delivered: the race checked no grant")
	}
}

// replayRace is the end-to-end replay race on the server at base: 6
// publishers write batches of 1 to 3 events on topics while 9 subscribers
// of the kinds given resume again and again from random positions (every
// other session where the last one stopped), until publishing is over.
// Each session must have received exactly the events its kind sees after
// its position, up to the last it received, in order. seed makes the
// random choices. It returns the deliveries checked, by topic.
func replayRace(t *testing.T, base string, topics []string, kinds []subscriber, seed uint64) (delivered map[string]int) {
	var mu sync.Mutex
	topicOf := map[int64]string{} // every acknowledged ID
	maxAcked := int64(0)
	publisher := client.New(base, nodetest.Token)
	var pubs sync.WaitGroup
	for p := range 6 {
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), seed))
			for i := range 100 {
				var batch []feed.Update
				for range 1 + rng.IntN(3) {
					topic := topics[rng.IntN(len(topics))]
					batch = append(batch, feed.Update{Topic: topic, Type: "note", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
				}
				ids, err := publisher.PublishBatch(context.Background(), batch, "")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, id := range ids {
					topicOf[id] = batch[j].Topic
					maxAcked = max(maxAcked, id)
				}
				mu.Unlock()
			}
		})
	}
	type session struct {
		kind     int
		after    int64
		received []int64
	}
	var sessions []session
	var subs sync.WaitGroup
	publishing := make(chan struct{})
	for sub := range 9 {
		subs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(sub), seed+1))
			k := sub % len(kinds)
			var after int64
			for round := 0; ; round++ {
				if round%2 == 0 { // every other session starts somewhere random
					mu.Lock()
					after = rng.Int64N(maxAcked + 1)
					mu.Unlock()
				}
				header := append([]string{"Last-Event-ID: " + strconv.FormatInt(after, 10)}, kinds[k].header...)
				c, br := nodetest.Stream(t, base, "/events?"+kinds[k].query, header...)
				rd := client.NewReader(br)
				sess := session{kind: k, after: after}
				for range 20 + rng.IntN(200) {
					c.SetReadDeadline(time.Now().Add(time.Second))
					ev, err := rd.Next()
					if err != nil {
						break
					}
					id, _ := strconv.ParseInt(ev.ID, 10, 64)
					sess.received = append(sess.received, id)
					after = id
				}
				c.Close()
				mu.Lock()
				sessions = append(sessions, sess)
				mu.Unlock()
				select {
				case <-publishing:
					return
				default:
				}
			}
		})
	}
	pubs.Wait()
	close(publishing)
	subs.Wait()
	checked, delivered := 0, map[string]int{}
	for _, sess := range sessions {
		if len(sess.received) == 0 {
			continue
		}
		last := sess.received[len(sess.received)-1]
		var want []int64
		for id := sess.after + 1; id <= last; id++ {
			if topic, ok := topicOf[id]; ok && kinds[sess.kind].sees(topic) {
				want = append(want, id)
			}
		}
		if !slices.Equal(sess.received, want) {
			t.Fatalf("session %s (%d header lines) after %d received\n%v\nwant\n%v", kinds[sess.kind].query, len(kinds[sess.kind].header), sess.after, sess.received, want)
		}
		checked += len(sess.received)
		for _, id := range sess.received {
			delivered[topicOf[id]]++
		}
	}
	t.Logf("%d events published, %d sessions, %d deliveries checked", len(topicOf), len(sessions), checked)
	if checked < 1000 {
		t.Fatalf("only %d deliveries checked", checked)
	}
	return delivered
}
