package handlers_test

// Browser tests: the admin console and the widgets, driven in Chromium the
// way operators and visitors use them. They skip when Chromium is missing,
// unless LIVEFEED_REQUIRE_BROWSER=1 (as in CI) makes that a failure. They
// run in parallel, each with a server of its own and a browser context of
// its own in one shared Chromium (see browser).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/fanout"
	"livefeed/feed/poll"
	"livefeed/handlers"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
	"livefeed/web"
)

// chromium returns the browser's path, or skips the test without one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("LIVEFEED_REQUIRE_BROWSER") == "1" {
		t.Fatal("LIVEFEED_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install -y chromium)")
	}
	t.Skip("skipping browser test: Chromium is not installed (apt-get install -y chromium); LIVEFEED_REQUIRE_BROWSER=1 makes this a failure")
	return ""
}

// shared is the one Chromium of the package's browser tests: starting one
// takes seconds on a loaded machine, and a test needs only a profile of its
// own, which a browser context gives (see browser). It starts with the
// first browser test and stops in TestMain.
var shared struct {
	once   sync.Once
	ctx    context.Context // the browser's first tab: its children share the process
	cancel context.CancelFunc
	err    error
}

// TestMain stops the shared Chromium once the tests have run, so that none
// outlives them (CI fails on a leftover process).
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.ctx != nil {
		ctx, cancel := context.WithTimeout(shared.ctx, 10*time.Second)
		chromedp.Cancel(ctx) // closes the browser, waiting for it to exit
		cancel()
		shared.cancel()
	}
	os.Exit(code)
}

// browser returns the first tab of a new browser context in the shared
// headless Chromium: a fresh profile of the test's own, as a new browser
// would have (cookies, storage and cache apart from every other test's),
// closed when the test ends. Tabs the test opens from it (see tab) share
// its cookies, as the tabs of one browser do. Page errors (exceptions, and
// console errors such as Content-Security-Policy violations) fail the
// test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	shared.once.Do(func() {
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.WindowSize(1280, 900),
		)
		ctx, cancelBrowser := chromedp.NewContext(alloc)
		shared.ctx, shared.cancel = ctx, func() { cancelBrowser(); cancelAlloc() }
		shared.err = chromedp.Do(ctx)
	})
	if shared.err != nil {
		t.Fatalf("start Chromium: %v", shared.err)
	}
	ctx, cancel := chromedp.NewContext(shared.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Every wait on the browser ends by browserDeadline: a test stuck on
	// a page fails, naming itself, instead of holding the package until
	// go test's own timeout (whose dump names no test).
	ctx, cancelDeadline := context.WithTimeout(ctx, browserDeadline)
	t.Cleanup(cancelDeadline)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context in Chromium: %v", err)
	}
	watchPage(t, ctx)
	return ctx
}

// browserDeadline bounds a browser test's use of the browser: the
// slowest takes under 30 s with the race detector.
const browserDeadline = 4 * time.Minute

// tab opens another tab of the browser.
func tab(t *testing.T, browserCtx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	watchPage(t, ctx)
	return ctx
}

// pageErrorsAllowed lists console messages a test provokes on purpose.
var pageErrorsAllowed = []string{
	"ERR_CONNECTION_REFUSED",          // the server is down during a restart
	"Failed to load resource",         // refused form posts answer 4xx
	"net::ERR_INCOMPLETE_CHUNKED",     // streams cut by a restart
	"status of 40",                    // same
	"/favicon.ico",                    // no icon
	"EventSource's response has a ",   // while the server restarts
	"has been blocked by CORS policy", // a widget on a site not allowed
}

// watchPage fails the test on a page's uncaught exceptions and console
// errors.
func watchPage(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	report := func(msg string) {
		for _, ok := range pageErrorsAllowed {
			if strings.Contains(msg, ok) {
				return
			}
		}
		mu.Lock()
		problems = append(problems, msg)
		mu.Unlock()
	}
	chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			report(fmt.Sprintf("exception: %s at %s:%d", msg, d.URL, d.LineNumber+1))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				report(fmt.Sprintf("console %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("page error: %s", p)
		}
	})
}

// patience is how long a test waits for something the browser should do
// at once: generous, so that a loaded machine does not fail the test; the
// delays that matter are measured and logged.
const patience = 20 * time.Second

// do runs browser steps with a deadline.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*patience)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// press clicks a control of the console wherever it is at that moment:
// its click() does what a click on it does (a form's submit event, a
// summary's toggle), as a gesture of the user (a copy to the clipboard is
// allowed). A mouse click (chromedp.Click) goes to a point located a round
// trip before, and the console's live panels move what is below them
// meanwhile: the feed log grows a line per event, Most watched is redrawn
// every 2 s. Such a click lands beside the history's button or the
// builder's, and is lost. The controls above those panels are clicked
// with the mouse.
func press(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	control := `document.querySelector(` + jsString(selector) + `)`
	waitFor(t, ctx, selector+" to be shown and enabled", `(() => { const c = `+control+`; return !!c && c.checkVisibility() && !c.disabled; })()`, patience)
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](control+`.click()`, func(p *runtime.EvaluateParams) {
		p.UserGesture = new(true)
	})); err != nil {
		t.Fatalf("pressing %s: %v", selector, err)
	}
}

// waitFor polls a JavaScript predicate until it is true, failing the test
// after timeout. It returns how long it took.
func waitFor(t *testing.T, ctx context.Context, what, predicate string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout+patience)
	defer cancel()
	for {
		left := timeout - time.Since(start)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
			chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(max(left, time.Millisecond))))
		if err == nil {
			return time.Since(start)
		}
		// A navigation (a form post) ends the poll's page: poll the new one.
		if !strings.Contains(err.Error(), "navigated or closed") || left <= 0 {
			t.Fatalf("waiting %v for %s: %v", timeout, what, err)
		}
	}
}

// widgetText is the text a widget shows (inside its shadow root).
func widgetText(kind string) string {
	return fmt.Sprintf(`(() => { const h = document.querySelector(".livefeed-%s"); return h && h.shadowRoot ? h.shadowRoot.textContent : ""; })()`, kind)
}

// widgetScore is the score a scoreboard widget shows for a topic's side.
func widgetScore(topic, side string) string {
	return fmt.Sprintf(`(() => { const h = document.querySelector(".livefeed-scoreboard");
		const s = h && h.shadowRoot && h.shadowRoot.querySelector('.game[data-topic=%q] .score.%s');
		return s ? s.textContent : ""; })()`, topic, side)
}

// liveServer is a whole livefeed node (nodetest), on a fixed port it keeps
// across restarts (EventSource reconnects to the same URL), with its
// database in a directory that outlives a restart.
type liveServer struct {
	t      *testing.T
	node   *nodetest.Node
	dbPath string
}

func startLiveServer(t *testing.T, opts handlers.Options) *liveServer {
	t.Helper()
	if opts.PublishTokens == nil {
		opts.PublishTokens = []string{token}
	}
	opts.Web = web.Files()
	opts.Operators = []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}
	opts.MaxBodyBytes = 64 << 10
	opts.WriteTimeout = 5 * time.Second
	if opts.Retry == 0 {
		opts.Retry = 300 * time.Millisecond
	}
	cfg := nodetest.Config(t)
	cfg.Feed.Window = 1000
	n := nodetest.Start(t, cfg, node.Options{Server: func(o *handlers.Options) { *o = opts }})
	return &liveServer{t: t, node: n, dbPath: cfg.Store.Path}
}

func (l *liveServer) URL() string { return l.node.URL }

// addr is the server's host:port.
func (l *liveServer) addr() string { return strings.TrimPrefix(l.node.URL, "http://") }

// store is the server's database, as it is now (a restart opens it anew).
func (l *liveServer) store() *store.Store { return l.node.Store() }

// hub is the server's fan-out, as it is now.
func (l *liveServer) hub() *fanout.Hub { return l.node.Hub() }

// restart stops the server as a shutdown would (no new connections, the
// streams end, the database closes), runs whileDown, and serves again on
// the same address and database.
func (l *liveServer) restart(whileDown func()) {
	l.t.Helper()
	if err := l.node.Restart(whileDown); err != nil {
		l.t.Fatal(err)
	}
}

// listenAgain listens on an address that was just in use.
func listenAgain(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	poll.Within(t, 10*time.Second, "to listen again on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

// publish publishes through the API, with the Go client, and returns the
// event's ID.
func (l *liveServer) publish(t *testing.T, body string) int64 {
	t.Helper()
	var u feed.Update
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		t.Fatal(err)
	}
	id, err := client.New(l.URL(), token).Publish(context.Background(), u, "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// embedder is a web site on another origin that embeds livefeed widgets.
type embedder struct {
	*httptest.Server
	origin string // as the browser sees it: http://localhost:PORT
	mux    *http.ServeMux

	mu   sync.Mutex
	page string // the HTML of "/"
	csp  string // its Content-Security-Policy, if any
}

// newEmbedder starts a site serving a page at "/" and a script recording
// the widgets' updates in window.received. Its origin differs from
// livefeed's in host (localhost, not 127.0.0.1) and port.
func newEmbedder(t *testing.T) *embedder {
	t.Helper()
	e := &embedder{}
	mux := http.NewServeMux()
	mux.HandleFunc("/record.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, `window.received = []; window.resets = 0;
document.addEventListener("livefeed:update", (e) => window.received.push(e.detail));
document.addEventListener("livefeed:reset", () => window.resets++);`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		page, csp := e.page, e.csp
		e.mu.Unlock()
		if csp != "" {
			w.Header().Set("Content-Security-Policy", csp)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	e.mux = mux
	e.Server = httptest.NewServer(mux)
	t.Cleanup(e.Close)
	_, port, _ := net.SplitHostPort(e.Listener.Addr().String())
	e.origin = "http://localhost:" + port
	return e
}

// show sets the site's page and its Content-Security-Policy ("" for none).
func (e *embedder) show(page, csp string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.page, e.csp = page, csp
}

// embed shows a page with the widget of kind for topic from the livefeed
// server at base.
func (e *embedder) embed(base, kind, topic, csp string) {
	e.show(`<!doctype html><html><head><meta charset="utf-8"><title>A sports site</title>
<script src="/record.js"></script></head><body><h1>Tonight's games</h1>
<script src="`+base+`/widget.js" data-kind="`+kind+`" data-topic="`+topic+`"></script>
</body></html>`, csp)
}

// screenshot saves a PNG of the whole page (or of what the window shows)
// in dir and logs its path; nothing if dir is "" (see screenshotDir).
func screenshot(t *testing.T, ctx context.Context, dir, name string, wholePage bool) {
	t.Helper()
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	shot := chromedp.CaptureScreenshot()
	if wholePage {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// signIn signs in on the admin console in the tab.
func signIn(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form input[name=name]`)),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=name]`), operatorName),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), operatorPassword),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#console`)),
	)
}

// createGame creates a game through the console's form.
func createGame(t *testing.T, ctx context.Context, topic, home, away string) {
	t.Helper()
	do(t, ctx,
		chromedp.Click(chromedp.CSS(`#new-game summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#game-form input[name=topic]`)),
		chromedp.SendKeys(chromedp.CSS(`#game-form input[name=topic]`), topic),
		chromedp.SendKeys(chromedp.CSS(`#game-form input[name=home]`), home),
		chromedp.SendKeys(chromedp.CSS(`#game-form input[name=away]`), away),
		chromedp.Click(chromedp.CSS(`#game-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#games .card[data-topic=%q]`, topic))),
	)
}

// TestBrowserOperatorScores: an operator signs in, creates a game and
// clicks +3 for the home team; a page of another origin embedding the
// scoreboard widget shows the new score at once. Screenshots of the
// console (desk and phone) and the demo page go to a temporary folder.
func TestBrowserOperatorScores(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	// The embedding page forbids inline scripts and styles: the widget
	// must work under such a policy.
	site.embed(live.URL(), "scoreboard", "nba/*",
		"default-src 'self'; script-src 'self' "+live.URL()+"; connect-src "+live.URL()+"; style-src 'self'")

	const topic = "nba/2026-11-21/lal-bos"
	visitor := tab(t, ctx)
	do(t, visitor, chromedp.Navigate(site.origin+"/"))
	waitFor(t, visitor, "the widget to connect", `document.querySelector(".livefeed-scoreboard")?.getAttribute("data-state") === "live"`, patience)
	if text := eval[string](t, visitor, widgetText("scoreboard")); !strings.Contains(text, "No games yet") {
		t.Fatalf("empty widget shows %q", text)
	}

	signIn(t, ctx, live.URL())
	createGame(t, ctx, topic, "Lakers", "Celtics")
	waitFor(t, visitor, "the new game in the widget", widgetScore(topic, "home")+` === "0"`, patience)

	card := fmt.Sprintf(`#games .card[data-topic=%q]`, topic)
	do(t, ctx, chromedp.Click(chromedp.CSS(card+` button[data-side=home][data-points="3"]`)))
	// Expected within a second; the test allows five so that a loaded
	// machine does not fail it, and logs the delay.
	delay := waitFor(t, visitor, "the widget to show 3", widgetScore(topic, "home")+` === "3"`, 5*time.Second)
	t.Logf("the embedded widget showed the new score %v after the click", delay.Round(time.Millisecond))
	if delay > time.Second {
		t.Logf("that is slower than the one second expected (a loaded machine?)")
	}
	waitFor(t, ctx, "the console to show the pushed ID", `document.querySelector(`+jsString(card+" .pushed")+`).textContent.startsWith("Published #")`, patience)
	if got := eval[string](t, ctx, `document.querySelector(`+jsString(card+" .pushed")+`).textContent`); got != fmt.Sprintf("Published #%d", live.store().LastID()) {
		t.Errorf("the console shows %q, the last ID is %d", got, live.store().LastID())
	}
	if got := eval[string](t, visitor, widgetScore(topic, "away")); got != "0" {
		t.Errorf("away score %q", got)
	}

	// Fill the console a little for the screenshots.
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54,"currency":"USD"}}`)
	live.publish(t, `{"topic":"stocks/MSFT","type":"tick","data":{"symbol":"MSFT","price":468.1,"change":2.3,"change_pct":0.49,"currency":"USD"}}`)
	live.publish(t, `{"topic":"nba/2026-11-21/gsw-den","type":"score","data":{"home":"Warriors","away":"Nuggets","home_score":54,"away_score":61,"period":3,"clock":"4:12","status":"live"}}`)
	waitFor(t, ctx, "the console to list the symbols", `document.querySelectorAll("#symbols .card").length === 2`, patience)
	press(t, ctx, `#history-form button[type=submit]`)
	waitFor(t, ctx, "the history table", `document.querySelectorAll("#history tbody tr").length === 5`, patience)

	dir := screenshotDir(t)
	screenshot(t, ctx, dir, "admin-desk", true)
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(phoneScale()), chromedp.EmulateMobile))
	screenshot(t, ctx, dir, "admin-phone", false)
	do(t, ctx, chromedp.ScrollIntoView(chromedp.CSS(`#history-title`)))
	screenshot(t, ctx, dir, "admin-phone-history", false)
	demo := tab(t, ctx)
	do(t, demo, chromedp.Navigate(live.URL()+"/"))
	waitFor(t, demo, "the demo page's widgets", widgetText("ticker")+`.includes("MSFT") && `+widgetText("scoreboard")+`.includes("Warriors")`, patience)
	screenshot(t, demo, dir, "demo", true)
	screenshot(t, visitor, dir, "embedded-widget", false)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// received returns the IDs of the updates the embedded widget applied, and
// fails the test if any arrived twice or out of order.
func received(t *testing.T, ctx context.Context) []int64 {
	t.Helper()
	var updates []struct {
		ID    int64
		Stale bool
	}
	raw := eval[string](t, ctx, `JSON.stringify(window.received)`)
	if err := json.Unmarshal([]byte(raw), &updates); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, u := range updates {
		if u.Stale {
			t.Errorf("the widget received event %d after a newer one", u.ID)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

// TestBrowserWidgetSurvivesRestart: the server goes down while updates are
// published; once it is back the embedded widget shows every one of them,
// in order, none missing and none twice.
func TestBrowserWidgetSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	site.embed(live.URL(), "scoreboard", "nba/*", "")
	const topic = "nba/final"
	scoreData := func(home, away int) string {
		return fmt.Sprintf(`{"home":"Heat","away":"Knicks","home_score":%d,"away_score":%d,"status":"live"}`, home, away)
	}
	score := func(home, away int) string {
		return fmt.Sprintf(`{"topic":%q,"type":"score","data":%s}`, topic, scoreData(home, away))
	}
	want := []int64{live.publish(t, score(0, 0))}

	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the snapshot", widgetScore(topic, "home")+` === "0"`, patience)
	for i := 1; i <= 3; i++ {
		want = append(want, live.publish(t, score(i, 0)))
	}
	waitFor(t, ctx, "the live updates", widgetScore(topic, "home")+` === "3"`, patience)

	live.restart(func() {
		waitFor(t, ctx, "the widget to show it is reconnecting", `document.querySelector(".livefeed-scoreboard").getAttribute("data-state") === "reconnecting" &&`+
			widgetText("scoreboard")+`.includes("reconnecting…")`, patience)
		// Published while the server is down: by another instance on the
		// same database, as during a rolling restart.
		st, err := store.Open(live.dbPath, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 4; i++ {
			events, err := st.Append(context.Background(), []feed.Update{{Topic: topic, Type: "score", Data: json.RawMessage(scoreData(3, i))}})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, events[0].ID)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	})
	for i := 1; i <= 3; i++ {
		want = append(want, live.publish(t, score(3+i, 4)))
	}
	waitFor(t, ctx, "the widget to be live again", `document.querySelector(".livefeed-scoreboard").getAttribute("data-state") === "live"`, patience)
	waitFor(t, ctx, "the last update", widgetScore(topic, "home")+` === "6" && `+widgetScore(topic, "away")+` === "4"`, patience)
	if got := received(t, ctx); !slices.Equal(got, want) {
		t.Fatalf("the widget received %v, want %v", got, want)
	}
	// The browser's own reconnection did it, with Last-Event-ID: the widget
	// still has its first EventSource, opened without a position.
	if sources := eval[string](t, ctx, `JSON.stringify(Object.values(window.__livefeed).flat().map(g => g.source.url))`); strings.Contains(sources, "lastEventId") {
		t.Errorf("the widget had to open a new EventSource: %s", sources)
	}
	if resets := eval[int](t, ctx, `window.resets`); resets != 0 {
		t.Errorf("%d resets", resets)
	}
}

// TestBrowserWidgetResumesAfterErrorStatus: while the server restarts, a
// proxy in front of it answers 503. A browser gives up on an EventSource
// that gets an error status, so the widget opens a new one itself, from
// the last event it saw, and still misses nothing. With no event of its
// topics yet, it resumes from the position the server gave it after the
// (empty) snapshot.
func TestBrowserWidgetResumesAfterErrorStatus(t *testing.T) {
	t.Parallel()
	tick := func(price int) string {
		return fmt.Sprintf(`{"symbol":"ACME","price":%d}`, price)
	}
	for _, tc := range []struct {
		name  string
		first string // the event published before the widget subscribes
		shown bool   // whether the widget shows it
	}{
		{"AfterEvent", `{"topic":"stocks/ACME","type":"tick","data":` + tick(100) + `}`, true},
		{"AfterEmptySnapshot", `{"topic":"other/x","type":"note","data":{}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := browser(t)
			site := newEmbedder(t)
			live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
			site.embed(live.URL(), "ticker", "stocks/*", "")
			var want []int64
			if id := live.publish(t, tc.first); tc.shown {
				want = append(want, id)
			}
			do(t, ctx, chromedp.Navigate(site.origin+"/"))
			waitFor(t, ctx, "the snapshot and the position", `Object.values(window.__livefeed || {}).flat().some(g => g.lastId === "1")`, patience)

			live.restart(func() {
				refused := make(chan struct{}, 100)
				unavailable := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Access-Control-Allow-Origin", site.origin) // the proxy knows the widget's sites
					http.Error(w, "restarting", http.StatusServiceUnavailable)
					if strings.HasPrefix(r.URL.Path, "/events") {
						select {
						case refused <- struct{}{}:
						default:
						}
					}
				})}
				go unavailable.Serve(listenAgain(t, live.addr()))
				// The browser gets 503 and gives up; the widget tries again.
				for attempt := 1; attempt <= 2; attempt++ {
					select {
					case <-refused:
					case <-time.After(patience):
						t.Fatalf("the widget made %d attempts at the unavailable server", attempt-1)
					}
				}
				st, err := store.Open(live.dbPath, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i <= 3; i++ {
					events, err := st.Append(context.Background(), []feed.Update{{Topic: "stocks/ACME", Type: "tick", Data: json.RawMessage(tick(100 + i))}})
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, events[0].ID)
				}
				st.Close()
				unavailable.Close()
			})
			waitFor(t, ctx, "the updates published meanwhile", widgetText("ticker")+`.includes("103")`, patience)
			if got := received(t, ctx); !slices.Equal(got, want) {
				t.Fatalf("the widget received %v, want %v", got, want)
			}
			if sources := eval[string](t, ctx, `JSON.stringify(Object.values(window.__livefeed).flat().map(g => g.source.url))`); !strings.Contains(sources, "lastEventId=1") {
				t.Errorf("the widget's new EventSource does not resume from event 1: %s", sources)
			}
		})
	}
}

// TestBrowserTextOnly: team names and symbols holding markup show as text
// in the widgets, the demo page and the console, and run nothing.
func TestBrowserTextOnly(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	// No Content-Security-Policy on the embedding page: the widget itself
	// must not turn feed text into markup.
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	site.embed(live.URL(), "scoreboard", "*", "")
	const home = `<img src=x onerror="window.pwned=1">`
	const away = `<script>window.pwned=2</script>`
	live.publish(t, `{"topic":"nba/xss","type":"score","data":{"home":`+jsString(home)+`,"away":`+jsString(away)+`,"home_score":1,"away_score":2,"clock":"<b>9:99</b>"}}`)
	live.publish(t, `{"topic":"stocks/XSS","type":"tick","data":{"symbol":"<img src=y onerror=pwned=3>","price":1}}`)

	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the markup to show as text", widgetText("scoreboard")+`.includes(`+jsString(home)+`) && `+widgetText("scoreboard")+`.includes(`+jsString(away)+`)`, patience)
	// Had the widget created the image, its error handler would have run
	// by the time one the test adds itself has run.
	eval[bool](t, ctx, `(() => { const i = document.createElement("img"); i.onerror = () => { window.probe = 1 }; i.src = "x"; document.body.append(i); return true })()`)
	waitFor(t, ctx, "the probe image's error handler", `window.probe === 1`, patience)
	checkInert(t, ctx, `document.querySelector(".livefeed-scoreboard").shadowRoot`)

	demo := tab(t, ctx)
	do(t, demo, chromedp.Navigate(live.URL()+"/"))
	waitFor(t, demo, "the demo page's widgets", widgetText("scoreboard")+`.includes(`+jsString(home)+`) && `+widgetText("ticker")+`.includes("<img src=y")`, patience)
	checkInert(t, demo, `document.querySelector(".livefeed-scoreboard").shadowRoot`)
	checkInert(t, demo, `document.querySelector(".livefeed-ticker").shadowRoot`)

	admin := tab(t, ctx)
	signIn(t, admin, live.URL())
	waitFor(t, admin, "the game card", `document.querySelector("#games").textContent.includes(`+jsString(home)+`)`, patience)
	press(t, admin, `#history-form button[type=submit]`)
	waitFor(t, admin, "the history table", `document.querySelector("#history tbody").textContent.includes(`+jsString(away)+`)`, patience)
	checkInert(t, admin, `document`)
}

// checkInert fails if the markup of the feed became elements under root,
// or ran.
func checkInert(t *testing.T, ctx context.Context, root string) {
	t.Helper()
	got := eval[string](t, ctx, `(() => { const r = `+root+`;
		return [r.querySelectorAll("img").length, r.querySelectorAll("script:not([src])").length, r.querySelectorAll("b").length, String(window.pwned)].join(","); })()`)
	if got != "0,0,0,undefined" {
		t.Fatalf("feed text became markup: images, inline scripts, bold, pwned = %s", got)
	}
}

// TestBrowserRefusesForgedForms: in a signed-in operator's browser, a form
// post without the CSRF token is refused; after signing out, the old
// session's cookie and token are refused too; a form on another site
// posting to the console is refused. None publishes anything.
func TestBrowserRefusesForgedForms(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{})
	signIn(t, ctx, live.URL())

	post := func(token string) string {
		return `fetch("/admin/games", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: new URLSearchParams({topic: "nba/forged", home: "A", away: "B"` + token + `})}).then(r => r.status)`
	}
	if status := eval[int](t, ctx, post("")); status != http.StatusForbidden {
		t.Errorf("a form without the CSRF token: %d, want 403", status)
	}
	if status := eval[int](t, ctx, post(`, csrf: "guessed"`)); status != http.StatusForbidden {
		t.Errorf("a form with a wrong CSRF token: %d, want 403", status)
	}

	// Keep the session's cookie and token, then sign out.
	var session struct{ CSRF string }
	if err := json.Unmarshal([]byte(eval[string](t, ctx, `fetch("/admin/session").then(r => r.text())`)), &session); err != nil || session.CSRF == "" {
		t.Fatalf("session: %+v, %v", session, err)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{live.URL() + "/admin"}})
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx,
		chromedp.Click(chromedp.CSS(`#logout-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
	)
	if status := eval[int](t, ctx, post(`, csrf: `+jsString(session.CSRF))); status != http.StatusUnauthorized {
		t.Errorf("the signed-out session's token from the browser: %d, want 401", status)
	}
	req, _ := http.NewRequest(http.MethodPost, live.URL()+"/admin/games",
		strings.NewReader(url2form("topic", "nba/forged", "home", "A", "away", "B", "csrf", session.CSRF)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the signed-out session's cookie and token replayed: %d, want 401", resp.StatusCode)
	}

	// Signed in again, a page of another site posts a form to the console.
	signIn(t, ctx, live.URL())
	site.show(`<!doctype html><title>Win a prize</title><form method="post" action="`+live.URL()+`/admin/games">
<input name="topic" value="nba/forged"><input name="home" value="A"><input name="away" value="B"><input name="csrf" value="`+session.CSRF+`">
<button id="go">Claim</button></form>`, "")
	do(t, ctx,
		chromedp.Navigate(site.origin+"/"),
		chromedp.Click(chromedp.CSS(`#go`)),
	)
	waitFor(t, ctx, "the console's refusal", `location.href.startsWith(`+jsString(live.URL())+`) && /cross-origin|not signed in/.test(document.body.textContent)`, patience)
	if id := live.store().LastID(); id != 0 {
		t.Fatalf("a refused form published: the last ID is %d", id)
	}
}

func url2form(kv ...string) string {
	return form(kv...).Encode()
}

// TestBrowserSurvivesShedding: a server at its connection limit answers a
// reconnecting browser with an empty stream that says "retry later", not an
// error status, which would make an EventSource give up for good. The
// browser keeps retrying by itself and, once a place frees up, resumes with
// its Last-Event-ID: every update published meanwhile arrives, once, in
// order.
func TestBrowserSurvivesShedding(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{
		AllowedOrigins: []string{site.origin},
		MaxStreams:     1,
		BusyRetry:      500 * time.Millisecond,
		Retry:          2 * time.Second, // the browser waits this long after the restart
	})
	site.embed(live.URL(), "scoreboard", "nba/*", "")
	const topic = "nba/shed"
	score := func(home int) string {
		return fmt.Sprintf(`{"topic":%q,"type":"score","data":{"home":"Suns","away":"Jazz","home_score":%d,"away_score":0,"status":"live"}}`, topic, home)
	}
	want := []int64{live.publish(t, score(0))}
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	waitFor(t, ctx, "the snapshot", widgetScore(topic, "home")+` === "0"`, patience)

	live.restart(func() {})
	// Take the only place before the browser comes back (it waits 2 s).
	occupant := occupy(t, live.URL()+"/events?topic=other")
	waitFor(t, ctx, "the widget to show it is reconnecting", `document.querySelector(".livefeed-scoreboard").getAttribute("data-state") === "reconnecting"`, patience)
	for i := 1; i <= 3; i++ {
		want = append(want, live.publish(t, score(i)))
	}
	deadline := time.Now().Add(patience)
	for int(metricValue(t, http.DefaultClient, live.URL(), "livefeed_streams_shed_total")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the browser was never refused for the limit")
		}
		time.Sleep(50 * time.Millisecond) // polling the server's counter
	}
	occupant.Close()
	waitFor(t, ctx, "the widget to get in and catch up", widgetScore(topic, "home")+` === "3"`, patience)
	if got := received(t, ctx); !slices.Equal(got, want) {
		t.Fatalf("the widget received %v, want %v", got, want)
	}
	if sources := eval[string](t, ctx, `JSON.stringify(Object.values(window.__livefeed).flat().map(g => g.source.url))`); strings.Contains(sources, "lastEventId") {
		t.Errorf("the browser gave up its EventSource and the widget opened another: %s", sources)
	}
}

// occupy opens an event stream and returns it once the server has attached
// it (it has sent the position frame of a fresh connect).
func occupy(t *testing.T, url string) io.Closer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			resp.Body.Close()
			t.Fatalf("the occupying stream was refused: %v", err)
		}
		if strings.HasPrefix(line, "id: ") {
			return resp.Body
		}
	}
}

// TestBrowserTapWhileServerDown: an operator taps +3 while the server is
// down. The console says in words that the server cannot be reached and
// that the tap is kept, sends it again until the server is back, and the
// tap counts once.
func TestBrowserTapWhileServerDown(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	live := startLiveServer(t, handlers.Options{})
	const topic = "nba/down/g1"
	signIn(t, ctx, live.URL())
	createGame(t, ctx, topic, "Lakers", "Celtics")
	card := fmt.Sprintf(`#games .card[data-topic=%q]`, topic)
	// The tap is made while the server is down; once it is back, the
	// console sends it again by itself.
	live.restart(func() {
		do(t, ctx, chromedp.Click(chromedp.CSS(card+` button[data-side=home][data-points="3"]`)))
		waitFor(t, ctx, "the console to say the server is unreachable",
			`document.querySelector("#notice").textContent.includes("cannot be reached") && document.querySelector("#notice").textContent.includes("kept")`, patience)
		if text := eval[string](t, ctx, `document.querySelector("#notice").textContent`); strings.Contains(text, "Failed to fetch") {
			t.Fatalf("the console shows %q", text)
		}
		if !eval[bool](t, ctx, `document.querySelector(`+jsString(card+` button[data-side=home][data-points="3"]`)+`).disabled`) {
			t.Fatal("the buttons are enabled while the tap is pending: a second tap would count too")
		}
	})
	waitFor(t, ctx, "the kept tap to be published", `document.querySelector(`+jsString(card+" .pushed")+`).textContent.startsWith("Published #")`, 30*time.Second)
	if last := live.store().LastID(); last != 2 {
		t.Fatalf("LastID = %d after one game and one tap, want 2", last)
	}
	latest, _, err := live.store().LatestOf(context.Background(), topic)
	if err != nil || !strings.Contains(string(latest.Data), `"home_score":3`) {
		t.Fatalf("the game's score: %s, %v", latest.Data, err)
	}
}

// TestBrowserWidgetBadTopicAlone: a widget with a bad data-topic shows
// what is wrong in its own box and leaves the page's other widgets alone
// (they used to share its refused stream and wait forever); widgets that
// need more topic patterns between them than one stream takes get a
// second stream, and all of them show the feed.
func TestBrowserWidgetBadTopicAlone(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	site := newEmbedder(t)
	live := startLiveServer(t, handlers.Options{AllowedOrigins: []string{site.origin}})
	widget := func(kind, topic, id string) string {
		return `<div id="` + id + `"></div><script src="` + live.URL() + `/widget.js" data-kind="` + kind + `" data-topic="` + topic + `" data-target="#` + id + `"></script>`
	}
	// 70 games, each watched by its own widget: more patterns than one
	// stream may ask for.
	var many strings.Builder
	for i := range 70 {
		many.WriteString(widget("scoreboard", fmt.Sprintf("nba/g%d", i), fmt.Sprintf("g%d", i)))
	}
	site.show(`<!doctype html><html><head><meta charset="utf-8"><script src="/record.js"></script></head><body>`+
		widget("scoreboard", "nba/* bad topic!", "bad")+
		widget("ticker", "stocks/*", "ticker")+
		widget("scoreboard", "nba/../x", "dots")+
		many.String()+`</body></html>`, "")
	for i := range 70 {
		live.publish(t, fmt.Sprintf(`{"topic":"nba/g%d","type":"score","data":{"home":"H%d","away":"A","home_score":%d,"away_score":0}}`, i, i, i))
	}
	do(t, ctx, chromedp.Navigate(site.origin+"/"))
	state := func(id string) string {
		return `document.querySelector("#` + id + ` .livefeed-widget")?.getAttribute("data-state")`
	}
	shadowText := func(id string) string {
		return `(document.querySelector("#` + id + ` .livefeed-widget")?.shadowRoot?.textContent || "")`
	}
	waitFor(t, ctx, "the good widgets to be live", state("ticker")+` === "live" && `+state("g0")+` === "live" && `+state("g69")+` === "live"`, patience)
	for _, id := range []string{"bad", "dots"} {
		if got := eval[string](t, ctx, state(id)); got != "error" {
			t.Errorf("widget %s: state %q, want error", id, got)
		}
		if text := eval[string](t, ctx, shadowText(id)); !strings.Contains(text, "data-topic is not valid") {
			t.Errorf("widget %s shows %q", id, text)
		}
	}
	if text := eval[string](t, ctx, shadowText("bad")); !strings.Contains(text, "“topic!”") {
		t.Errorf("the bad widget does not name its bad pattern: %q", text)
	}
	waitFor(t, ctx, "every game's widget to show its score", shadowText("g0")+`.includes("H0") && `+shadowText("g69")+`.includes("H69")`, patience)
	streams := eval[int](t, ctx, `Object.values(window.__livefeed).flat().filter(g => g.source).length`)
	if streams != 2 {
		t.Errorf("%d streams for 71 patterns, want 2", streams)
	}
	live.publish(t, `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.4}}`)
	live.publish(t, `{"topic":"nba/g69","type":"score","data":{"home":"H69","away":"A","home_score":100,"away_score":0}}`)
	waitFor(t, ctx, "live updates on both streams", shadowText("ticker")+`.includes("AAPL") && `+shadowText("g69")+`.includes("100")`, patience)
}
