package cluster_test

import (
	"reflect"
	"testing"

	"livefeed/feed"
	"livefeed/feed/archive"
	"livefeed/store"
	"livefeed/store/cluster"
)

// What a node is to the libraries of the feed floor: a log (feed.Log, the
// one publish seam) and the latest events the archiver reads. What else it
// is wired as (handlers' History and SessionStore) is asserted where it is
// wired: this floor does not import handlers.
var (
	_ feed.Log       = (*cluster.Node)(nil)
	_ archive.Latest = (*cluster.Node)(nil)
)

// TestNodeHasNoStoreWrites: a node has none of its store's writes (Apply,
// SetMeta, Prune, Backup, ...). Such a method on a node would pass for the
// node's log while bypassing the stream: the event would get an ID the
// stream may give to another, and no other node would ever hear of it.
// The methods a node shares with its store by name are each its own,
// listed here with what they do instead.
func TestNodeHasNoStoreWrites(t *testing.T) {
	t.Parallel()
	own := map[string]string{
		"Append":        "publishes through the stream",
		"AppendOnce":    "publishes through the stream",
		"AppendIf":      "publishes through the stream",
		"AppendEach":    "publishes through the stream",
		"Replay":        "reads the history (idempotency keys travel in the stream)",
		"Latest":        "reads the history",
		"LatestOf":      "reads the history",
		"LatestPage":    "reads the history",
		"LatestAsOf":    "reads the history (the same on every node: times come from the log)",
		"Page":          "reads the history",
		"Export":        "reads the history",
		"Missed":        "reads the history",
		"LastID":        "the newest event applied to the history",
		"Resumable":     "reads the history, once caught up with the stream",
		"Ping":          "the store, and whether the node follows the stream",
		"CreateSession": "the sessions bucket every node shares",
		"Session":       "the sessions bucket every node shares",
		"EndSession":    "the sessions bucket every node shares",
		"Close":         "stops mirroring; the store stays open",
	}
	node, st := reflect.TypeFor[*cluster.Node](), reflect.TypeFor[*store.Store]()
	shared := func(typ reflect.Type) (names []string) {
		for m := range typ.Methods() {
			if _, ok := st.MethodByName(m.Name); ok {
				names = append(names, m.Name)
			}
		}
		return names
	}

	// Nothing of the store's is promoted onto a node: no embedded field
	// brings a method of the store's, not even one of the names above.
	for f := range node.Elem().Fields() {
		if !f.Anonymous {
			continue
		}
		typ := f.Type
		if typ.Kind() != reflect.Pointer {
			typ = reflect.PointerTo(typ) // the method set of an addressable field
		}
		if names := shared(typ); len(names) > 0 {
			t.Errorf("cluster.Node embeds %s, which brings the store's %v onto the node: hold it as a named field", f.Type, names)
		}
	}
	for _, name := range shared(node) {
		if _, ok := own[name]; !ok {
			t.Errorf("cluster.Node has the store's method %s, not one it means to have (a write there bypasses the stream): drop it, or list it here with what it does instead", name)
		}
	}
	for _, write := range []string{"Apply", "SetMeta", "Prune", "Backup"} {
		if _, ok := node.MethodByName(write); ok {
			t.Errorf("cluster.Node has %s, a write of the store's that bypasses the stream", write)
		}
	}
	// The list above is of methods the node has: one it lost is a
	// read or a publish that main can no longer wire.
	for name := range own {
		if _, ok := node.MethodByName(name); !ok {
			t.Errorf("cluster.Node has no %s (%s)", name, own[name])
		}
	}
}
