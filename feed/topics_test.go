package feed_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"livefeed/feed"
	"livefeed/feed/logtest"
	"livefeed/store"
)

// openLimited opens a store in a temporary directory behind a topic limit,
// wired as a server wires them: committed events recorded as held.
func openLimited(t *testing.T, limit int) (*feed.Topics, *store.Store) {
	t.Helper()
	var topics *feed.Topics
	st, err := store.Open(filepath.Join(t.TempDir(), "feed.db"), store.Options{Committed: func(events []feed.Event) { topics.Saw(events) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	topics = feed.NewTopics(st, limit)
	return topics, st
}

func tick(topic string) feed.Update {
	return feed.Update{Topic: topic, Type: "note", Data: []byte(`{"n":1}`)}
}

// storedTopics returns the topics the store holds a latest event of.
func storedTopics(t *testing.T, st *store.Store) map[string]bool {
	t.Helper()
	latest, err := st.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]bool)
	for _, e := range latest {
		got[e.Topic] = true
	}
	return got
}

func wantTopicLimit(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, feed.ErrTopicLimit) {
		t.Fatalf("%s: %v, want the topic limit", what, err)
	}
	if status, _ := feed.StatusOf(err); status != 507 {
		t.Fatalf("%s: answered %d, want 507", what, status)
	}
}

// TestTopicsLimit: at the limit, every way of appending refuses an update
// to a new topic and stores nothing of its request, and takes updates to
// the topics held; a line of a streaming publish is refused alone.
func TestTopicsLimit(t *testing.T) {
	ctx := context.Background()
	topics, st := openLimited(t, 3)
	for _, topic := range []string{"a", "b", "c"} {
		if _, err := topics.Append(ctx, []feed.Update{tick(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	last := st.LastID()
	key := feed.NewIdempotency("publisher", "k1", []byte("body"))

	_, err := topics.Append(ctx, []feed.Update{tick("d")})
	wantTopicLimit(t, "a new topic", err)
	_, err = topics.Append(ctx, []feed.Update{tick("a"), tick("d")})
	wantTopicLimit(t, "a batch with a new topic", err)
	_, _, err = topics.AppendOnce(ctx, key, []feed.Update{tick("d")})
	wantTopicLimit(t, "a new topic with a key", err)
	_, _, err = topics.AppendIf(ctx, nil, 0, tick("d"))
	wantTopicLimit(t, "a new topic, if it has no event", err)
	if st.LastID() != last {
		t.Fatalf("the store's newest ID went from %d to %d: a refused publish stored events", last, st.LastID())
	}

	out := topics.AppendEach(ctx, logtest.Checked(t, tick("a"), tick("x"), tick("b"), tick("y"), tick("c")), nil)
	for i, want := range []bool{true, false, true, false, true} {
		if want != (out[i].Err == nil) {
			t.Fatalf("line %d: %+v", i+1, out[i])
		}
		if !want {
			wantTopicLimit(t, fmt.Sprintf("line %d", i+1), out[i].Err)
		}
	}
	if out[0].Event.ID != last+1 || out[2].Event.ID != last+2 || out[4].Event.ID != last+3 || out[4].Event.Topic != "c" {
		t.Fatalf("the lines taken: %+v", out)
	}

	if _, err := topics.Append(ctx, []feed.Update{tick("a"), tick("b")}); err != nil {
		t.Fatalf("topics held: %v", err)
	}
	events, _, err := topics.AppendOnce(ctx, key, []feed.Update{tick("c")})
	if err != nil || events[0].Topic != "c" {
		t.Fatalf("a key refused with a new topic, again with a topic held: %v %+v", err, events)
	}
	if got := storedTopics(t, st); len(got) != 3 || topics.Held() != 3 {
		t.Fatalf("stored %v, held %d; want a, b and c", got, topics.Held())
	}

	topics.SetLimit(4)
	if _, err := topics.Append(ctx, []feed.Update{tick("d")}); err != nil {
		t.Fatalf("after raising the limit: %v", err)
	}
	_, err = topics.Append(ctx, []feed.Update{tick("e")})
	wantTopicLimit(t, "over the raised limit", err)
	topics.SetLimit(2) // below what it holds: nothing new, the topics held go on
	_, err = topics.Append(ctx, []feed.Update{tick("e")})
	wantTopicLimit(t, "below the topics held", err)
	if _, err := topics.Append(ctx, []feed.Update{tick("d")}); err != nil {
		t.Fatal(err)
	}
	topics.SetLimit(0)
	if _, err := topics.Append(ctx, []feed.Update{tick("e"), tick("f")}); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	if got := storedTopics(t, st); len(got) != 6 || topics.Held() != 6 {
		t.Fatalf("stored %v, held %d", got, topics.Held())
	}
}

// TestTopicsAtOnce: publishers naming new topics at once never pass the
// limit together, and a topic several of them name at once takes one
// slot.
func TestTopicsAtOnce(t *testing.T) {
	ctx := context.Background()
	const limit = 40
	topics, st := openLimited(t, limit)
	var taken, refused atomic.Int64
	var wg sync.WaitGroup
	for p := range 16 {
		wg.Go(func() {
			for i := range 10 {
				// Each names a topic of its own and one every publisher
				// names at the same step.
				batch := []feed.Update{tick(fmt.Sprintf("own/%d/%d", p, i)), tick(fmt.Sprintf("shared/%d", i))}
				var err error
				if p%2 == 0 {
					_, err = topics.Append(ctx, batch)
				} else {
					for _, o := range topics.AppendEach(ctx, logtest.Checked(t, batch...), nil) {
						if o.Err != nil {
							err = o.Err
						} else {
							taken.Add(1)
						}
					}
				}
				switch {
				case err == nil && p%2 == 0:
					taken.Add(2)
				case errors.Is(err, feed.ErrTopicLimit):
					refused.Add(1)
				case err != nil:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := storedTopics(t, st)
	if len(got) != limit || topics.Held() != limit {
		t.Fatalf("stored %d topics, held %d; want exactly %d", len(got), topics.Held(), limit)
	}
	if refused.Load() == 0 || taken.Load() == 0 {
		t.Fatalf("taken %d, refused %d: the test did not reach the limit", taken.Load(), refused.Load())
	}
}

// TestTopicsFreedByFailure: a publish to a new topic that fails frees its
// slot; one its publisher gave up on stores nothing.
func TestTopicsFreedByFailure(t *testing.T) {
	topics, st := openLimited(t, 1)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := topics.Append(gone, []feed.Update{tick("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a publish given up on: %v", err)
	}
	if out := topics.AppendEach(gone, logtest.Checked(t, tick("x")), nil); !errors.Is(out[0].Err, context.Canceled) {
		t.Fatalf("a line given up on: %v", out[0].Err)
	}
	if _, err := topics.Append(context.Background(), []feed.Update{tick("y")}); err != nil {
		t.Fatalf("the failed publishes' slot: %v", err)
	}
	if got := storedTopics(t, st); len(got) != 1 || !got["y"] {
		t.Fatalf("stored %v", got)
	}
}

// TestTopicsSaw: topics committed by others (another node of a cluster,
// the events of the database at start-up) count toward the limit.
func TestTopicsSaw(t *testing.T) {
	ctx := context.Background()
	topics, _ := openLimited(t, 2)
	topics.Saw([]feed.Event{{ID: 100, Topic: "p"}, {ID: 101, Topic: "p"}, {ID: 102, Topic: "q"}})
	if topics.Held() != 2 {
		t.Fatalf("held %d, want 2", topics.Held())
	}
	_, err := topics.Append(ctx, []feed.Update{tick("r")})
	wantTopicLimit(t, "a third topic", err)
	if _, err := topics.Append(ctx, []feed.Update{tick("q")}); err != nil {
		t.Fatal(err)
	}
}

// TestTopicsLogConformance: a log behind a topic limit is still a log.
func TestTopicsLogConformance(t *testing.T) {
	t.Parallel()
	logtest.Run(t, func(t *testing.T, committed func([]feed.Event)) feed.Log {
		var topics *feed.Topics
		st, err := store.Open(filepath.Join(t.TempDir(), "feed.db"), store.Options{Committed: func(events []feed.Event) {
			topics.Saw(events)
			committed(events)
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		topics = feed.NewTopics(st, 100_000)
		return topics
	})
}

// TestTopicsHeldBeforeHandedOn: a topic counts from its publish's answer
// on, before the log hands its event on (a log answers its publishers
// first).
func TestTopicsHeldBeforeHandedOn(t *testing.T) {
	ctx := context.Background()
	hold := make(chan struct{})
	var topics *feed.Topics
	st, err := store.Open(filepath.Join(t.TempDir(), "feed.db"), store.Options{Committed: func(events []feed.Event) {
		<-hold
		topics.Saw(events)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	defer close(hold)
	topics = feed.NewTopics(st, 1)
	if _, err := topics.Append(ctx, []feed.Update{tick("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = topics.Append(ctx, []feed.Update{tick("y")})
	wantTopicLimit(t, "a second topic while the first is being handed on", err)
	if out := topics.AppendEach(ctx, logtest.Checked(t, tick("x")), nil); out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	_, err = topics.Append(ctx, []feed.Update{tick("y")})
	wantTopicLimit(t, "again", err)
}

func filter(t *testing.T, patterns ...string) feed.Filter {
	t.Helper()
	f, err := feed.ParseFilter(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTopicsQuota: a publish carrying a quota (a scoped publish token's
// max_topics) is refused a new topic beyond it, counting every topic its
// filter matches whoever made it; one quota's refusals leave the others'
// topics alone; a quota put in force anew counts what is held.
func TestTopicsQuota(t *testing.T) {
	ctx := context.Background()
	topics, st := openLimited(t, 100)
	quotas := topics.SetQuotas([]feed.QuotaSpec{{Topics: filter(t, "a/*"), Limit: 2}, {Topics: filter(t, "b/*", "c"), Limit: 3}})
	a, b := feed.WithQuota(ctx, quotas[0]), feed.WithQuota(ctx, quotas[1])
	mustAppend := func(ctx context.Context, topic string) {
		t.Helper()
		if _, err := topics.Append(ctx, []feed.Update{tick(topic)}); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
	}
	refused := func(ctx context.Context, topic, says string) {
		t.Helper()
		_, err := topics.Append(ctx, []feed.Update{tick(topic)})
		wantTopicLimit(t, topic, err)
		if !strings.Contains(err.Error(), says) {
			t.Fatalf("%s: %q does not say %q", topic, err, says)
		}
	}
	mustAppend(a, "a/1")
	mustAppend(a, "a/2")
	refused(a, "a/3", "this publish token's topics (a/*) are as many as it may have (its max_topics: 2)")
	mustAppend(a, "a/1")
	mustAppend(ctx, "a/9") // without the quota (another token): the server's limit alone
	refused(a, "a/4", "max_topics: 2")
	mustAppend(a, "a/9")

	mustAppend(b, "b/1")
	mustAppend(b, "c")
	if out := topics.AppendEach(b, logtest.Checked(t, tick("b/1"), tick("b/2"), tick("b/3"), tick("c")), nil); out[0].Err != nil || out[1].Err != nil || out[3].Err != nil {
		t.Fatalf("b's lines: %+v", out)
	} else {
		wantTopicLimit(t, "b's fourth topic", out[2].Err)
	}
	_, _, err := topics.AppendIf(b, nil, 0, tick("b/4"))
	wantTopicLimit(t, "b's fourth topic, if new", err)
	mustAppend(ctx, "x") // the others' topics go on

	quotas = topics.SetQuotas([]feed.QuotaSpec{{Topics: filter(t, "a/*"), Limit: 5}})
	a = feed.WithQuota(ctx, quotas[0])
	mustAppend(a, "a/3")
	mustAppend(a, "a/4")
	refused(a, "a/5", "max_topics: 5")
	mustAppend(b, "b/9") // b's quota is no longer in force
	if got := storedTopics(t, st); len(got) != 10 || topics.Held() != 10 {
		t.Fatalf("stored %v, held %d", got, topics.Held())
	}
}

// TestTopicsQuotaAtOnce: publishes with one quota at once never pass it
// together, nor pass the server's limit.
func TestTopicsQuotaAtOnce(t *testing.T) {
	ctx := context.Background()
	topics, st := openLimited(t, 30)
	quotas := topics.SetQuotas([]feed.QuotaSpec{{Topics: filter(t, "a/*"), Limit: 12}})
	a := feed.WithQuota(ctx, quotas[0])
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for i := range 6 {
				if _, err := topics.Append(a, []feed.Update{tick(fmt.Sprintf("a/%d/%d", p, i))}); err != nil && !errors.Is(err, feed.ErrTopicLimit) {
					t.Error(err)
				}
				if _, err := topics.Append(ctx, []feed.Update{tick(fmt.Sprintf("o/%d/%d", p, i))}); err != nil && !errors.Is(err, feed.ErrTopicLimit) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	got := storedTopics(t, st)
	for topic := range got {
		if strings.HasPrefix(topic, "a/") {
			n++
		}
	}
	if n != 12 || len(got) != 30 {
		t.Fatalf("%d topics of a/*, %d in all; want 12 and 30", n, len(got))
	}
}

// TestTopicsRefusalSays: a refusal names the new topics that do not fit
// and how many would.
func TestTopicsRefusalSays(t *testing.T) {
	ctx := context.Background()
	topics, _ := openLimited(t, 3)
	quotas := topics.SetQuotas([]feed.QuotaSpec{{Topics: filter(t, "p/*"), Limit: 1}})
	p := feed.WithQuota(ctx, quotas[0])
	for _, c := range []struct {
		ctx     context.Context
		updates []feed.Update
		says    string
	}{
		{ctx, []feed.Update{tick("a"), tick("b"), tick("c"), tick("d"), tick("a")}, "the publish names 4 new topics (a, b, c, ...), and this server has room for 3 more (feed.max_topics: 3); publish fewer, or ask its operator to raise the limit"},
		{p, []feed.Update{tick("x"), tick("p/1"), tick("p/2")}, "the publish names 2 new topics (p/1, p/2), and this publish token's topics (p/*) have room for 1 more (its max_topics: 1); publish fewer, or ask the server's operator to raise the limit"},
		{p, []feed.Update{tick("p/1")}, ""},
		{p, []feed.Update{tick("x"), tick("p/2")}, "p/2 would be a new topic, and this publish token's topics (p/*) are as many as it may have (its max_topics: 1); publish to a topic it has, or ask the server's operator to raise the limit"},
		{ctx, []feed.Update{tick("x"), tick("y")}, ""},
		{ctx, []feed.Update{tick("z")}, "z would be a new topic, and this server holds as many topics as it allows (feed.max_topics: 3); publish to a topic it holds, or ask its operator to raise the limit"},
	} {
		_, err := topics.Append(c.ctx, c.updates)
		if c.says == "" {
			if err != nil {
				t.Fatalf("%v: %v", c.updates, err)
			}
			continue
		}
		wantTopicLimit(t, fmt.Sprint(c.updates), err)
		if err.Error() != c.says {
			t.Errorf("refused with\n%q, want\n%q", err, c.says)
		}
	}
}
