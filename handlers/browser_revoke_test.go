package handlers_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"livefeed/handlers"
)

// TestBrowserConsoleSignedOutInAnotherTab: an operator signs out in one
// tab; the console open in another tab loses its feed at once (the server
// ends the stream of the session's token) and shows the sign-in form,
// rather than going on with the public events only.
func TestBrowserConsoleSignedOutInAnotherTab(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	live := startLiveServer(t, handlers.Options{PrivateTopics: mustFilter(t, "premium/*"), SubscriberKeys: subscriberKeys(t)})
	signIn(t, ctx, live.URL())
	waitFor(t, ctx, "the console feed", `document.querySelector("#feed-state").textContent === "live"`, patience)

	other := tab(t, ctx)
	do(t, other,
		chromedp.Navigate(live.URL()+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`#console`)),
		chromedp.Click(chromedp.CSS(`#logout-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
	)
	waitFor(t, ctx, "the first tab signed out", `!document.querySelector("#signin").hidden && document.querySelector("#console").hidden`, patience)
}
