package cli_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/cli"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// TestTailConflate: -conflate asks for conflated delivery, within its
// bounds; a delayed stream is reported on stderr.
func TestTailConflate(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Feed.Delayed = []config.DelayedTier{{Topics: []string{"late/*"}, Delay: time.Second}}
	n := nodetest.Start(t, cfg, node.Options{})
	nodetest.MustPublish(t, n.URL, "["+nodetest.Note("tail/a", 1)+","+nodetest.Note("tail/a", 2)+","+nodetest.Note("tail/a", 3)+"]")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stdout, stderr, err := run(ctx, cli.Tail, tokenEnv(""), nil, "-url", n.URL, "-from", "0", "-conflate", "1s", "-n", "1", "tail/*")
	if ids := printedIDs(t, stdout); err != nil || !slices.Equal(ids, []int64{3}) {
		t.Fatalf("tail -conflate: %v, %v\n%s", ids, err, stderr)
	}
	nodetest.MustPublish(t, n.URL, nodetest.Note("late/a", 1))
	if _, stderr, err := run(ctx, cli.Tail, tokenEnv(""), nil, "-url", n.URL, "-n", "1", "late/*"); err != nil || !strings.Contains(stderr, "livefeed tail: the stream is delayed by 1 s") {
		t.Fatalf("tail of a delayed topic: %v\n%s", err, stderr)
	}
	for _, bad := range []string{"10ms", "2h"} {
		if _, stderr, err := run(ctx, cli.Tail, tokenEnv(""), nil, "-url", n.URL, "-conflate", bad, "tail/*"); err == nil || !strings.Contains(err.Error()+stderr, "-conflate "+bad+" is out of range") {
			t.Errorf("-conflate %s: %v %s", bad, err, stderr)
		}
	}
}
