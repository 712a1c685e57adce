package handlers_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	subtoken "livefeed/handlers/token"
	"livefeed/web"
)

// newTieredApp starts a node with the delayed tiers and conflation
// minimums of cfg (and its never_merge types), subscriber keys, and an
// operator for the console.
func newTieredApp(t *testing.T, change func(*config.Config)) *app {
	t.Helper()
	cfg := nodetest.Config(t)
	change(&cfg)
	return newAppWith(t, cfg, node.Options{}, handlers.Options{
		PublishTokens: []string{nodetest.Token},
		Delayed:       cfg.DelayedTiers(), ConflateMinimums: cfg.ConflateMinimums(), SubscriberKeys: subscriberKeys(t),
		Web: web.Files(), Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}},
	}, false)
}

// mintClaims signs a subscriber token with delivery claims.
func mintClaims(t testing.TB, c subtoken.Claims) string {
	t.Helper()
	tok, err := subscriberKeys(t).MintClaims(c, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// envelopeTime reads the time of an event's envelope.
func envelopeTime(t testing.TB, data string) time.Time {
	t.Helper()
	var e feed.Event
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return e.Time
}

// delayedNotice reads the event that opens a delayed stream.
func delayedNotice(t *testing.T, rd *client.Reader) (delayMS int64, topics map[string]int64) {
	t.Helper()
	ev, err := rd.Next()
	if err != nil || ev.Type != feed.EventDelayed {
		t.Fatalf("first event %+v, %v; want %s", ev, err, feed.EventDelayed)
	}
	var n struct {
		DelayMS int64            `json:"delay_ms"`
		Delay   string           `json:"delay"`
		Topics  map[string]int64 `json:"topics"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &n); err != nil || n.Delay != feed.DescribeDelay(time.Duration(n.DelayMS)*time.Millisecond) {
		t.Fatalf("notice %s: %v", ev.Data, err)
	}
	return n.DelayMS, n.Topics
}

// TestDelayedTiers, through a node: events of a delayed tier reach a
// reader without a real-time grant only once as old as its delay, in
// every read (stream, snapshot, history, topics, export); the stream
// says so first, and a stream mixing delayed and real-time topics is
// delayed as a whole. A token granting them in real time, and the
// operator console, read them as they happen; a grant of private topics
// is not one of real time.
func TestDelayedTiers(t *testing.T) {
	t.Parallel()
	a := newTieredApp(t, func(c *config.Config) {
		c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"stocks/*"}, Delay: time.Hour}, {Topics: []string{"fx/*"}, Delay: time.Second}}
		c.Auth.SubscriberKeys = []string{subscriberSecret}
	})
	pub := func(topic string) int64 { return nodetest.MustPublish(t, a.URL, nodetest.Note(topic, 1))[0] }
	pub("nba/a")    // 1
	pub("stocks/A") // 2
	paying := mintClaims(t, subtoken.Claims{Realtime: []string{"stocks/*", "fx/*"}})
	private := mintClaims(t, subtoken.Claims{Subscribe: []string{"stocks/*"}})

	t.Run("Stream", func(t *testing.T) {
		_, rd := a.stream(t, "topic=stocks/*", nil)
		if ms, topics := delayedNotice(t, rd); ms != time.Hour.Milliseconds() || topics["stocks/*"] != ms {
			t.Fatalf("notice: %d %v", ms, topics)
		}
		if ev, err := rd.Next(); err != nil || ev.Type != feed.EventPosition || ev.ID != "0" {
			t.Fatalf("the snapshot of an hour ago: %+v, %v; want only the position 0", ev, err)
		}
		_, rd = a.stream(t, "topic=stocks/*&topic=nba/*", nil)
		if ms, topics := delayedNotice(t, rd); ms != time.Hour.Milliseconds() || topics["stocks/*"] != ms || topics["nba/*"] != 0 {
			t.Fatalf("mixed notice: %d %v", ms, topics)
		}
		if ev, _ := rd.Next(); ev.Type != feed.EventPosition {
			t.Fatalf("a mixed stream is delayed as a whole, but got %+v", ev)
		}
		for _, tok := range []string{private, mintClaims(t, subtoken.Claims{Realtime: []string{"stocks/B"}})} {
			_, rd = a.stream(t, "topic=stocks/*&token="+tok, nil)
			delayedNotice(t, rd)
		}
		_, rd = a.stream(t, "topic=stocks/*&token="+paying, nil)
		wantIDs(t, "real time", readIDs(t, rd, 1), "2 note")
	})

	t.Run("Reads", func(t *testing.T) {
		for _, tc := range []struct {
			path, anon, paid string
		}{
			{"/api/history?topic=*", `{"events":[]}`, `"id":2,`},
			{"/api/history?topic=stocks/A&order=desc", `{"events":[]}`, `"id":2,`},
			{"/api/topics", `"topic":"nba/a"`, `"topic":"stocks/A"`},
			{"/api/export.csv?topic=stocks/*", "id,time,topic", ",stocks/A,"},
		} {
			resp, body := a.get(t, tc.path)
			if resp.StatusCode != 200 || !strings.Contains(string(body), tc.anon) || strings.Contains(string(body), "stocks/A") {
				t.Errorf("%s without a grant: %d %s", tc.path, resp.StatusCode, body)
			}
			resp, body = a.get(t, tc.path, "Authorization", "Bearer "+private)
			if resp.StatusCode != 200 || strings.Contains(string(body), "stocks/A") {
				t.Errorf("%s with a grant of private topics only: %d %s", tc.path, resp.StatusCode, body)
			}
			resp, body = a.get(t, tc.path, "Authorization", "Bearer "+paying)
			if resp.StatusCode != 200 || !strings.Contains(string(body), tc.paid) {
				t.Errorf("%s with a real-time grant: %d %s", tc.path, resp.StatusCode, body)
			}
		}
	})

	t.Run("Console", func(t *testing.T) {
		c := newConsole(t, a)
		if status, body := c.login(operatorName, operatorPassword); status != 200 {
			t.Fatalf("login: %d %s", status, body)
		}
		if status, body := c.do(http.MethodGet, "/admin/history?topic=stocks/*", nil); status != 200 || !strings.Contains(string(body), "stocks/A") {
			t.Fatalf("the console's history: %d %s", status, body)
		}
		var s struct {
			FeedToken string `json:"feed_token"`
		}
		if status, body := c.do(http.MethodGet, "/admin/session", nil); status != 200 || json.Unmarshal(body, &s) != nil || s.FeedToken == "" {
			t.Fatalf("session: %d %s", status, body)
		}
		_, rd := a.stream(t, "topic=*&token="+s.FeedToken, nil)
		wantIDs(t, "the console's feed", readIDs(t, rd, 2), "1 note", "2 note")
		if resp, body := a.get(t, "/api/topics", "Authorization", "Bearer "+s.FeedToken); !strings.Contains(string(body), "stocks/A") {
			t.Fatalf("the console's topics: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("Due", func(t *testing.T) {
		_, rd := a.stream(t, "topic=fx/*", nil)
		if ms, _ := delayedNotice(t, rd); ms != 1000 {
			t.Fatalf("delay %d ms", ms)
		}
		id := pub("fx/EURUSD")
		ev, err := nodetest.NextEvent(rd)
		at := time.Now()
		if err != nil || ev.ID != strconv.FormatInt(id, 10) {
			t.Fatalf("%+v, %v; want event %d", ev, err, id)
		}
		if due := envelopeTime(t, ev.Data).Add(time.Second); at.Before(due) {
			t.Fatalf("event %d arrived %v early", id, due.Sub(at))
		}
		if _, body := a.get(t, "/api/history?topic=fx/*"); !strings.Contains(string(body), `"topic":"fx/EURUSD"`) {
			t.Fatalf("history once due: %s", body)
		}
	})
}

// TestDelayedNeverYounger attacks the delay: while a publisher writes a
// delayed topic, readers without a real-time grant (none, or one that is
// refused, expired, of another case, for other topics, or a grant of
// private topics) read it every way there is, with every parameter that
// moves a read (positions ahead of the delay, both ways of giving them,
// to= in the future, newest first), and never get an event younger than
// the delay, nor a position beyond it.
func TestDelayedNeverYounger(t *testing.T) {
	t.Parallel()
	const delay = time.Second
	a := newTieredApp(t, func(c *config.Config) {
		c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"stocks/*"}, Delay: delay}}
	})
	var newest sync.Map // "id" → the newest published ID
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ids, err := nodetest.Publish(a.Client(), a.URL, fmt.Sprintf(`[%s,%s]`, nodetest.Note("stocks/A", i), nodetest.Note("nba/a", i)))
			if err != nil {
				t.Error(err)
				return
			}
			newest.Store("id", ids[1])
			time.Sleep(5 * time.Millisecond) // the publisher's pace
		}
	})
	defer func() { close(stop); wg.Wait() }()
	latest := func() string {
		v, _ := newest.Load("id")
		id, _ := v.(int64)
		return strconv.FormatInt(id, 10)
	}
	wrongKey, err := subtoken.ParseKeys([]string{"another-subscriber-secret-0123456789"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := wrongKey.MintClaims(subtoken.Claims{Realtime: []string{"*"}}, time.Hour, "")
	tokens := map[string]string{
		"none":     "",
		"forged":   forged,
		"expired":  mint(t, time.Now().Add(-time.Hour), map[string]any{"realtime": []string{"*"}}, "x"),
		"case":     mint(t, time.Now().Add(time.Hour), map[string]any{"Realtime": []string{"*"}}, "x"),
		"other":    mintClaims(t, subtoken.Claims{Realtime: []string{"stocks/B", "nba/*"}}),
		"private":  mintClaims(t, subtoken.Claims{Subscribe: []string{"*"}}),
		"conflate": mintClaims(t, subtoken.Claims{Subscribe: []string{"*"}, Conflate: time.Second}),
	}
	poll.Until(t, "events older than the delay", func() bool { n, _ := strconv.Atoi(latest()); return n > 40 })
	// old checks an event's envelope read at at.
	old := func(what, data string, at time.Time) {
		t.Helper()
		var e feed.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("%s: %s: %v", what, data, err)
		}
		if strings.HasPrefix(e.Topic, "stocks/") && e.Time.Add(delay).After(at) {
			t.Fatalf("%s: event %d of %s, %v younger than the delay", what, e.ID, e.Time, e.Time.Add(delay).Sub(at))
		}
	}
	t.Run("Readers", func(t *testing.T) {
		for name, tok := range tokens {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				auth := []string{}
				q := ""
				if tok != "" {
					auth = []string{"Authorization", "Bearer " + tok}
					q = "&token=" + url.QueryEscape(tok)
				}
				ahead := latest()
				for _, path := range []string{
					"/api/history?topic=stocks/*", "/api/history?order=desc&limit=5", "/api/history?topic=*&after=" + ahead,
					"/api/history?to=2099-01-01T00:00:00Z&order=desc&limit=3", "/api/history?from=2000-01-01T00:00:00Z&before=" + ahead,
					"/api/topics", "/api/topics?topic=stocks/*&archived=1",
				} {
					resp, body := a.get(t, path, auth...)
					at := time.Now()
					if resp.StatusCode == 401 {
						continue // a refused token is the JSON reads' error
					}
					var page struct {
						Events []json.RawMessage `json:"events"`
						Topics []struct {
							Latest json.RawMessage `json:"latest"`
						} `json:"topics"`
					}
					if err := json.Unmarshal(body, &page); err != nil {
						t.Fatalf("%s (%s): %d %s", path, name, resp.StatusCode, body)
					}
					for _, e := range page.Events {
						old(path+" ("+name+")", string(e), at)
					}
					for _, topic := range page.Topics {
						old(path+" ("+name+")", string(topic.Latest), at)
					}
				}
				resp, body := a.get(t, "/api/export.csv?topic=stocks/*", auth...)
				at := time.Now()
				if resp.StatusCode == 200 {
					rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "\ufeff"))).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					for _, row := range rows[1:] {
						when, _ := time.Parse(time.RFC3339Nano, row[3])
						if when.Add(delay).After(at) {
							t.Fatalf("export (%s): %v younger than the delay", name, row)
						}
					}
				}
				for _, start := range []struct {
					query  string
					header []string
				}{
					{"", nil},
					{"&lastEventId=0", nil},
					{"&lastEventId=" + ahead, nil},
					{"", []string{"Last-Event-ID: " + ahead}},
					{"&topic=nba/*&lastEventId=" + strconv.Itoa(max(0, atoi(ahead)-30)), nil},
				} {
					conn, br := nodetest.Stream(t, a.URL, "/events?topic=stocks/*"+start.query+q, start.header...)
					rd := client.NewReader(br)
					for range 4 {
						conn.SetReadDeadline(time.Now().Add(3 * time.Second))
						ev, err := rd.Next()
						at := time.Now()
						if err != nil {
							t.Fatalf("stream (%s, %v): %v", name, start, err)
						}
						switch ev.Type {
						case feed.EventPosition:
							var p struct {
								LastID int64 `json:"last_id"`
							}
							json.Unmarshal([]byte(ev.Data), &p)
							if p.LastID > 0 {
								resp, body := a.get(t, fmt.Sprintf("/api/history?after=%d&limit=1", p.LastID-1), "Authorization", "Bearer "+tokens["private"])
								if resp.StatusCode == 200 && strings.Contains(string(body), "stocks/") {
									old(fmt.Sprintf("the position %d (%s)", p.LastID, name), string(body[strings.Index(string(body), "[")+1:strings.LastIndex(string(body), "]")]), at)
								}
							}
						case "note":
							old(fmt.Sprintf("stream (%s, %v)", name, start), ev.Data, at)
						}
					}
					conn.Close()
				}
			})
		}
	})
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestConflatedStream, through a node: conflate=500ms sends the first
// event of a quiet topic at once and then its latest per interval; a
// resume brings the latest event of each topic changed since the
// position; the configuration's minimum and a token's claim impose
// conflation on a subscriber that asks for none; a type listed in
// never_merge goes out every time.
func TestConflatedStream(t *testing.T) {
	t.Parallel()
	a := newTieredApp(t, func(c *config.Config) {
		c.Feed.Conflate = []config.ConflateMinimum{{Topics: []string{"stocks/*"}, Interval: time.Second}}
		c.Feed.NeverMerge = []string{"goal"}
		// Tokens are read only where they matter: here, for fx/*.
		c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"fx/*"}, Delay: time.Minute}}
	})
	batch := func(topic string, n int) []int64 {
		notes := make([]string, n)
		for i := range notes {
			notes[i] = nodetest.Note(topic, i)
		}
		return nodetest.MustPublish(t, a.URL, "["+strings.Join(notes, ",")+"]")
	}
	_, asked := a.stream(t, "topic=nba/a&conflate=500ms", nil)
	_, imposed := a.stream(t, "topic=stocks/*", nil)
	_, every := a.stream(t, "topic=nba/a", nil)
	_, claimed := a.stream(t, "topic=nba/a&token="+mintClaims(t, subtoken.Claims{Subscribe: []string{"x"}, Conflate: 500 * time.Millisecond}), nil)
	for _, rd := range []*client.Reader{asked, imposed, every, claimed} {
		if ev, err := rd.Next(); err != nil || ev.Type != feed.EventPosition {
			t.Fatalf("%+v, %v", ev, err)
		}
	}
	ids := batch("nba/a", 5)       // one commit: the first at once, the last at the tick
	stocks := batch("stocks/A", 3) // the same, by the configuration's minimum
	wantIDs(t, "conflate=500ms", readIDs(t, asked, 2), fmt.Sprint(ids[0], " note"), fmt.Sprint(ids[4], " note"))
	wantIDs(t, "the token's conflate", readIDs(t, claimed, 2), fmt.Sprint(ids[0], " note"), fmt.Sprint(ids[4], " note"))
	wantIDs(t, "feed.conflate", readIDs(t, imposed, 2), fmt.Sprint(stocks[0], " note"), fmt.Sprint(stocks[2], " note"))
	wantIDs(t, "unconflated", readIDs(t, every, 5), fmt.Sprint(ids[0], " note"), fmt.Sprint(ids[1], " note"), fmt.Sprint(ids[2], " note"), fmt.Sprint(ids[3], " note"), fmt.Sprint(ids[4], " note"))

	goals := nodetest.MustPublish(t, a.URL, `[{"topic":"nba/a","type":"goal","data":{}},{"topic":"nba/a","type":"goal","data":{}}]`)
	wantIDs(t, "never merged", readIDs(t, asked, 2), fmt.Sprint(goals[0], " goal"), fmt.Sprint(goals[1], " goal"))

	// Resuming: the latest of each topic changed since the position.
	later := batch("nba/b", 2)
	_, rd := a.stream(t, "topic=nba/*&conflate=1s", http.Header{"Last-Event-ID": {strconv.FormatInt(ids[0], 10)}})
	wantIDs(t, "conflated resume", readIDs(t, rd, 2), fmt.Sprint(goals[1], " goal"), fmt.Sprint(later[1], " note"))
}

// TestConflateParameter: conflate is an interval with a unit, 100ms to
// 1h, given once; anything else is a 400 before the stream opens.
func TestConflateParameter(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	for _, v := range []string{"1s", "100ms", "1h", "1m30s"} {
		resp, _ := a.stream(t, "topic=x&conflate="+v, nil)
		if resp.StatusCode != 200 {
			t.Errorf("conflate=%s: %d", v, resp.StatusCode)
		}
	}
	for _, q := range []string{"conflate=99ms", "conflate=1h0m1s", "conflate=0", "conflate=", "conflate=1000", "conflate=abc",
		"conflate=-1s", "conflate=1e3ms", "conflate=1s&conflate=2s", "conflate=%201s", "conflate=9999999999h"} {
		resp, body := a.get(t, "/events?topic=x&"+q)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "conflate") {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}
