package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed/poll"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/handlers/token"
)

// operatorClient signs in as the operator "ann" (password "pitch-side-
// password") and returns a client with its session, and the console's
// feed token.
func operatorClient(t *testing.T, base string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	var body map[string]any
	getJSON(t, hc, base+"/admin/session", http.StatusOK, &body)
	resp, err := hc.PostForm(base+"/admin/login", url.Values{"name": {"ann"}, "password": {"pitch-side-password"}, "csrf": {fmt.Sprint(body["csrf"])}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %v", resp.StatusCode, body)
	}
	feedToken, _ := body["feed_token"].(string)
	return hc, feedToken
}

func getJSON(t *testing.T, hc *http.Client, u string, status int, into any, header ...string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", u, resp.StatusCode, status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

// audienceConfig has an operator, private topics under premium/ and a
// subscriber key.
func audienceConfig(t *testing.T, viewers string, least int) config.Config {
	hash, err := bcrypt.GenerateFromPassword([]byte("pitch-side-password"), config.MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodetest.Config(t)
	cfg.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: string(hash)}}
	cfg.Auth.PrivateTopics = []string{"premium/*"}
	cfg.Auth.SubscriberKeys = []string{audienceSecret}
	cfg.Feed.Viewers, cfg.Feed.ViewersMin = viewers, least
	return cfg
}

const audienceSecret = "audience-subscriber-secret-0123456789"

// viewersIn returns the viewers fields of each topic of /api/topics read
// with header: "4", "<2" (viewers_below) or "" (neither).
func viewersIn(t *testing.T, base string, header ...string) map[string]string {
	t.Helper()
	var body struct{ Topics []map[string]any }
	getJSON(t, http.DefaultClient, base+"/api/topics", http.StatusOK, &body, header...)
	out := map[string]string{}
	for _, e := range body.Topics {
		v := ""
		if n, ok := e["viewers"]; ok {
			v = fmt.Sprint(n)
		}
		if n, ok := e["viewers_below"]; ok {
			v += fmt.Sprint("<", n)
		}
		out[e["topic"].(string)] = v
	}
	return out
}

// TestAudienceEndToEnd: through a node, /api/topics tells the public
// the audience of the topics it may see, "fewer than" below
// feed.viewers_min, and never a private topic's; an operator reads exact
// figures of every topic, in /api/topics with the console's token and
// in /admin/audience, most watched first; a closed stream stops
// counting.
func TestAudienceEndToEnd(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, audienceConfig(t, "public", 2), node.Options{})
	for _, topic := range []string{"nba/a", "premium/x", "stocks/A"} {
		nodetest.MustPublish(t, n.URL, nodetest.Note(topic, 1))
	}
	keys, err := token.ParseKeys([]string{audienceSecret}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	granted, err := keys.Mint([]string{"premium/*"}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := nodetest.Stream(t, n.URL, "/events?topic=nba/a")
	nodetest.Stream(t, n.URL, "/events?topic=nba/a")
	nodetest.Stream(t, n.URL, "/events?topic=nba/*&topic=nba/a")
	nodetest.Stream(t, n.URL, "/events?topic=*")                                           // not of premium/x
	nodetest.Stream(t, n.URL, "/events?topic=premium/*", "Authorization: Bearer "+granted) // premium/x only
	nodetest.Stream(t, n.URL, "/events?topic=*&conflate=1s")

	want := map[string]string{"nba/a": "5", "stocks/A": "2"}
	poll.Until(t, "the public figures", func() bool { return reflect.DeepEqual(viewersIn(t, n.URL), want) })
	if got := viewersIn(t, n.URL, "Authorization", "Bearer "+granted); !reflect.DeepEqual(got, map[string]string{"nba/a": "5", "stocks/A": "2", "premium/x": "<2"}) {
		t.Fatalf("a granted reader's figures: %v", got)
	}

	hc, feedToken := operatorClient(t, n.URL)
	if got := viewersIn(t, n.URL, "Authorization", "Bearer "+feedToken); !reflect.DeepEqual(got, map[string]string{"nba/a": "5", "stocks/A": "2", "premium/x": "1"}) {
		t.Fatalf("the console's figures: %v", got)
	}
	var aud struct {
		At                                    string
		Streams, Patterns, Delayed, Conflated int
		WatchedTopics                         int `json:"watched_topics"`
		Topics                                []struct {
			Topic   string
			Viewers int
		}
	}
	getJSON(t, hc, n.URL+"/admin/audience", http.StatusOK, &aud)
	if aud.Streams != 6 || aud.Patterns != 4 || aud.Conflated != 1 || aud.WatchedTopics != 3 || aud.At == "" {
		t.Fatalf("/admin/audience totals %+v", aud)
	}
	if got := fmt.Sprint(aud.Topics); got != "[{nba/a 5} {stocks/A 2} {premium/x 1}]" {
		t.Fatalf("/admin/audience topics %s", got)
	}
	var refused map[string]any
	getJSON(t, http.DefaultClient, n.URL+"/admin/audience", http.StatusUnauthorized, &refused)

	first.Close()
	want["nba/a"] = "4"
	poll.Until(t, "the closed stream to stop counting", func() bool { return reflect.DeepEqual(viewersIn(t, n.URL), want) })
}

// TestAudiencePolicies: by default only operators are told; "off"
// counts nothing, for operators either.
func TestAudiencePolicies(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"operators", "off"} {
		t.Run(policy, func(t *testing.T) {
			n := nodetest.Start(t, audienceConfig(t, policy, 10), node.Options{})
			nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
			nodetest.Stream(t, n.URL, "/events?topic=nba/a")
			if got := viewersIn(t, n.URL); got["nba/a"] != "" {
				t.Fatalf("the public is told %v", got)
			}
			hc, feedToken := operatorClient(t, n.URL)
			var aud map[string]any
			if policy == "off" {
				if got := viewersIn(t, n.URL, "Authorization", "Bearer "+feedToken); got["nba/a"] != "" {
					t.Fatalf("with feed.viewers off, the console is told %v", got)
				}
				getJSON(t, hc, n.URL+"/admin/audience", http.StatusNotFound, &aud)
				return
			}
			poll.Until(t, "the console's figure", func() bool {
				return viewersIn(t, n.URL, "Authorization", "Bearer "+feedToken)["nba/a"] == "1"
			})
			getJSON(t, hc, n.URL+"/admin/audience", http.StatusOK, &aud)
		})
	}
}
