package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers"
	"livefeed/handlers/node/nodetest"
	subtoken "livefeed/handlers/token"
	"livefeed/web"
)

const subscriberSecret = "subscriber-secret-0123456789abcdef"

func subscriberKeys(t testing.TB) *subtoken.Keys {
	t.Helper()
	k, err := subtoken.ParseKeys([]string{subscriberSecret}, "", os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mint signs a subscriber token granting patterns until exp.
func mint(t testing.TB, exp time.Time, extra jwt.MapClaims, patterns ...string) string {
	t.Helper()
	c := jwt.MapClaims{"exp": exp.Unix(), "subscribe": patterns}
	for k, v := range extra {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(subscriberSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustFilter(t testing.TB, patterns ...string) feed.Filter {
	t.Helper()
	f, err := feed.ParseFilter(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// newPrivateApp serves with "premium/*" private, and publishes the
// events 1 nba/a, 2 premium/a, 3 premium/b.
func newPrivateApp(t *testing.T, opts handlers.Options) *app {
	t.Helper()
	return newPrivateAppOn(t, opts, false)
}

// newPrivateAppOn is newPrivateApp, over TLS and HTTP/2 if tlsHTTP2 is
// set.
func newPrivateAppOn(t *testing.T, opts handlers.Options, tlsHTTP2 bool) *app {
	t.Helper()
	opts.PrivateTopics = mustFilter(t, "premium/*")
	if opts.SubscriberKeys == nil {
		opts.SubscriberKeys = subscriberKeys(t)
	}
	a := newApp(t, opts, tlsHTTP2)
	for _, topic := range []string{"nba/a", "premium/a", "premium/b"} {
		if resp, body := a.publish(t, "Bearer "+token, `{"topic":"`+topic+`","type":"note","data":{}}`); resp.StatusCode != 201 {
			t.Fatalf("publish: %d %s", resp.StatusCode, body)
		}
	}
	return a
}

// tokenSource sends a token the way a client may: a header, a cookie or
// the query.
type tokenSource struct {
	name string
	send func(tok string) (query string, header http.Header)
}

var tokenSources = []tokenSource{
	{"Bearer", func(tok string) (string, http.Header) { return "", http.Header{"Authorization": {"Bearer " + tok}} }},
	{"Cookie", func(tok string) (string, http.Header) {
		return "", http.Header{"Cookie": {handlers.TokenCookie + "=" + tok}}
	}},
	{"Query", func(tok string) (string, http.Header) { return "&token=" + url.QueryEscape(tok), nil }},
}

// readIDs reads n events from rd, passing over position events, and
// returns their "ID type" lines.
func readIDs(t *testing.T, rd *client.Reader, n int) []string {
	t.Helper()
	var got []string
	for range n {
		ev, err := nodetest.NextEvent(rd)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, ev.ID+" "+ev.Type)
	}
	return got
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// TestPrivateStream: over real sockets, with each token source, a
// subscriber to "*" sees the private topics its token grants and the
// public ones, in the snapshot, the replay and live; one without a token
// only the public ones, and the same stream is not refused.
func TestPrivateStream(t *testing.T) {
	t.Parallel()
	for _, src := range tokenSources {
		t.Run(src.name, func(t *testing.T) {
			a := newPrivateApp(t, handlers.Options{})
			q, h := src.send(mint(t, time.Now().Add(time.Hour), nil, "premium/a"))
			_, snap := a.stream(t, "topic=*"+q, h)
			_, replay := a.stream(t, "topic=*&lastEventId=0"+q, h)
			_, prefix := a.stream(t, "topic=premium/*"+q, h)
			_, anonymous := a.stream(t, "topic=*", nil)
			_, anonymousReplay := a.stream(t, "topic=*&lastEventId=0", nil)
			_, anonymousPrivate := a.stream(t, "topic=premium/*&topic=nba/a", nil)
			wantIDs(t, "snapshot", readIDs(t, snap, 2), "1 note", "2 note")
			wantIDs(t, "replay", readIDs(t, replay, 2), "1 note", "2 note")
			wantIDs(t, "prefix", readIDs(t, prefix, 1), "2 note")
			wantIDs(t, "anonymous snapshot", readIDs(t, anonymous, 1), "1 note")
			wantIDs(t, "anonymous replay", readIDs(t, anonymousReplay, 1), "1 note")
			wantIDs(t, "anonymous private", readIDs(t, anonymousPrivate, 1), "1 note")
			a.publish(t, "Bearer "+token, `[{"topic":"premium/b","type":"note","data":{}},{"topic":"premium/a","type":"note","data":{}},{"topic":"nba/a","type":"note","data":{}}]`) // 4, 5, 6
			wantIDs(t, "live", readIDs(t, snap, 2), "5 note", "6 note")
			wantIDs(t, "live after replay", readIDs(t, replay, 2), "5 note", "6 note")
			wantIDs(t, "live prefix", readIDs(t, prefix, 1), "5 note")
			for _, rd := range []*client.Reader{anonymous, anonymousReplay, anonymousPrivate} {
				wantIDs(t, "anonymous live", readIDs(t, rd, 1), "6 note")
			}
		})
	}
}

// TestPrivateStreamRefusedToken: a token that is forged, expired, not yet
// valid, for another audience or no JWT at all gets a 200 stream that
// says so in an "unauthorized" event, then carries the public topics.
func TestPrivateStreamRefusedToken(t *testing.T) {
	t.Parallel()
	keys, err := subtoken.ParseKeys([]string{subscriberSecret}, "livefeed.example", os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	a := newPrivateApp(t, handlers.Options{SubscriberKeys: keys})
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "aud": "livefeed.example", "subscribe": []string{"*"}}).SignedString([]byte("another-secret-0123456789abcdefgh"))
	aud := jwt.MapClaims{"aud": "livefeed.example"}
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"Forged", forged, subtoken.ReasonSignature},
		{"Expired", mint(t, time.Now().Add(-time.Hour), aud, "*"), subtoken.ReasonExpired},
		{"NotYetValid", mint(t, time.Now().Add(2*time.Hour), jwt.MapClaims{"aud": "livefeed.example", "nbf": time.Now().Add(time.Hour).Unix()}, "*"), subtoken.ReasonNotYetValid},
		{"WrongAudience", mint(t, time.Now().Add(time.Hour), jwt.MapClaims{"aud": "other.example"}, "*"), subtoken.ReasonAudience},
		{"NotAJWT", "garbage", subtoken.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, rd := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + tc.token}})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			ev, err := rd.Next()
			if err != nil || ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"`+tc.reason+`"`) || !strings.Contains(ev.Data, "only public events follow") {
				t.Fatalf("first event %+v, %v; want unauthorized with reason %s", ev, err, tc.reason)
			}
			wantIDs(t, "after the notice", readIDs(t, rd, 1), "1 note")
		})
	}
}

// TestStreamFramesCarryData: every frame of a whole stream that a client
// needs — the unauthorized notice, a reset, the snapshot, the position —
// has data, because common clients (npm's eventsource) drop a frame
// without, and every id line moves the position forward. The preamble's
// retry field needs none (clients apply it as they read it) and comments
// are for no one.
func TestStreamFramesCarryData(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{}) // 1 nba/a, 2 premium/a, 3 premium/b
	refused := http.Header{"Authorization": {"Bearer garbage"}}
	for _, tc := range []struct {
		name, query string
		header      http.Header
	}{
		{"Snapshot", "topic=*", nil},
		{"EmptySnapshot", "topic=mlb/*", nil},
		{"Unauthorized", "topic=*", refused},
		{"UnauthorizedReset", "topic=nba/*&lastEventId=abc", refused},
		{"Resume", "topic=*&lastEventId=0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := a.stream(t, tc.query, tc.header)
			stop := time.AfterFunc(10*time.Second, func() { resp.Body.Close() }) // ends a read that would wait for ever
			defer stop.Stop()
			frames := bufio.NewReader(resp.Body)
			var id int64 = -1
			for live := false; !live; {
				var lines []string
				for {
					line, err := frames.ReadString('\n')
					if err != nil {
						t.Fatalf("after %q: %v", lines, err)
					}
					if line == "\n" {
						break
					}
					lines = append(lines, strings.TrimSuffix(line, "\n"))
				}
				var data, needed bool
				for _, line := range lines {
					name, value, _ := strings.Cut(line, ": ")
					switch name {
					case "data":
						data = true
					case "event":
						needed = true
						live = live || value == feed.EventPosition
					case "id":
						needed = true
						n, err := strconv.ParseInt(value, 10, 64)
						if err != nil || n <= id {
							t.Errorf("id %q after %d", value, id)
						}
						id = n
					}
				}
				if needed && !data {
					t.Errorf("a frame without data: %q", lines)
				}
				if tc.name == "Resume" && id == 1 {
					live = true // a resumed stream has no snapshot
				}
			}
		})
	}
}

// TestPrivateReading: history, topics and the export, over real sockets
// with each token source: a granted reader gets its private topics, one
// without a token the public ones only, one with a refused token a 401
// JSON error.
func TestPrivateReading(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{})
	granted := mint(t, time.Now().Add(time.Hour), nil, "premium/a")
	expired := mint(t, time.Now().Add(-time.Hour), nil, "premium/a")
	for _, src := range tokenSources {
		for _, ep := range []struct {
			path string
			want string // what the granted reader sees beyond the anonymous one
		}{
			{"/api/history?topic=*", `"topic":"premium/a"`},
			{"/api/topics?topic=*", `"topic":"premium/a"`},
			{"/api/export.csv?topic=*", ",premium/a,"},
		} {
			t.Run(src.name+strings.Split(ep.path, "?")[0], func(t *testing.T) {
				get := func(tok string) (*http.Response, string) {
					q, h := "", http.Header{}
					if tok != "" {
						q, h = src.send(tok)
					}
					var kv []string
					for k, v := range h {
						kv = append(kv, k, v[0])
					}
					resp, body := a.get(t, ep.path+q, kv...)
					return resp, string(body)
				}
				resp, body := get(granted)
				if resp.StatusCode != 200 || !strings.Contains(body, ep.want) || strings.Contains(body, "premium/b") || !strings.Contains(body, "nba/a") {
					t.Fatalf("granted: %d %s", resp.StatusCode, body)
				}
				if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Authorization") {
					t.Fatalf("Vary %q: caches must not give one reader's answer to another", resp.Header.Values("Vary"))
				}
				resp, body = get("")
				if resp.StatusCode != 200 || strings.Contains(body, "premium/") || !strings.Contains(body, "nba/a") {
					t.Fatalf("anonymous: %d %s", resp.StatusCode, body)
				}
				resp, body = get(expired)
				if resp.StatusCode != 401 || !strings.Contains(body, `"error":"the subscriber token is not valid: it has expired"`) || resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("expired token: %d %s", resp.StatusCode, body)
				}
			})
		}
	}
	t.Run("NextPageHoldsNoToken", func(t *testing.T) {
		_, body := a.get(t, "/api/history?limit=1&token="+granted)
		if !strings.Contains(string(body), `"next":"/api/history?after=1\u0026limit=1"`) && !strings.Contains(string(body), `"next":"/api/history?after=1&limit=1"`) {
			t.Fatalf("body %s", body)
		}
	})
}

// TestPrivateCORSWithCookie: a page of an allowed origin reads the private
// topics with its cookie (credentials), as EventSource withCredentials
// and fetch with credentials "include" send it.
func TestPrivateCORSWithCookie(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{AllowedOrigins: []string{"https://scores.example"}})
	cookie := handlers.TokenCookie + "=" + mint(t, time.Now().Add(time.Hour), nil, "premium/*")
	resp, rd := a.stream(t, "topic=*", http.Header{"Origin": {"https://scores.example"}, "Cookie": {cookie}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://scores.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("headers %v", resp.Header)
	}
	wantIDs(t, "snapshot", readIDs(t, rd, 3), "1 note", "2 note", "3 note")
	resp, body := a.get(t, "/api/history", "Origin", "https://scores.example", "Cookie", cookie)
	if resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(string(body), "premium/b") {
		t.Fatalf("history: %v %s", resp.Header, body)
	}
	// A fetch-based client sends the token as a header: the preflight
	// allows it.
	req, _ := http.NewRequest(http.MethodOptions, a.URL+"/api/history", nil)
	req.Header.Set("Origin", "https://scores.example")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %v", resp.Header)
	}
}

// TestStreamEndsWhenTokenExpires: the stream of a token that expires
// carries an "expired" event, then ends; the close is counted; the Go
// client reconnects with a fresh token from its SubscriberToken and
// misses nothing.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{SubscriberKeys: subscriberKeys(t).WithLeeway(0)})
	t.Run("Notice", func(t *testing.T) {
		_, rd := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + mint(t, time.Now().Add(3*time.Second), nil, "premium/*")}})
		wantIDs(t, "snapshot", readIDs(t, rd, 4), "1 note", "2 note", "3 note", "3 expired")
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the notice: %v, want the end of the stream", err)
		}
		resp, body := a.get(t, "/metrics")
		if resp.StatusCode != 200 || !strings.Contains(string(body), `livefeed_streams_closed_total{reason="token_expired"} 1`) {
			t.Fatalf("metrics:\n%s", body)
		}
	})
	t.Run("GoClientRenews", func(t *testing.T) {
		var minted atomic.Int32
		c := client.New(a.URL, "")
		c.SubscriberToken = func(context.Context) (string, error) {
			minted.Add(1)
			return mint(t, time.Now().Add(2*time.Second), nil, "premium/*"), nil
		}
		stream := c.Subscribe(t.Context(), []string{"*"}, "")
		defer stream.Close()
		next := func() client.Item {
			t.Helper()
			item, err := stream.Next()
			if err != nil || item.Unauthorized != "" {
				t.Fatalf("Next = %+v, %v", item, err)
			}
			return item
		}
		for _, want := range []int64{1, 2, 3} {
			if item := next(); item.Event.ID != want {
				t.Fatalf("event %d, want %d", item.Event.ID, want)
			}
		}
		go func() {
			// Once the client has renewed its token, a private event.
			deadline := time.Now().Add(30 * time.Second)
			for minted.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond) // polling the mint count
			}
			c := client.New(a.URL, token)
			c.Publish(context.Background(), feed.Update{Topic: "premium/b", Type: "note", Data: []byte(`{}`)}, "")
		}()
		if item := next(); item.Event.ID != 4 || minted.Load() < 2 {
			t.Fatalf("after the token expired: %+v, %d tokens minted", item, minted.Load())
		}
	})
}

// TestScopedPublishTokens: a token scoped to topics publishes there and
// gets 403 elsewhere, with nothing stored, also for one event of a batch.
func TestScopedPublishTokens(t *testing.T) {
	t.Parallel()
	const partner = "partner-a-publish-token-0123456789"
	a := newApp(t, handlers.Options{ScopedPublishTokens: []handlers.ScopedPublishToken{{Token: partner, Topics: mustFilter(t, "partner-a/*", "shared/x")}}}, false)
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"OK", `{"topic":"partner-a/game","type":"note","data":{}}`, 201},
		{"OKExact", `{"topic":"shared/x","type":"note","data":{}}`, 201},
		{"ErrForbidden", `{"topic":"partner-b/game","type":"note","data":{}}`, 403},
		{"ErrForbiddenInBatch", `[{"topic":"partner-a/game","type":"note","data":{}},{"topic":"shared/y","type":"note","data":{}}]`, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.store.LastID()
			resp, body := a.publish(t, "Bearer "+partner, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status == 403 && (a.store.LastID() != before || !strings.Contains(body, "may publish to shared/x, partner-a/* only")) {
				t.Fatalf("refused publish: %s; last ID %d, was %d", body, a.store.LastID(), before)
			}
		})
	}
	if resp, body := a.publish(t, "Bearer "+token, `{"topic":"partner-b/game","type":"note","data":{}}`); resp.StatusCode != 201 {
		t.Fatalf("an unscoped token: %d %s", resp.StatusCode, body)
	}
}

// TestNoTokensInLogs: subscriber tokens, good or bad, from any source,
// never reach the log.
func TestNoTokensInLogs(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newPrivateApp(t, handlers.Options{Logger: logger, SubscriberKeys: subscriberKeys(t).WithLeeway(0)})
	good := mint(t, time.Now().Add(time.Second), nil, "premium/*")
	bad := mint(t, time.Now().Add(-time.Hour), nil, "premium/*")
	for _, tok := range []string{good, bad} {
		for _, src := range tokenSources {
			q, h := src.send(tok)
			_, rd := a.stream(t, "topic=*"+q, h)
			rd.Next()
			var kv []string
			for k, v := range h {
				kv = append(kv, k, v[0])
			}
			a.get(t, "/api/history?topic=*"+q, kv...)
			a.get(t, "/api/export.csv?topic=*"+q, kv...)
		}
	}
	// The stream ends when good expires, and the close is logged; a
	// machine slow enough that good expired before the stream opened
	// gets it refused instead (an unauthorized event, also logged) on a
	// stream that goes on with the public topics.
	_, rd := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + good}})
	for {
		if ev, err := rd.Next(); err != nil || ev.Type == "unauthorized" {
			break
		}
	}
	for _, secret := range []string{good, bad, subscriberSecret, strings.Split(good, ".")[2]} {
		if bytes.Contains([]byte(log.String()), []byte(secret)) {
			t.Fatalf("the log holds a token:\n%s", log.String())
		}
	}
}

// TestConsoleReadsPrivateTopics: with private topics, a signed-in
// operator's session hands the console a short-lived token granting them
// all, which the feed accepts; without private topics there is none.
func TestConsoleReadsPrivateTopics(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{Web: web.Files(), Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}})
	c := newConsole(t, a)
	if status, body := c.login(operatorName, operatorPassword); status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	var s struct {
		FeedToken string `json:"feed_token"`
	}
	if status, body := c.do(http.MethodGet, "/admin/session", nil); status != 200 || json.Unmarshal(body, &s) != nil || s.FeedToken == "" {
		t.Fatalf("session: %d %s", status, body)
	}
	resp, body := a.get(t, "/api/history", "Authorization", "Bearer "+s.FeedToken)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "premium/a") || !strings.Contains(string(body), "premium/b") {
		t.Fatalf("history with the console's token: %d %s", resp.StatusCode, body)
	}
	_, rd := a.stream(t, "topic=*&token="+s.FeedToken, nil)
	wantIDs(t, "console feed", readIDs(t, rd, 3), "1 note", "2 note", "3 note")

	public := newAdminApp(t, false)
	pc := newConsole(t, public)
	pc.login(operatorName, operatorPassword)
	if _, body := pc.do(http.MethodGet, "/admin/session", nil); strings.Contains(string(body), "feed_token") {
		t.Fatalf("a session without private topics: %s", body)
	}
}
