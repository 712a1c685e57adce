package fanout

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// allTopics is a Filter of every topic.
type allTopics struct{}

func (allTopics) Match(string) bool                { return true }
func (allTopics) Keys() ([]string, []string, bool) { return nil, nil, true }

// snapshotOf attaches a subscriber of f with a snapshot and returns the
// frames it is sent before the window.
func (h *Hub) snapshotOf(t *testing.T, f Filter) [][]byte {
	t.Helper()
	s := &Subscriber{hub: h, filter: f}
	if err := h.attachSnapshot(s, ""); err != nil {
		t.Fatal(err)
	}
	defer h.forget(s)
	var marks []mark
	h.mu.RLock()
	h.fillLocked(s, nil, 1<<20, &marks)
	h.mu.RUnlock()
	var frames [][]byte
	for _, m := range marks {
		if m.kind == markBacklog || m.kind == markSnap || m.kind == markSnapEnd {
			frames = append(frames, m.frame)
		}
	}
	return frames
}

// TestPositionFrameShared: the position event, like every frame the hub
// sends to many, is encoded once and shared by the subscribers that attach
// at the same newest ID (a reconnection storm after a restart makes
// thousands at once), not allocated for each.
func TestPositionFrameShared(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{})
	defer h.Close()
	h.PublishFrames([]*Message{NewMessage(1, "a", "note", []byte(`{}`)), NewMessage(2, "b", "note", []byte(`{}`))})
	last := func(backlog [][]byte) []byte { return backlog[len(backlog)-1] }

	first := last(h.snapshotOf(t, allTopics{}))    // ends with event 2: no id line
	second := last(h.snapshotOf(t, topicsOf{"a"})) // ends with event 1: the id line
	third := last(h.snapshotOf(t, topicsOf{"a"}))
	if string(second) != "id: 2\nevent: livefeed.position\ndata: {\"last_id\":2}\n\n" || !strings.HasSuffix(string(second), string(first)) {
		t.Fatalf("position frames %q and %q", second, first)
	}
	if &second[0] != &third[0] || &first[len(first)-1] != &second[len(second)-1] {
		t.Fatal("the position frame was encoded for each subscriber")
	}

	h.PublishFrames([]*Message{NewMessage(3, "b", "note", []byte(`{}`))})
	if got := string(last(h.snapshotOf(t, topicsOf{"a"}))); got != "id: 3\nevent: livefeed.position\ndata: {\"last_id\":3}\n\n" {
		t.Fatalf("after a publish the position frame is %q", got)
	}
}

// topicsOf is a Filter of exact topics.
type topicsOf []string

func (f topicsOf) Match(topic string) bool {
	for _, t := range f {
		if t == topic {
			return true
		}
	}
	return false
}

func (f topicsOf) Keys() ([]string, []string, bool) { return f, nil, false }

// TestSnapshotHoldsNoCopy: a subscriber of every topic attaches without a
// frame per topic of its own (it reads its snapshot from the hub's list
// as it is written); the list keeps about the topics there are, however
// many events replace their latest.
func TestSnapshotHoldsNoCopy(t *testing.T) {
	h := NewHub(Options{})
	defer h.Close()
	const topics = 50_000
	msgs := make([]*Message, topics)
	for i := range msgs {
		msgs[i] = NewMessage(int64(i+1), fmt.Sprintf("t/%05d", i), "note", []byte(`{}`))
	}
	h.PublishFrames(msgs)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const subs = 20
	for range subs {
		s := &Subscriber{hub: h, filter: allTopics{}}
		if err := h.attachSnapshot(s, ""); err != nil {
			t.Fatal(err)
		}
		h.forget(s)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / subs; per > 4<<10 {
		t.Fatalf("a subscriber of every topic allocated %d bytes to attach, with %d topics", per, topics)
	}

	id := int64(topics)
	const rounds = 70 // 70,000 replacements: more than the topics, not twice
	for range rounds {
		batch := make([]*Message, 1_000)
		for i := range batch {
			id++
			batch[i] = NewMessage(id, fmt.Sprintf("t/%05d", i), "note", []byte(`{}`))
		}
		h.PublishFrames(batch)
	}
	h.mu.RLock()
	n := len(h.snap)
	h.mu.RUnlock()
	if n > 2*topics+snapCompactAt || n >= topics+rounds*1_000 {
		t.Fatalf("the list holds %d messages for %d topics after %d replacements", n, topics, rounds*1_000)
	}
}
