package node_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"livefeed/feed/fanout"
	"livefeed/feed/poll"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// audienceTTL is how long a node's audience count is summed by the
// others after it arrived: three audience intervals (see
// web/docs/cluster.md).
const audienceTTL = 3 * fanout.DefaultAudience

// audienceNode starts a node of the cluster on natsURL, with the
// operator "ann" and feed.viewers viewers.
func audienceNode(t *testing.T, natsURL, name, viewers string) *nodetest.Node {
	t.Helper()
	cfg := audienceConfig(t, viewers, 0)
	cfg.Cluster.NATSURLs = []string{natsURL}
	cfg.Cluster.Node = name
	return nodetest.Start(t, cfg, node.Options{})
}

// natsLink is a TCP relay between a node and NATS that the test can cut,
// as a network would: the node's connection drops with no goodbye said,
// and it cannot connect again.
type natsLink struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func linkTo(t *testing.T, natsURL string) *natsLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &natsLink{ln: ln}
	t.Cleanup(l.cutOff)
	target := strings.TrimPrefix(natsURL, "nats://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			if l.cut {
				l.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			l.conns = append(l.conns, c, up)
			l.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return l
}

func (l *natsLink) url() string { return "nats://" + l.ln.Addr().String() }

// cutOff closes the relay and every connection through it.
func (l *natsLink) cutOff() {
	l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for _, c := range l.conns {
		c.Close()
	}
}

// audienceOn returns what base's /admin/audience says, read by the
// operator's hc: the streams and each topic's viewers.
func audienceOn(t *testing.T, hc *http.Client, base string) (int, string) {
	t.Helper()
	var aud struct {
		Streams int
		Topics  []struct {
			Topic   string
			Viewers int
		}
	}
	getJSON(t, hc, base+"/admin/audience", http.StatusOK, &aud)
	return aud.Streams, fmt.Sprint(aud.Topics)
}

// TestAudienceCluster: with subscribers spread over the nodes of a
// cluster, /admin/audience and /api/topics on either node show the sum
// of every node's. A node shut down is dropped from the sum at once (it
// says goodbye); a node cut off from NATS, which cannot, within three
// audience intervals of its last count, on the other nodes, and it
// counts its own streams alone.
func TestAudienceCluster(t *testing.T) {
	t.Parallel()
	natsURL := nodetest.StartNATS(t)
	link := linkTo(t, natsURL)
	a := audienceNode(t, natsURL, "a", "operators")
	b := audienceNode(t, link.url(), "b", "operators")
	nodetest.MustPublish(t, a.URL, nodetest.Note("nba/a", 1))
	nodetest.MustPublish(t, a.URL, nodetest.Note("nba/b", 1))
	poll.Until(t, "node b to apply event 2", func() bool { return b.Store().LastID() == 2 })

	nodetest.Stream(t, a.URL, "/events?topic=nba/a")
	nodetest.Stream(t, a.URL, "/events?topic=nba/a")
	nodetest.Stream(t, b.URL, "/events?topic=nba/*")
	nodetest.Stream(t, b.URL, "/events?topic=nba/a")
	nodetest.Stream(t, b.URL, "/events?topic=nba/b")

	hcA, tokenA := operatorClient(t, a.URL)
	hcB, tokenB := operatorClient(t, b.URL)
	sum := map[string]string{"nba/a": "4", "nba/b": "2"}
	for _, n := range []struct {
		name, url, token string
		hc               *http.Client
	}{{"a", a.URL, tokenA, hcA}, {"b", b.URL, tokenB, hcB}} {
		poll.Until(t, "node "+n.name+"'s /admin/audience to sum both nodes", func() bool {
			streams, topics := audienceOn(t, n.hc, n.url)
			return streams == 5 && topics == "[{nba/a 4} {nba/b 2}]"
		})
		if got := viewersIn(t, n.url, "Authorization", "Bearer "+n.token); !reflect.DeepEqual(got, sum) {
			t.Fatalf("node %s's /api/topics for the console: %v, want %v", n.name, got, sum)
		}
	}

	t.Run("DroppedCounted", func(t *testing.T) {
		dropped := func(kind string) string {
			return metric(t, a.URL, `livefeed_cluster_dropped_total{kind="`+kind+`",node="a"}`)
		}
		if h, c, u := dropped("heartbeat"), dropped("audience"), metric(t, a.URL, `livefeed_cluster_audience_unshared_topics{node="a"}`); h != "0" || c != "0" || u != "0" {
			t.Fatalf("before any was dropped: heartbeats %q, audience counts %q dropped, %q topics unshared; want 0 each", h, c, u)
		}
		nc, err := nats.Connect(natsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		for _, subject := range []string{"livefeed_heartbeats", "livefeed_audience"} {
			m := nats.NewMsg(subject)
			m.Header.Set("Livefeed-From", "x")
			m.Data = []byte(`{"streams":-1}`)
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		poll.Until(t, "node a to count the malformed messages", func() bool {
			return dropped("heartbeat") == "1" && dropped("audience") == "1"
		})
	})

	t.Run("NodeStopped", func(t *testing.T) {
		c := audienceNode(t, natsURL, "c", "operators")
		nodetest.Stream(t, c.URL, "/events?topic=nba/b")
		poll.Until(t, "node a to count node c's stream", func() bool {
			streams, topics := audienceOn(t, hcA, a.URL)
			return streams == 6 && topics == "[{nba/a 4} {nba/b 3}]"
		})
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		poll.Until(t, "node a to drop node c", func() bool {
			streams, _ := audienceOn(t, hcA, a.URL)
			return streams == 5
		})
		// Its goodbye takes milliseconds; its count would have expired
		// 4 to 6 s after it stopped.
		if took := time.Since(stopped); took > audienceTTL/2 {
			t.Fatalf("node a dropped the stopped node's count after %v: not at once", took)
		}
	})

	t.Run("NodeCutOff", func(t *testing.T) {
		// Its last count arrived before it was cut off: three intervals
		// later, neither node counts the other's streams.
		cut := time.Now()
		link.cutOff()
		time.Sleep(time.Until(cut.Add(audienceTTL)))
		if streams, topics := audienceOn(t, hcA, a.URL); streams != 2 || topics != "[{nba/a 2} {nba/b 0}]" {
			t.Fatalf("node a, %v after node b was cut off: %d streams, %s; want node a's own 2", audienceTTL, streams, topics)
		}
		// Node b cannot reach the cluster's sessions (/admin answers
		// 503); the console's token it signed still reads /api/topics.
		if got, want := viewersIn(t, b.URL, "Authorization", "Bearer "+tokenB), map[string]string{"nba/a": "2", "nba/b": "2"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("node b's /api/topics, %v after it was cut off: %v; want its own streams' %v", audienceTTL, got, want)
		}
	})
}

// TestAudienceClusterOff: a node with feed.viewers = "off" shares no
// count; the others go on sharing theirs.
func TestAudienceClusterOff(t *testing.T) {
	t.Parallel()
	natsURL := nodetest.StartNATS(t)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("livefeed_audience")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	audienceNode(t, natsURL, "off", "off")
	audienceNode(t, natsURL, "on", "operators")
	// The node that counts shares at once as it starts, and every
	// interval: its second count comes after the other node would have
	// sent its first.
	senders := map[string]int{}
	for senders[firstSender(senders)] < 2 {
		m, err := sub.NextMsg(poll.Deadline)
		if err != nil {
			t.Fatal(err)
		}
		senders[m.Header.Get("Livefeed-From")]++
	}
	if len(senders) != 1 {
		t.Fatalf("audience counts from %d nodes, want the one that counts alone: %v", len(senders), senders)
	}
}

// firstSender returns a sender of senders ("" if none).
func firstSender(senders map[string]int) string {
	for s := range senders {
		return s
	}
	return ""
}
