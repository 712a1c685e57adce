package node_test

// Tests of GET /api/viewers, the audience alone, for widgets: who is
// told what (as /api/topics), private topics to readers without the
// grant, CORS, and its caching by the public.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/feed/fanout"
	"livefeed/feed/poll"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/handlers/token"
)

// countEvery makes a node count its audience every d.
func countEvery(d time.Duration) node.Options {
	return node.Options{Hub: func(o *fanout.Options) { o.Audience = d }}
}

// getViewers sends GET base+path with the header lines given ("Name:
// value") and returns the response, its body read.
func getViewers(t *testing.T, base, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		if name, value, ok := strings.Cut(h, ": "); ok {
			req.Header.Set(name, value)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// figures returns the figures of an answer of /api/viewers by topic:
// "4", "<2" (viewers_below); it fails the test on anything else.
func figures(t *testing.T, resp *http.Response, body string) map[string]string {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	var ans struct{ Topics []map[string]any }
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	out := map[string]string{}
	for _, e := range ans.Topics {
		if len(e) != 2 {
			t.Fatalf("an entry with more or less than a topic and a figure: %v", e)
		}
		switch {
		case e["viewers"] != nil:
			out[e["topic"].(string)] = fmt.Sprint(e["viewers"])
		case e["viewers_below"] != nil:
			out[e["topic"].(string)] = fmt.Sprint("<", e["viewers_below"])
		default:
			t.Fatalf("an entry without a figure: %v", e)
		}
	}
	return out
}

// TestViewersEndpoint: /api/viewers tells the public the audience of
// the topics of its patterns that it may see, "fewer than" below
// feed.viewers_min, and an operator exact figures, as /api/topics does;
// a private topic is neither counted nor named for a reader without the
// grant, whatever token it forges; archived topics are not listed; the
// answers with a token are never stored. Its query is checked as
// /events' is.
func TestViewersEndpoint(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, audienceConfig(t, "public", 2), countEvery(50*time.Millisecond))
	for _, topic := range []string{"nba/a", "nba/b", "premium/x", "stocks/A", "old/a"} {
		nodetest.MustPublish(t, n.URL, nodetest.Note(topic, 1))
	}
	nodetest.MustPublish(t, n.URL, `{"topic":"old/a","type":"archive","data":{}}`)
	keys, err := token.ParseKeys([]string{audienceSecret}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	granted := nodetest.SubscriberToken(t, audienceSecret, "premium/*")
	for range 3 {
		nodetest.Stream(t, n.URL, "/events?topic=nba/a")
	}
	nodetest.Stream(t, n.URL, "/events?topic=*")                                           // not of premium/x
	nodetest.Stream(t, n.URL, "/events?topic=premium/*", "Authorization: Bearer "+granted) // premium/x only

	const all = "/api/viewers?topic=*"
	want := map[string]string{"nba/a": "4", "nba/b": "<2", "stocks/A": "<2"}
	poll.Until(t, "the public figures", func() bool {
		resp, body := getViewers(t, n.URL, all)
		return reflect.DeepEqual(figures(t, resp, body), want)
	})
	resp, body := getViewers(t, n.URL, "/api/viewers?topic=nba/a&topic=nba/*&topic=stocks/A")
	if got := figures(t, resp, body); !reflect.DeepEqual(got, want) {
		t.Errorf("patterns overlapping: %v", got)
	}
	if !strings.HasPrefix(body, `{"topics":[{"topic":"nba/a","viewers":4},{"topic":"nba/b","viewers_below":2},`) {
		t.Errorf("not in topic order: %s", body)
	}

	// Private topics: counted and named only for a reader who may see
	// them, exact only for an operator, never cached for either.
	for _, path := range []string{"/api/viewers?topic=premium/x", "/api/viewers?topic=premium/*"} {
		resp, body := getViewers(t, n.URL, path)
		if got := figures(t, resp, body); len(got) != 0 || strings.Contains(body, "premium") {
			t.Errorf("%s without a token: %s", path, body)
		}
	}
	resp, body = getViewers(t, n.URL, "/api/viewers?topic=premium/*", "Authorization: Bearer "+granted)
	if got := figures(t, resp, body); !reflect.DeepEqual(got, map[string]string{"premium/x": "<2"}) {
		t.Errorf("a granted reader: %v", got)
	}
	if cc, etag := resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"); cc != "private, no-store" || etag != "" {
		t.Errorf("a granted reader's answer: Cache-Control %q, ETag %q", cc, etag)
	}
	if vary := resp.Header.Values("Vary"); !strings.Contains(strings.Join(vary, ","), "Authorization, Cookie") {
		t.Errorf("Vary %q", vary)
	}
	resp, body = getViewers(t, n.URL, all+"&token="+granted)
	if got := figures(t, resp, body); got["premium/x"] != "<2" || resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("a granted reader's token as a parameter: %v, %q", got, resp.Header.Get("Cache-Control"))
	}
	_, feedToken := operatorClient(t, n.URL)
	resp, body = getViewers(t, n.URL, all, "Authorization: Bearer "+feedToken)
	if got := figures(t, resp, body); !reflect.DeepEqual(got, map[string]string{"nba/a": "4", "nba/b": "1", "stocks/A": "1", "premium/x": "1"}) {
		t.Errorf("the console's figures: %v", got)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("the console's answer: Cache-Control %q", cc)
	}

	// Tokens that must not open premium/*: refused (401, nothing told),
	// or of another scope (its topics only).
	forger, _ := token.ParseKeys([]string{"another-secret-of-at-least-32-bytes-0123"}, "", nil)
	forged, _ := forger.Mint([]string{"premium/*"}, time.Hour, "")
	expired, err := keys.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Mint([]string{"premium/*"}, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"subscribe":["premium/*"],"exp":%d}`, time.Now().Add(time.Hour).Unix())) + "."
	for name, tok := range map[string]string{"forged": forged, "expired": expired, "alg none": unsigned, "garbage": "x.y.z"} {
		for _, how := range []struct{ query, header string }{{"", "Authorization: Bearer " + tok}, {"&token=" + tok, ""}, {"", "Cookie: livefeed_token=" + tok}} {
			resp, body := getViewers(t, n.URL, "/api/viewers?topic=premium/*"+how.query, how.header)
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "premium/x") || strings.Contains(body, "viewers") {
				t.Errorf("a %s token (%q%s): %d %s", name, how.header, how.query, resp.StatusCode, body)
			}
		}
	}
	other := nodetest.SubscriberToken(t, audienceSecret, "premium/y", "vip/*")
	resp, body = getViewers(t, n.URL, "/api/viewers?topic=premium/*&topic=*", "Authorization: Bearer "+other)
	if got := figures(t, resp, body); strings.Contains(body, "premium/x") || got["nba/a"] != "4" {
		t.Errorf("a token of other topics: %s", body)
	}

	// The query, as /events reads it.
	many := strings.Repeat("topic=a&", 64) + "topic=b"
	for _, tc := range []struct{ path, err string }{
		{"/api/viewers", "at least one topic is required"},
		{"/api/viewers?topic=", "topic"},
		{"/api/viewers?topic=nba/*/x", "not allowed"},
		{"/api/viewers?topic=nba/a&since=1", `unknown parameter \"since\"`},
		{"/api/viewers?topic=nba/a;x", "';'"},
		{"/api/viewers?" + many, "65 topic patterns; the limit is 64"},
	} {
		resp, body := getViewers(t, n.URL, tc.path)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.err) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.path, resp.StatusCode, body, tc.err)
		}
	}
	resp, body = getViewers(t, n.URL, "/api/viewers?topic="+strings.Repeat("a", 128<<10))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a query of 128 KiB: %d %.100s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodHead, n.URL+all, nil)
	if head, err := http.DefaultClient.Do(req); err != nil || head.StatusCode != http.StatusOK || head.Header.Get("ETag") == "" {
		t.Errorf("HEAD: %v %v", head, err)
	}
}

// TestViewersPolicies: /api/viewers answers 404, saying why, wherever
// the reader is told no figure: the public under "operators", everybody
// under "off"; an operator's figures are exact under "operators".
func TestViewersPolicies(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"operators", "off"} {
		t.Run(policy, func(t *testing.T) {
			n := nodetest.Start(t, audienceConfig(t, policy, 10), countEvery(50*time.Millisecond))
			nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
			nodetest.Stream(t, n.URL, "/events?topic=nba/a")
			resp, body := getViewers(t, n.URL, "/api/viewers?topic=*")
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `feed.viewers is \"`+policy+`\"`) {
				t.Errorf("the public: %d %s", resp.StatusCode, body)
			}
			_, feedToken := operatorClient(t, n.URL)
			if policy == "off" {
				resp, body := getViewers(t, n.URL, "/api/viewers?topic=*", "Authorization: Bearer "+feedToken)
				if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "viewers\":") {
					t.Errorf("the console with feed.viewers off: %d %s", resp.StatusCode, body)
				}
				return
			}
			poll.Until(t, "the console's exact figure", func() bool {
				resp, body := getViewers(t, n.URL, "/api/viewers?topic=*", "Authorization: Bearer "+feedToken)
				return reflect.DeepEqual(figures(t, resp, body), map[string]string{"nba/a": "1"})
			})
		})
	}
}

// TestViewersCORS: /api/viewers answers the allowed origins as
// /api/topics does, credentials and preflight included, and others
// without a CORS header.
func TestViewersCORS(t *testing.T) {
	t.Parallel()
	cfg := audienceConfig(t, "public", 0)
	cfg.CORS.AllowedOrigins = []string{"https://scores.example"}
	n := nodetest.Start(t, cfg, countEvery(50*time.Millisecond))
	nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
	for _, path := range []string{"/api/viewers?topic=nba/*", "/api/topics?topic=nba/*"} {
		resp, _ := getViewers(t, n.URL, path, "Origin: https://scores.example")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://scores.example" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("%s from an allowed origin: %d %v", path, resp.StatusCode, resp.Header)
		}
		resp, _ = getViewers(t, n.URL, path, "Origin: https://evil.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s from another origin: %v", path, resp.Header)
		}
		req, _ := http.NewRequest(http.MethodOptions, n.URL+path, nil)
		req.Header.Set("Origin", "https://scores.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		pre, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		pre.Body.Close()
		if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://scores.example" ||
			!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("%s preflight: %d %v", path, pre.StatusCode, pre.Header)
		}
	}
}

// TestViewersCaching: the public's answer is cacheable until the next
// count (max-age), with an ETag of its figures: revalidated with 304
// while the figures stay the same, across counts too, and answered
// anew once they change.
func TestViewersCaching(t *testing.T) {
	t.Parallel()
	t.Run("UntilTheNextCount", func(t *testing.T) {
		t.Parallel()
		n := nodetest.Start(t, audienceConfig(t, "public", 0), countEvery(10*time.Second))
		nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
		nodetest.Stream(t, n.URL, "/events?topic=nba/a")
		const path = "/api/viewers?topic=nba/*"
		resp, body := getViewers(t, n.URL, path)
		counted := time.Now() // at or after the count: this request made it
		if got := figures(t, resp, body); got["nba/a"] != "1" {
			t.Fatalf("figures %v", got)
		}
		age, ok := strings.CutPrefix(resp.Header.Get("Cache-Control"), "public, max-age=")
		secs, err := strconv.Atoi(age)
		if left := 10 - time.Since(counted).Seconds(); !ok || err != nil || secs > 10 || float64(secs) < left-2 {
			t.Fatalf("Cache-Control %q, %.1f s left until the next count", resp.Header.Get("Cache-Control"), left)
		}
		etag := resp.Header.Get("ETag")
		if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			t.Fatalf("ETag %q", etag)
		}
		// A stream more changes nothing until the next count: the same
		// answer, and each way of naming its ETag revalidates it.
		nodetest.Stream(t, n.URL, "/events?topic=nba/a")
		for _, match := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			resp, body := getViewers(t, n.URL, path, "If-None-Match: "+match)
			if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != etag ||
				!strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
				t.Errorf("If-None-Match: %s: %d %q %v", match, resp.StatusCode, body, resp.Header)
			}
		}
		resp, again := getViewers(t, n.URL, path, `If-None-Match: "other"`)
		if resp.StatusCode != http.StatusOK || again != body || resp.Header.Get("ETag") != etag {
			t.Errorf("another ETag: %d %s %q", resp.StatusCode, again, resp.Header.Get("ETag"))
		}
	})
	t.Run("AcrossCounts", func(t *testing.T) {
		t.Parallel()
		n := nodetest.Start(t, audienceConfig(t, "public", 0), countEvery(50*time.Millisecond))
		nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
		nodetest.Stream(t, n.URL, "/events?topic=nba/a")
		const path = "/api/viewers?topic=nba/a"
		var etag string
		poll.Until(t, "a stream counted", func() bool {
			resp, body := getViewers(t, n.URL, path)
			etag = resp.Header.Get("ETag")
			return figures(t, resp, body)["nba/a"] == "1"
		})
		if resp, _ := getViewers(t, n.URL, path); resp.Header.Get("Cache-Control") != "public, max-age=0" {
			t.Errorf("counted every 50 ms: Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		// New counts of the same figures: still 304. The console's
		// /admin/audience says when a new count was made.
		hc, _ := operatorClient(t, n.URL)
		var first struct{ At string }
		getJSON(t, hc, n.URL+"/admin/audience", http.StatusOK, &first)
		poll.Until(t, "a new count", func() bool {
			var now struct{ At string }
			getJSON(t, hc, n.URL+"/admin/audience", http.StatusOK, &now)
			return now.At != first.At
		})
		if resp, body := getViewers(t, n.URL, path, "If-None-Match: "+etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("a new count of the same figures: %d %s", resp.StatusCode, body)
		}
		// A figure that changed is answered anew, with another ETag.
		nodetest.Stream(t, n.URL, "/events?topic=nba/*")
		poll.Until(t, "the new figure", func() bool {
			resp, body := getViewers(t, n.URL, path, "If-None-Match: "+etag)
			if resp.StatusCode == http.StatusNotModified {
				return false
			}
			if resp.Header.Get("ETag") == etag {
				t.Fatalf("new figures with the old ETag: %s", body)
			}
			return figures(t, resp, body)["nba/a"] == "2"
		})
	})
}

// TestViewersDelayed: a delayed topic is listed for a reader who reads
// it delayed only once it has an event as old as its delay, as
// /api/topics lists it; a reader with a real-time grant sees it at once.
func TestViewersDelayed(t *testing.T) {
	t.Parallel()
	cfg := audienceConfig(t, "public", 0)
	cfg.Feed.Delayed = []config.DelayedTier{{Topics: []string{"fx/*"}, Delay: time.Hour}}
	n := nodetest.Start(t, cfg, countEvery(50*time.Millisecond))
	nodetest.MustPublish(t, n.URL, nodetest.Note("fx/EURUSD", 1))
	nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
	keys, _ := token.ParseKeys([]string{audienceSecret}, "", nil)
	realtime, err := keys.MintClaims(token.Claims{Realtime: []string{"fx/*"}}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the count of both topics", func() bool {
		resp, body := getViewers(t, n.URL, "/api/viewers?topic=*", "Authorization: Bearer "+realtime)
		return reflect.DeepEqual(figures(t, resp, body), map[string]string{"fx/EURUSD": "0", "nba/a": "0"})
	})
	for _, path := range []string{"/api/viewers?topic=*", "/api/viewers?topic=fx/EURUSD"} {
		resp, body := getViewers(t, n.URL, path)
		if got := figures(t, resp, body); got["fx/EURUSD"] != "" {
			t.Errorf("%s, delayed: %v", path, got)
		}
	}
	var topics struct{ Topics []struct{ Topic string } }
	getJSON(t, http.DefaultClient, n.URL+"/api/topics", http.StatusOK, &topics)
	if fmt.Sprint(topics.Topics) != "[{nba/a}]" {
		t.Errorf("/api/topics lists %v", topics.Topics)
	}
}
