package node_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"livefeed/feed/poll"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// clusterAfter is the stale rule of the cluster's liveness test.
const clusterAfter = 400 * time.Millisecond

// clusterNode starts a node of the cluster on natsURL, watching stocks/*.
func clusterNode(t *testing.T, natsURL, name string) *nodetest.Node {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.Cluster.NATSURLs = []string{natsURL}
	cfg.Cluster.Node = name
	cfg.Feed.Stale = []config.StaleRule{{Topics: []string{"stocks/*"}, After: clusterAfter}}
	return nodetest.Start(t, cfg, node.Options{})
}

// frames reads the frames of an event stream that dispatch something, on
// a goroutine of its own, until the stream ends.
func frames(t *testing.T, base, path string) <-chan string {
	c, br := nodetest.Stream(t, base, path)
	c.SetReadDeadline(time.Time{})
	out := make(chan string, 64)
	go func() {
		defer close(out)
		readFrames(br, out)
	}()
	return out
}

func readFrames(br *bufio.Reader, out chan<- string) {
	var frame strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line == "\n" {
			if strings.Contains(frame.String(), "data:") {
				out <- frame.String()
			}
			frame.Reset()
			continue
		}
		if !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "retry:") {
			frame.WriteString(line)
		}
	}
}

// awaitFrame returns the next frame of fs that holds all of want, failing
// after poll.Deadline; a frame holding any of never first fails too.
func awaitFrame(t *testing.T, fs <-chan string, want, never []string) string {
	t.Helper()
	timeout := time.After(poll.Deadline)
	for {
		select {
		case f, ok := <-fs:
			if !ok {
				t.Fatalf("the stream ended before a frame with %q", want)
			}
			for _, s := range never {
				if strings.Contains(f, s) {
					t.Fatalf("got %q before a frame with %q", f, want)
				}
			}
			if containsAll(f, want) {
				return f
			}
		case <-timeout:
			t.Fatalf("no frame with %q", want)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// beating sends POST /api/heartbeat for stocks/* to base every 50 ms
// (an eighth of clusterAfter) until the returned function is called,
// which returns the answers other than 200 {"topics":1}.
func beating(base string) (stop func() []string) {
	done := make(chan struct{})
	var (
		wg  sync.WaitGroup
		bad []string
	)
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			req, _ := http.NewRequest("POST", base+"/api/heartbeat", strings.NewReader(`{"topics":["stocks/*"]}`))
			req.Header.Set("Authorization", "Bearer "+nodetest.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				bad = append(bad, err.Error())
			} else {
				var b strings.Builder
				bufio.NewReader(resp.Body).WriteTo(&b)
				resp.Body.Close()
				if resp.StatusCode != 200 || b.String() != "{\"topics\":1}\n" {
					bad = append(bad, resp.Status+" "+b.String())
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() []string {
		close(done)
		wg.Wait()
		return bad
	}
}

// TestLivenessCluster: two nodes of a cluster reach the same verdict on a
// watched topic. Heartbeats sent to node A keep it fresh on node B; when
// they stop, both flip to stale, since the same time; an event published
// on B makes it fresh on A. Node B shut down while heartbeats flow to A
// does not disturb A.
func TestLivenessCluster(t *testing.T) {
	t.Parallel()
	natsURL := nodetest.StartNATS(t)
	a := clusterNode(t, natsURL, "a")
	b := clusterNode(t, natsURL, "b")
	nodetest.MustPublish(t, a.URL, nodetest.Note("stocks/A", 1))
	poll.Until(t, "node b to apply event 1", func() bool { return b.Store().LastID() == 1 })

	onA := frames(t, a.URL, "/events?topic=stocks/*")
	onB := frames(t, b.URL, "/events?topic=stocks/*")
	awaitFrame(t, onA, []string{"id: 1\n"}, nil)
	awaitFrame(t, onB, []string{"id: 1\n"}, nil)
	begin := time.Now().Truncate(time.Millisecond)
	stop := beating(a.URL)

	// Three times the rule's After, by the heartbeats sent to A alone:
	// B's subscriber is never told stale since they began (a stale
	// before, should this test have been slower than the rule to begin,
	// would be since event 1), and its /api/topics agrees.
	window := time.After(3 * clusterAfter)
	for quiet := true; quiet; {
		select {
		case f := <-onB:
			if strings.Contains(f, "event: stale") && !staleSince(t, f).Before(begin) {
				t.Fatalf("node b's subscriber was told %q while node a was sent heartbeats from %v", f, begin)
			}
		case <-window:
			quiet = false
		}
	}
	if e := topicsEntry(t, b.URL, "stocks/A"); e == nil || e["stale"] != false {
		t.Fatalf("node b's /api/topics entry while heartbeats flow to node a: %v", e)
	}
	if bad := stop(); len(bad) > 0 {
		t.Fatalf("heartbeats to node a answered %q", bad)
	}

	// The heartbeats stopped: both nodes flip, since the same moment (the
	// last heartbeat's time, as node a took it).
	staleA := awaitFrame(t, onA, []string{"event: stale\n", `"topic":"stocks/A"`}, nil)
	staleB := awaitFrame(t, onB, []string{"event: stale\n", `"topic":"stocks/A"`}, nil)
	if staleA != staleB {
		t.Fatalf("the nodes disagree:\nnode a: %q\nnode b: %q", staleA, staleB)
	}
	ea, eb := topicsEntry(t, a.URL, "stocks/A"), topicsEntry(t, b.URL, "stocks/A")
	if ea["stale"] != true || eb["stale"] != true || ea["stale_since"] != eb["stale_since"] {
		t.Fatalf("/api/topics: node a %v, node b %v", ea, eb)
	}

	// An event published on B is fresh on A, as of the log's time.
	nodetest.MustPublish(t, b.URL, nodetest.Note("stocks/A", 2))
	freshA := awaitFrame(t, onA, []string{"event: fresh\n", `"topic":"stocks/A"`}, []string{"event: stale"})
	freshB := awaitFrame(t, onB, []string{"event: fresh\n", `"topic":"stocks/A"`}, []string{"event: stale"})
	if freshA != freshB {
		t.Fatalf("the nodes disagree:\nnode a: %q\nnode b: %q", freshA, freshB)
	}

	// Node b goes away while heartbeats flow to node a, which goes on:
	// every heartbeat answered, the topic fresh until they stop.
	awaitFrame(t, onA, []string{"event: stale\n", `"topic":"stocks/A"`}, nil)
	stop = beating(a.URL)
	awaitFrame(t, onA, []string{"event: fresh\n", `"topic":"stocks/A"`}, nil)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	nodetest.MustPublish(t, a.URL, nodetest.Note("stocks/A", 3))
	awaitFrame(t, onA, []string{"id: 3\n"}, []string{"event: stale"})
	if bad := stop(); len(bad) > 0 {
		t.Fatalf("heartbeats to node a with node b gone answered %q", bad)
	}
	awaitFrame(t, onA, []string{"event: stale\n", `"topic":"stocks/A"`}, nil)

	// A node whose clock is three hours ahead: its heartbeat makes the
	// topic fresh, as of node a's now, and stale again after the rule,
	// not three hours later.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := nats.NewMsg("livefeed_heartbeats")
	m.Header.Set("Livefeed-At", strconv.FormatInt(time.Now().Add(3*time.Hour).UnixMilli(), 10))
	m.Data = []byte(`{"topics":["stocks/*"]}`)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	awaitFrame(t, onA, []string{"event: fresh\n", `"topic":"stocks/A"`}, nil)
	f := awaitFrame(t, onA, []string{"event: stale\n", `"topic":"stocks/A"`}, nil)
	if since := staleSince(t, f); since.After(time.Now()) {
		t.Fatalf("stale since %v: after now", since)
	}
}

// staleSince returns the since of a stale frame.
func staleSince(t *testing.T, frame string) time.Time {
	t.Helper()
	_, data, _ := strings.Cut(frame, "data: ")
	var stale struct{ Since time.Time }
	if err := json.Unmarshal([]byte(data), &stale); err != nil {
		t.Fatalf("stale frame %q: %v", frame, err)
	}
	return stale.Since
}
