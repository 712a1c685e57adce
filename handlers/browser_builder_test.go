package handlers_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"livefeed/handlers"
)

// TestBrowserWidgetRefusedOrigin: the widgets of a page on a site whose
// origin is not in cors.allowed_origins say so in their own box, and how
// to allow it, instead of "reconnecting…" for ever, and stop trying; on
// a site allowed by a pattern ("http://*.localhost:PORT") the same page
// shows live data.
func TestBrowserWidgetRefusedOrigin(t *testing.T) {
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
