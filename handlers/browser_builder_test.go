package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"livefeed/feed/poll"
	"livefeed/handlers"
)

// TestBrowserWidgetRefusedOrigin: the widgets of a page on a site whose
// origin is not in cors.allowed_origins say so in their own box, and how
// to allow it, instead of "reconnecting…" for ever, and stop trying; on
// a site allowed by a pattern ("http://*.localhost:PORT") the same page
// shows live data.
func TestBrowserWidgetRefusedOrigin(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(site.origin, "http://"), ":")
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{"http://*.localhost:" + port}})
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4}}`)
	site.show(`<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/record.js"></script></head><body>
<div id="ticker"></div><script src="`+live.URL()+`/widget.js" data-kind="ticker" data-topic="stocks/*" data-target="#ticker"></script>
<div id="games"></div><script src="`+live.URL()+`/widget.js" data-kind="scoreboard" data-topic="nba/*" data-target="#games"></script>
</body></html>`, "")
	text := func(id string) string {
		return `(document.querySelector("#` + id + ` .livefeed-widget")?.shadowRoot?.textContent || "")`
	}
	state := func(id string) string {
		return `document.querySelector("#` + id + ` .livefeed-widget")?.getAttribute("data-state")`
	}

	// Refused: http://localhost:PORT is not a subdomain of localhost.
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	want := "This site (" + site.origin + ") is not allowed to show this feed. To allow it, the operator of livefeed adds " +
		site.origin + " to cors.allowed_origins in livefeed's config.toml."
	took := waitFor(t, ctx, "the refused widgets to say why", state("ticker")+` === "refused" && `+state("games")+` === "refused"`, patience)
	t.Logf("a refused widget said why %v after the page loaded", took.Round(1e6))
	for _, id := range []string{"ticker", "games"} {
		if got := eval[string](t, ctx, text(id)); !strings.HasSuffix(got, "not allowed"+want) {
			t.Errorf("widget %s shows %q, want the message %q", id, got, want)
		}
	}
	if n := eval[int](t, ctx, `Object.values(window.__livefeed).flat().filter(g => g.source || !g.refused).length`); n != 0 {
		t.Errorf("%d streams of the refused page still try", n)
	}
	for _, w := range []int64{390, 320} {
		fits(t, ctx, "the refused widgets", w)
	}

	// Allowed by the pattern: live data.
	allowed := fmt.Sprintf("http://news.localhost:%s", port)
	visitor := tab(t, ctx)
	do(t, visitor, chromedp.Navigate(allowed+"/"))
	waitFor(t, visitor, "the allowed widgets to be live", state("ticker")+` === "live" && `+state("games")+` === "live" && `+text("ticker")+`.includes("AAPL")`, patience)
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":240.5}}`)
	waitFor(t, visitor, "a live price on the allowed site", text("ticker")+`.includes("240.50")`, patience)
	if got := eval[string](t, visitor, text("ticker")); strings.Contains(got, "not allowed") {
		t.Errorf("the allowed site's widget shows %q", got)
	}
}

// builderField sets a field of the console's widget builder as typing or
// picking would, with the events the builder listens to.
func builderField(t *testing.T, ctx context.Context, name, value string) {
	t.Helper()
	eval[bool](t, ctx, `(() => { const f = document.querySelector("#builder-form").elements[`+jsString(name)+`];
		if (f.type === "checkbox") f.checked = `+jsString(value)+` === "on"; else f.value = `+jsString(value)+`;
		f.dispatchEvent(new Event("input", {bubbles: true})); return f.dispatchEvent(new Event("change", {bubbles: true})); })()`)
}

// previewText is the text of the widget in the builder's preview.
const previewText = `(document.querySelector("#builder-preview").contentDocument?.querySelector(".livefeed-widget")?.shadowRoot?.textContent || "")`

// TestBrowserWidgetBuilder: an operator builds a ticker for stocks/* in
// the console, sees it live in the preview, and copies exactly its
// snippet; the builder warns about a site that would be refused and not
// about one allowed; hostile topic and title text is escaped in the
// snippet and inert in the preview; the builder fits 320 and 390 px
// phones and sits beside its preview at 1280 px; its preview's stream
// runs only while it is open.
func TestBrowserWidgetBuilder(t *testing.T) {
	t.Parallel() // a node, a site and a browser context of its own
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4}}`)
	live.publish(t, `{"topic":"stocks/MSFT","type":"tick","data":{"symbol":"MSFT","price":415.1}}`)
	live.publish(t, `{"topic":"nba/2026-11-21/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":0,"away_score":0}}`)
	signIn(t, ctx, live.URL())
	streams := func() int { return live.hub().Stats().Subscribers }
	poll.Within(t, patience, "the console's own stream", func() bool { return streams() == 1 })

	// The topics the console knows are offered, with their prefixes.
	waitFor(t, ctx, "the builder to offer stocks/*", `!!document.querySelector('#builder-topics option[value="stocks/*"]')`, patience)
	press(t, ctx, `#builder summary`)
	builderField(t, ctx, "topic", "stocks/*")
	builderField(t, ctx, "kind", "ticker")
	builderField(t, ctx, "theme", "dark")
	builderField(t, ctx, "label", "Markets now")
	builderField(t, ctx, "compact", "on")
	builderField(t, ctx, "conflate", "1s")
	took := waitFor(t, ctx, "the preview's prices", previewText+`.includes("Markets now") && `+previewText+`.includes("231.40") && `+previewText+`.includes("415.10")`, patience)
	t.Logf("the preview showed the ticker's prices %v after the last change", took.Round(time.Millisecond))
	if n := streams(); n != 2 {
		t.Errorf("%d streams with the builder open, want 2 (the console's and the preview's)", n)
	}
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":240.5,"change":9.1}}`)
	waitFor(t, ctx, "a live price in the preview", previewText+`.includes("240.50")`, patience)

	want := `<script src="` + live.URL() + `/widget.js" data-kind="ticker" data-topic="stocks/*" data-theme="dark" data-label="Markets now" data-compact data-conflate="1s"></script>`
	if got := eval[string](t, ctx, `document.querySelector("#builder-snippet").textContent`); got != want {
		t.Errorf("snippet\n%s\nwant\n%s", got, want)
	}
	press(t, ctx, `#builder-copy`)
	waitFor(t, ctx, "the snippet copied", `document.querySelector("#builder-copied").textContent === "Copied."`, patience)

	// The site: refused, then allowed (given as a page's address).
	origin := `document.querySelector("#builder-origin").textContent`
	builderField(t, ctx, "origin", "https://x.example")
	waitFor(t, ctx, "the warning", origin+` === "https://x.example is not in cors.allowed_origins: the widget will be refused there."`, patience)
	builderField(t, ctx, "origin", site.origin+"/sports/today?x=1")
	waitFor(t, ctx, "no warning for an allowed site", origin+` === `+jsString(site.origin+" is allowed: the widget will show there."), patience)
	builderField(t, ctx, "origin", "javascript:alert(1)")
	waitFor(t, ctx, "a refusal of what is no site", origin+`.includes("is not a site's address")`, patience)

	// Desk: the builder spans the console, its preview beside the form.
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	waitFor(t, ctx, "the console laid out at 1280 px", `window.innerWidth === 1280`, patience)
	if ratio := eval[float64](t, ctx, `document.querySelector(".builder-panel").getBoundingClientRect().width / document.querySelector("#console").getBoundingClientRect().width`); ratio < 0.99 {
		t.Errorf("at 1280 px the builder takes %.0f%% of the console's width, want all of it", ratio*100)
	}
	if beside := eval[bool](t, ctx, `document.querySelector(".builder-out").getBoundingClientRect().left >= document.querySelector("#builder-form").getBoundingClientRect().right`); !beside {
		t.Errorf("at 1280 px the preview is not beside the builder's form")
	}
	dir := screenshotDir(t)
	do(t, ctx, chromedp.ScrollIntoView(chromedp.CSS(`.builder-panel`)))
	screenshot(t, ctx, dir, "builder-desk", false)
	for _, w := range []int64{390, 320} {
		fits(t, ctx, "the console with the widget builder", w)
	}
	do(t, ctx, chromedp.ScrollIntoView(chromedp.CSS(`.builder-panel`)))
	screenshot(t, ctx, dir, "builder-phone", false)

	// Hostile text: escaped in the snippet, text in the preview.
	const label = `"><img src=x onerror=window.pwned=1><script>window.pwned=2</script>`
	builderField(t, ctx, "label", label)
	builderField(t, ctx, "topic", `stocks/* '"><b>x</b>`)
	builderField(t, ctx, "max_height", `1" onload="window.pwned=3`)
	want = `<script src="` + live.URL() + `/widget.js" data-kind="ticker" data-topic="stocks/* '&quot;&gt;&lt;b&gt;x&lt;/b&gt;" data-theme="dark"` +
		` data-label="&quot;&gt;&lt;img src=x onerror=window.pwned=1&gt;&lt;script&gt;window.pwned=2&lt;/script&gt;" data-compact data-conflate="1s"` +
		` data-max-height="1&quot; onload=&quot;window.pwned=3"></script>`
	if got := eval[string](t, ctx, `document.querySelector("#builder-snippet").textContent`); got != want {
		t.Errorf("hostile snippet\n%s\nwant\n%s", got, want)
	}
	waitFor(t, ctx, "the hostile title as text in the preview", previewText+`.includes(`+jsString(label)+`)`, patience)
	checkInert(t, ctx, `document`)
	checkInert(t, ctx, `document.querySelector("#builder-preview").contentDocument`)
	checkInert(t, ctx, `document.querySelector("#builder-preview").contentDocument.querySelector(".livefeed-widget").shadowRoot`)
	if pwned := eval[string](t, ctx, `String(document.querySelector("#builder-preview").contentWindow.pwned)`); pwned != "undefined" {
		t.Errorf("the preview ran the hostile text: pwned = %s", pwned)
	}
	if n := eval[int](t, ctx, `document.querySelector("#builder-preview").contentDocument.querySelectorAll("script").length`); n != 1 {
		t.Errorf("the preview has %d scripts, want the widget's alone", n)
	}

	// Closed, the builder's preview holds no stream.
	press(t, ctx, `#builder summary`)
	poll.Within(t, patience, "the preview's stream to end", func() bool { return streams() == 1 })

	// The builder only read: no form of the console was posted but the
	// sign-in (the console's own reads, its history and audience, aside).
	resp, err := http.Get(live.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "livefeed_http_requests_total{") && strings.Contains(line, `route="/admin/`) &&
			!strings.Contains(line, `route="/admin/login"`) && !strings.Contains(line, `route="/admin/session"`) && !strings.Contains(line, `route="/admin/history"`) &&
			!strings.Contains(line, `route="/admin/audience"`) {
			t.Errorf("the console sent %s", line)
		}
	}
	if !strings.Contains(string(metrics), `livefeed_http_requests_total{code="200",route="/api/origin"}`) {
		t.Errorf("the builder did not ask /api/origin:\n%s", metrics)
	}
}
