package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/feed/logtest"
	"livefeed/feed/poll"
	"livefeed/store"
	"livefeed/store/cluster"
)

// natsServer is a JetStream server in the test's process, which can be
// stopped and started again on the same port and data.
type natsServer struct {
	srv  *server.Server
	port int
	dir  string
}

func startNATS(tb testing.TB) *natsServer {
	tb.Helper()
	ns := &natsServer{port: -1, dir: tb.TempDir()}
	ns.start(tb)
	tb.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start(tb testing.TB) {
	tb.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: ns.port, JetStream: true, StoreDir: ns.dir, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("NATS did not start")
	}
	ns.srv, ns.port = srv, srv.Addr().(*net.TCPAddr).Port
}

func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

func (ns *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(ns.port) }

// node is a livefeed node on a database of its own.
type node struct {
	*cluster.Node
	st   *store.Store
	path string
}

func openNode(tb testing.TB, ns *natsServer, path, name string, committed func([]feed.Event)) (*node, error) {
	tb.Helper()
	st, err := store.Open(path, store.Options{Committed: committed})
	if err != nil {
		return nil, err
	}
	n, err := cluster.Open(context.Background(), st, cluster.Options{URLs: []string{ns.url()}, Node: name, CatchUpWait: 2 * time.Second})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &node{Node: n, st: st, path: path}, nil
}

func mustNode(tb testing.TB, ns *natsServer, path, name string, committed func([]feed.Event)) *node {
	tb.Helper()
	n, err := openNode(tb, ns, path, name, committed)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.close() })
	waitReady(tb, n)
	return n
}

// nodeWith opens a node on a new store at path with opts as the test
// gives them (its URLs among them), closed when the test ends, and
// returns once it caught up.
func nodeWith(tb testing.TB, path string, opts cluster.Options) *node {
	tb.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	cn, err := cluster.Open(context.Background(), st, opts)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	n := &node{Node: cn, st: st, path: path}
	tb.Cleanup(n.close)
	waitReady(tb, n)
	return n
}

func (n *node) close() {
	n.Node.Close()
	n.st.Close()
}

func waitReady(tb testing.TB, n *node) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("the node did not catch up: %+v", n.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func note(topic string, n int) feed.Update {
	return feed.Update{Topic: topic, Type: "note", Data: fmt.Appendf(nil, `{"n":%d}`, n)}
}

// TestLogConformance: a node passes the conformance test every log of
// livefeed's passes.
func TestLogConformance(t *testing.T) {
	t.Parallel()
	logtest.Run(t, func(t *testing.T, committed func([]feed.Event)) feed.Log {
		ns := startNATS(t)
		return mustNode(t, ns, filepath.Join(t.TempDir(), "feed.db"), "a", committed)
	})
}

// twoNodes starts NATS and two nodes on it, on databases of their own.
func twoNodes(t *testing.T) (a, b *node) {
	t.Helper()
	ns := startNATS(t)
	dir := t.TempDir()
	return mustNode(t, ns, filepath.Join(dir, "a.db"), "a", nil), mustNode(t, ns, filepath.Join(dir, "b.db"), "b", nil)
}

// TestNodes: events published on any node form one sequence that every
// node's history holds; a retry on another node is answered with the first
// publish's events; operators' "+3" on two nodes at once all count.
func TestNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	ctx := context.Background()
	var ids []int64
	for i := range 10 {
		on := []*node{a, b}[i%2]
		events, err := on.Append(ctx, []feed.Update{note("t/a", i), note("t/b", i)})
		if err != nil {
			t.Fatal(err)
		}
		if events[1].ID != events[0].ID+1 {
			t.Fatalf("a batch's IDs: %d, %d", events[0].ID, events[1].ID)
		}
		// Answered once applied here: a stream opened on this node now
		// waits for its hub to hear of the batch (read-your-writes).
		if last := on.LastID(); last < events[1].ID {
			t.Fatalf("node %s answered a publish of %d with LastID %d", on.Status().Node, events[1].ID, last)
		}
		ids = append(ids, events[0].ID, events[1].ID)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("IDs %v: want 1 to 20 in order", ids)
		}
	}
	for _, n := range []*node{a, b} {
		waitApplied(t, n, 20)
		events, err := n.st.After(ctx, 0, feed.Filter{All: true}, 100)
		if err != nil || len(events) != 20 || events[19].ID != 20 {
			t.Fatalf("node %s's history: %d events, %v", n.Status().Node, len(events), err)
		}
	}

	once := feed.NewIdempotency("publisher", "k", []byte("body"))
	first, _, err := a.AppendOnce(ctx, once, []feed.Update{note("t/a", 99)})
	if err != nil {
		t.Fatal(err)
	}
	again, replayed, err := b.AppendOnce(ctx, once, []feed.Update{note("t/a", 99)})
	if err != nil || !replayed || again[0].ID != first[0].ID {
		t.Fatalf("the retry on the other node: %+v, %v, %v; want event %d", again, replayed, err, first[0].ID)
	}

	if _, _, err := a.AppendIf(ctx, nil, 0, feed.Update{Topic: "nba/g", Type: "score", Data: []byte(`{"home":"A","away":"B","home_score":0,"away_score":0}`)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range []*node{a, b, a, b} {
		wg.Go(func() {
			for range 5 {
				for {
					latest, _, err := n.LatestOf(ctx, "nba/g")
					if err != nil {
						t.Error(err)
						return
					}
					var score struct {
						HomeScore int64 `json:"home_score"`
					}
					jsonUnmarshal(latest.Data, &score)
					u := feed.Update{Topic: "nba/g", Type: "score", Data: fmt.Appendf(nil, `{"home":"A","away":"B","home_score":%d,"away_score":0}`, score.HomeScore+3)}
					_, _, err = n.AppendIf(ctx, nil, latest.ID, u)
					if err == nil {
						break
					}
					if !errors.Is(err, feed.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	waitApplied(t, a, b.Status().Applied)
	latest, _, _ := a.LatestOf(ctx, "nba/g")
	if want := `"home_score":60`; !contains(latest.Data, want) {
		t.Fatalf("after 20 taps of +3 on two nodes: %s", latest.Data)
	}
}

// TestLostDelivery: a message of the log whose delivery to a node is lost
// on its way (the node's consumer takes no acknowledgements, so one in
// flight when a fetch ends is not sent again) is still applied: the node
// finds the stream holds it and follows again from its last event, rather
// than taking the gap for a hole and going on without the event — which
// it then never had, though it answered publishes after it. A batch's
// message is lost too, and the batch stays whole.
func TestLostDelivery(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	ctx := context.Background()
	cluster.LoseDelivery(b.Node, 3)
	for i := range 5 {
		if _, err := a.Append(ctx, []feed.Update{note("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, b, 5)
	cluster.LoseDelivery(b.Node, 6) // the first of a batch of three
	if _, err := a.Append(ctx, []feed.Update{note("y", 0), note("y", 1), note("y", 2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, []feed.Update{note("x", 5)}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, b, 9)
	events, err := b.st.After(ctx, 0, feed.Filter{All: true}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("node b holds events %v, want 1 to 9", ids)
	}
	if got, err := b.Append(ctx, []feed.Update{note("z", 0)}); err != nil || got[0].ID != 10 {
		t.Fatalf("a publish through b after: %v, %v", got, err)
	}
}

// TestCatchUp: a node that was down, or starts fresh, catches up with the
// stream before it reports ready, and a client resuming on a node behind
// its position waits for it rather than getting a reset.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	a := mustNode(t, ns, filepath.Join(dir, "a.db"), "a", nil)
	b := mustNode(t, ns, filepath.Join(dir, "b.db"), "b", nil)
	ctx := context.Background()
	a.Append(ctx, []feed.Update{note("x", 0)})
	waitApplied(t, b, 1)
	b.close()
	for i := range 300 {
		if _, err := a.Append(ctx, []feed.Update{note("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b = mustNode(t, ns, filepath.Join(dir, "b.db"), "b", nil)
	if st := b.Status(); st.Applied != 301 || !st.Ready {
		t.Fatalf("after catching up: %+v", st)
	}
	c := mustNode(t, ns, filepath.Join(dir, "c.db"), "c", nil)
	if c.Status().Applied != 301 {
		t.Fatalf("a fresh node: %+v", c.Status())
	}
	if err := c.Resumable(301); err != nil {
		t.Fatal(err)
	}
}

// TestNATSUnreachable: while NATS is away, publishes fail at once with
// ErrUnavailable and store nothing later; once it is back, publishing and
// mirroring go on by themselves.
func TestNATSUnreachable(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	a := mustNode(t, ns, filepath.Join(dir, "a.db"), "a", nil)
	ctx := context.Background()
	a.Append(ctx, []feed.Update{note("x", 1)})
	ns.stop()
	start := time.Now()
	if _, err := a.Append(ctx, []feed.Update{note("x", 2)}); !errors.Is(err, feed.ErrUnavailable) {
		t.Fatalf("a publish with NATS away: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %v", took)
	}
	if a.Status().Connected {
		t.Error("status says connected")
	}
	ns.start(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		events, err := a.Append(ctx, []feed.Update{note("x", 3)})
		if err == nil {
			if events[0].ID != 2 {
				t.Fatalf("after NATS came back: ID %d, want 2 (the refused publish was not stored)", events[0].ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing did not come back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStreamRecreated: a stream deleted and created anew restarts its
// sequence; a node mirroring the old one stops and refuses publishes, and
// one started on the old history refuses to start, so that no ID is ever
// given out twice.
func TestStreamRecreated(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	a := mustNode(t, ns, filepath.Join(dir, "a.db"), "a", nil)
	ctx := context.Background()
	for i := range 5 {
		a.Append(ctx, []feed.Update{note("x", i)})
	}
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, "LIVEFEED"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LIVEFEED", Subjects: []string{"livefeed.>"}, AllowAtomicPublish: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 8 { // new sequences 1 to 8, some "ahead" of node a's 5
		m := nats.NewMsg("livefeed.y")
		m.Header.Set("Livefeed-Type", "note")
		m.Data = []byte(`{"n":0}`)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		_ = i
	}
	deadline := time.Now().Add(20 * time.Second)
	for a.Problem() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the node did not notice: %+v", a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.Status().Applied; got != 5 {
		t.Fatalf("the node applied up to %d: events of the new stream were mixed in", got)
	}
	if _, err := a.Append(ctx, []feed.Update{note("x", 9)}); !errors.Is(err, feed.ErrUnavailable) {
		t.Fatalf("a publish on the stopped node: %v", err)
	}
	if err := a.Ping(ctx); err == nil {
		t.Fatal("the stopped node reports healthy")
	}
	a.close()
	if _, err := openNode(t, ns, filepath.Join(dir, "a.db"), "a", nil); err == nil {
		t.Fatal("a node on the old stream's history started on the new stream")
	}
}

func waitApplied(tb testing.TB, n *node, id int64) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.Status().Applied < id {
		if time.Now().After(deadline) {
			tb.Fatalf("node %s at %d, want %d", n.Status().Node, n.Status().Applied, id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChecksUnderLoad: the stream is checked while events pour in (here
// every millisecond): a node that applied events the stream took after it
// answered a check must not take them for events the stream lost.
func TestChecksUnderLoad(t *testing.T) {
	defer cluster.SetCheckEvery(time.Millisecond)()
	ns := startNATS(t)
	dir := t.TempDir()
	nodes := []*node{
		mustNode(t, ns, filepath.Join(dir, "a.db"), "a", nil),
		mustNode(t, ns, filepath.Join(dir, "b.db"), "b", nil),
	}
	var wg sync.WaitGroup
	var last sync.Map
	until := time.Now().Add(2 * time.Second)
	for p := range 8 {
		wg.Go(func() {
			n := nodes[p%len(nodes)]
			for i := 0; time.Now().Before(until); i++ {
				events, err := n.Append(t.Context(), []feed.Update{note(fmt.Sprintf("load/%d", p), i)})
				if err != nil {
					t.Errorf("publisher %d on node %s: %v (node: %+v)", p, n.Status().Node, err, n.Status())
					return
				}
				last.Store(p, events[0].ID)
			}
		})
	}
	wg.Wait()
	var top int64
	last.Range(func(_, v any) bool { top = max(top, v.(int64)); return true })
	for _, n := range nodes {
		waitApplied(t, n, top)
		if s := n.Status(); s.Problem != "" {
			t.Errorf("node %s stopped: %s", s.Node, s.Problem)
		}
	}
	t.Logf("%d events", top)
}

// TestSessions: an operator signed in through one node is signed in on
// every node, until the session ends (on any node) or expires; with NATS
// away, a lookup fails as unavailable rather than signing the operator out.
func TestSessions(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := t.TempDir()
	a := mustNode(t, ns, filepath.Join(dir, "a.db"), "a", nil)
	b := mustNode(t, ns, filepath.Join(dir, "b.db"), "b", nil)
	ctx := t.Context()
	live, expired := [32]byte{1}, [32]byte{2}
	if err := a.CreateSession(ctx, live, "ann", "csrf-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateSession(ctx, expired, "ann", "csrf-2", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if op, csrf, ok, err := b.Session(ctx, live); err != nil || !ok || op != "ann" || csrf != "csrf-1" {
		t.Fatalf("node b: session of node a = %q %q %v %v", op, csrf, ok, err)
	}
	if _, _, ok, err := b.Session(ctx, expired); err != nil || ok {
		t.Fatalf("node b: an expired session = %v %v", ok, err)
	}
	if _, _, ok, err := a.Session(ctx, [32]byte{3}); err != nil || ok {
		t.Fatalf("an unknown session = %v %v", ok, err)
	}
	// Neither node's SQLite holds it: the bucket does.
	if _, _, ok, _ := b.st.Session(ctx, live); ok {
		t.Fatal("the session went into a node's own database")
	}
	if err := b.EndSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := a.Session(ctx, live); err != nil || ok {
		t.Fatalf("node a: a session ended on node b = %v %v", ok, err)
	}
	if err := a.CreateSession(ctx, live, "ann", "csrf-3", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ns.stop()
	if _, _, _, err := a.Session(ctx, live); !errors.Is(err, feed.ErrUnavailable) {
		t.Fatalf("a lookup with NATS away: %v, want ErrUnavailable", err)
	}
	ns.start(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		op, _, ok, err := a.Session(ctx, live)
		if err == nil && ok && op == "ann" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after NATS came back: %q %v %v", op, ok, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOperatorTravels: the operator who published an event from the
// console travels with it through the stream into every node's history,
// single events and batches alike; events without one have none.
func TestOperatorTravels(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	ctx := context.Background()
	tap := feed.Update{Topic: "nba/g", Type: "score", Data: []byte(`{"home":"A","away":"B","home_score":0,"away_score":0}`), Operator: "ann"}
	created, _, err := a.AppendIf(ctx, nil, 0, tap)
	if err != nil || created[0].Operator != "ann" {
		t.Fatalf("AppendIf = %+v, %v", created, err)
	}
	second := note("t/x", 1)
	second.Operator = "bob@desk"
	if _, err := b.Append(ctx, []feed.Update{note("t/x", 0), second}); err != nil {
		t.Fatal(err)
	}
	want := []string{"ann", "", "bob@desk"}
	for _, n := range []*node{a, b} {
		waitApplied(t, n, 3)
		events, err := n.st.After(ctx, 0, feed.Filter{All: true}, 10)
		if err != nil || len(events) != 3 {
			t.Fatalf("node %s: %d events, %v", n.Status().Node, len(events), err)
		}
		for i, e := range events {
			if e.Operator != want[i] {
				t.Errorf("node %s, event %d: operator %q, want %q", n.Status().Node, e.ID, e.Operator, want[i])
			}
		}
	}
}

// TestAppendEachThroughStream: a streaming publish on one node goes
// through the cluster's log, so every node holds its events (the store's
// own AppendEach would write to that node's history alone).
func TestAppendEachThroughStream(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	ctx := context.Background()
	if _, err := b.Append(ctx, []feed.Update{note("t/b", 0)}); err != nil {
		t.Fatal(err)
	}
	once := feed.NewIdempotency("publisher", "line", []byte("line"))
	big := feed.Update{Topic: "t/a", Type: "note", Data: []byte(`{"n":"` + strings.Repeat("x", feed.MaxDataBytes) + `"}`)}
	out := a.AppendEach(ctx, logtest.Checked(t, note("t/a", 1), big, note("t/a", 2), note("t/a", 3)),
		[]*feed.Idempotency{nil, nil, &once, nil})
	if !errors.Is(out[1].Err, feed.ErrInvalid) {
		t.Fatalf("a line over the node's size limit: %+v", out[1])
	}
	for i, want := range map[int]int64{0: 2, 2: 3, 3: 4} {
		if out[i].Err != nil || out[i].Event.ID != want {
			t.Fatalf("line %d: %+v, want ID %d", i, out[i], want)
		}
	}
	waitApplied(t, b, 4)
	events, err := b.st.After(ctx, 0, feed.Filter{All: true}, 100)
	if err != nil || len(events) != 4 || events[3].Topic != "t/a" {
		t.Fatalf("the other node's history: %+v, %v", events, err)
	}
	again := b.AppendEach(ctx, logtest.Checked(t, note("t/a", 2)), []*feed.Idempotency{&once})
	if again[0].Err != nil || !again[0].Replayed || again[0].Event.ID != 3 {
		t.Fatalf("the line retried on the other node: %+v", again[0])
	}
}

// TestDelayedAgree: nodes agree on what a delayed reader sees, because
// the rule goes by each event's time from the log, which every node
// stores alike (never going back, whichever node published it, whatever
// the node's own clock says when it applies it): the same times, the same
// feed as of any moment, and delay lines that release the same events.
func TestDelayedAgree(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	ns := startNATS(t)
	dir := t.TempDir()
	var nodes []*node
	var hubs []*fanout.Hub
	for _, name := range []string{"a", "b"} {
		h := fanout.NewHub(fanout.Options{Delays: []time.Duration{delay}})
		t.Cleanup(h.Close)
		n := mustNode(t, ns, filepath.Join(dir, name+".db"), name, h.Publish)
		h.SetStored(storedAll{n.st})
		nodes, hubs = append(nodes, n), append(hubs, h)
	}
	ctx := context.Background()
	var last int64
	for i := range 20 {
		events, err := nodes[i%2].Append(ctx, []feed.Update{note("stocks/A", i), note(fmt.Sprintf("stocks/%d", i%3), i)})
		if err != nil {
			t.Fatal(err)
		}
		last = events[1].ID
		time.Sleep(10 * time.Millisecond) // events over a span of time
	}
	for _, n := range nodes {
		waitApplied(t, n, last)
	}
	a, err := nodes[0].st.After(ctx, 0, feed.Filter{All: true}, 100)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nodes[1].st.After(ctx, 0, feed.Filter{All: true}, 100)
	if err != nil || len(a) != len(b) {
		t.Fatalf("histories of %d and %d events: %v", len(a), len(b), err)
	}
	for i := range a {
		if a[i].ID != b[i].ID || !a[i].Time.Equal(b[i].Time) {
			t.Fatalf("event %d: at %v on one node, %d at %v on the other", a[i].ID, a[i].Time, b[i].ID, b[i].Time)
		}
	}
	for _, e := range a {
		for _, at := range []time.Time{e.Time.Add(-time.Millisecond), e.Time, e.Time.Add(500 * time.Microsecond)} {
			la, ta, err1 := nodes[0].LatestAsOf(ctx, at)
			lb, tb, err2 := nodes[1].LatestAsOf(ctx, at)
			if err1 != nil || err2 != nil || ta != tb || fmt.Sprint(ids(la)) != fmt.Sprint(ids(lb)) {
				t.Fatalf("as of %v: %v through %d on one node, %v through %d on the other (%v, %v)", at, ids(la), ta, ids(lb), tb, err1, err2)
			}
		}
	}
	for _, h := range hubs {
		poll.Until(t, "the delay lines to release every event", func() bool { return h.Released(delay) == last })
	}
}

func ids(events []feed.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// storedAll is every event of a store, for a hub's delay lines.
type storedAll struct{ st *store.Store }

func (s storedAll) Check(after int64) error { return s.st.Resumable(after) }
func (s storedAll) After(ctx context.Context, after int64, limit int) ([]feed.Event, error) {
	return s.st.After(ctx, after, feed.Filter{All: true}, limit)
}
