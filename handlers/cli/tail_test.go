package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livefeed/feed"
	"livefeed/feed/poll"
	"livefeed/handlers/cli"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/handlers/token"
)

// printedIDs are the IDs of the events tail printed, one JSON line each.
func printedIDs(t *testing.T, out string) []int64 {
	t.Helper()
	var ids []int64
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e feed.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON event line: %q", line)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// TestTailCommand: -from 0 prints every stored event as a JSON line, -n
// stops after N; without -from, the latest of each topic; a position
// ahead of the server is a reset on stderr, then the latest events.
func TestTailCommand(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Config(t), node.Options{})
	for i := 1; i <= 3; i++ {
		nodetest.MustPublish(t, n.URL, nodetest.Note("tail/a", i))
	}
	nodetest.MustPublish(t, n.URL, nodetest.Note("tail/b", 4))
	for _, tc := range []struct {
		name   string
		args   []string
		ids    []int64
		stderr string
	}{
		{"FromZero", []string{"-from", "0", "-n", "4", "tail/*"}, []int64{1, 2, 3, 4}, ""},
		{"FromTwo", []string{"-from", "2", "-n", "2", "*"}, []int64{3, 4}, ""},
		{"OneTopic", []string{"-from", "0", "-n", "3", "tail/a"}, []int64{1, 2, 3}, ""},
		{"Latest", []string{"-n", "2", "tail/*"}, []int64{3, 4}, ""},
		{"Ahead", []string{"-from", "999", "-n", "2", "tail/*"}, []int64{3, 4}, "livefeed tail: reset (ahead)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stdout, stderr, err := run(ctx, cli.Tail, tokenEnv(""), nil, append([]string{"-url", n.URL}, tc.args...)...)
			if err != nil {
				t.Fatalf("tail: %v\n%s", err, stderr)
			}
			if ids := printedIDs(t, stdout); !slices.Equal(ids, tc.ids) {
				t.Errorf("tail printed %v, want %v", ids, tc.ids)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q, want %q", stderr, tc.stderr)
			}
		})
	}
}

// TestTailAcrossRestart: a tail running while the server restarts
// reconnects by itself with its last event ID and prints every event
// once, in order: none missed, none twice.
func TestTailAcrossRestart(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Feed.Retry = time.Second
	n := nodetest.Start(t, cfg, node.Options{})
	var stdout, stderr nodetest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- cli.Tail(ctx, cli.Env{Args: []string{"-url", n.URL, "-from", "0", "-n", "8", "tail/*"}, Getenv: tokenEnv(""), Stdout: &stdout, Stderr: &stderr})
	}()
	for i := 1; i <= 4; i++ {
		nodetest.MustPublish(t, n.URL, nodetest.Note("tail/x", i))
	}
	poll.Until(t, "tail to print 4 events", func() bool { return strings.Count(stdout.String(), "\n") == 4 })
	if err := n.Restart(nil); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 8; i++ {
		nodetest.MustPublish(t, n.URL, nodetest.Note("tail/x", i))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("tail printed %q before the deadline", stdout.String())
	}
	if ids := printedIDs(t, stdout.String()); !slices.Equal(ids, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("across the restart tail printed %v", ids)
	}
	if want := "livefeed tail: printed 8 events (IDs 1 to 8); -from 8 continues after them\n"; stderr.String() != want {
		t.Errorf("stderr: %q, want only %q", stderr.String(), want)
	}
}

// TestTailRefusedToken: a tail of private topics whose subscriber token
// the server refuses — expired before the start, or expiring while it
// runs — stops with exit status 1 and says where the token came from, why
// it was refused and the -from that continues after what it printed,
// instead of waiting for ever for events it may no longer receive.
func TestTailRefusedToken(t *testing.T) {
	t.Parallel()
	const secret = "e2e-subscriber-secret-0123456789abcdef"
	cfg := nodetest.Config(t)
	cfg.Feed.Retry = time.Second
	cfg.Auth.PrivateTopics = []string{"premium/*"}
	cfg.Auth.SubscriberKeys = []string{secret}
	n := nodetest.Start(t, cfg, node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("premium/a", 1))
	nodetest.MustPublish(t, n.URL, nodetest.Note("premium/a", 2))
	mint := func(exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp.Unix(), "subscribe": []string{"premium/*"}}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name string
		env  func(string) string
		args []string
		out  int // events printed before the refusal
		want string
	}{
		{"Expired", tokenEnv(mint(time.Now().Add(-time.Hour))), nil, 0,
			"the server refused the subscriber token given with $LIVEFEED_TOKEN (expired)"},
		// Accepted for 3 or 4 more seconds, the server's leeway
		// included; then the stream ends and the reconnection is refused.
		{"ExpiresWhileTailing", tokenEnv(""), []string{"-token", mint(time.Now().Add(4*time.Second - token.Leeway))}, 2,
			"the server refused the subscriber token given with -token (expired)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, errs, err := run(ctx, cli.Tail, tc.env, nil, append(append([]string{"-url", n.URL, "-from", "0"}, tc.args...), "premium/*")...)
			if ctx.Err() != nil {
				t.Fatalf("tail was still waiting after 30 s: printed %q, stderr %q", out, errs)
			}
			resume := fmt.Sprintf("-from %d", tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), resume) {
				t.Fatalf("tail = %v; want an error with %q and %q", err, tc.want, resume)
			}
			if n := strings.Count(out, "\n"); n != tc.out {
				t.Errorf("printed %d events, want %d: %q", n, tc.out, out)
			}
		})
	}
}
