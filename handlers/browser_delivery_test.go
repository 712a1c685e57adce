package handlers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	subtoken "livefeed/handlers/token"
	"livefeed/web"
)

// TestBrowserWidgetsDelayedAndConflated: on a free page, a ticker of
// delayed prices says "Delayed 3 s" by itself and shows a price only
// once it is that old, while a scoreboard of real-time games beside it
// (on the same page, with the same settings) is not held back: the
// widgets open one stream per delay. A ticker with data-conflate shows
// the first price of a quiet symbol and then the latest per interval. A
// paying page (a token granting the prices in real time) shows them at
// once. A bad data-conflate is that widget's error alone.
func TestBrowserWidgetsDelayedAndConflated(t *testing.T) {
	t.Parallel()
	const delay = 3 * time.Second
	ctx := browser(t)
	site := newEmbedder(t)
	cfg := nodetest.Config(t)
	cfg.Feed.Delayed = []config.DelayedTier{{Topics: []string{"stocks/*"}, Delay: delay}}
	n := nodetest.Start(t, cfg, node.Options{Server: func(o *handlers.Options) {
		o.PublishTokens = []string{token, nodetest.Token}
		o.AllowedOrigins = []string{site.origin}
		o.Web = web.Files()
		o.Retry = 300 * time.Millisecond
		o.Delayed = cfg.DelayedTiers()
		o.SubscriberKeys = subscriberKeys(t)
	}})
	live := &liveServer{t: t, node: n, dbPath: cfg.Store.Path}
	widget := func(id, kind, topic, extra string) string {
		return `<div id="` + id + `"></div><script src="` + live.URL() + `/widget.js" data-kind="` + kind + `" data-topic="` + topic + `" data-target="#` + id + `" ` + extra + `></script>`
	}
	state := func(id string) string {
		return `(document.querySelector("#` + id + ` .livefeed-widget")?.shadowRoot?.querySelector(".state")?.textContent || "")`
	}
	text := func(id string) string {
		return `(document.querySelector("#` + id + ` .livefeed-widget")?.shadowRoot?.textContent || "")`
	}
	site.show(`<!doctype html><html><head><meta charset="utf-8"><script src="/record.js"></script></head><body>`+
		widget("prices", "ticker", "stocks/*", "")+
		widget("games", "scoreboard", "nba/*", "")+
		widget("fx", "ticker", "fx/*", `data-conflate="1s"`)+
		widget("bad", "ticker", "fx/*", `data-conflate="5ms"`)+
		`</body></html>`, "")
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the ticker to say it is delayed", state("prices")+` === "Delayed 3 s"`, patience)
	waitFor(t, ctx, "the scoreboard and the conflated ticker to be live", state("games")+` === "live" && `+state("fx")+` === "live"`, patience)
	if streams := eval[int](t, ctx, `Object.values(window.__livefeed).flat().filter(g => g.source).length`); streams != 3 {
		t.Errorf("%d streams, want 3: delayed prices, real-time games, conflated fx", streams)
	}
	if got := eval[string](t, ctx, text("bad")); !strings.Contains(got, "data-conflate “5ms” is out of range") {
		t.Errorf("the widget with a bad data-conflate shows %q", got)
	}

	published := time.Now()
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.5}}`)
	live.publish(t, `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0,"status":"live"}}`)
	waitFor(t, ctx, "the real-time score", text("games")+`.includes("Lakers")`, patience)
	if shown := eval[bool](t, ctx, text("prices")+`.includes("AAPL")`); shown && time.Since(published) < delay {
		t.Fatalf("the delayed price showed %v after it was published", time.Since(published))
	}
	waitFor(t, ctx, "the delayed price", text("prices")+`.includes("AAPL")`, delay+patience)
	if since := time.Since(published); since < delay {
		t.Fatalf("the delayed price showed %v after it was published", since)
	}

	// Five prices in one publish: the first at once, the last at the
	// tick, none between.
	ids, err := nodetest.Publish(n.Client, n.URL, `[`+strings.Join(slices.Repeat([]string{`{"topic":"fx/EURUSD","type":"tick","data":{"symbol":"EURUSD","price":1.08}}`}, 5), ",")+`]`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the latest rate", fmt.Sprintf(`window.received.some(u => u.id === %d)`, ids[4]), patience)
	if got := receivedOf(t, ctx, "fx/EURUSD"); !slices.Equal(got, []int64{ids[0], ids[4]}) {
		t.Fatalf("the conflated ticker received %v, want %v", got, []int64{ids[0], ids[4]})
	}

	// The paying page: its token grants the prices in real time.
	tok := mintClaims(t, subtoken.Claims{Realtime: []string{"stocks/*"}})
	site.show(`<!doctype html><html><head><meta charset="utf-8"><script src="/record.js"></script></head><body>`+
		widget("prices", "ticker", "stocks/*", `data-token="`+tok+`"`)+`</body></html>`, "")
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the paying page's ticker to be live", state("prices")+` === "live"`, patience)
	published = time.Now()
	live.publish(t, `{"topic":"stocks/MSFT","type":"tick","data":{"symbol":"MSFT","price":410.2}}`)
	waitFor(t, ctx, "the real-time price", text("prices")+`.includes("MSFT")`, patience)
	if since := time.Since(published); since >= delay {
		t.Errorf("the paying page's price took %v", since)
	}
}
