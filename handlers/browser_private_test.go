package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"livefeed/feed/fanout"
	"livefeed/handlers"
)

// TestBrowserWidgetTokenURL: a site embeds a scoreboard of "*" that gets
// its token from the site's own endpoint (data-token-url), tokens that
// live two seconds, and a ticker of "*" with no token. The scoreboard
// shows the private games, and keeps showing every update of them, in
// order and once, through several token expiries (the server ends each
// stream, the widget reconnects with a fresh token from where it was);
// the ticker never shows a private price.
func TestBrowserWidgetTokenURL(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{
		AllowedOrigins: []string{site.origin},
		PrivateTopics:  mustFilter(t, "premium/*"),
		SubscriberKeys: subscriberKeys(t).WithLeeway(0),
	})
	var minted atomic.Int32
	site.mux.HandleFunc("/feed-token", func(w http.ResponseWriter, r *http.Request) {
		// The site's endpoint: it knows its visitor and holds the key.
		minted.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":%q}`, mint(t, time.Now().Add(2*time.Second), nil, "premium/*"))
	})
	site.show(`<!doctype html><html><head><meta charset="utf-8"><title>Premium</title>
<script src="/record.js"></script></head><body>
<script src="`+live.URL()+`/widget.js" data-kind="scoreboard" data-topic="*" data-token-url="/feed-token"></script>
<script src="`+live.URL()+`/widget.js" data-kind="ticker" data-topic="*"></script>
</body></html>`, "")
	score := func(topic string, home int) string {
		return fmt.Sprintf(`{"topic":%q,"type":"score","data":{"home":"Lions","away":"Bears","home_score":%d,"away_score":0,"status":"live"}}`, topic, home)
	}
	want := []int64{live.publish(t, score("premium/final", 0))}
	live.publish(t, score("nba/open", 7))
	live.publish(t, `{"topic":"premium/ticks/X","type":"tick","data":{"symbol":"SECRET","price":1}}`)
	live.publish(t, `{"topic":"stocks/X","type":"tick","data":{"symbol":"OPEN","price":2}}`)

	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the private game", widgetScore("premium/final", "home")+` === "0" && `+widgetScore("nba/open", "home")+` === "7"`, patience)
	waitFor(t, ctx, "the public price", widgetText("ticker")+`.includes("OPEN")`, patience)
	expiries := func() uint64 { return live.hub().Stats().Closed[fanout.CloseExpired] }
	for i := 1; i <= 6; i++ {
		want = append(want, live.publish(t, score("premium/final", i)))
		live.publish(t, `{"topic":"premium/ticks/X","type":"tick","data":{"symbol":"SECRET","price":1}}`)
		waitFor(t, ctx, "the private update", widgetScore("premium/final", "home")+fmt.Sprintf(` === "%d"`, i), patience)
		if i%2 == 0 {
			// Let a token expire before the next update.
			before := expiries()
			deadline := time.Now().Add(patience)
			for expiries() == before {
				if time.Now().After(deadline) {
					t.Fatal("no stream ended for its token's expiry")
				}
				time.Sleep(20 * time.Millisecond) // polling the server's count
			}
		}
	}
	if got := receivedOf(t, ctx, "premium/final"); !slices.Equal(got, want) {
		t.Fatalf("the scoreboard received %v, want %v", got, want)
	}
	if text := eval[string](t, ctx, widgetText("ticker")); !strings.Contains(text, "OPEN") || strings.Contains(text, "SECRET") {
		t.Fatalf("the ticker without a token shows %q", text)
	}
	if n := minted.Load(); n < 3 || expiries() < 3 {
		t.Fatalf("%d tokens fetched, %d streams expired: the test did not go through expiries", n, expiries())
	}
}

// receivedOf returns the IDs of the updates of topic the widgets applied,
// failing the test on a stale one.
func receivedOf(t *testing.T, ctx context.Context, topic string) []int64 {
	t.Helper()
	var ids []int64
	raw := eval[string](t, ctx, `JSON.stringify(window.received.filter(u => u.topic === `+jsString(topic)+`))`)
	var updates []struct {
		ID    int64
		Stale bool
	}
	if err := json.Unmarshal([]byte(raw), &updates); err != nil {
		t.Fatal(err)
	}
	for _, u := range updates {
		if u.Stale {
			t.Errorf("event %d arrived after a newer one", u.ID)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

// TestBrowserConsoleSeesPrivateTopics: with private topics, the operator
// console shows their events going out and lists them in the history, with
// the token its session hands it.
func TestBrowserConsoleSeesPrivateTopics(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	live := startLiveServer(t, handlers.Options{PrivateTopics: mustFilter(t, "premium/*"), SubscriberKeys: subscriberKeys(t)})
	live.publish(t, `{"topic":"premium/early","type":"note","data":{}}`)
	signIn(t, ctx, live.URL())
	waitFor(t, ctx, "the console feed", `document.querySelector("#feed-state").textContent === "live"`, patience)
	live.publish(t, `{"topic":"premium/live","type":"note","data":{}}`)
	waitFor(t, ctx, "the private event in the console's feed", `document.querySelector("#feed").textContent.includes("premium/live")`, patience)
	waitFor(t, ctx, "the private event in the history", `document.querySelector("#history").textContent.includes("premium/early")`, patience)
}

// TestBrowserWidgetCookie: a site on the same site as livefeed (here the
// same host, another port: another origin) set a livefeed_token cookie;
// its widget with data-credentials sends it cross-origin and shows the
// private topics it grants, and a widget without data-credentials does
// not.
func TestBrowserWidgetCookie(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	siteOrigin := "http://" + site.Listener.Addr().String() // 127.0.0.1:PORT, as livefeed's host
	live := startLiveServer(t, handlers.Options{
		AllowedOrigins: []string{siteOrigin},
		PrivateTopics:  mustFilter(t, "premium/*"),
		SubscriberKeys: subscriberKeys(t),
	})
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: handlers.TokenCookie, Value: mint(t, time.Now().Add(time.Hour), nil, "premium/*"), URL: live.URL() + "/",
	}); err != nil {
		t.Fatal(err)
	}
	live.publish(t, `{"topic":"premium/X","type":"tick","data":{"symbol":"GATED","price":3}}`)
	live.publish(t, `{"topic":"nba/open","type":"score","data":{"home":"Open","away":"Game","home_score":1,"away_score":0}}`)
	site.show(`<!doctype html><html><head><meta charset="utf-8"><title>Members</title></head><body>
<script src="`+live.URL()+`/widget.js" data-kind="ticker" data-topic="*" data-credentials></script>
<script src="`+live.URL()+`/widget.js" data-kind="scoreboard" data-topic="* premium/*"></script>
</body></html>`, "")
	do(t, ctx, chromedp.Navigate(siteOrigin+"/"))
	waitFor(t, ctx, "the private price", widgetText("ticker")+`.includes("GATED")`, patience)
	waitFor(t, ctx, "the public game", widgetScore("nba/open", "home")+` === "1"`, patience)
	live.publish(t, `{"topic":"premium/game","type":"score","data":{"home":"Gated","away":"Game","home_score":9,"away_score":0}}`)
	live.publish(t, `{"topic":"premium/Y","type":"tick","data":{"symbol":"LATER","price":4}}`)
	waitFor(t, ctx, "the next private price", widgetText("ticker")+`.includes("LATER")`, patience)
	if text := eval[string](t, ctx, widgetText("scoreboard")); strings.Contains(text, "Gated") {
		t.Fatalf("the widget without credentials shows a private game: %q", text)
	}
}
