package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/store"
)

func TestAppendOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	body := []byte(`{"topic":"a","type":"note","data":{"n":1}}`)
	once := feed.NewIdempotency("publisher-1", "key-1", body)

	t.Run("RetryReplays", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		first, replayed, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1), note("b", 2)})
		if err != nil || replayed || len(first) != 2 {
			t.Fatalf("first publish: %v, replayed %v, %d events", err, replayed, len(first))
		}
		again, replayed, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1), note("b", 2)})
		if err != nil || !replayed {
			t.Fatalf("retry: %v, replayed %v", err, replayed)
		}
		if len(again) != 2 || again[0].ID != first[0].ID || again[1].ID != first[1].ID || again[1].Topic != "b" || string(again[1].Data) != string(first[1].Data) {
			t.Fatalf("retry got %+v, want %+v", again, first)
		}
		if s.LastID() != 2 {
			t.Fatalf("LastID = %d after a retry, want 2", s.LastID())
		}
		events, found, err := s.Replay(ctx, once)
		if err != nil || !found || len(events) != 2 || events[0].ID != 1 {
			t.Fatalf("Replay = %+v, %v, %v", events, found, err)
		}
	})
	t.Run("feed.ErrKeyReused", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		if _, _, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1)}); err != nil {
			t.Fatal(err)
		}
		other := feed.NewIdempotency("publisher-1", "key-1", []byte(`{"another":"body"}`))
		if _, _, err := s.AppendOnce(ctx, other, []feed.Update{note("a", 9)}); !errors.Is(err, feed.ErrKeyReused) {
			t.Fatalf("same key, another request: %v, want feed.ErrKeyReused", err)
		}
		if _, _, err := s.Replay(ctx, other); !errors.Is(err, feed.ErrKeyReused) {
			t.Fatalf("Replay of another request: %v, want feed.ErrKeyReused", err)
		}
		if s.LastID() != 1 {
			t.Fatalf("LastID = %d: the refused publish wrote", s.LastID())
		}
	})
	t.Run("PublishersApart", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{})
		for _, pub := range []string{"publisher-1", "publisher-2"} {
			_, replayed, err := s.AppendOnce(ctx, feed.NewIdempotency(pub, "key-1", body), []feed.Update{note("a", 1)})
			if err != nil || replayed {
				t.Fatalf("%s: %v, replayed %v", pub, err, replayed)
			}
		}
		if s.LastID() != 2 {
			t.Fatalf("LastID = %d, want 2", s.LastID())
		}
	})
	t.Run("AtOnce", func(t *testing.T) {
		// Retries sent together are stored once, whether they meet in one
		// commit or not.
		s := MustOpenStore(t, store.Options{})
		var wg sync.WaitGroup
		ids := make([]int64, 32)
		for i := range ids {
			wg.Go(func() {
				events, _, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = events[0].ID
			})
		}
		wg.Wait()
		for i, id := range ids {
			if id != 1 {
				t.Fatalf("publish %d got ID %d, want 1", i, id)
			}
		}
		if s.LastID() != 1 {
			t.Fatalf("LastID = %d, want 1", s.LastID())
		}
	})
	t.Run("SurvivesRestart", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "feed.db")
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1)}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = MustOpenStoreAt(t, path, store.Options{})
		events, replayed, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1)})
		if err != nil || !replayed || events[0].ID != 1 || s.LastID() != 1 {
			t.Fatalf("retry after a restart: %v, replayed %v, %+v, last %d", err, replayed, events, s.LastID())
		}
	})
	t.Run("WindowEnds", func(t *testing.T) {
		s := MustOpenStore(t, store.Options{IdempotencyWindow: 50 * time.Millisecond, PruneEvery: 10 * time.Millisecond})
		if _, _, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the point: the window passes
		events, replayed, err := s.AppendOnce(ctx, once, []feed.Update{note("a", 1)})
		if err != nil || replayed || events[0].ID != 2 {
			t.Fatalf("after the window: %v, replayed %v, %+v", err, replayed, events)
		}
	})
}
