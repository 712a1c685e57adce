package handlers_test

// Browser tests of the audience (feed.viewers): a widget's "N watching"
// and "fewer than N watching", and the console's counts and its "Most
// watched" panel.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"livefeed/feed/fanout"
	"livefeed/feed/poll"
	"livefeed/handlers"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/web"
)

// startAudienceServer starts a live server whose audience is told as
// feed.viewers says (viewers_min least), counted every 100 ms rather
// than every 2 s, so that a test sees a stream open or close at once.
func startAudienceServer(t *testing.T, viewers string, least int, origins ...string) *liveServer {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.Feed.Viewers, cfg.Feed.ViewersMin = viewers, least
	n := nodetest.Start(t, cfg, node.Options{
		Hub: func(o *fanout.Options) { o.Audience = 100 * time.Millisecond },
		Server: func(o *handlers.Options) {
			o.PublishTokens = []string{token, nodetest.Token}
			o.AllowedOrigins = origins
			o.Web = web.Files()
			o.Retry = 300 * time.Millisecond
			o.Operators = []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}
		},
	})
	return &liveServer{t: t, node: n, dbPath: cfg.Store.Path}
}

// streams opens n real SSE streams of path on live; close ends them.
func (l *liveServer) streams(t *testing.T, path string, n int) (close func()) {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i], _ = nodetest.Stream(t, l.URL(), path)
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// viewers is the public figure of topic in /api/viewers (-1 if none).
func (l *liveServer) viewers(t *testing.T, topic string) int {
	t.Helper()
	resp, err := http.Get(l.URL() + "/api/viewers?topic=" + topic)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Topics []struct {
			Viewers *int
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Topics) != 1 || body.Topics[0].Viewers == nil {
		return -1
	}
	return *body.Topics[0].Viewers
}

// watchingIn is a JavaScript expression of the audience the row of
// topic in the widget in #id shows: its text, or "" when hidden.
func watchingIn(id, topic string) string {
	return fmt.Sprintf(`(() => { const v = %s?.querySelector(".viewers"); return v && !v.hidden && getComputedStyle(v).display !== "none" ? v.textContent : ""; })()`, rowOf(id, topic))
}

// viewersAsked is a JavaScript expression: the requests the page made of
// /api/viewers so far.
const viewersAsked = `performance.getEntriesByType("resource").filter(e => e.name.includes("/api/viewers?"))`

// TestBrowserWidgetViewers: with feed.viewers = "public", widgets with
// data-viewers show "fewer than 3 watching" below feed.viewers_min and
// "N watching" above it, beside each game and symbol, following streams
// that open and close; a widget without the attribute shows nothing,
// and one asking more often than every 2 s says so in its box.
// The widgets of one stream ask /api/viewers once per interval between
// them, cross-origin; a hidden page asks nothing and asks at once when
// shown. Hostile text given as a figure stays text.
func TestBrowserWidgetViewers(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startAudienceServer(t, handlers.ViewersPublic, 3, site.origin)
	live.publish(t, `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":54,"away_score":61,"status":"live"}}`)
	live.publish(t, `{"topic":"nba/gsw-den","type":"score","data":{"home":"Warriors","away":"Nuggets","home_score":20,"away_score":18}}`)
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54}}`)
	widget := func(id, kind, topic, attrs string) string {
		return `<div id="` + id + `"></div><script src="` + live.URL() + `/widget.js" data-kind="` + kind + `" data-topic="` + topic + `" data-target="#` + id + `" ` + attrs + `></script>`
	}
	site.show(`<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"></head><body>`+
		widget("games", "scoreboard", "nba/*", `data-viewers="2s"`)+widget("prices", "ticker", "stocks/*", `data-viewers="2s"`)+
		widget("tape", "tape", "stocks/*", `data-viewers="2s"`)+widget("plain", "scoreboard", "nba/*", "")+
		widget("fast", "scoreboard", "nba/*", `data-viewers="1s"`)+`</body></html>`, "")
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(site.origin+"/"))

	// The page's one stream is each topic's only one: below 3.
	took := waitFor(t, ctx, "fewer than 3 watching on every row", watchingIn("games", "nba/lal-bos")+` === "fewer than 3 watching" && `+
		watchingIn("games", "nba/gsw-den")+` === "fewer than 3 watching" && `+watchingIn("prices", "stocks/AAPL")+` === "fewer than 3 watching" && `+
		watchingIn("tape", "stocks/AAPL")+` === "fewer than 3 watching"`, patience)
	t.Logf("figures shown %v after the page loaded", took.Round(time.Millisecond))
	if got := eval[string](t, ctx, watchingIn("plain", "nba/lal-bos")); got != "" {
		t.Errorf("a widget without data-viewers shows %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#fast .livefeed-widget").shadowRoot.querySelector(".empty").textContent`); got != "This widget's data-viewers “1s” is out of range: use 2s to 10m." {
		t.Errorf("a widget asking every second says %q", got)
	}
	if got := eval[int](t, ctx, `Object.values(window.__livefeed).flat().filter(g => g.source).length`); got != 1 {
		t.Fatalf("%d streams, want the page's widgets on one", got)
	}

	// Four streams of the Lakers' game: 5 with the page's.
	closeFour := live.streams(t, "/events?topic=nba/lal-bos", 4)
	took = waitFor(t, ctx, "5 watching the Lakers' game", watchingIn("games", "nba/lal-bos")+` === "5 watching"`, patience)
	t.Logf("a stream opening shown after %v", took.Round(time.Millisecond))
	if got := eval[string](t, ctx, watchingIn("games", "nba/gsw-den")); got != "fewer than 3 watching" {
		t.Errorf("the other game shows %q", got)
	}
	closeFour()
	took = waitFor(t, ctx, "fewer than 3 again once they closed", watchingIn("games", "nba/lal-bos")+` === "fewer than 3 watching"`, patience)
	t.Logf("streams closing shown after %v", took.Round(time.Millisecond))

	// One request for the widgets with data-viewers, with both patterns
	// and no more than one an interval (2 s) since the page loaded.
	asked := eval[[]string](t, ctx, viewersAsked+`.map(e => e.name)`)
	for _, u := range asked {
		if !strings.Contains(u, "topic=nba%2F*") || !strings.Contains(u, "topic=stocks%2F*") {
			t.Errorf("the widgets asked %s, want one request for both patterns", u)
		}
	}
	if most := eval[float64](t, ctx, `performance.now() / 2000 + 1`); float64(len(asked)) > most {
		t.Errorf("%d requests of /api/viewers in %.0f intervals", len(asked), most)
	}

	// Hidden, the page asks nothing; shown again, it asks at once.
	eval[bool](t, ctx, `(() => { Object.defineProperty(document, "hidden", {configurable: true, get: () => window.hide === true});
		window.hide = true; document.dispatchEvent(new Event("visibilitychange")); return true; })()`)
	waitFor(t, ctx, "the hidden page to stop asking", `Object.values(window.__livefeed).flat().every(g => !g.audience || (!g.audience.timer && !g.audience.asking))`, patience)
	before := len(eval[[]string](t, ctx, viewersAsked+`.map(e => e.name)`))
	closeTwo := live.streams(t, "/events?topic=nba/lal-bos", 2)
	defer closeTwo()
	poll.Within(t, patience, "the server to count them", func() bool { return live.viewers(t, "nba/lal-bos") == 3 })
	eval[bool](t, ctx, `(window.hide = false, document.dispatchEvent(new Event("visibilitychange")), true)`)
	waitFor(t, ctx, "3 watching, asked at once when shown", watchingIn("games", "nba/lal-bos")+` === "3 watching" && `+viewersAsked+`.length === `+fmt.Sprint(before+1), patience)

	for _, width := range []int64{390, 320} {
		fits(t, ctx, "the widgets with their audience", width)
	}
	screenshot(t, ctx, screenshotDir(t), "widgets-viewers-320", true)

	// A figure is text: hostile text given as one (by another path than
	// the server, which sends numbers) stays inert.
	got := eval[string](t, ctx, `(() => { const w = Object.values(window.__livefeed).flat().flatMap(g => g.widgets)[0];
		const topic = "nba/<img src=x onerror=\"window.pwned=1\">";
		w.update({id: 1e9, topic: topic, type: "score", time: new Date().toISOString(), data: {home: "<b>H</b>", away: "A", home_score: 1, away_score: 0}});
		w.audience(new Map([[topic, "<img src=x onerror=\"window.pwned=2\"> watching"]]));
		const r = document.querySelector("#games .livefeed-widget").shadowRoot.querySelector('[data-topic^="nba/<img"]');
		return [r.querySelectorAll("img,b").length, r.querySelector(".viewers").textContent, String(window.pwned)].join("|"); })()`)
	if want := `0|<img src=x onerror="window.pwned=2"> watching|undefined`; got != want {
		t.Errorf("the hostile figure: %s, want %s", got, want)
	}
}

// TestBrowserConsoleAudience: with the default feed.viewers (operators),
// the console says beside each game and symbol how many streams receive
// it and lists them in "Most watched", most watched first, with the
// totals, following streams as they open; hostile team names stay text;
// it fits 320, 390 and 1280 px; the widget builder offers data-viewers,
// and its preview (a public reader) shows no figure: told none (404), it
// asks no more.
func TestBrowserConsoleAudience(t *testing.T) {
	t.Parallel() // a node and a browser context of its own
	ctx := browser(t)
	live := startAudienceServer(t, handlers.ViewersOperators, 0)
	hostile := `<img src=x onerror=\"window.pwned=1\">`
	live.publish(t, `{"topic":"nba/lal-bos","type":"score","data":{"home":"`+hostile+`","away":"Celtics","home_score":54,"away_score":61,"status":"live"}}`)
	live.publish(t, `{"topic":"nba/gsw-den","type":"score","data":{"home":"Warriors","away":"Nuggets","home_score":20,"away_score":18}}`)
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4}}`)
	card := func(topic string) string {
		return fmt.Sprintf(`document.querySelector('#console .card[data-topic=%q] .viewers')`, topic)
	}
	shows := func(topic, want string) string {
		return fmt.Sprintf(`(() => { const v = %s; return !!v && !v.hidden && v.textContent === %q; })()`, card(topic), want)
	}
	signIn(t, ctx, live.URL())
	// The console's own stream (of every topic) is each topic's one.
	waitFor(t, ctx, "1 watching on each card", shows("nba/lal-bos", "1 watching")+` && `+shows("nba/gsw-den", "1 watching")+` && `+shows("stocks/AAPL", "1 watching"), patience)

	closeThree := live.streams(t, "/events?topic=stocks/AAPL", 3)
	defer closeThree()
	mostWatched := `Array.from(document.querySelectorAll("#most-watched li")).map(li => [li.dataset.topic, li.querySelector(".what").textContent, li.querySelector(".count").textContent].join("|")).join("\n")`
	took := waitFor(t, ctx, "AAPL most watched", shows("stocks/AAPL", "4 watching")+` && `+mostWatched+`.startsWith("stocks/AAPL|AAPL|4 watching\n")`, patience)
	t.Logf("streams opening shown after %v", took.Round(time.Millisecond))
	rows := eval[string](t, ctx, mostWatched)
	if want := "stocks/AAPL|AAPL|4 watching\nnba/gsw-den|Warriors vs Nuggets|1 watching\nnba/lal-bos|<img src=x onerror=\"window.pwned=1\"> vs Celtics|1 watching"; rows != want {
		t.Errorf("most watched:\n%s\nwant:\n%s", rows, want)
	}
	if totals := eval[string](t, ctx, `document.querySelector("#audience-totals").textContent`); !strings.HasPrefix(totals, "4 streams open (1 of patterns, 0 delayed, 0 conflated) · 3 of 3 topics watched") {
		t.Errorf("the totals: %q", totals)
	}
	if got := eval[string](t, ctx, `[document.querySelectorAll("#console img").length, String(window.pwned)].join("|")`); got != "0|undefined" {
		t.Errorf("hostile team names: %s elements made, pwned", got)
	}
	for _, width := range []int64{320, 390, 1280} {
		fits(t, ctx, "the console with its audience", width)
	}
	screenshot(t, ctx, screenshotDir(t), "console-audience-1280", true)

	// The builder writes data-viewers; its preview reads /api/viewers as
	// the public does, which under "operators" is told no figure (404),
	// and stops asking.
	press(t, ctx, `#builder summary`)
	press(t, ctx, `#builder-form input[name=viewers]`)
	waitFor(t, ctx, "the snippet with data-viewers", `document.querySelector("#builder-snippet").textContent.includes(" data-viewers")`, patience)
	preview := `document.querySelector("#builder-preview").contentWindow`
	waitFor(t, ctx, "the preview to ask /api/viewers, and stop", `(() => { try { const w = `+preview+`; return w.document.querySelector(".livefeed-widget")?.shadowRoot?.querySelector(".game") &&
		w.performance.getEntriesByType("resource").some(e => e.name.includes("/api/viewers?") && e.responseEnd > 0) &&
		Object.values(w.__livefeed).flat().every(g => g.audience && g.audience.told === false && !g.audience.timer && !g.audience.asking); } catch (e) { return false; } })()`, patience)
	if n := eval[int](t, ctx, `Array.from(`+preview+`.document.querySelector(".livefeed-widget").shadowRoot.querySelectorAll(".viewers")).filter(v => !v.hidden).length`); n != 0 {
		t.Errorf("the preview shows %d figures the public is not told", n)
	}
}
