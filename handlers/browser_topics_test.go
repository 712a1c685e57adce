package handlers_test

import (
	"context"
	"fmt"
	"testing"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers"
)

// TestBrowserConsoleTopicsPages: the console lists every topic, archived
// ones included, when they take more than a page of /api/topics (the
// archived ones reach it only there: a stream's snapshot leaves them out).
func TestBrowserConsoleTopicsPages(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	live := startLiveServer(t, handlers.Options{})
	const n = 1_005 // a page is 1,000
	c := client.New(live.URL(), token)
	for first := 0; first < n; first += 100 {
		var batch []feed.Update
		for i := first; i < min(first+100, n); i++ {
			topic := fmt.Sprintf("games/g%04d", i)
			batch = append(batch, feed.Update{Topic: topic, Type: "note", Data: []byte(`{}`)}, feed.Update{Topic: topic, Type: feed.TypeArchive, Data: []byte(`{}`)})
		}
		if _, err := c.PublishBatch(context.Background(), batch, ""); err != nil {
			t.Fatal(err)
		}
	}
	signIn(t, ctx, live.URL())
	waitFor(t, ctx, "the console to list the archived topics of both pages",
		`document.querySelector('#history-topic option[value="games/g0000"]') !== null && document.querySelector('#history-topic option[value="games/g1004"]') !== null`, patience)
	if got := eval[int](t, ctx, `document.querySelectorAll('#history-topic option[value^="games/"]').length`); got != n {
		t.Fatalf("the console lists %d of the %d topics", got, n)
	}
}
