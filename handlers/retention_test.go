package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/handlers"
	"livefeed/store"
)

// TestResumeBelowRetention resumes streams over a real socket after
// retention pruned most of the history, with the topic index entries of
// the pruned events removed after them: a position below the floor gets
// one reset, then the snapshot (the latest event of each topic, also of
// topics whose history is all gone), then live events; a position at the
// floor gets exactly the events after it.
func TestResumeBelowRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newApp(t, handlers.Options{}, false)
	const topics, events = 40, 4_000
	batch := make([]feed.Update, 0, 500)
	for i := range events {
		batch = append(batch, feed.Update{Topic: fmt.Sprintf("stocks/S%02d", i%topics), Type: "tick",
			Data: json.RawMessage(fmt.Sprintf(`{"symbol":"S%02d","price":117.25,"volume":%d}`, i%topics, i/topics+1))})
		if len(batch) == cap(batch) {
			if _, err := a.store.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// One topic whose every event is pruned: it stays in the snapshot.
	old, err := a.store.Append(ctx, []feed.Update{{Topic: "stocks/OLD", Type: "tick", Data: json.RawMessage(`{"symbol":"OLD","price":1}`)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2_000 {
		if _, err := a.store.Append(ctx, []feed.Update{{Topic: fmt.Sprintf("stocks/S%02d", i%topics), Type: "tick",
			Data: json.RawMessage(fmt.Sprintf(`{"symbol":"S%02d","price":118,"volume":%d}`, i%topics, 1_000+i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.store.Prune(ctx, store.Retention{MaxRows: 1_000}); err != nil {
		t.Fatal(err)
	}
	floor := a.store.Floor()
	if floor <= old[0].ID {
		t.Fatalf("floor %d: the topic stocks/OLD (event %d) was not pruned", floor, old[0].ID)
	}

	t.Run("ResetThenSnapshot", func(t *testing.T) {
		_, rd := a.stream(t, "topic=stocks/*", http.Header{"Last-Event-ID": {"5"}})
		m, err := rd.Next()
		if err != nil || m.Type != "reset" {
			t.Fatalf("first message %+v, %v; want a reset", m, err)
		}
		var reset struct{ Reason string }
		if err := json.Unmarshal([]byte(m.Data), &reset); err != nil || reset.Reason != "pruned" {
			t.Fatalf("reset %s: want reason pruned", m.Data)
		}
		latest, err := a.store.Latest(ctx)
		if err != nil || len(latest) != topics+1 {
			t.Fatalf("%d latest events, %v", len(latest), err)
		}
		for _, want := range latest {
			m, err := rd.Next()
			if err != nil || m.ID != strconv.FormatInt(want.ID, 10) || m.Type != "tick" {
				t.Fatalf("snapshot: %+v, %v; want event %d of %s", m, err, want.ID, want.Topic)
			}
		}
		live, err := a.store.Append(ctx, []feed.Update{{Topic: "stocks/S00", Type: "tick", Data: json.RawMessage(`{"symbol":"S00","price":119}`)}})
		if err != nil {
			t.Fatal(err)
		}
		m, err = rd.Next()
		for err == nil && strings.HasPrefix(m.Type, "livefeed.") { // the position after the snapshot
			m, err = rd.Next()
		}
		if err != nil || m.ID != strconv.FormatInt(live[0].ID, 10) {
			t.Fatalf("live: %+v, %v; want event %d", m, err, live[0].ID)
		}
	})
	t.Run("ResumeAtFloor", func(t *testing.T) {
		_, rd := a.stream(t, "topic=stocks/S07", http.Header{"Last-Event-ID": {strconv.FormatInt(floor, 10)}})
		want, err := a.store.After(ctx, floor, feed.Filter{Topics: []string{"stocks/S07"}}, 1_000)
		if err != nil || len(want) == 0 {
			t.Fatalf("After(floor) = %d events, %v", len(want), err)
		}
		for _, e := range want {
			m, err := rd.Next()
			if err != nil || m.ID != strconv.FormatInt(e.ID, 10) {
				t.Fatalf("replay: %+v, %v; want event %d", m, err, e.ID)
			}
		}
	})
}
