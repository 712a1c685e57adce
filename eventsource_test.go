package main

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
const eventSourceDir = "handlers/testdata/eventsource"

// nodeEventSource returns the node command and the node_modules directory
// (LIVEFEED_NODE_MODULES) that holds npm's eventsource at the version
// eventSourceDir pins. Without them the test skips, unless
// LIVEFEED_REQUIRE_NODE=1 (CI, whose .ci/run installs both).
func nodeEventSource(t *testing.T) (node, modules string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; to run this test, install the pinned client: " +
			"d=$(mktemp -d) && cp " + eventSourceDir + "/package*.json $d && npm ci --prefix $d && export LIVEFEED_NODE_MODULES=$d/node_modules"
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

// subscriber is a client under test: it reports the IDs of the events it
// was handed, in order, and whether it has its position.
type subscriber interface {
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
	resets     int
	positioned bool
	problems   []string
}

// startNodeSubscriber opens an EventSource on url in a Node process that
// ends with the test.
func startNodeSubscriber(t *testing.T, node, modules, label, url string) *nodeSubscriber {
	t.Helper()
	s := &nodeSubscriber{label: label}
	s.cmd = exec.CommandContext(t.Context(), node, filepath.Join(eventSourceDir, "subscribe.cjs"), url, "note", "reset", feed.EventPosition)
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
		case "reset":
			s.resets++
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
	resets   int
	problems []string
}

func startGoSubscriber(t *testing.T, label, base string, topics ...string) *goSubscriber {
	t.Helper()
	s := &goSubscriber{label: label, stream: client.New(base, "").Subscribe(context.Background(), topics, "")}
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
			case item.Event.Type != "note":
				s.problems = append(s.problems, fmt.Sprintf("handed over %+v", item))
			default:
				s.ids = append(s.ids, item.Event.ID)
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
	node, modules := nodeEventSource(t)
	bin := builtBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("[feed]\nretry = \"1s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "feed.db")
	// One address for every run of the server: an EventSource reconnects
	// to the URL it was given.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	start := func() *bench.Server {
		t.Helper()
		srv, err := bench.StartServerAt(t.Context(), addr, bin, db, cfg, nodetest.Token)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Kill)
		return srv
	}

	// What was published on the subscribed topics (es/*), in ID order,
	// and what each subscriber should get: the snapshot when it joined,
	// then every event after.
	var published []feed.Event
	want := map[subscriber][]int64{}
	wantResets := map[subscriber]int{}
	var subs []subscriber
	join := func(s subscriber, resets int) {
		latest := map[string]int64{}
		for _, e := range published {
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
	record := func(e feed.Event) {
		published = append(published, e)
		for _, s := range subs {
			want[s] = append(want[s], e.ID)
		}
	}
	publishLive := func(topic string, n int) {
		t.Helper()
		ids := nodetest.MustPublish(t, base, nodetest.Note(topic, n))
		record(feed.Event{ID: ids[0], Topic: topic})
	}
	// publishWhileDown appends as another instance on the database would
	// (a rolling restart): the subscribers can only get these by resuming.
	publishWhileDown := func(topics ...string) {
		t.Helper()
		st, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, topic := range topics {
			events, err := st.Append(context.Background(), []feed.Update{{Topic: topic, Type: "note", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}})
			if err != nil {
				t.Fatal(err)
			}
			record(events[0])
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// positioned waits for every subscriber to have its position: before
	// it, a restart would leave a client nothing to resume from.
	positioned := func() {
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
	// caughtUp waits for every subscriber to have the newest event.
	caughtUp := func() {
		t.Helper()
		last := published[len(published)-1].ID
		deadline := time.Now().Add(30 * time.Second)
		for _, s := range subs {
			for {
				ids, _, _, _ := s.snapshot()
				if len(ids) > 0 && ids[len(ids)-1] >= last {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not get event %d; it has %v", s.name(), last, ids)
				}
				time.Sleep(10 * time.Millisecond) // polling the client
			}
		}
	}

	srv := start()
	nodetest.MustPublish(t, base, nodetest.Note("other/x", 0)) // the newest ID is not 0
	// Subscribers to topics without events yet (an empty snapshot), and
	// one whose position is ahead of the database: a reset, an empty
	// snapshot, then the position.
	join(startNodeSubscriber(t, node, modules, "npm eventsource (fresh)", base+"/events?topic=es/*"), 0)
	join(startNodeSubscriber(t, node, modules, "npm eventsource (reset)", base+"/events?topic=es/*&lastEventId=999999"), 1)
	join(startGoSubscriber(t, "Go client (fresh)", base, "es/*"), 0)
	positioned()

	// SIGTERM, events published while down, the server back, more events.
	if err := srv.Stop(); err != nil {
		t.Fatalf("the server stopped on SIGTERM with %v", err)
	}
	publishWhileDown("es/a", "es/b", "es/a", "es/a")
	srv = start()
	publishLive("es/b", 1)
	publishLive("es/a", 2)
	caughtUp()

	// Subscribers whose snapshot is not empty, and whose position is
	// newer than their snapshot's last event.
	nodetest.MustPublish(t, base, nodetest.Note("other/x", 1))
	join(startNodeSubscriber(t, node, modules, "npm eventsource (snapshot)", base+"/events?topic=es/*"), 0)
	join(startGoSubscriber(t, "Go client (snapshot)", base, "es/*"), 0)
	positioned()
	publishLive("es/b", 3)
	caughtUp()

	// SIGKILL, as a crash: the same.
	srv.Kill()
	publishWhileDown("es/b", "es/a", "es/b")
	srv = start()
	publishLive("es/a", 4)
	publishLive("es/c", 5)
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
	if err := srv.Stop(); err != nil {
		t.Errorf("the server stopped on SIGTERM with %v", err)
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
