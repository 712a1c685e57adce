package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"
)

// TestFollowGrowth: the progress of a backup or a restore follows the size
// of the file being written, and is full once the work completed; one that
// failed leaves the bar where it was.
func TestFollowGrowth(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feed.db.partial")
	for _, ok := range []bool{true, false} {
		var drawn bytes.Buffer
		bar := progressbar.NewOptions64(1000, progressbar.OptionSetWriter(&drawn))
		os.Remove(path)
		done := followGrowth(bar, path, time.Millisecond)
		if err := os.WriteFile(path, make([]byte, 400), 0o600); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for bar.State().CurrentNum != 400 {
			if time.Now().After(deadline) {
				t.Fatalf("the bar is at %d of a 400-byte file", bar.State().CurrentNum)
			}
			time.Sleep(time.Millisecond)
		}
		done(ok)
		if want := map[bool]int64{true: 1000, false: 400}[ok]; bar.State().CurrentNum != want {
			t.Errorf("completed %v: the bar ends at %d, want %d", ok, bar.State().CurrentNum, want)
		}
		if drawn.Len() == 0 {
			t.Error("nothing was drawn")
		}
	}
}

// TestWatchGrowthNeedsTerminal: without a terminal (a pipe, a log file) a
// backup draws nothing.
func TestWatchGrowthNeedsTerminal(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	reference := filepath.Join(t.TempDir(), "feed.db")
	if err := os.WriteFile(reference, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	done := WatchGrowth(&stderr, "backing up", filepath.Join(t.TempDir(), "x"), reference)
	done(true)
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	WatchGrowth(f, "backing up", filepath.Join(t.TempDir(), "x"), reference)(true)
	if fi, _ := f.Stat(); stderr.Len() != 0 || fi.Size() != 0 {
		t.Errorf("drawn without a terminal: %q, %d bytes in a file", stderr.String(), fi.Size())
	}
}
