package handlers_test

// Browser tests of a match day: a console holding a hundred games and 500
// symbols, corrections, archiving, layouts on narrow phones with names of
// the longest length accepted, and widgets set up for real pages.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers"
)

// longName is a team name of the most bytes a score accepts (100).
var longName = strings.Repeat("Sportgemeinschaft Fortuna Nordrhein-Westfalen ", 3)[:100]

// matchDay publishes a day's load: games in four leagues (some live, some
// scheduled, some final, two with the same teams, one with the longest
// names) and symbols, in batches. It returns the topics of the games.
func matchDay(t *testing.T, live *liveServer, games, stocks int) []string {
	t.Helper()
	var updates []feed.Update
	var topics []string
	leagues := []string{"nba", "nfl", "nhl", "mlb"}
	statuses := []string{"final", "scheduled", "live", "scheduled", "halftime"}
	for i := range games {
		topic := fmt.Sprintf("%s/2026-11-21/g%d", leagues[i%len(leagues)], i)
		home, away := fmt.Sprintf("Home %d", i), fmt.Sprintf("Away %d", i)
		switch i {
		case 0:
			home, away = longName, longName
		case 4, 8: // both in nba/*
			home, away = "Lakers", "Celtics"
		}
		data, _ := json.Marshal(map[string]any{"home": home, "away": away, "home_score": i % 7, "away_score": i % 5,
			"status": statuses[i%len(statuses)], "period": 1 + i%4, "clock": "7:45"})
		updates = append(updates, feed.Update{Topic: topic, Type: "score", Data: data})
		topics = append(topics, topic)
	}
	for i := range stocks {
		sym := fmt.Sprintf("S%03d", i)
		if i == 0 {
			sym = strings.Repeat("W", 32) // the longest symbol
		}
		data, _ := json.Marshal(map[string]any{"symbol": sym, "price": 100 + float64(i)/4, "change": -1.25, "change_pct": -0.54, "currency": "USD"})
		updates = append(updates, feed.Update{Topic: "stocks/" + sym, Type: "tick", Data: data})
	}
	c := client.New(live.URL(), token)
	for len(updates) > 0 {
		n := min(len(updates), 100)
		if _, err := c.PublishBatch(context.Background(), updates[:n], ""); err != nil {
			t.Fatal(err)
		}
		updates = updates[n:]
	}
	return topics
}

// phonePage is a page of another site, laid out for phones, embedding a
// widget with attrs.
func phonePage(base, attrs string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A sports site</title><script src="/record.js"></script></head><body><h1>Tonight</h1>
<script src="` + base + `/widget.js" ` + attrs + `></script></body></html>`
}

// screenshotDir is the folder screenshots are kept in, named by
// LIVEFEED_SCREENSHOTS (.ci/run names one); "" if none, and then no
// screenshot is taken: painting pages into images at a phone's pixel
// ratio was an eighth of the browser tests' CPU, and asserts nothing.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LIVEFEED_SCREENSHOTS")
	if dir == "" {
		return ""
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// phoneScale is the pixel ratio of the phones the tests lay pages out
// for: a phone's 2 where screenshots are kept, else 1 — the layout, in
// CSS pixels, is the same, with a quarter of the pixels to paint.
func phoneScale() float64 {
	if os.Getenv("LIVEFEED_SCREENSHOTS") == "" {
		return 1
	}
	return 2
}

// fits reports the page's scroll width and the viewport's width: a page
// that fits scrolls only vertically.
func fits(t *testing.T, ctx context.Context, what string, width int64) {
	t.Helper()
	do(t, ctx, chromedp.EmulateViewport(width, 800, chromedp.EmulateScale(phoneScale()), chromedp.EmulateMobile))
	// Let the layout settle on the new width.
	waitFor(t, ctx, what+" laid out at the new width", fmt.Sprintf(`window.innerWidth === %d`, width), patience)
	got := eval[int64](t, ctx, `document.documentElement.scrollWidth`)
	if got > width {
		wide := eval[string](t, ctx, `(() => { const out = []; for (const e of document.querySelectorAll("body *")) {
			const r = e.getBoundingClientRect(); if (r.right > window.innerWidth + 1) out.push(e.tagName + "." + e.className + " " + Math.round(r.right)); }
			return out.slice(0, 8).join(", "); })()`)
		t.Errorf("%s at %d px is %d px wide: %s", what, width, got, wide)
	}
	// Nor does any box in it scroll sideways (a code box, a table).
	if inner := eval[string](t, ctx, `(() => { const out = []; for (const e of document.querySelectorAll("body *")) {
			const o = getComputedStyle(e).overflowX; if ((o === "auto" || o === "scroll") && e.scrollWidth > e.clientWidth + 1) out.push(e.tagName + "." + e.className + " " + e.scrollWidth + ">" + e.clientWidth); }
			return out.slice(0, 8).join(", "); })()`); inner != "" {
		t.Errorf("%s at %d px has boxes that scroll sideways: %s", what, width, inner)
	}
}

// TestBrowserMatchDay: a console with 100 games in four leagues and 500
// symbols lists live games first, then scheduled, then final, grouped by
// league; search finds a game by team; nothing is wider than a 320 or 390
// px phone, the console, the demo page or an embedded widget, with names
// of the longest length; the history shows the operator and local times.
func TestBrowserMatchDay(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	matchDay(t, live, 100, 500)
	dir := screenshotDir(t)

	start := time.Now()
	signIn(t, ctx, live.URL())
	took := waitFor(t, ctx, "the console to list every game and symbol",
		`document.querySelectorAll("#games .card").length === 100 && document.querySelectorAll("#symbols .card").length === 500`, patience)
	t.Logf("console: signed in and showing 100 games and 500 symbols %v after the sign-in (%v with the sign-in)", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// Live first, then scheduled, then final, in each league; the
	// leagues with live games come first.
	order := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#games .league")).map(l =>
		l.getAttribute("data-league") + ":" + Array.from(l.querySelectorAll(".card .pill.status")).map(p => p.textContent[0]).join(""))`)
	if len(order) != 4 {
		t.Fatalf("leagues %v", order)
	}
	for _, l := range order {
		_, seq, _ := strings.Cut(l, ":")
		ranks := strings.NewReplacer("l", "0", "h", "0", "s", "1", "f", "2").Replace(seq)
		for i := 1; i < len(ranks); i++ {
			if ranks[i] < ranks[i-1] {
				t.Fatalf("league %s is not live, scheduled, final: %s", l, seq)
			}
		}
	}
	if first := eval[string](t, ctx, `document.querySelector("#games .card .pill.status").textContent`); first != "live" && first != "halftime" {
		t.Errorf("the first game is %s", first)
	}
	// The new game form is at the top.
	if y := eval[float64](t, ctx, `document.querySelector("#new-game").getBoundingClientRect().top`); y > 300 {
		t.Errorf("the new-game form is at y = %v", y)
	}

	// Search: the time from a keystroke to the list narrowed, measured in
	// the page (the list is ordered in a task queued after the input).
	searchMs := eval[float64](t, ctx, `new Promise(done => { const s = document.querySelector("#search"), t0 = performance.now();
		s.value = "home 9"; s.dispatchEvent(new Event("input")); setTimeout(() => done(performance.now() - t0), 0); })`)
	t.Logf("console: a search over 100 games and 500 symbols took %.1f ms", searchMs)
	eval[bool](t, ctx, `(() => { const s = document.querySelector("#search"); s.value = ""; return s.dispatchEvent(new Event("input")); })()`)
	// One input event: typed key by key, each of the 7 would filter the
	// 600 cards again (measured above).
	eval[bool](t, ctx, `(() => { const s = document.querySelector("#search"); s.value = "celtics"; return s.dispatchEvent(new Event("input")); })()`)
	waitFor(t, ctx, "the search to narrow the list", `Array.from(document.querySelectorAll("#games .card")).filter(c => !c.hidden).length === 2`, patience)
	if n := eval[int](t, ctx, `Array.from(document.querySelectorAll("#symbols .card")).filter(c => !c.hidden).length`); n != 0 {
		t.Errorf("%d symbols match celtics", n)
	}
	eval[bool](t, ctx, `(() => { const s = document.querySelector("#search"); s.value = ""; return s.dispatchEvent(new Event("input")); })()`)
	waitFor(t, ctx, "the whole list again", `Array.from(document.querySelectorAll("#games .card")).filter(c => !c.hidden).length === 100`, patience)

	// A push from the console, in the history with its operator.
	card := `#games .card[data-topic="nba/2026-11-21/g4"]`
	do(t, ctx, chromedp.Click(chromedp.CSS(card+` button[data-side=home][data-points="3"]`)))
	waitFor(t, ctx, "the push", `document.querySelector(`+jsString(card+" .pushed")+`).textContent.startsWith("Published #")`, patience)
	press(t, ctx, `#history-form button[type=submit]`)
	waitFor(t, ctx, "the history with the operator", `document.querySelector("#history tbody tr td:nth-child(5)")?.textContent === "ann"`, patience)
	utc := eval[string](t, ctx, `document.querySelector("#history tbody tr td:nth-child(2)").title`)
	if !strings.HasSuffix(utc, " UTC") {
		t.Errorf("the time's title %q", utc)
	}
	if href := eval[string](t, ctx, `document.querySelector("#download").getAttribute("href")`); !strings.HasPrefix(href, "/admin/export.csv?after=") {
		t.Errorf("the CSV button downloads %s", href)
	}

	// At 1280 px the history is as wide as the console's two columns, and
	// each event's data reads on one line.
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	waitFor(t, ctx, "the console laid out at 1280 px", `window.innerWidth === 1280`, patience)
	if ratio := eval[float64](t, ctx, `document.querySelector(".history-panel").getBoundingClientRect().width / document.querySelector("#console").getBoundingClientRect().width`); ratio < 0.99 {
		t.Errorf("at 1280 px the history takes %.0f%% of the console's width, want all of it", ratio*100)
	}
	if lines := eval[float64](t, ctx, `(() => { const td = document.querySelector("#history tbody tr td:last-child"); return td.getBoundingClientRect().height / parseFloat(getComputedStyle(td).lineHeight || "16"); })()`); lines > 1.9 {
		t.Errorf("at 1280 px an event's data takes %.1f lines, want one", lines)
	}
	screenshot(t, ctx, dir, "matchday-console-desk", false)
	// The widget builder open, its preview showing the day's games.
	press(t, ctx, `#builder summary`)
	waitFor(t, ctx, "the widget builder's preview", previewText+`.includes("Lakers")`, patience)
	height := map[int64]int64{}
	for _, w := range []int64{390, 320} {
		fits(t, ctx, "the console", w)
		height[w] = eval[int64](t, ctx, `document.documentElement.scrollHeight`)
	}
	t.Logf("console height with 100 games and 500 symbols: %d px at 390 px wide, %d px at 320 px", height[390], height[320])
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(phoneScale()), chromedp.EmulateMobile))
	screenshot(t, ctx, dir, "matchday-console-phone", false)

	demo := tab(t, ctx)
	do(t, demo, chromedp.Navigate(live.URL()+"/"))
	waitFor(t, demo, "the demo page's widgets", widgetText("scoreboard")+`.includes("Lakers") && `+widgetText("ticker")+`.includes("S499")`, patience)
	for _, w := range []int64{390, 320} {
		fits(t, demo, "the demo page", w)
	}
	screenshot(t, demo, dir, "matchday-demo-phone", false)

	visitor := tab(t, ctx)
	site.show(phonePage(live.URL(), `data-kind="scoreboard" data-topic="nba/*"`), "")
	do(t, visitor, chromedp.Navigate(site.origin+"/"))
	waitFor(t, visitor, "the embedded widget", widgetText("scoreboard")+`.includes("Lakers")`, patience)
	for _, w := range []int64{390, 320} {
		fits(t, visitor, "the embedded widget", w)
	}
	screenshot(t, visitor, dir, "matchday-widget-phone", true)
	// The longest name is cut with an ellipsis and whole in its title.
	title := eval[string](t, visitor, `document.querySelector(".livefeed-scoreboard").shadowRoot.querySelector('.game[data-topic="nba/2026-11-21/g0"] .team.home').title`)
	if title != longName {
		t.Errorf("the long name's title is %q", title)
	}
}

// TestBrowserCorrections: an operator undoes a wrong push (one event, after
// a confirmation), sets a score directly, is asked before scoring a final
// game, and ends and archives a game: it leaves the console and the
// embedded widget at once, and /api/topics; its history stays.
func TestBrowserCorrections(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	matchDay(t, live, 8, 3)
	site.embed(live.URL(), "scoreboard", "nba/*", "")
	visitor := tab(t, ctx)
	do(t, visitor, chromedp.Navigate(site.origin+"/"))
	const topic = "nba/2026-11-21/g4" // live, 4-4
	waitFor(t, visitor, "the widget", widgetScore(topic, "home")+` === "4"`, patience)

	signIn(t, ctx, live.URL())
	card := fmt.Sprintf(`#games .card[data-topic=%q]`, topic)
	waitFor(t, ctx, "the game", `!!document.querySelector(`+jsString(card)+`)`, patience)
	answerDialogs := func(yes bool) {
		t.Helper()
		eval[bool](t, ctx, fmt.Sprintf(`(window.confirm = () => %v, true)`, yes))
	}
	// tap runs the steps that push one change and waits for the console
	// to report it.
	tap := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		want := live.store().LastID() + 1
		do(t, ctx, steps...)
		waitFor(t, ctx, what, `document.querySelector(`+jsString(card+" .pushed")+`).textContent === "Published #`+fmt.Sprint(want)+`"`, patience)
	}

	tap("the wrong push", chromedp.Click(chromedp.CSS(card+` button[data-side=away][data-points="3"]`)))
	waitFor(t, visitor, "the widget to show it", widgetScore(topic, "away")+` === "7"`, patience)
	before := live.store().LastID()
	answerDialogs(true)
	tap("the undo", chromedp.Click(chromedp.CSS(card+` details.more summary`)), chromedp.Click(chromedp.CSS(card+` button.undo`)))
	waitFor(t, visitor, "the widget to show the undo", widgetScore(topic, "away")+` === "4"`, patience)
	if live.store().LastID() != before+1 {
		t.Fatalf("the undo made %d events", live.store().LastID()-before)
	}

	// Set the score directly: one event.
	tap("the set score",
		chromedp.SendKeys(chromedp.CSS(card+` .set-form input[name=home_score]`), "21"),
		chromedp.SendKeys(chromedp.CSS(card+` .set-form input[name=away_score]`), "20"),
		chromedp.Click(chromedp.CSS(card+` .set-form button[type=submit]`)))
	waitFor(t, visitor, "the widget to show 21-20", widgetScore(topic, "home")+` === "21" && `+widgetScore(topic, "away")+` === "20"`, patience)

	// The state form keeps what was typed; the placeholders are examples.
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(card+` .state-form input[name=period]`), "4"),
	)
	eval[bool](t, ctx, `(() => { document.querySelector(`+jsString(card+` .state-form select[name=status]`)+`).value = "final"; return true; })()`)
	tap("the final", chromedp.Click(chromedp.CSS(card+` .state-form button[type=submit]`)))
	if v := eval[string](t, ctx, `document.querySelector(`+jsString(card+` .state-form input[name=period]`)+`).value`); v != "4" {
		t.Errorf("the period field holds %q after the update", v)
	}
	if p := eval[string](t, ctx, `document.querySelector(`+jsString(card+` .state-form input[name=clock]`)+`).placeholder`); !strings.HasPrefix(p, "e.g.") {
		t.Errorf("the clock's placeholder %q", p)
	}

	// Final games are folded away at the end of their league; scoring
	// one asks first.
	waitFor(t, ctx, "the final game to be folded away", `!!document.querySelector(`+jsString(`.finals .card[data-topic="`+topic+`"]`)+`)`, patience)
	eval[bool](t, ctx, `(() => { document.querySelector(".league[data-league=nba] .finals").open = true; return true; })()`)
	answerDialogs(false)
	last := live.store().LastID()
	do(t, ctx, chromedp.Click(chromedp.CSS(card+` button[data-side=home][data-points="1"]`)))
	if live.store().LastID() != last {
		t.Fatal("a final game was scored without a confirmation")
	}
	answerDialogs(true)
	tap("the confirmed point", chromedp.Click(chromedp.CSS(card+` button[data-side=home][data-points="1"]`)))

	// End and archive.
	do(t, ctx, chromedp.Click(chromedp.CSS(card+` button.archive`)))
	waitFor(t, ctx, "the game to leave the console", `!document.querySelector(`+jsString(card)+`)`, patience)
	waitFor(t, visitor, "the game to leave the widget", `!document.querySelector(".livefeed-scoreboard").shadowRoot.querySelector('.game[data-topic="`+topic+`"]')`, patience)
	topics, err := client.New(live.URL(), "").Topics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range topics {
		if e.Topic == topic {
			t.Fatalf("/api/topics still lists %s", topic)
		}
	}
	// A visitor arriving now does not see it either; its history stays.
	late := tab(t, ctx)
	do(t, late, chromedp.Navigate(site.origin+"/"))
	waitFor(t, late, "the late widget", widgetText("scoreboard")+`.includes("Sportgemeinschaft")`, patience)
	if strings.Contains(eval[string](t, late, widgetText("scoreboard")), "Lakers") {
		t.Error("a new visitor sees the archived game")
	}
	if page, _, err := live.store().Page(context.Background(), feed.Range{Filter: feed.Filter{Topics: []string{topic}}}, 100, false); err != nil || len(page) < 6 {
		t.Fatalf("history of the archived game: %d events, %v", len(page), err)
	}

	// A price typed with a decimal comma; a negative one is refused.
	sym := `#symbols .card[data-topic="stocks/S001"]`
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(sym+` input[name=price]`), "99,75"),
		chromedp.Click(chromedp.CSS(sym+` button[type=submit]`)))
	waitFor(t, ctx, "the price with a decimal comma", `document.querySelector(`+jsString(sym+" .price")+`).textContent === "99.75 USD"`, patience)
	last = live.store().LastID()
	// The form takes the next price once the last one is answered: its
	// button is disabled while a push is pending, and a click then does
	// nothing (under load, the price showed before the button came back).
	waitFor(t, ctx, "the form to take another price", `!document.querySelector(`+jsString(sym+` button[type=submit]`)+`).disabled`, patience)
	do(t, ctx,
		chromedp.SetValue(chromedp.CSS(sym+` input[name=price]`), "-1"),
		chromedp.Click(chromedp.CSS(sym+` button[type=submit]`)))
	waitFor(t, ctx, "the refusal", `document.querySelector(`+jsString(sym+" .pushed")+`).textContent === "price must be greater than 0"`, patience)
	if live.store().LastID() != last {
		t.Fatal("a negative price was published")
	}
	dir := screenshotDir(t)
	screenshot(t, ctx, dir, "corrections-console-desk", false)
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(phoneScale()), chromedp.EmulateMobile))
	screenshot(t, ctx, dir, "corrections-console-phone", false)
}

// TestBrowserWidgetAttributes: data-max-height makes the list scroll,
// data-label titles it, data-compact tightens it, games with the same
// teams show their topics, the league and date come from the topic, and a
// running clock counts down between events.
func TestBrowserWidgetAttributes(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{"http://*.localhost:" + strings.TrimPrefix(site.origin, "http://localhost:"), site.origin}})
	matchDay(t, live, 20, 0)
	live.publish(t, `{"topic":"nba/2026-11-21/g5","type":"score","data":{"home":"Bulls","away":"Knicks","home_score":80,"away_score":77,"period":4,"clock":"2:00","clock_running":"down","status":"live"}}`)
	site.show(phonePage(live.URL(), `data-kind="scoreboard" data-topic="nba/*" data-max-height="300" data-label="Tonight's NBA" data-compact`), "")
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	root := `document.querySelector(".livefeed-scoreboard").shadowRoot`
	waitFor(t, ctx, "the widget", root+`.querySelectorAll(".game").length === 6`, patience)
	if got := eval[string](t, ctx, root+`.querySelector(".title").textContent`); got != "Tonight's NBA" {
		t.Errorf("title %q", got)
	}
	list := eval[[]float64](t, ctx, `(() => { const l = `+root+`.querySelector(".list"); return [l.clientHeight, l.scrollHeight]; })()`)
	if list[0] > 300 || list[1] <= list[0] {
		t.Errorf("the list is %v px tall with %v px of content: it should scroll within 300", list[0], list[1])
	}
	if !eval[bool](t, ctx, root+`.querySelector(".frame").classList.contains("compact")`) {
		t.Error("data-compact is not applied")
	}
	twins := eval[[]string](t, ctx, `Array.from(`+root+`.querySelectorAll(".game.twin .topic")).map(e => e.textContent)`)
	if len(twins) != 2 || twins[0] != "nba/2026-11-21/g4" || twins[1] != "nba/2026-11-21/g8" {
		t.Errorf("the twin games show %v", twins)
	}
	if where := eval[string](t, ctx, root+`.querySelector('.game[data-topic="nba/2026-11-21/g0"] .where').textContent`); !strings.HasPrefix(where, "NBA") || !strings.Contains(where, "2026") {
		t.Errorf("league and date %q", where)
	}
	waitFor(t, ctx, "the running clock to count down", root+`.querySelector('.game[data-topic="nba/2026-11-21/g5"] .info').textContent.includes("1:5")`, 10*time.Second)
	fits(t, ctx, "the widget with attributes", 320)
	dir := screenshotDir(t)
	screenshot(t, ctx, dir, "widget-attributes-phone", true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	screenshot(t, ctx, dir, "widget-attributes-desk", false)
}

// TestBrowserConsoleToday: among games of the same status the console
// lists today's first (by the day in their topics, in the console's local
// time), then the days to come, then earlier days.
func TestBrowserConsoleToday(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	live := startLiveServer(t, handlers.Options{})
	do(t, ctx, chromedp.Navigate(live.URL()+"/"))
	// The browser's own date, which is what the console compares with.
	day := func(offset int) string {
		return eval[string](t, ctx, fmt.Sprintf(`(() => { const d = new Date(); d.setDate(d.getDate() + %d);
			return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0"); })()`, offset))
	}
	yesterday, today, tomorrow := day(-1), day(0), day(1)
	games := []struct{ topic, status string }{
		{"nba/" + yesterday + "/late", "scheduled"},
		{"nba/" + tomorrow + "/next", "scheduled"},
		{"nba/" + today + "/tonight", "scheduled"},
		{"nba/undated", "scheduled"},
		{"nba/" + yesterday + "/overtime", "live"},
		{"nba/" + today + "/now", "live"},
	}
	var updates []feed.Update
	for _, g := range games {
		data, _ := json.Marshal(map[string]any{"home": "Home", "away": "Away", "home_score": 0, "away_score": 0, "status": g.status})
		updates = append(updates, feed.Update{Topic: g.topic, Type: "score", Data: data})
	}
	if _, err := client.New(live.URL(), token).PublishBatch(context.Background(), updates, ""); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, live.URL())
	waitFor(t, ctx, "the console to list the games", `document.querySelectorAll("#games .card").length === 6`, patience)
	got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#games .card")).map(c => c.getAttribute("data-topic"))`)
	want := []string{"nba/" + today + "/now", "nba/" + yesterday + "/overtime",
		"nba/" + today + "/tonight", "nba/" + tomorrow + "/next", "nba/undated", "nba/" + yesterday + "/late"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the console lists\n%v\nwant\n%v", got, want)
	}
}
