package fanout

import (
	"strings"
	"testing"
)

// allTopics is a Filter of every topic.
type allTopics struct{}

func (allTopics) Match(string) bool                { return true }
func (allTopics) Keys() ([]string, []string, bool) { return nil, nil, true }

// snapshotOf attaches a subscriber of f with a snapshot and returns what
// it is to be sent before the window.
func (h *Hub) snapshotOf(t *testing.T, f Filter) [][]byte {
	t.Helper()
	s := &Subscriber{hub: h, filter: f}
	if err := h.attachSnapshot(s, ""); err != nil {
		t.Fatal(err)
	}
	h.forget(s)
	return s.backlog
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
