package archive_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/archive"
	"livefeed/store"
)

func mustOpenStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "feed.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func score(topic, status string) feed.Update {
	return feed.Update{Topic: topic, Type: feed.TypeScore, Data: json.RawMessage(`{"home":"A","away":"B","home_score":1,"away_score":0,"status":"` + status + `"}`)}
}

// staleLatest answers with the latest events as they were read once.
type staleLatest []feed.Event

func (s staleLatest) Latest(context.Context) ([]feed.Event, error) { return s, nil }

func TestSweep(t *testing.T) {
	ctx := context.Background()
	st := mustOpenStore(t)
	if _, err := st.Append(ctx, []feed.Update{
		score("nba/over", "final"), score("nba/on", "live"), score("nba/soon", "scheduled"),
		{Topic: "stocks/X", Type: feed.TypeTick, Data: json.RawMessage(`{"symbol":"X","price":1,"status":"final"}`)},
	}); err != nil {
		t.Fatal(err)
	}
	const linger = 3 * time.Hour
	t.Run("NotYet", func(t *testing.T) {
		n, err := archive.Sweep(ctx, st, st, time.Now().Add(linger-time.Minute), linger)
		if err != nil || n != 0 {
			t.Fatalf("Sweep = %d, %v before the linger", n, err)
		}
	})
	t.Run("ChangedMeanwhile", func(t *testing.T) {
		stale, err := st.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, []feed.Update{score("nba/over", "final")}); err != nil { // a correction
			t.Fatal(err)
		}
		n, err := archive.Sweep(ctx, staleLatest(stale), st, time.Now().Add(linger+time.Minute), linger)
		if err != nil || n != 0 {
			t.Fatalf("Sweep = %d, %v over a game that changed", n, err)
		}
		if e, _, _ := st.LatestOf(ctx, "nba/over"); e.Type != feed.TypeScore {
			t.Fatalf("the corrected game was archived: %s", e.Type)
		}
	})
	t.Run("OK", func(t *testing.T) {
		last := st.LastID()
		n, err := archive.Sweep(ctx, st, st, time.Now().Add(linger+time.Minute), linger)
		if err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v, want 1", n, err)
		}
		e, _, _ := st.LatestOf(ctx, "nba/over")
		if e.Type != feed.TypeArchive || e.ID != last+1 || string(e.Data) != "{}" {
			t.Fatalf("nba/over's latest event is %+v", e)
		}
		for _, topic := range []string{"nba/on", "nba/soon", "stocks/X"} {
			if e, _, _ := st.LatestOf(ctx, topic); e.Type == feed.TypeArchive {
				t.Errorf("%s was archived", topic)
			}
		}
		// Nothing is archived twice.
		if n, err := archive.Sweep(ctx, st, st, time.Now().Add(linger+time.Minute), linger); err != nil || n != 0 {
			t.Fatalf("second Sweep = %d, %v", n, err)
		}
	})
}

func TestDue(t *testing.T) {
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	ev := func(typ, data string, age time.Duration) feed.Event {
		return feed.Event{ID: 1, Topic: "t", Type: typ, Time: now.Add(-age), Data: json.RawMessage(data)}
	}
	for _, tc := range []struct {
		name string
		e    feed.Event
		due  bool
	}{
		{"FinalOld", ev("score", `{"status":"final"}`, 3*time.Hour), true},
		{"FinalYoung", ev("score", `{"status":"final"}`, 3*time.Hour-time.Millisecond), false},
		{"Live", ev("score", `{"status":"live"}`, 30*time.Hour), false},
		{"NoStatus", ev("score", `{}`, 30*time.Hour), false},
		{"StatusNotString", ev("score", `{"status":1}`, 30*time.Hour), false},
		{"OtherType", ev("note", `{"status":"final"}`, 30*time.Hour), false},
		{"Archived", ev("archive", `{}`, 30*time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(archive.Due([]feed.Event{tc.e}, now, 3*time.Hour)) == 1; got != tc.due {
				t.Fatalf("Due = %v, want %v", got, tc.due)
			}
		})
	}
}

// TestRun: the sweeper archives a final game past its linger on its own,
// and stops with its context.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := mustOpenStore(t)
	if _, err := st.Append(ctx, []feed.Update{score("nba/over", "final"), score("nba/on", "live")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		archive.Run(ctx, st, st, time.Millisecond, 5*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, _, err := st.LatestOf(ctx, "nba/over")
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == feed.TypeArchive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the final game was not archived")
		}
		time.Sleep(5 * time.Millisecond) // polling the store
	}
	cancel()
	<-done
	if e, _, _ := st.LatestOf(context.Background(), "nba/on"); e.Type != feed.TypeScore {
		t.Fatalf("the live game's latest event is %s", e.Type)
	}
}
