package handlers_test

// Browser tests of how the widgets look: teams' abbreviations, colours
// and logos, the ticker's columns and flash, the tape, the themes, the
// gap between stacked widgets, and screenshots at phone and desk widths.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers"
)

// shadow is a JavaScript expression of the shadow root of the page's
// first widget of kind.
func shadow(kind string) string {
	return `document.querySelector(".livefeed-` + kind + `").shadowRoot`
}

// emulateMedia makes the tab's CSS media features the given name/value
// pairs (none: the browser's own again).
func emulateMedia(t *testing.T, ctx context.Context, pairs ...string) {
	t.Helper()
	var features []*emulation.MediaFeature
	for i := 0; i+1 < len(pairs); i += 2 {
		features = append(features, &emulation.MediaFeature{Name: pairs[i], Value: pairs[i+1]})
	}
	if len(features) == 0 {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: ""}, {Name: "prefers-reduced-motion", Value: ""}}
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		t.Fatal(err)
	}
}

// unreachableLogo is an https URL a logo may have, that nothing answers
// on this machine: the browser's load of it fails.
const unreachableLogo = "https://127.0.0.1:1/logos/lal.png"

// TestBrowserWidgetTeams: a game's abbreviations, colours and logo from
// its score event: the name where the widget is wide and the abbreviation
// where it is narrow, a colour chip per team, the logo an image of fixed
// size that tells its host nothing and hides when it fails to load. A
// logo that is not https, and hostile values in every new field, are
// refused at publish; the same values reaching the widget otherwise (an
// older server) show as text or not at all.
func TestBrowserWidgetTeams(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	const topic = "nba/2026-11-21/lal-bos"
	live.publish(t, `{"topic":"`+topic+`","type":"score","data":{"home":"Los Angeles Lakers","away":"Boston Celtics","home_score":98,"away_score":95,
		"home_abbr":"LAL","away_abbr":"BOS","home_color":"#552583","away_color":"#007A33","home_logo":"`+unreachableLogo+`","status":"live","period":4,"clock":"2:11"}}`)
	site.show(phonePage(live.URL(), `data-kind="scoreboard" data-topic="nba/*"`), "")
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(site.origin+"/"))
	root := shadow("scoreboard")
	game := root + `.querySelector('.game[data-topic="` + topic + `"]')`
	waitFor(t, ctx, "the game", `!!`+game, patience)

	shown := func(side string) string {
		return eval[string](t, ctx, `(() => { const t = `+game+`.querySelector(".team.`+side+`");
			const vis = e => getComputedStyle(e).display !== "none" ? e.textContent : "";
			return vis(t.querySelector(".name")) + vis(t.querySelector(".abbr")); })()`)
	}
	if home, away := shown("home"), shown("away"); home != "Los Angeles Lakers" || away != "Boston Celtics" {
		t.Errorf("at 1280 px the teams read %q and %q, want their names", home, away)
	}
	chips := eval[[]string](t, ctx, `Array.from(`+game+`.querySelectorAll(".chip")).map(c => getComputedStyle(c).display + " " + getComputedStyle(c).backgroundColor)`)
	if len(chips) != 2 || chips[0] != "block rgb(85, 37, 131)" || chips[1] != "block rgb(0, 122, 51)" {
		t.Errorf("the colour chips are %q", chips)
	}
	// The logo: an image of the URL, of a fixed size, lazy, without a
	// referrer, its alt the team's name; it fails to load and hides.
	img := eval[string](t, ctx, `(() => { const i = `+game+`.querySelector(".row.home img");
		return [i.src, i.referrerPolicy, i.loading, i.width, i.height, i.alt, `+game+`.querySelectorAll("img").length].join("|"); })()`)
	if want := unreachableLogo + "|no-referrer|lazy|20|20|Los Angeles Lakers|1"; img != want {
		t.Errorf("the logo is %q, want %q", img, want)
	}
	waitFor(t, ctx, "the failed logo to hide", game+`.querySelector(".row.home img").hidden && getComputedStyle(`+game+`.querySelector(".row.home img")).display === "none"`, patience)
	if w := eval[float64](t, ctx, game+`.querySelector(".row.away .slot").getBoundingClientRect().width`); w != 20 {
		t.Errorf("the away team's logo slot is %v px wide: the names should stay aligned", w)
	}

	for _, width := range []int64{390, 320} {
		fits(t, ctx, "the scoreboard with teams' looks", width)
		if home, away := shown("home"), shown("away"); home != "LAL" || away != "BOS" {
			t.Errorf("at %d px the teams read %q and %q, want LAL and BOS", width, home, away)
		}
	}

	// Refused at publish, naming the field; nothing is stored.
	last := live.store().LastID()
	for field, value := range map[string]string{
		"home_logo":  "http://example.com/lal.png",
		"away_logo":  "javascript:window.pwned=1",
		"home_abbr":  `<img src=x onerror="window.pwned=2">`,
		"away_color": "red;background:url(https://127.0.0.1:1/x)",
	} {
		err := live.tryPublish(topic, map[string]any{"home": "A", "away": "B", "home_score": 1, "away_score": 0, field: value})
		if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), "data."+field) {
			t.Errorf("publishing %s %q: %v, want a refusal naming data.%s", field, value, err, field)
		}
	}
	if live.store().LastID() != last {
		t.Fatal("a refused event was stored")
	}

	// The same values reaching the widget by another path stay inert:
	// text as text, no colour, no image.
	eval[bool](t, ctx, `(() => { const w = Object.values(window.__livefeed).flat()[0].widgets[0];
		w.update({id: 1e9, topic: "nba/hostile", type: "score", time: new Date().toISOString(), data: {
			home: "<img src=x onerror=\"window.pwned=3\">", away: "<script>window.pwned=4</script>", home_score: 1, away_score: "<b>2</b>",
			home_abbr: "<b>X</b>", away_abbr: "L\"A", home_color: "red;background:url(https://127.0.0.1:1/c)", away_color: "url(x)",
			home_logo: "javascript:window.pwned=5", away_logo: "https://u:p@127.0.0.1:1/x.png" }}); return true; })()`)
	hostile := root + `.querySelector('.game[data-topic="nba/hostile"]')`
	waitFor(t, ctx, "the hostile game", `!!`+hostile, patience)
	got := eval[string](t, ctx, `(() => { const g = `+hostile+`;
		return [g.querySelectorAll("img,script,b").length, g.querySelector(".row.home .name").textContent,
			Array.from(g.querySelectorAll(".abbr")).map(a => a.textContent).join(""),
			Array.from(g.querySelectorAll(".chip")).map(c => c.style.backgroundColor).join(""),
			g.classList.contains("coloured"), g.classList.contains("logos"), String(window.pwned)].join("|"); })()`)
	if want := `0|<img src=x onerror="window.pwned=3">|||false|false|undefined`; got != want {
		t.Errorf("the hostile game: %s, want %s", got, want)
	}
}

// tryPublish publishes a score event's data with the Go client and
// returns its error.
func (l *liveServer) tryPublish(topic string, data map[string]any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = client.New(l.URL(), token).Publish(context.Background(), feed.Update{Topic: topic, Type: feed.TypeScore, Data: raw}, "")
	return err
}

// TestBrowserTickerColumns: the ticker's symbols line up in columns
// (each row's price starts where the others' do, numbers aligned right,
// in tabular figures), a change shows an arrow and a sign as well as a
// colour, and flashes once, briefly: the flash's class is gone soon after
// the change, and visitors asking for reduced motion get none.
func TestBrowserTickerColumns(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	for _, tick := range []string{
		`{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54}`,
		`{"symbol":"BRK.A","price":712345.5,"change":1520,"change_pct":0.21}`,
		`{"symbol":"F","price":9.87,"change":0,"change_pct":0}`,
	} {
		live.publish(t, `{"topic":"stocks/`+strings.Split(tick, `"`)[3]+`","type":"tick","data":`+tick+`}`)
	}
	site.show(phonePage(live.URL(), `data-kind="ticker" data-topic="stocks/*"`), "")
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(site.origin+"/"))
	root := shadow("ticker")
	waitFor(t, ctx, "the ticker", root+`.querySelectorAll(".tick").length === 3`, patience)

	for _, width := range []int64{1280, 320} {
		if width != 1280 {
			fits(t, ctx, "the ticker", width)
		}
		// Symbols of up to five letters are never cut.
		if cut := eval[[]string](t, ctx, `Array.from(`+root+`.querySelectorAll(".symbol")).filter(s => s.scrollWidth > s.clientWidth).map(s => s.textContent)`); len(cut) > 0 {
			t.Errorf("at %d px the ticker cuts the symbols %q", width, cut)
		}
		cols := eval[[][]float64](t, ctx, `Array.from(`+root+`.querySelectorAll(".tick")).map(r =>
			[".price", ".change", ".pct"].flatMap(c => { const b = r.querySelector(c).getBoundingClientRect(); return [b.left, b.right]; }))`)
		for i := 1; i < len(cols); i++ {
			for j := range cols[i] {
				if math.Abs(cols[i][j]-cols[0][j]) > 0.5 {
					t.Errorf("at %d px the ticker's columns do not line up: row %d %v, row 0 %v", width, i, cols[i], cols[0])
				}
			}
		}
	}
	cells := eval[[]string](t, ctx, `Array.from(`+root+`.querySelectorAll(".tick")).map(r => r.className + "|" + r.querySelector(".change").textContent + "|" + r.querySelector(".pct").textContent + "|" + getComputedStyle(r.querySelector(".price")).fontVariantNumeric + "|" + getComputedStyle(r.querySelector(".price")).textAlign)`)
	want := []string{"tick down|▼\u22121.25|\u22120.54%|tabular-nums|right", "tick up|▲+1,520.00|+0.21%|tabular-nums|right", "tick flat|0.00|0.00%|tabular-nums|right"}
	if strings.Join(cells, "\n") != strings.Join(want, "\n") {
		t.Errorf("the ticker's rows:\n%s\nwant\n%s", strings.Join(cells, "\n"), strings.Join(want, "\n"))
	}

	// A change flashes the row once, tinted by the move; the class goes
	// when the animation ends.
	eval[bool](t, ctx, `(() => { window.flashes = []; new MutationObserver(ms => ms.forEach(m => {
		if (m.target.classList.contains("flash")) window.flashes.push(m.target.className + "@" + performance.now()); }))
		.observe(`+root+`, {subtree: true, attributes: true, attributeFilter: ["class"]}); return true; })()`)
	start := time.Now()
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":232.1,"change":-0.55,"change_pct":-0.24}}`)
	waitFor(t, ctx, "the flash", `window.flashes.length > 0`, patience)
	row := root + `.querySelector('.tick[data-topic="stocks/AAPL"]')`
	took := waitFor(t, ctx, "the flash to end", `!`+row+`.classList.contains("flash")`, 5*time.Second)
	t.Logf("the flash began and ended within %v of the publish (its class off %v after it was seen)", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
	if first := eval[string](t, ctx, `window.flashes[0]`); !strings.HasPrefix(first, "tick down flash rise@") {
		t.Errorf("the flash of a price going up: %q", first)
	}
	if d := eval[string](t, ctx, `(() => { const r = `+row+`; r.classList.add("flash"); const d = getComputedStyle(r).animationDuration; r.classList.remove("flash"); return d; })()`); d != "0.4s" {
		t.Errorf("the flash lasts %s, want 0.4s (at most 600 ms)", d)
	}

	emulateMedia(t, ctx, "prefers-reduced-motion", "reduce")
	eval[bool](t, ctx, `(window.flashes = [], true)`)
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":230,"change":-1.4,"change_pct":-0.6}}`)
	waitFor(t, ctx, "the new price", row+`.querySelector(".price").textContent === "230.00"`, patience)
	if n := eval[int](t, ctx, `window.flashes.length`); n != 0 {
		t.Errorf("with reduced motion asked for, a change flashed %d times", n)
	}
}

// TestBrowserTape: the tape is one line that moves sideways, stops while
// hovered, updates its symbols in place, and stands still, wrapped, for
// visitors asking for reduced motion.
func TestBrowserTape(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	for i := range 14 {
		live.publish(t, fmt.Sprintf(`{"topic":"stocks/SYM%d","type":"tick","data":{"symbol":"SYM%d","price":%d.25,"change":%d,"change_pct":%d.5}}`, i, i, 100+i, i%3-1, i%3-1))
	}
	site.show(phonePage(live.URL(), `data-kind="tape" data-topic="stocks/*"`), "")
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(site.origin+"/"))
	root := shadow("tape")
	waitFor(t, ctx, "the tape", root+`.querySelectorAll(".tick").length === 28`, patience) // each symbol twice: the loop's two copies
	if h := eval[float64](t, ctx, root+`.querySelector(".frame").getBoundingClientRect().height`); h > 48 {
		t.Errorf("the tape is %v px tall: one line is at most 48", h)
	}
	transform := `getComputedStyle(` + root + `.querySelector(".track")).transform`
	first := eval[string](t, ctx, transform)
	waitFor(t, ctx, "the tape to move", transform+` !== `+jsString(first), patience)

	// Hovered, it stops.
	box := eval[[]float64](t, ctx, `(() => { const b = `+root+`.querySelector(".list").getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; })()`)
	do(t, ctx, chromedp.MouseEvent(chromedp.MouseMoved, box[0], box[1]))
	waitFor(t, ctx, "the tape to pause under the pointer", `getComputedStyle(`+root+`.querySelector(".track")).animationPlayState === "paused"`, patience)
	paused := eval[string](t, ctx, transform)
	live.publish(t, `{"topic":"stocks/SYM3","type":"tick","data":{"symbol":"SYM3","price":777.5,"change":2,"change_pct":0.3}}`)
	waitFor(t, ctx, "the new price in both copies", `Array.from(`+root+`.querySelectorAll('.tick[data-topic="stocks/SYM3"] .price')).map(p => p.textContent).join() === "777.50,777.50"`, patience)
	if now := eval[string](t, ctx, transform); now != paused {
		t.Errorf("the paused tape moved from %s to %s", paused, now)
	}
	if n := eval[int](t, ctx, root+`.querySelectorAll(".tick").length`); n != 28 {
		t.Errorf("an update changed the tape to %d entries, want 28", n)
	}
	do(t, ctx, chromedp.MouseEvent(chromedp.MouseMoved, 5, 800))
	waitFor(t, ctx, "the tape to move again", `getComputedStyle(`+root+`.querySelector(".track")).animationPlayState === "running"`, patience)

	emulateMedia(t, ctx, "prefers-reduced-motion", "reduce")
	got := eval[string](t, ctx, `(() => { const r = `+root+`, tr = r.querySelector(".track"), copy = r.querySelector(".copy");
		return [getComputedStyle(tr).animationName, getComputedStyle(copy).display, r.querySelector(".group").getBoundingClientRect().height > 40].join(); })()`)
	if got != "none,none,true" {
		t.Errorf("with reduced motion asked for, the tape's animation, copy and wrapping: %s, want none,none,true", got)
	}
	fits(t, ctx, "the still tape", 320)
}

// TestBrowserWidgetThemes: data-theme="dark" is dark; "auto" follows the
// visitor's preference (emulated) and the host page's color-scheme; a
// site's --livefeed-* properties override the theme; two widgets stacked
// have a gap between them.
func TestBrowserWidgetThemes(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54}}`)
	page := func(htmlStyle, css string) string {
		return `<!doctype html><html style="` + htmlStyle + `"><head><meta charset="utf-8"><title>A site</title><style>` + css + `</style></head><body>
<script src="` + live.URL() + `/widget.js" data-kind="ticker" data-topic="stocks/*" data-theme="dark"></script>
<script src="` + live.URL() + `/widget.js" data-kind="ticker" data-topic="stocks/*" data-theme="auto"></script>
<script src="` + live.URL() + `/widget.js" data-kind="ticker" data-topic="stocks/*"></script>
</body></html>`
	}
	// backgrounds are the luminance of each widget's background, 0 to 1.
	backgrounds := func() []float64 {
		t.Helper()
		waitFor(t, ctx, "the widgets", `document.querySelectorAll(".livefeed-ticker").length === 3 && Array.from(document.querySelectorAll(".livefeed-ticker")).every(h => h.shadowRoot.querySelector(".tick"))`, patience)
		return eval[[]float64](t, ctx, `Array.from(document.querySelectorAll(".livefeed-ticker")).map(h => {
			const m = getComputedStyle(h.shadowRoot.querySelector(".frame")).backgroundColor.match(/\d+(\.\d+)?/g).map(Number);
			return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255; })`)
	}
	dark := func(l float64) bool { return l < 0.2 }
	site.show(page("", ""), "")
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	if l := backgrounds(); !dark(l[0]) || dark(l[1]) || dark(l[2]) {
		t.Errorf("dark, auto and default on a light preference: luminances %.2f", l)
	}
	// Stacked, they have a gap.
	gaps := eval[[]float64](t, ctx, `(() => { const h = Array.from(document.querySelectorAll(".livefeed-ticker")).map(e => e.getBoundingClientRect());
		return [h[1].top - h[0].bottom, h[2].top - h[1].bottom]; })()`)
	for _, g := range gaps {
		if g < 8 {
			t.Errorf("stacked widgets are %v px apart, want a gap of at least 8 (%v)", g, gaps)
		}
	}

	emulateMedia(t, ctx, "prefers-color-scheme", "dark")
	waitFor(t, ctx, "auto to follow the preference", `document.querySelectorAll(".livefeed-ticker")[1].getAttribute("data-scheme") === "dark"`, patience)
	if l := backgrounds(); !dark(l[0]) || !dark(l[1]) || dark(l[2]) {
		t.Errorf("dark, auto and default on a dark preference: luminances %.2f", l)
	}
	emulateMedia(t, ctx, "prefers-color-scheme", "light")

	// The host page says it is dark: auto is dark, whatever the preference.
	site.show(page("color-scheme: dark", ""), "")
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	if l := backgrounds(); !dark(l[1]) {
		t.Errorf("auto on a page whose color-scheme is dark: luminance %.2f", l[1])
	}

	// A site's own colours, per theme.
	site.show(page("", `.livefeed-widget { --livefeed-bg: rgb(250, 240, 200); } .livefeed-widget[data-scheme=dark] { --livefeed-bg: rgb(20, 0, 40); }`), "")
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	backgrounds()
	if got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".livefeed-ticker")).map(h => getComputedStyle(h.shadowRoot.querySelector(".frame")).backgroundColor)`); strings.Join(got, " ") != "rgb(20, 0, 40) rgb(250, 240, 200) rgb(250, 240, 200)" {
		t.Errorf("with the site's --livefeed-bg the backgrounds are %q", got)
	}
}

// TestBrowserWidgetScreenshots: a page with a scoreboard, a ticker and a
// tape, light and dark, at 320, 390 and 1280 px: nothing scrolls
// sideways, nothing in a widget reaches out of its box. The PNGs go to
// $LIVEFEED_SCREENSHOTS when set (see screenshotDir).
func TestBrowserWidgetScreenshots(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	for _, body := range []string{
		`{"topic":"nba/2026-11-21/lal-bos","type":"score","data":{"home":"Los Angeles Lakers","away":"Boston Celtics","home_score":98,"away_score":95,"home_abbr":"LAL","away_abbr":"BOS","home_color":"#552583","away_color":"#007A33","status":"live","period":4,"clock":"2:11"}}`,
		`{"topic":"nba/2026-11-21/gsw-den","type":"score","data":{"home":"Golden State Warriors","away":"Denver Nuggets","home_score":54,"away_score":61,"home_abbr":"GSW","away_abbr":"DEN","home_color":"#1D428A","away_color":"#FEC524","status":"halftime","period":2}}`,
		`{"topic":"nba/2026-11-21/nyk-chi","type":"score","data":{"home":"New York Knicks","away":"Chicago Bulls","home_score":0,"away_score":0,"status":"scheduled"}}`,
		`{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54}}`,
		`{"topic":"stocks/MSFT","type":"tick","data":{"symbol":"MSFT","price":468.1,"change":2.3,"change_pct":0.49}}`,
		`{"topic":"stocks/NVDA","type":"tick","data":{"symbol":"NVDA","price":142.75,"change":3.1,"change_pct":2.22}}`,
		`{"topic":"stocks/BRK.A","type":"tick","data":{"symbol":"BRK.A","price":712345.5,"change":-1520,"change_pct":-0.21}}`,
		`{"topic":"stocks/TSLA","type":"tick","data":{"symbol":"TSLA","price":318.2,"change":0,"change_pct":0}}`,
	} {
		live.publish(t, body)
	}
	dir := screenshotDir(t)
	for _, theme := range []string{"light", "dark"} {
		background := map[string]string{"light": "#f5f7fa", "dark": "#0b0f14"}[theme]
		site.show(`<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A sports and markets site</title><style>body { margin: 0; padding: 12px; background: `+background+`; font-family: system-ui; color: #888 }</style></head><body>
<script src="`+live.URL()+`/widget.js" data-kind="tape" data-topic="stocks/*" data-theme="`+theme+`"></script>
<script src="`+live.URL()+`/widget.js" data-kind="scoreboard" data-topic="nba/*" data-theme="`+theme+`" data-label="Tonight's NBA"></script>
<script src="`+live.URL()+`/widget.js" data-kind="ticker" data-topic="stocks/*" data-theme="`+theme+`"></script>
</body></html>`, "")
		do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(site.origin+"/"))
		waitFor(t, ctx, "the three widgets", shadow("scoreboard")+`.querySelectorAll(".game").length === 3 && `+shadow("ticker")+`.querySelectorAll(".tick").length === 5 && `+shadow("tape")+`.querySelectorAll(".tick").length === 10`, patience)
		for _, width := range []int64{1280, 390, 320} {
			if width == 1280 {
				do(t, ctx, chromedp.EmulateViewport(1280, 900))
				waitFor(t, ctx, "the page at 1280 px", `window.innerWidth === 1280`, patience)
			} else {
				fits(t, ctx, theme+" widgets", width)
			}
			// Nothing in a widget reaches out of its frame (the tape's
			// moving track is clipped by design).
			if out := eval[string](t, ctx, `(() => { const out = [];
				for (const h of document.querySelectorAll(".livefeed-widget")) {
					const f = h.shadowRoot.querySelector(".frame").getBoundingClientRect();
					for (const e of h.shadowRoot.querySelectorAll(".frame *")) {
						if (e.closest(".track")) continue;
						const r = e.getBoundingClientRect();
						if (r.width && (r.left < f.left - 0.5 || r.right > f.right + 0.5)) out.push(h.className + " " + e.className + " " + Math.round(r.left) + "-" + Math.round(r.right) + " of " + Math.round(f.left) + "-" + Math.round(f.right));
						if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow !== "ellipsis" && !e.matches(".list")) out.push(h.className + " " + e.className + " scrolls " + e.scrollWidth + ">" + e.clientWidth);
					} }
				return out.slice(0, 8).join("; "); })()`); out != "" {
				t.Errorf("%s at %d px: %s", theme, width, out)
			}
			screenshot(t, ctx, dir, fmt.Sprintf("widgets-%s-%d", theme, width), true)
		}
	}
}
