//go:build linux

package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed"
	"livefeed/feed/bench"
	"livefeed/feed/client"
	"livefeed/feed/poll"
)

const e2eToken = "cluster-e2e-token-0123456789abcdef"

// natsBinary returns the nats-server binary of $LIVEFEED_NATS_SERVER
// (.ci/run builds one), or skips the test without it; with
// LIVEFEED_REQUIRE_NATS=1, as in CI, a missing binary is a failure.
func natsBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("LIVEFEED_NATS_SERVER")
	if bin == "" {
		if os.Getenv("LIVEFEED_REQUIRE_NATS") == "1" {
			t.Fatal("LIVEFEED_REQUIRE_NATS=1 but LIVEFEED_NATS_SERVER names no nats-server binary")
		}
		t.Skip("set LIVEFEED_NATS_SERVER to a nats-server binary (go build -o nats-server github.com/nats-io/nats-server/v2) to run the multi-process cluster test")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("LIVEFEED_NATS_SERVER: %v", err)
	}
	return bin
}

var (
	buildOnce sync.Once
	livefeed  string
	buildErr  error
)

func livefeedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livefeed-cluster-test")
		if err != nil {
			buildErr = err
			return
		}
		livefeed = filepath.Join(dir, "livefeed")
		if out, err := exec.Command("go", "build", "-o", livefeed, "livefeed").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return livefeed
}

// natsProcess is a nats-server with JetStream, stopped and started again on
// its port and its data.
type natsProcess struct {
	t        *testing.T
	bin, dir string
	port     int
	srv      *bench.Server
}

func startNATSProcess(t *testing.T) *natsProcess {
	p := &natsProcess{t: t, bin: natsBinary(t), dir: t.TempDir()}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *natsProcess) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.port) }

func (p *natsProcess) start() {
	p.t.Helper()
	srv, _, err := bench.StartNATS(p.t.Context(), p.bin, p.dir, p.port)
	if err != nil {
		p.t.Fatal(err)
	}
	p.srv = srv
	_, port, _ := net.SplitHostPort(srv.Addr)
	p.port, _ = strconv.Atoi(port)
}

// kill ends nats-server with SIGKILL, as a crash would.
func (p *natsProcess) kill() {
	if p.srv != nil {
		p.srv.Kill()
		p.srv = nil
	}
}

// clusterNode is a livefeed process in the cluster.
type clusterNode struct {
	top           *testing.T // whose end stops the node, also after a restart in a subtest
	name, db, cfg string
	srv           *bench.Server
	url           string
}

func startClusterNode(t *testing.T, name, natsURL, dir, hash string) *clusterNode {
	t.Helper()
	n := &clusterNode{top: t, name: name, db: filepath.Join(dir, name+".db"), cfg: filepath.Join(dir, name+".toml")}
	cfg := fmt.Sprintf("[cluster]\nnats_urls = [%q]\nnode = %q\n[[auth.operators]]\nname = \"ann\"\npassword_hash = %q\n", natsURL, name, hash)
	if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start(t)
	return n
}

func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	srv, err := bench.StartServer(t.Context(), livefeedBinary(t), n.db, n.cfg, e2eToken)
	if err != nil {
		t.Fatalf("node %s: %v", n.name, err)
	}
	n.top.Cleanup(srv.Kill)
	n.srv, n.url = srv, "http://"+srv.Addr
}

func (n *clusterNode) client() *client.Client { return client.New(n.url, e2eToken) }

// ids reads the IDs of every event a node holds, from a stream resumed
// from 0, until it has want of them.
func (n *clusterNode) ids(t *testing.T, want int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st := n.client().Subscribe(ctx, []string{"*"}, "0")
	defer st.Close()
	var ids []int64
	for len(ids) < want {
		item, err := st.Next()
		if err != nil {
			t.Fatalf("node %s after %d events: %v", n.name, len(ids), err)
		}
		if item.Reset != "" {
			t.Fatalf("node %s: reset %q", n.name, item.Reset)
		}
		ids = append(ids, item.Event.ID)
	}
	return ids
}

// TestClusterEndToEnd runs a real nats-server and three livefeed
// processes: publishes on every node form one sequence of IDs, a client
// resumes on another node with its Last-Event-ID, a node killed under load
// catches up and serves the same history, NATS killed makes publishes 503
// while streams stay, and two operators' +3 on two nodes make +6.
func TestClusterEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	ns := startNATSProcess(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pitch-side-password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nodes := []*clusterNode{
		startClusterNode(t, "a", ns.url(), dir, string(hash)),
		startClusterNode(t, "b", ns.url(), dir, string(hash)),
		startClusterNode(t, "c", ns.url(), dir, string(hash)),
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := t.Context()
	note := func(i int) feed.Update {
		return feed.Update{Topic: fmt.Sprintf("t/%d", i%5), Type: "note", Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}

	t.Run("OneSequence", func(t *testing.T) {
		var got []int64
		for i := range 30 {
			id, err := nodes[i%3].client().Publish(ctx, note(i), "")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		for i, id := range got {
			if id != int64(i+1) {
				t.Fatalf("IDs %v: want 1 to 30, one sequence across the nodes", got)
			}
		}
		for _, n := range nodes {
			if ids := n.ids(t, 30); ids[29] != 30 {
				t.Fatalf("node %s holds %v", n.name, ids)
			}
		}
	})

	t.Run("ResumeOnAnotherNode", func(t *testing.T) {
		ctx, stop := context.WithTimeout(ctx, time.Minute)
		defer stop()
		sctx, cancel := context.WithCancel(ctx)
		st := a.client().Subscribe(sctx, []string{"t/1"}, "10")
		item, err := st.Next()
		if err != nil || item.Event.ID != 12 {
			t.Fatalf("on a after 10: %+v, %v", item, err)
		}
		last := st.LastEventID()
		cancel()
		c.client().Publish(ctx, note(31), "") // 31 on t/1 ... published meanwhile
		st = b.client().Subscribe(ctx, []string{"t/1"}, last)
		defer st.Close()
		for _, want := range []int64{17, 22, 27, 31} {
			item, err := st.Next()
			if err != nil || item.Event.ID != want {
				t.Fatalf("on b after %s: %+v, %v; want %d", last, item, err, want)
			}
		}
	})

	// Streaming publishes on two nodes at once, their groups of lines
	// pipelined through the stream: each connection's lines acknowledged
	// in order with increasing IDs, the keyed ones sent again on a third
	// node answered with the same IDs, every node holding every event.
	t.Run("StreamingPublish", func(t *testing.T) {
		const lines = 3000
		// ingest sends lines on n; the IDs of new lines (all, or the ones
		// without a key when the keyed ones were sent before) increase.
		ingest := func(n *clusterNode, from int, key func(i int) string, again bool) []int64 {
			in, err := n.client().Ingest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			go func() {
				for i := range lines {
					if in.Send(note(from+i), key(i)) != nil {
						return
					}
				}
				in.CloseSend()
			}()
			var ids []int64
			var prev int64
			for {
				ack, err := in.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil || ack.Err != nil {
					t.Fatalf("node %s, line %d: %v %v", n.name, len(ids)+1, err, ack.Err)
				}
				if !again || key(len(ids)) == "" {
					if ack.ID <= prev {
						t.Fatalf("node %s: line %d got ID %d after %d", n.name, len(ids)+1, ack.ID, prev)
					}
					prev = ack.ID
				}
				ids = append(ids, ack.ID)
			}
			if len(ids) != lines {
				t.Fatalf("node %s acknowledged %d lines of %d", n.name, len(ids), lines)
			}
			return ids
		}
		keyed := func(i int) string {
			if i%10 == 0 {
				return fmt.Sprintf("line-%d", i)
			}
			return ""
		}
		var onA, onB []int64
		var wg sync.WaitGroup
		wg.Go(func() { onA = ingest(a, 10000, keyed, false) })
		wg.Go(func() { onB = ingest(b, 20000, func(int) string { return "" }, false) })
		wg.Wait()
		if t.Failed() {
			return
		}
		again := ingest(c, 10000, keyed, true)
		for i := 0; i < lines; i += 10 {
			if again[i] != onA[i] {
				t.Fatalf("line %d sent again with its key on another node: ID %d, first %d", i+1, again[i], onA[i])
			}
		}
		last := max(onA[lines-1], onB[lines-1], again[lines-1])
		want := a.ids(t, int(last))
		for _, n := range []*clusterNode{b, c} {
			if got := n.ids(t, int(last)); !slices.Equal(got, want) {
				t.Fatalf("node %s holds other events than node a", n.name)
			}
		}
	})

	// Four streaming publishes into one node at once, as fast as the
	// cluster takes them: every line is answered with its event. A node
	// whose consumer stopped asking NATS for the log's messages (one that
	// counted its outstanding requests wrongly did, under this load,
	// silent for ten seconds until it missed a heartbeat) applies nothing
	// until it notices, and the lines waiting for it run out of time.
	t.Run("StreamingPublishesKeepFlowing", func(t *testing.T) {
		const streams, lines = 4, 40000
		var wg sync.WaitGroup
		for s := range streams {
			wg.Go(func() {
				in, err := a.client().Ingest(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				defer in.Close()
				go func() {
					for i := range lines {
						if in.Send(note(100000*(s+1)+i), "") != nil {
							return
						}
					}
					in.CloseSend()
				}()
				for got := 0; ; got++ {
					ack, err := in.Recv()
					if errors.Is(err, io.EOF) {
						if got != lines {
							t.Errorf("stream %d: %d lines of %d answered", s+1, got, lines)
						}
						return
					}
					if err != nil || ack.Err != nil {
						t.Errorf("stream %d, line %d: %v %v", s+1, got+1, err, ack.Err)
						return
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("NodeKilledUnderLoad", func(t *testing.T) {
		stop := make(chan struct{})
		var pubs sync.WaitGroup
		var mu sync.Mutex
		acked := 0
		for p := range 4 {
			pubs.Go(func() {
				on := []*clusterNode{a, b}[p%2].client()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := on.Publish(ctx, note(1000*p+i), fmt.Sprintf("load-%d-%d", p, i)); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked++
					mu.Unlock()
				}
			})
		}
		poll.Until(t, "", func() bool { mu.Lock(); defer mu.Unlock(); return acked > 300 })
		c.srv.Kill()
		poll.Until(t, "", func() bool { mu.Lock(); defer mu.Unlock(); return acked > 700 })
		c.start(t) // returns once it answers /healthz: caught up
		close(stop)
		pubs.Wait()
		var last int64
		json.Unmarshal(getBody(t, a.url+"/healthz"), &struct {
			LastID *int64 `json:"last_id"`
		}{&last})
		want := a.ids(t, int(last))
		got := c.ids(t, int(last))
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("the restarted node's history differs at %d: %d, want %d", i, got[i], want[i])
			}
		}
	})

	t.Run("NATSKilled", func(t *testing.T) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		resp, br := openStream(t, sctx, a.url+"/events?topic=t/*")
		defer resp.Body.Close()
		ns.kill()
		poll.Until(t, "", func() bool {
			_, err := b.client().Publish(ctx, note(5000), "")
			return errors.Is(err, feed.ErrUnavailable)
		})
		ns.start()
		var id int64
		poll.Until(t, "", func() bool {
			var err error
			id, err = b.client().Publish(ctx, note(5001), "after-nats")
			return err == nil
		})
		// The stream opened before NATS went away is still open and gets
		// the event published after it came back.
		rd := client.NewReader(br)
		for {
			m, err := rd.Next()
			if err != nil {
				t.Fatalf("the stream opened before NATS died: %v", err)
			}
			if m.ID == fmt.Sprint(id) {
				break
			}
		}
	})

	t.Run("OperatorsOnTwoNodes", func(t *testing.T) {
		ca, cb := signIn(t, a.url), signIn(t, b.url)
		if status := ca.post(t, "/admin/games", "topic", "nba/g", "home", "A", "away", "B"); status != 201 {
			t.Fatalf("new game: %d", status)
		}
		poll.Until(t, "", func() bool {
			latest, err := b.client().Topics(ctx, "nba/g")
			return err == nil && len(latest) == 1
		})
		var wg sync.WaitGroup
		for _, op := range []*operator{ca, cb} {
			wg.Go(func() {
				for range 10 {
					if status := op.post(t, "/admin/score", "topic", "nba/g", "home_points", "3"); status != 201 {
						t.Errorf("tap: %d", status)
						return
					}
				}
			})
		}
		wg.Wait()
		deadline := time.Now().Add(30 * time.Second)
		for {
			latest, err := c.client().Topics(ctx, "nba/g")
			if err == nil && len(latest) == 1 && strings.Contains(string(latest[0].Data), `"home_score":60`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 20 taps of +3 on two nodes, node c has %+v (%v)", latest, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("SignedInOnEveryNode", func(t *testing.T) {
		// Behind a load balancer without stickiness, an operator's
		// requests go to any node.
		op := signIn(t, a.url)
		for _, n := range []*clusterNode{b, c} {
			on := &operator{base: n.url, hc: op.hc, csrf: op.csrf}
			if status := on.post(t, "/admin/score", "topic", "nba/g", "home_points", "1"); status != 201 {
				t.Fatalf("signed in on a, a tap on %s: %d", n.name, status)
			}
		}
		// The same cookie, kept aside: signed out through b, no node
		// takes it any more.
		u, _ := url.Parse(a.url)
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u, op.hc.Jar.Cookies(u))
		kept := &operator{base: a.url, hc: &http.Client{Jar: jar}, csrf: op.csrf}
		if status := (&operator{base: b.url, hc: op.hc, csrf: op.csrf}).post(t, "/admin/logout"); status >= 400 {
			t.Fatalf("sign-out on b: %d", status)
		}
		for _, n := range nodes {
			kept.base = n.url
			if status := kept.post(t, "/admin/score", "topic", "nba/g", "home_points", "1"); status == 201 {
				t.Fatalf("signed out on b, the session still taps on %s", n.name)
			}
		}
	})

	t.Run("AudienceNodeKilled", func(t *testing.T) {
		// Streams of aud/k on a and b, counted on a; b killed with
		// SIGKILL says no goodbye, and its two streams leave a's count
		// within three audience intervals (6 s) of its last count.
		if _, err := a.client().Publish(ctx, feed.Update{Topic: "aud/k", Type: "note", Data: []byte(`{}`)}, "aud-k"); err != nil {
			t.Fatal(err)
		}
		op := signIn(t, a.url)
		viewers := func() int {
			var aud struct {
				Topics []struct {
					Topic   string
					Viewers int
				}
			}
			json.Unmarshal(getWith(t, op.hc, a.url+"/admin/audience"), &aud)
			for _, e := range aud.Topics {
				if e.Topic == "aud/k" {
					return e.Viewers
				}
			}
			return -1
		}
		poll.Until(t, "node a to count aud/k", func() bool { return viewers() >= 0 })
		before := viewers()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for _, n := range []*clusterNode{a, b, b} {
			poll.Until(t, "node "+n.name+" to apply aud/k", func() bool { return strings.Contains(string(getBody(t, n.url+"/api/topics")), `"aud/k"`) })
			req, _ := http.NewRequestWithContext(sctx, http.MethodGet, n.url+"/events?topic=aud/k", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
		}
		poll.Until(t, "node a to count the streams of both nodes", func() bool { return viewers() == before+3 })
		b.srv.Kill()
		killed := time.Now()
		poll.Until(t, "node a to stop counting node b's streams", func() bool { return viewers() == before+1 })
		if took := time.Since(killed); took > 8*time.Second {
			t.Fatalf("node a counted the killed node's streams for %v: more than 6 s after its last count", took)
		} else {
			t.Logf("node a counted the killed node's streams for %v after the kill", took)
		}
	})
}

func getBody(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func openStream(t *testing.T, ctx context.Context, u string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Last-Event-ID", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, bufio.NewReader(resp.Body)
}

// operator is a signed-in console session.
type operator struct {
	base string
	hc   *http.Client
	csrf string
}

func signIn(t *testing.T, base string) *operator {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	op := &operator{base: base, hc: &http.Client{Jar: jar}}
	var s struct{ CSRF string }
	json.Unmarshal(getWith(t, op.hc, base+"/admin/session"), &s)
	resp, err := op.hc.PostForm(base+"/admin/login", url.Values{"name": {"ann"}, "password": {"pitch-side-password"}, "csrf": {s.CSRF}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&s)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in on %s: %s", base, resp.Status)
	}
	op.csrf = s.CSRF
	return op
}

func (op *operator) post(t *testing.T, path string, kv ...string) int {
	v := url.Values{"csrf": {op.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	resp, err := op.hc.PostForm(op.base+path, v)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getWith(t *testing.T, hc *http.Client, u string) []byte {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
