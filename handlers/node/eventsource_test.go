package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/bench"
	"livefeed/feed/client"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// eventSourceDir holds the npm client the tests drive: its pinned version
// (package.json, package-lock.json) and the script that subscribes with it.
const eventSourceDir = "../testdata/eventsource"

// nodeEventSource returns the node command and the node_modules directory
// (LIVEFEED_NODE_MODULES) that holds npm's eventsource at the version
// eventSourceDir pins. Without them the test skips, unless
// LIVEFEED_REQUIRE_NODE=1 (CI, whose .ci/run installs both).
func nodeEventSource(t *testing.T) (node, modules string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; to run this test, install the pinned client: " +
			"d=$(mktemp -d) && cp handlers/testdata/eventsource/package*.json $d && npm ci --prefix $d && export LIVEFEED_NODE_MODULES=$d/node_modules"
		if os.Getenv("LIVEFEED_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("no node on PATH (Debian: apt-get install nodejs npm)")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	// eventsource 4 needs Node 20 or later (its "engines").
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0], "v"))
	if major < 20 {
		missing("node %s is older than 20, which eventsource 4 needs", strings.TrimSpace(string(out)))
	}
	modules = os.Getenv("LIVEFEED_NODE_MODULES")
	if modules == "" {
		missing("LIVEFEED_NODE_MODULES is not set")
	}
	var pinned, installed struct {
		Version      string
		Dependencies map[string]string
	}
	if err := readJSON(filepath.Join(eventSourceDir, "package.json"), &pinned); err != nil {
		t.Fatal(err)
	}
	if err := readJSON(filepath.Join(modules, "eventsource", "package.json"), &installed); err != nil {
		t.Fatalf("LIVEFEED_NODE_MODULES=%s: %v", modules, err)
	}
	if want := pinned.Dependencies["eventsource"]; installed.Version != want {
		t.Fatalf("LIVEFEED_NODE_MODULES=%s holds eventsource %s; %s/package.json pins %s", modules, installed.Version, eventSourceDir, want)
	}
	return node, modules
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// restartClient is a client under test: it reports the IDs of the events it
// was handed, in order, and whether it has its position.
type restartClient interface {
	name() string
	snapshot() (ids []int64, resets int, positioned bool, problems []string)
}

// nodeSubscriber is subscribe.cjs running npm's eventsource.
type nodeSubscriber struct {
	label  string
	cmd    *exec.Cmd
	stderr nodetest.Buffer

	mu         sync.Mutex
	ids        []int64
	at         []time.Time // when each of ids was read from the script
	resets     int
	delayed    int // livefeed.delayed events
	positioned bool
	problems   []string
}

// startNodeSubscriber opens an EventSource on url in a Node process that
// ends with the test.
func startNodeSubscriber(t *testing.T, node, modules, label, url string) *nodeSubscriber {
	t.Helper()
	s := &nodeSubscriber{label: label}
	s.cmd = exec.CommandContext(t.Context(), node, filepath.Join(eventSourceDir, "subscribe.cjs"), url, "note", "reset", feed.EventPosition, feed.EventDelayed)
	s.cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	s.cmd.Stderr = &s.stderr
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		s.read(stdout)
	}()
	t.Cleanup(func() {
		stdin.Close() // the script exits when its input ends
		<-read
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("%s (npm eventsource) wrote to stderr:\n%s", label, s.stderr.String())
		}
	})
	return s
}

// read takes the script's lines: one event each.
func (s *nodeSubscriber) read(stdout io.Reader) {
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var e struct{ Type, LastEventID, Data string }
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			s.problem("unreadable line %q", lines.Text())
			continue
		}
		s.mu.Lock()
		switch e.Type {
		case "note":
			var env struct{ ID int64 }
			json.Unmarshal([]byte(e.Data), &env)
			if e.LastEventID != strconv.FormatInt(env.ID, 10) {
				s.problems = append(s.problems, fmt.Sprintf("event %d came with lastEventId %q", env.ID, e.LastEventID))
			}
			s.ids = append(s.ids, env.ID)
			s.at = append(s.at, time.Now())
		case "reset":
			s.resets++
		case feed.EventDelayed:
			s.delayed++
		case feed.EventPosition:
			s.positioned = true
		default:
			// An unnamed frame reaches every onmessage handler (and
			// the console's "message" listener) as an event.
			s.problems = append(s.problems, fmt.Sprintf("a %q event: %s", e.Type, e.Data))
		}
		s.mu.Unlock()
	}
}

func (s *nodeSubscriber) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *nodeSubscriber) name() string { return s.label }

func (s *nodeSubscriber) snapshot() ([]int64, int, bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), s.resets, s.positioned, slices.Clone(s.problems)
}

// goSubscriber is a feed/client Stream.
type goSubscriber struct {
	label  string
	stream *client.Stream

	mu       sync.Mutex
	ids      []int64
	at       []time.Time // when each of ids was handed over
	resets   int
	delayed  time.Duration // the stream's delay, as the server said
	problems []string
}

func startGoSubscriber(t *testing.T, label, base string, topics ...string) *goSubscriber {
	t.Helper()
	return startGoStream(t, label, base, topics)
}

// startGoStream subscribes to topics with the options opts.
func startGoStream(t *testing.T, label, base string, topics []string, opts ...client.SubscribeOption) *goSubscriber {
	t.Helper()
	s := &goSubscriber{label: label, stream: client.New(base, "").Subscribe(context.Background(), topics, "", opts...)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			item, err := s.stream.Next()
			if err != nil {
				return
			}
			s.mu.Lock()
			switch {
			case item.Reset != "":
				s.resets++
			case item.Delayed != 0:
				s.delayed = item.Delayed
			case item.Event.Type != "note":
				s.problems = append(s.problems, fmt.Sprintf("handed over %+v", item))
			default:
				s.ids = append(s.ids, item.Event.ID)
				s.at = append(s.at, time.Now())
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.stream.Close()
		<-done
	})
	return s
}

func (s *goSubscriber) name() string { return s.label }

func (s *goSubscriber) snapshot() ([]int64, int, bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), s.resets, s.stream.LastEventID() != "", slices.Clone(s.problems)
}

// TestNodeEventSourceAcrossRestarts: npm's eventsource, the most used
// EventSource client for Node, and the Go client get every event once and
// in order while the server restarts, after SIGTERM and after SIGKILL,
// with events published while it is down — also a client that subscribed
// to topics without events yet, which has nothing but the position event
// to resume from, and one that subscribed with a position the server
// cannot resume (a reset). (npm's eventsource drops frames without data:
// with the position sent as an id-only frame, such clients reconnected
// as new ones and got only the latest event of each topic.)
func TestNodeEventSourceAcrossRestarts(t *testing.T) {
	t.Parallel()
	node, modules := nodeEventSource(t)
	r := newRig(t, "[feed]\nretry = \"1s\"\n")

	// What each client should get: the snapshot when it joined, then
	// every event after.
	want := map[restartClient][]int64{}
	wantResets := map[restartClient]int{}
	var subs []restartClient
	join := func(s restartClient, resets int) {
		latest := map[string]int64{}
		for _, e := range r.published {
			latest[e.Topic] = e.ID
		}
		var snap []int64
		for _, id := range latest {
			snap = append(snap, id)
		}
		slices.Sort(snap)
		subs = append(subs, s)
		want[s] = snap
		wantResets[s] = resets
	}
	r.onPublish = func(e feed.Event) {
		for _, s := range subs {
			want[s] = append(want[s], e.ID)
		}
	}
	caughtUp := func() {
		t.Helper()
		last := r.published[len(r.published)-1].ID
		for _, s := range subs {
			r.waitFor(s, fmt.Sprintf("event %d", last), func(ids []int64) bool { return len(ids) > 0 && ids[len(ids)-1] >= last })
		}
	}

	r.start()
	nodetest.MustPublish(t, r.base, nodetest.Note("other/x", 0)) // the newest ID is not 0
	// Subscribers to topics without events yet (an empty snapshot), and
	// one whose position is ahead of the database: a reset, an empty
	// snapshot, then the position.
	join(startNodeSubscriber(t, node, modules, "npm eventsource (fresh)", r.base+"/events?topic=es/*"), 0)
	join(startNodeSubscriber(t, node, modules, "npm eventsource (reset)", r.base+"/events?topic=es/*&lastEventId=999999"), 1)
	join(startGoSubscriber(t, "Go client (fresh)", r.base, "es/*"), 0)
	positioned(t, subs...)

	// SIGTERM, events published while down, the server back, more events.
	r.stop()
	r.publishWhileDown("es/a", "es/b", "es/a", "es/a")
	r.start()
	r.publishLive("es/b", 1)
	r.publishLive("es/a", 2)
	caughtUp()

	// Subscribers whose snapshot is not empty, and whose position is
	// newer than their snapshot's last event.
	nodetest.MustPublish(t, r.base, nodetest.Note("other/x", 1))
	join(startNodeSubscriber(t, node, modules, "npm eventsource (snapshot)", r.base+"/events?topic=es/*"), 0)
	join(startGoSubscriber(t, "Go client (snapshot)", r.base, "es/*"), 0)
	positioned(t, subs...)
	r.publishLive("es/b", 3)
	caughtUp()

	// SIGKILL, as a crash: the same.
	r.kill()
	r.publishWhileDown("es/b", "es/a", "es/b")
	r.start()
	r.publishLive("es/a", 4)
	r.publishLive("es/c", 5)
	caughtUp()

	for _, s := range subs {
		ids, resets, _, problems := s.snapshot()
		if !slices.Equal(ids, want[s]) {
			t.Errorf("%s got %v, want %v: %s", s.name(), ids, want[s], lostAndRepeated(ids, want[s]))
		}
		if resets != wantResets[s] {
			t.Errorf("%s got %d resets, want %d", s.name(), resets, wantResets[s])
		}
		for _, p := range problems {
			t.Errorf("%s: %s", s.name(), p)
		}
	}
	r.stop()
}

// TestDelayedAndConflatedAcrossRestarts: npm's eventsource and the Go
// client on a delayed tier get every event once, in order, and none
// before it is as old as the delay, while the server restarts after
// SIGTERM and SIGKILL before the events were due (the delay line is
// loaded again from the database); conflated subscribers never get an
// event twice or out of order and end with the latest event of each
// topic.
func TestDelayedAndConflatedAcrossRestarts(t *testing.T) {
	t.Parallel()
	node, modules := nodeEventSource(t)
	const delay = 2 * time.Second
	r := newRig(t, "[feed]\nretry = \"1s\"\n\n[[feed.delayed]]\ntopics = [\"dl/*\"]\ndelay = \"2s\"\n")
	r.start()
	nodetest.MustPublish(t, r.base, nodetest.Note("other/x", 0))
	delayed := []restartClient{
		startNodeSubscriber(t, node, modules, "npm eventsource (delayed)", r.base+"/events?topic=dl/*"),
		startGoSubscriber(t, "Go client (delayed)", r.base, "dl/*"),
	}
	conflated := []restartClient{
		startNodeSubscriber(t, node, modules, "npm eventsource (conflated)", r.base+"/events?topic=cf/*&conflate=500ms"),
		startGoStream(t, "Go client (conflated)", r.base, []string{"cf/*"}, client.Conflate(500*time.Millisecond)),
	}
	positioned(t, append(slices.Clone(delayed), conflated...)...)

	burst := func(n int) {
		for i := range n {
			r.publishLive("dl/a", i)
			r.publishLive("cf/a", i)
			r.publishLive("cf/b", i)
		}
	}
	// Events not yet due when the server stops, others published while it
	// is down (as another instance on the database would), then more.
	burst(3)
	r.stop()
	r.publishWhileDown("dl/b", "dl/a", "cf/a", "cf/a", "cf/b")
	r.start()
	burst(2)
	r.kill()
	r.publishWhileDown("dl/a", "cf/b", "dl/b")
	r.start()
	burst(3)

	var dl []feed.Event
	latest := map[string]int64{}
	cf := map[int64]bool{}
	for _, e := range r.published {
		switch {
		case strings.HasPrefix(e.Topic, "dl/"):
			dl = append(dl, e)
		case strings.HasPrefix(e.Topic, "cf/"):
			latest[e.Topic], cf[e.ID] = e.ID, true
		}
	}
	var wantDL []int64
	for _, e := range dl {
		wantDL = append(wantDL, e.ID)
	}
	for _, s := range delayed {
		r.waitFor(s, "the last delayed event", func(ids []int64) bool { return len(ids) >= len(wantDL) })
	}
	// The events' times, which the delay is counted from (a publish does
	// not return them), read once all are due.
	times := map[int64]time.Time{}
	history, err := client.New(r.base, "").History(t.Context(), client.HistoryQuery{Topics: []string{"dl/*"}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range history.Events {
		times[e.ID] = e.Time
	}
	for _, s := range delayed {
		ids, resets, _, problems := s.snapshot()
		if !slices.Equal(ids, wantDL) || resets != 0 || len(problems) > 0 {
			t.Errorf("%s got %v (%d resets, problems %q), want %v: %s", s.name(), ids, resets, problems, wantDL, lostAndRepeated(ids, wantDL))
		}
		ids, at, said := s.(timed).arrivals()
		if !said {
			t.Errorf("%s was never told that its stream is delayed", s.name())
		}
		for i, id := range ids {
			if when, ok := times[id]; !ok {
				t.Errorf("%s: event %d is not in the history", s.name(), id)
			} else if early := when.Add(delay).Sub(at[i]); early > 0 {
				t.Errorf("%s got event %d %v before it was due", s.name(), id, early)
			}
		}
	}
	for _, s := range conflated {
		r.waitFor(s, "the latest event of each topic", func(ids []int64) bool {
			return slices.Contains(ids, latest["cf/a"]) && slices.Contains(ids, latest["cf/b"])
		})
		ids, resets, _, problems := s.snapshot()
		if resets != 0 || len(problems) > 0 {
			t.Errorf("%s: %d resets, problems %q", s.name(), resets, problems)
		}
		for i, id := range ids {
			if !cf[id] {
				t.Errorf("%s got event %d, not one of its topics'", s.name(), id)
			}
			if i > 0 && id <= ids[i-1] {
				t.Errorf("%s got event %d after %d: %v", s.name(), id, ids[i-1], ids)
			}
		}
		if len(ids) >= len(cf) {
			t.Errorf("%s got %d events of %d published in bursts: none merged", s.name(), len(ids), len(cf))
		}
	}
	r.stop()
}

// timed is a client that reports when it was handed each event and
// whether its stream said that it is delayed.
type timed interface {
	arrivals() (ids []int64, at []time.Time, delayed bool)
}

func (s *nodeSubscriber) arrivals() ([]int64, []time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), slices.Clone(s.at), s.delayed > 0
}

func (s *goSubscriber) arrivals() ([]int64, []time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), slices.Clone(s.at), s.delayed > 0
}

// rig is the built livefeed on one address and one database, started,
// stopped and killed by a test, and what was published on it.
type rig struct {
	t                  *testing.T
	bin, db, cfg, base string
	addr               string
	srv                *bench.Server
	published          []feed.Event // in ID order
	onPublish          func(feed.Event)
}

// newRig writes config to the rig's config.toml.
func newRig(t *testing.T, config string) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, bin: nodetest.Binary(t), db: filepath.Join(dir, "feed.db"), cfg: filepath.Join(dir, "config.toml")}
	if err := os.WriteFile(r.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// One address for every run of the server: an EventSource reconnects
	// to the URL it was given.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ln.Close()
	r.base = "http://" + r.addr
	return r
}

func (r *rig) start() {
	r.t.Helper()
	srv, err := bench.StartServerAt(r.t.Context(), r.addr, r.bin, r.db, r.cfg, nodetest.Token)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(srv.Kill)
	r.srv = srv
}

// stop stops the server with SIGTERM, which it must end on cleanly.
func (r *rig) stop() {
	r.t.Helper()
	if err := r.srv.Stop(); err != nil {
		r.t.Errorf("the server stopped on SIGTERM with %v", err)
	}
}

// kill ends the server with SIGKILL, as a crash.
func (r *rig) kill() { r.srv.Kill() }

func (r *rig) record(e feed.Event) {
	r.published = append(r.published, e)
	if r.onPublish != nil {
		r.onPublish(e)
	}
}

// publishLive publishes a note through the running server.
func (r *rig) publishLive(topic string, n int) {
	r.t.Helper()
	ids := nodetest.MustPublish(r.t, r.base, nodetest.Note(topic, n))
	r.record(feed.Event{ID: ids[0], Topic: topic})
}

// publishWhileDown appends as another instance on the database would (a
// rolling restart): the subscribers can only get these by resuming.
func (r *rig) publishWhileDown(topics ...string) {
	r.t.Helper()
	st, err := store.Open(r.db, store.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	for i, topic := range topics {
		events, err := st.Append(context.Background(), []feed.Update{{Topic: topic, Type: "note", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}})
		if err != nil {
			r.t.Fatal(err)
		}
		r.record(events[0])
	}
	if err := st.Close(); err != nil {
		r.t.Fatal(err)
	}
}

// waitFor waits for s's events to satisfy done.
func (r *rig) waitFor(s restartClient, what string, done func(ids []int64) bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids, _, _, _ := s.snapshot()
		if done(ids) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s did not get %s; it has %v", s.name(), what, ids)
		}
		time.Sleep(10 * time.Millisecond) // polling the client
	}
}

// positioned waits for every client to have its position: before it,
// a restart would leave a client nothing to resume from.
func positioned(t *testing.T, subs ...restartClient) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range subs {
		for {
			_, _, ok, _ := s.snapshot()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s was never sent its position", s.name())
				break
			}
			time.Sleep(10 * time.Millisecond) // polling the client
		}
	}
}

// lostAndRepeated describes how got differs from want.
func lostAndRepeated(got, want []int64) string {
	seen := map[int64]int{}
	for _, id := range got {
		seen[id]++
	}
	var lost, twice []int64
	for _, id := range want {
		if seen[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			twice = append(twice, id)
		}
	}
	slices.Sort(twice)
	return fmt.Sprintf("missed %d of %d %v, %d more than once %v", len(lost), len(want), lost, len(twice), twice)
}
