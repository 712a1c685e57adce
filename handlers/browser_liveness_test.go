package handlers_test

// Browser tests of liveness: widgets and the console mark a game or
// symbol whose publisher went silent ("data delayed"), by themselves.

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/web"
)

// staleAfter is the stale rule of these tests: the shortest a file may
// say.
const staleAfter = time.Second

// startWatchedServer starts a live server whose topics stocks/AAPL and
// nba/lal-bos are watched (feed.stale, after staleAfter); the others are
// not, so they never go stale.
func startWatchedServer(t *testing.T, origins ...string) *liveServer {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.Feed.Stale = []config.StaleRule{{Topics: []string{"stocks/AAPL", "nba/lal-bos"}, After: staleAfter}}
	n := nodetest.Start(t, cfg, node.Options{Server: func(o *handlers.Options) {
		o.PublishTokens = []string{token, nodetest.Token}
		o.AllowedOrigins = origins
		o.Web = web.Files()
		o.Retry = 300 * time.Millisecond
		o.Operators = []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}
	}})
	live := &liveServer{t: t, node: n, dbPath: cfg.Store.Path}
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54}}`)
	live.publish(t, `{"topic":"stocks/MSFT","type":"tick","data":{"symbol":"MSFT","price":468.1,"change":2.3,"change_pct":0.49}}`)
	live.publish(t, `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":54,"away_score":61,"status":"live","period":3,"clock":"4:12"}}`)
	live.publish(t, `{"topic":"nba/gsw-den","type":"score","data":{"home":"Warriors","away":"Nuggets","home_score":20,"away_score":18,"status":"live"}}`)
	return live
}

// heartbeat says the topics of patterns are alive (POST /api/heartbeat).
func (l *liveServer) heartbeat(t *testing.T, patterns string) {
	t.Helper()
	req, _ := http.NewRequest("POST", l.URL()+"/api/heartbeat", strings.NewReader(`{"topics":[`+patterns+`]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
	}
}

// rowOf is a JavaScript expression of the row of topic in the widget
// in the element #id.
func rowOf(id, topic string) string {
	return fmt.Sprintf(`document.querySelector("#%s .livefeed-widget")?.shadowRoot?.querySelector('[data-topic=%q]')`, id, topic)
}

// delayedShown is a JavaScript predicate: the row of topic in #id is
// marked stale and shows "data delayed" (want) or is not marked and
// shows no such words (!want).
func delayedShown(id, topic string, want bool) string {
	return fmt.Sprintf(`(() => { const r = %s; if (!r) return false;
		const lag = r.querySelector(".lag"), shown = !!lag && getComputedStyle(lag).display !== "none" && lag.textContent.includes("data delayed");
		return r.hasAttribute("data-stale") === %t && shown === %t; })()`, rowOf(id, topic), want, want)
}

// TestBrowserWidgetsDataDelayed: a ticker and a scoreboard show "data
// delayed" (words, and a data-stale attribute) for the watched topic
// that went silent only, and dispatch livefeed:stale; a heartbeat
// clears it (livefeed:fresh), and so does a new event; a page opened
// while a topic is stale shows it at once; a reconnecting widget drops
// its marks when the new stream opens and takes the server's word again;
// both fit a phone's 320 px while marked; hostile values in a notice
// stay inert text.
func TestBrowserWidgetsDataDelayed(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startWatchedServer(t, site.origin)
	widget := func(id, kind, topic string) string {
		return `<div id="` + id + `"></div><script src="` + live.URL() + `/widget.js" data-kind="` + kind + `" data-topic="` + topic + `" data-target="#` + id + `"></script>`
	}
	page := `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/record.js"></script><script src="/notices.js"></script></head><body>` +
		widget("prices", "ticker", "stocks/*") + widget("games", "scoreboard", "nba/*") + widget("tape", "tape", "stocks/*") + `</body></html>`
	site.mux.HandleFunc("/notices.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, `window.notices = [];
for (const kind of ["stale", "fresh"]) document.addEventListener("livefeed:" + kind, e =>
	window.notices.push(e.target.parentElement.id + " " + kind + " " + e.detail.topic + " " + (kind === "stale" ? e.detail.after + " " + e.detail.since : e.detail.at)));`)
	})
	site.show(page, "")
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the rows", rowOf("prices", "stocks/MSFT")+` && `+rowOf("games", "nba/gsw-den")+` && `+rowOf("tape", "stocks/MSFT"), patience)

	// The silent topics go stale: marked in each widget; the others not.
	took := waitFor(t, ctx, "AAPL and the Lakers' game marked delayed",
		delayedShown("prices", "stocks/AAPL", true)+` && `+delayedShown("games", "nba/lal-bos", true)+` && `+delayedShown("tape", "stocks/AAPL", true), patience)
	t.Logf("marked %v after the page showed its rows", took.Round(time.Millisecond))
	if !eval[bool](t, ctx, delayedShown("prices", "stocks/MSFT", false)+` && `+delayedShown("games", "nba/gsw-den", false)+` && `+delayedShown("tape", "stocks/MSFT", false)) {
		t.Fatal("a topic that is not watched is marked delayed")
	}
	if since := eval[string](t, ctx, rowOf("prices", "stocks/AAPL")+`.getAttribute("data-stale")`); !strings.HasSuffix(since, "Z") {
		t.Errorf("data-stale is %q, want the time AAPL was last heard of", since)
	}
	if title := eval[string](t, ctx, rowOf("games", "nba/lal-bos")+`.querySelector(".lag").title`); !strings.HasPrefix(title, "No update since ") {
		t.Errorf("the label's title is %q", title)
	}
	notices := eval[[]string](t, ctx, `window.notices.map(n => n.split(" ").slice(0, 4).join(" ")).sort()`)
	if want := []string{"games stale nba/lal-bos 1s", "prices stale stocks/AAPL 1s", "tape stale stocks/AAPL 1s"}; !slices.Equal(notices, want) {
		t.Errorf("the DOM events: %q, want %q", notices, want)
	}
	for _, width := range []int64{390, 320} {
		fits(t, ctx, "the widgets marked delayed", width)
		if cut := eval[bool](t, ctx, `(() => { const l = `+rowOf("games", "nba/lal-bos")+`.querySelector(".lag"); return l.scrollWidth > l.clientWidth; })()`); cut {
			t.Errorf("at %d px the scoreboard cuts its data delayed label", width)
		}
	}
	dir := screenshotDir(t)
	screenshot(t, ctx, dir, "widgets-data-delayed-320", true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	// A heartbeat makes AAPL fresh: the mark goes, livefeed:fresh.
	eval[bool](t, ctx, `(window.notices = [], true)`)
	live.heartbeat(t, `"stocks/AAPL"`)
	waitFor(t, ctx, "AAPL fresh after a heartbeat", delayedShown("prices", "stocks/AAPL", false)+` && `+delayedShown("tape", "stocks/AAPL", false)+
		` && window.notices.some(n => n.startsWith("prices fresh stocks/AAPL "))`, patience)
	// A new event makes the game fresh at once.
	live.publish(t, `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":56,"away_score":61,"status":"live"}}`)
	waitFor(t, ctx, "the game fresh after its event", delayedShown("games", "nba/lal-bos", false)+` && `+widgetScoreIn("games", "nba/lal-bos")+` === "56"`, patience)
	if eval[bool](t, ctx, delayedShown("games", "nba/gsw-den", true)) {
		t.Error("the other game is marked")
	}
	// Both go silent again.
	waitFor(t, ctx, "AAPL and the game delayed again", delayedShown("prices", "stocks/AAPL", true)+` && `+delayedShown("games", "nba/lal-bos", true), patience)

	// A page opened while they are stale shows it at once: nothing new
	// is heard, so only the notices told on connect can mark them.
	other := tab(t, ctx)
	do(t, other, chromedp.Navigate(site.origin+"/"))
	waitFor(t, other, "a new page marking the stale topics", delayedShown("prices", "stocks/AAPL", true)+` && `+delayedShown("games", "nba/lal-bos", true)+
		` && `+delayedShown("prices", "stocks/MSFT", false), patience)

	// A reconnect: the widget drops its marks when the new stream opens,
	// and the server tells again what is still stale.
	eval[bool](t, ctx, `(() => { window.marks = []; new MutationObserver(ms => ms.forEach(m => window.marks.push((m.target.hasAttribute("data-stale") ? "set " : "cleared ") + m.target.getAttribute("data-topic"))))
		.observe(`+rowOf("prices", "stocks/AAPL")+`, {attributes: true, attributeFilter: ["data-stale"]}); return true; })()`)
	live.restart(nil)
	waitFor(t, ctx, "the ticker to clear AAPL on reconnect and mark it again", `window.marks.join() === "cleared stocks/AAPL,set stocks/AAPL"`, patience)

	// Hostile values in a notice (reaching the widget by another path
	// than the server, which sends none) stay text.
	eval[bool](t, ctx, `(() => { const w = Object.values(window.__livefeed).flat().flatMap(g => g.widgets)[0];
		const topic = "stocks/<img src=x onerror=\"window.pwned=1\">";
		w.update({id: 1e9, topic: topic, type: "tick", time: new Date().toISOString(), data: {symbol: "<b>X</b>", price: 1}});
		w.liveness("stale", {topic: topic, since: "<img src=x onerror=\"window.pwned=2\">", after: "<script>window.pwned=3</script>"});
		return true; })()`)
	hostile := `document.querySelector("#prices .livefeed-widget").shadowRoot.querySelector('[data-topic^="stocks/<img"]')`
	waitFor(t, ctx, "the hostile row", `!!`+hostile, patience)
	got := eval[string](t, ctx, `(() => { const r = `+hostile+`;
		return [r.querySelectorAll("img,script,b").length, r.getAttribute("data-stale"), r.querySelector(".lag").title, String(window.pwned)].join("|"); })()`)
	if want := `0|<img src=x onerror="window.pwned=2">|No update since <img src=x onerror="window.pwned=2">|undefined`; got != want {
		t.Errorf("the hostile notice: %s, want %s", got, want)
	}
}

// widgetScoreIn is the home score the scoreboard in #id shows for topic.
func widgetScoreIn(id, topic string) string {
	return rowOf(id, topic) + `?.querySelector(".score.home")?.textContent`
}

// TestBrowserConsoleMarksStale: the console marks a stale game's and
// symbol's card ("Data delayed", data-stale) from /api/topics and its
// stream, and clears the mark on a heartbeat and on a new event; the
// cards fit a phone's 320 px.
func TestBrowserConsoleMarksStale(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	live := startWatchedServer(t)
	card := func(topic string) string {
		return fmt.Sprintf(`document.querySelector('#console .card[data-topic=%q]')`, topic)
	}
	marked := func(topic string, want bool) string {
		return fmt.Sprintf(`(() => { const c = %s; if (!c) return false; const n = c.querySelector(".stale-note");
			return c.hasAttribute("data-stale") === %t && (!n.hidden && n.textContent.includes("Data delayed")) === %t; })()`, card(topic), want, want)
	}
	signIn(t, ctx, live.URL())
	waitFor(t, ctx, "the stale cards marked", marked("stocks/AAPL", true)+` && `+marked("nba/lal-bos", true), patience)
	if !eval[bool](t, ctx, marked("stocks/MSFT", false)+` && `+marked("nba/gsw-den", false)) {
		t.Fatal("a topic that is not watched is marked")
	}
	if !eval[bool](t, ctx, `Array.from(document.querySelectorAll("#feed li strong")).some(s => s.textContent === "stale stocks/AAPL")`) {
		t.Error("the feed panel does not say AAPL went stale")
	}
	for _, width := range []int64{390, 320} {
		fits(t, ctx, "the console with stale cards", width)
	}
	screenshot(t, ctx, screenshotDir(t), "console-data-delayed-320", false)

	live.heartbeat(t, `"stocks/*"`)
	waitFor(t, ctx, "AAPL fresh after a heartbeat", marked("stocks/AAPL", false), patience)
	live.publish(t, `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":56,"away_score":61,"status":"live"}}`)
	waitFor(t, ctx, "the game fresh after its event", marked("nba/lal-bos", false), patience)
	waitFor(t, ctx, "both stale again", marked("stocks/AAPL", true)+` && `+marked("nba/lal-bos", true), patience)

	// Loaded while they are stale: marked at once.
	do(t, ctx, chromedp.Reload())
	waitFor(t, ctx, "the reloaded console marking them", marked("stocks/AAPL", true)+` && `+marked("nba/lal-bos", true)+` && `+marked("stocks/MSFT", false), patience)
}
