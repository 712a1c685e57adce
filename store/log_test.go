package store_test

import (
	"path/filepath"
	"testing"

	"livefeed/feed"
	"livefeed/feed/logtest"
	"livefeed/store"
)

// TestLogConformance: the store passes the conformance test every log of
// livefeed's passes.
func TestLogConformance(t *testing.T) {
	t.Parallel()
	logtest.Run(t, func(t *testing.T, committed func([]feed.Event)) feed.Log {
		return MustOpenStoreAt(t, filepath.Join(t.TempDir(), "feed.db"), store.Options{Committed: committed})
	})
}
