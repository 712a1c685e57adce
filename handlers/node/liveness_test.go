package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// liveAfter is the stale rule of these tests: short, so they run in real
// time (the configuration's bounds are for files; a test sets it here).
const liveAfter = 300 * time.Millisecond

// scopedToken may publish to stocks/A only.
const scopedToken = "scoped-publish-token-0123456789"

func liveConfig(t *testing.T) config.Config {
	cfg := nodetest.Config(t)
	cfg.Feed.Stale = []config.StaleRule{{Topics: []string{"stocks/*", "nba/*", "premium/*"}, After: liveAfter}}
	cfg.Auth.PublishTokens = append(cfg.Auth.PublishTokens, config.PublishToken{Token: scopedToken, Topics: []string{"stocks/A"}})
	return cfg
}

// rawFrames reads an event stream's frames as their raw text.
type rawFrames struct {
	c  net.Conn
	br *bufio.Reader
}

func openRaw(t *testing.T, base, path string, header ...string) *rawFrames {
	c, br := nodetest.Stream(t, base, path, header...)
	return &rawFrames{c, br}
}

// next returns the next frame that dispatches something (not a comment).
func (r *rawFrames) next(t *testing.T) string {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var frame strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream after %q: %v", frame.String(), err)
		}
		if line == "\n" {
			if strings.Contains(frame.String(), "data:") {
				return frame.String()
			}
			frame.Reset()
			continue
		}
		if !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "retry:") {
			frame.WriteString(line)
		}
	}
}

// expect reads frames up to the next of event type typ (and of topic,
// for a notice), failing on a liveness notice of another kind first, and
// returns its data.
func (r *rawFrames) expect(t *testing.T, typ, topic string) map[string]any {
	t.Helper()
	for {
		f := r.next(t)
		ev, _, _ := strings.Cut(strings.TrimPrefix(f[strings.Index(f, "event: ")+len("event: "):], ""), "\n")
		if !strings.Contains(f, "event: ") {
			ev = "message"
		}
		_, data, _ := strings.Cut(f, "data: ")
		var d map[string]any
		json.Unmarshal([]byte(strings.TrimSpace(data)), &d)
		if ev == feed.EventStale || ev == feed.EventFresh {
			if strings.Contains(f, "id:") {
				t.Fatalf("a %s notice carries an id: %q", ev, f)
			}
			if ev != typ || d["topic"] != topic {
				t.Fatalf("got %q, want %s of %s", f, typ, topic)
			}
			return d
		}
		if ev == typ && (topic == "" || d["topic"] == topic) {
			return d
		}
	}
}

// topicsEntry returns the /api/topics entry of topic (nil: not listed).
func topicsEntry(t *testing.T, base, topic string, header ...string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/topics?archived=true", nil)
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Topics []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	for _, e := range body.Topics {
		if e["topic"] == topic {
			return e
		}
	}
	return nil
}

// postHeartbeat sends POST /api/heartbeat with bearer and body.
func postHeartbeat(t *testing.T, base, bearer, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/heartbeat", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func metric(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestLivenessEndToEnd: through a node, a watched topic goes stale, fresh
// by an event, by a heartbeat (POST /api/heartbeat and a streaming
// publish's line), and a stream resuming while it is stale is told at
// once; /api/topics and the metric agree; the notices carry no id.
func TestLivenessEndToEnd(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, liveConfig(t), node.Options{})
	if v := metric(t, n.URL, "livefeed_stale_topics"); v != "0" {
		t.Fatalf("livefeed_stale_topics = %q at start, want 0", v)
	}
	nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/A", 1))
	s := openRaw(t, n.URL, "/events?topic=stocks/*")
	s.expect(t, "note", "")
	d := s.expect(t, feed.EventStale, "stocks/A")
	if d["after"] != "300ms" || d["since"] == nil {
		t.Fatalf("stale data %v", d)
	}
	e := topicsEntry(t, n.URL, "stocks/A")
	if e["stale"] != true || e["stale_since"] != d["since"] {
		t.Fatalf("/api/topics entry %v; stale since %v", e, d["since"])
	}
	if v := metric(t, n.URL, "livefeed_stale_topics"); v != "1" {
		t.Fatalf("livefeed_stale_topics = %q, want 1", v)
	}

	t.Run("FreshByEvent", func(t *testing.T) {
		nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/A", 2))
		s.expect(t, "note", "")
		s.expect(t, feed.EventFresh, "stocks/A")
		s.expect(t, feed.EventStale, "stocks/A")
	})
	t.Run("ResumeWhileStale", func(t *testing.T) {
		r := openRaw(t, n.URL, "/events?topic=stocks/*", "Last-Event-ID: 1")
		if f := r.next(t); !strings.HasPrefix(f, "id: 2\n") {
			t.Fatalf("resumed with %q, want event 2", f)
		}
		r.expect(t, feed.EventStale, "stocks/A")
	})
	t.Run("FreshByHeartbeat", func(t *testing.T) {
		if code, body, _ := postHeartbeat(t, n.URL, nodetest.Token, `{"topics":["stocks/*"]}`); code != 200 || body != "{\"topics\":1}\n" {
			t.Fatalf("heartbeat: %d %s", code, body)
		}
		s.expect(t, feed.EventFresh, "stocks/A")
		s.expect(t, feed.EventStale, "stocks/A")
	})
	t.Run("FreshByStreamLine", func(t *testing.T) {
		in, err := client.New(n.URL, nodetest.Token).Ingest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		in.Send(feed.Update{Topic: "other/x", Type: "note", Data: []byte(`{}`)}, "")
		in.SendHeartbeat("stocks/A", "stocks/never")
		in.Send(feed.Update{Topic: "other/x", Type: "note", Data: []byte(`{}`)}, "")
		in.CloseSend()
		var acks []client.Ack
		for {
			a, err := in.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, a)
		}
		if len(acks) != 3 || acks[0].ID == 0 || !acks[1].Heartbeat || acks[1].Topics != 1 || acks[2].ID != acks[0].ID+1 {
			t.Fatalf("acks %+v", acks)
		}
		s.expect(t, feed.EventFresh, "stocks/A")
	})
}

// TestLivenessFinishedTopics: archived topics and finished games are
// never stale.
func TestLivenessFinishedTopics(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, liveConfig(t), node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/OLD", 1))
	nodetest.MustPublish(t, n.URL, `{"topic":"stocks/OLD","type":"archive","data":{}}`)
	nodetest.MustPublish(t, n.URL, `{"topic":"nba/g","type":"score","data":{"home":"A","away":"B","home_score":100,"away_score":98,"status":"final"}}`)
	nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/A", 1))
	s := openRaw(t, n.URL, "/events?topic=*", "Last-Event-ID: 4")
	s.expect(t, feed.EventStale, "stocks/A") // fails on any other notice first
	for _, topic := range []string{"stocks/OLD", "nba/g"} {
		if e := topicsEntry(t, n.URL, topic); e == nil || e["stale"] != nil {
			t.Fatalf("/api/topics entry of %s: %v", topic, e)
		}
	}
	if v := metric(t, n.URL, "livefeed_stale_topics"); v != "1" {
		t.Fatalf("livefeed_stale_topics = %q, want 1", v)
	}
}

// TestLivenessPrivate: a private topic's notices reach only subscribers
// granted it, and /api/topics shows it to them only.
func TestLivenessPrivate(t *testing.T) {
	t.Parallel()
	const secret = "liveness-subscriber-secret-0123456789"
	cfg := liveConfig(t)
	cfg.Auth.PrivateTopics = []string{"premium/*"}
	cfg.Auth.SubscriberKeys = []string{secret}
	n := nodetest.Start(t, cfg, node.Options{})
	granted := nodetest.SubscriberToken(t, secret, "premium/*")
	nodetest.MustPublish(t, n.URL, nodetest.Note("premium/a", 1))
	nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/A", 1))
	anon := openRaw(t, n.URL, "/events?topic=*", "Last-Event-ID: 2")
	insider := openRaw(t, n.URL, "/events?topic=*", "Last-Event-ID: 2", "Authorization: Bearer "+granted)
	// premium/a was heard first: its notice is due no later than
	// stocks/A's, and the two are sent together, so the anonymous stream
	// would show it before stocks/A's fresh notice below.
	anon.expect(t, feed.EventStale, "stocks/A")
	stale := map[string]bool{}
	for len(stale) < 2 {
		f := insider.next(t)
		for _, topic := range []string{"premium/a", "stocks/A"} {
			if strings.Contains(f, "event: stale\n") && strings.Contains(f, `"topic":"`+topic+`"`) {
				stale[topic] = true
			}
		}
	}
	if code, _, _ := postHeartbeat(t, n.URL, nodetest.Token, `{"topics":["stocks/A"]}`); code != 200 {
		t.Fatalf("heartbeat: %d", code)
	}
	anon.expect(t, feed.EventFresh, "stocks/A") // fails on premium/a's notice
	if e := topicsEntry(t, n.URL, "premium/a"); e != nil {
		t.Fatalf("/api/topics shows a private topic to the public: %v", e)
	}
	if e := topicsEntry(t, n.URL, "premium/a", "Authorization: Bearer "+granted); e == nil || e["stale"] != true {
		t.Fatalf("/api/topics entry of premium/a for a granted reader: %v", e)
	}
}

// TestHeartbeatRefusals: a scoped token's heartbeat beyond its scope is
// 403 and keeps nothing alive; heartbeats count toward the publish rate;
// a malformed one is 400; no token is 401.
func TestHeartbeatRefusals(t *testing.T) {
	t.Parallel()
	cfg := liveConfig(t)
	cfg.Auth.PublishRate, cfg.Auth.PublishBurst = 1, 3
	n := nodetest.Start(t, cfg, node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/A", 1)) // one of the burst
	s := openRaw(t, n.URL, "/events?topic=stocks/A", "Last-Event-ID: 1")
	since := s.expect(t, feed.EventStale, "stocks/A")["since"]
	for _, body := range []string{`{"topics":["stocks/*"]}`, `{"topics":["*"]}`, `{"topics":["stocks/A","stocks/B"]}`} {
		code, msg, _ := postHeartbeat(t, n.URL, scopedToken, body)
		if code != 403 || !strings.Contains(msg, "stocks/A only") {
			t.Fatalf("scoped heartbeat %s: %d %s", body, code, msg)
		}
	}
	if e := topicsEntry(t, n.URL, "stocks/A"); e["stale"] != true || e["stale_since"] != since {
		t.Fatalf("a refused heartbeat changed the topic: %v", e)
	}
	for _, tc := range []struct {
		bearer, body string
		code         int
	}{
		{"", `{"topics":["stocks/A"]}`, 401},
		{nodetest.Token, `{"topics":[]}`, 400},
		{nodetest.Token, `{"topics":["stocks/A"],"ttl":1}`, 400},
		{nodetest.Token, `{"topics":["stocks/A"]` + strings.Repeat(" ", 40<<10) + `}`, 413},
	} {
		if code, msg, _ := postHeartbeat(t, n.URL, tc.bearer, tc.body); code != tc.code {
			t.Fatalf("heartbeat %.40q: %d %s, want %d", tc.body, code, msg, tc.code)
		}
	}
	if code, body, _ := postHeartbeat(t, n.URL, scopedToken, `{"topics":["stocks/A"]}`); code != 200 || body != "{\"topics\":1}\n" {
		t.Fatalf("scoped heartbeat within its scope: %d %s", code, body)
	}
	s.expect(t, feed.EventFresh, "stocks/A")
	// A flood: the burst is spent within a few heartbeats, then 429.
	limited := false
	for range 5 {
		code, _, h := postHeartbeat(t, n.URL, nodetest.Token, `{"topics":["stocks/A"]}`)
		if code == 429 {
			if h.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("a flood of heartbeats was never rate-limited")
	}
}

// TestLivenessGoClientResume: the Go client hands stale and fresh notices
// over as Item.Liveness, they leave its LastEventID where it was, and a
// client resuming after them gets exactly the events it missed.
func TestLivenessGoClientResume(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, liveConfig(t), node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("stocks/A", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client.New(n.URL, "")
	st := c.Subscribe(ctx, []string{"stocks/*"}, "")
	it, err := st.Next()
	if err != nil || it.Event.ID != 1 {
		t.Fatalf("first item %+v, %v", it, err)
	}
	it, err = st.Next()
	if err != nil || it.Liveness == nil || !it.Liveness.Stale || it.Liveness.Topic != "stocks/A" || it.Liveness.After != liveAfter {
		t.Fatalf("item %+v, %v; want stocks/A stale", it, err)
	}
	if id := st.LastEventID(); id != "1" {
		t.Fatalf("LastEventID = %q after a stale notice, want 1", id)
	}
	st.Close()
	ids := nodetest.MustPublish(t, n.URL, `[`+nodetest.Note("stocks/A", 2)+`,`+nodetest.Note("other/x", 3)+`,`+nodetest.Note("stocks/B", 4)+`]`)
	resumed := c.Subscribe(ctx, []string{"stocks/*"}, "1")
	defer resumed.Close()
	// The topic heard event 2 before the client came back: it resumes
	// with the events it missed, and hears of the topics going stale
	// again after them.
	var got []int64
	for len(got) < 2 {
		it, err := resumed.Next()
		if err != nil {
			t.Fatal(err)
		}
		if it.Liveness != nil {
			t.Fatalf("a notice %+v before the events missed", it.Liveness)
		}
		got = append(got, it.Event.ID)
	}
	if got[0] != ids[0] || got[1] != ids[2] {
		t.Fatalf("resumed with events %v, want %d and %d", got, ids[0], ids[2])
	}
	it, err = resumed.Next()
	if err != nil || it.Liveness == nil || !it.Liveness.Stale {
		t.Fatalf("item %+v, %v; want a stale notice", it, err)
	}
	if id := resumed.LastEventID(); id != "4" {
		t.Fatalf("LastEventID = %q after a stale notice, want 4", id)
	}
}

// TestHeartbeatAfterFirstEvent: a heartbeat sent right after a topic's
// first event was acknowledged keeps that topic alive (read-your-writes:
// the hub hears of a committed event a moment after its publisher is
// answered, and the heartbeat waits for it, as a new stream does).
func TestHeartbeatAfterFirstEvent(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, liveConfig(t), node.Options{})
	for i := range 200 {
		topic := "stocks/first-" + strconv.Itoa(i)
		nodetest.MustPublish(t, n.URL, nodetest.Note(topic, i))
		if code, body, _ := postHeartbeat(t, n.URL, nodetest.Token, `{"topics":["`+topic+`"]}`); code != 200 || body != "{\"topics\":1}\n" {
			t.Fatalf("heartbeat %d right after the first event of %s: %d %q, want 200 {\"topics\":1}", i, topic, code, body)
		}
	}
}
