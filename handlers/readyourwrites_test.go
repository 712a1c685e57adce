package handlers_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"livefeed/feed"
	"livefeed/handlers"
)

// TestReadYourWrites: a stream opened after a publish was answered has
// that event, in its snapshot. The store answers a publisher once its
// events are committed and hands them to the hub a moment later; before,
// a subscriber coming in between got the topic's previous event as its
// snapshot (1 in 300, more with other publishes keeping the hand-off
// busy).
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	var busy sync.WaitGroup
	busy.Go(func() { // other publishers keep the hand-off busy
		for i := 0; ctx.Err() == nil; i++ {
			a.store.Append(ctx, []feed.Update{{Topic: fmt.Sprintf("load/%d", i%10), Type: "note", Data: []byte(`{}`)}})
		}
	})
	defer busy.Wait()
	defer cancel()
	for i := range 300 {
		resp, body := a.publish(t, "Bearer "+token, fmt.Sprintf(`{"topic":"ryw/a","type":"note","data":{"n":%d}}`, i))
		if resp.StatusCode != 201 {
			t.Fatalf("publish: %d %s", resp.StatusCode, body)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(body, `{"id":`), "}\n")
		_, rd := a.stream(t, "topic=ryw/a", nil)
		for {
			m, err := rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if m.Data == "" {
				continue
			}
			if m.ID != id {
				want, _ := strconv.Atoi(id)
				t.Fatalf("subscribe %d, after the publish of event %s was answered: the snapshot is event %s (%.60s); want %d", i, id, m.ID, m.Data, want)
			}
			break
		}
	}
}
