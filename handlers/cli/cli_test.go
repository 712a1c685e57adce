package cli_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers/cli"
	"livefeed/handlers/node/nodetest"
	"livefeed/handlers/token"
)

// command is a command of livefeed's, as main's table runs it.
type command func(context.Context, cli.Env) error

// run runs cmd with args as a user would, with the environment getenv
// and reading stdin, and returns what it wrote.
func run(ctx context.Context, cmd command, getenv func(string) string, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	var out, errOut nodetest.Buffer
	err = cmd(ctx, cli.Env{Args: args, Getenv: getenv, Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}

// tokenEnv is the environment of a command: no variable set but
// LIVEFEED_TOKEN, to tok ("" for none).
func tokenEnv(tok string) func(string) string {
	return func(key string) string {
		if key == cli.EnvToken {
			return tok
		}
		return ""
	}
}

// writeFile writes text to a new file named name and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storedEvents is every event the server at base has stored, in ID order.
func storedEvents(t *testing.T, base string) []feed.Event {
	t.Helper()
	c := client.New(base, "")
	var events []feed.Event
	for q := (&client.HistoryQuery{Limit: 1000}); q != nil; {
		page, err := c.History(context.Background(), *q)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page.Events...)
		q = page.Next
	}
	return events
}

// dataOf is the data of events, as strings.
func dataOf(events []feed.Event) []string {
	data := make([]string, len(events))
	for i, e := range events {
		data[i] = string(e.Data)
	}
	return data
}

// noteLines is n NDJSON lines of note events on topic, {"n":1} to
// {"n":n}.
func noteLines(topic string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(nodetest.Note(topic, i) + "\n")
	}
	return b.String()
}

// TestFeedCommandFlags: bad flags of tail and publish are refused before
// anything is sent, with what is wrong.
func TestFeedCommandFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name string
		cmd  command
		args []string
		err  string
	}{
		{"TailNoTopic", cli.Tail, []string{"-url", "http://127.0.0.1:1"}, "tail needs at least one topic pattern"},
		{"TailBadTopic", cli.Tail, []string{"-url", "http://127.0.0.1:1", "a b"}, "topic"},
		{"TailFromWord", cli.Tail, []string{"-url", "http://127.0.0.1:1", "-from", "abc", "*"}, `-from "abc" is not an event ID`},
		{"TailFromNegative", cli.Tail, []string{"-url", "http://127.0.0.1:1", "-from", "-5", "*"}, `-from "-5" is not an event ID`},
		{"TailFromExponent", cli.Tail, []string{"-url", "http://127.0.0.1:1", "-from", "1e3", "*"}, `-from "1e3"`},
		{"TailFromPlus", cli.Tail, []string{"-url", "http://127.0.0.1:1", "-from", "+3", "*"}, `-from "+3"`},
		{"TailFromHuge", cli.Tail, []string{"-url", "http://127.0.0.1:1", "-from", "99999999999999999999", "*"}, "is not an event ID"},
		{"TailNegativeN", cli.Tail, []string{"-url", "http://127.0.0.1:1", "-n", "-1", "*"}, "-n -1"},
		{"TailNWord", cli.Tail, []string{"-n", "x", "*"}, "invalid value"},
		{"PublishBatchZero", cli.Publish, []string{"-url", "http://127.0.0.1:1", "-batch", "0"}, "-batch 0 is out of range"},
		{"PublishBatchHuge", cli.Publish, []string{"-url", "http://127.0.0.1:1", "-batch", "5000"}, "-batch 5000 is out of range"},
		{"PublishTwoFiles", cli.Publish, []string{"-url", "http://127.0.0.1:1", "a", "b"}, "one file at most"},
		{"PublishKeysUnknown", cli.Publish, []string{"-url", "http://127.0.0.1:1", "-keys", "line", "a"}, `-keys "line": use none or file`},
		{"PublishKeysFileStdin", cli.Publish, []string{"-url", "http://127.0.0.1:1", "-keys", "file"}, "-keys=file takes its keys from FILE's path: name the file"},
		{"PublishKeysFileNotRegular", cli.Publish, []string{"-url", "http://127.0.0.1:1", "-keys", "file", os.DevNull}, "-keys=file needs a regular file"},
		{"PublishFlagAfterFile", cli.Publish, []string{"-url", "http://127.0.0.1:1", "events.ndjson", "-keys", "line"}, `-keys "line"`},
		{"ImportFlagAfterFile", cli.Import, []string{"-url", "http://127.0.0.1:1", "a.csv", "-batch", "0"}, "-batch 0 is out of range"},
		{"ImportKeysUnknown", cli.Import, []string{"-url", "http://127.0.0.1:1", "-keys", "content", "a.csv"}, `-keys "content"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := run(context.Background(), tc.cmd, tokenEnv(""), strings.NewReader(""), tc.args...)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, tc.err) {
				t.Fatalf("run = %v, stderr %q; want a usage error with %q", err, stderr, tc.err)
			}
		})
	}
	for _, tc := range []struct{ name, url, err string }{
		{"Scheme", "ftp://example.com", "use an http:// or https:// URL"},
		{"NoHost", "http://", "names no host"},
		{"Query", "http://127.0.0.1:1/?token=x", "no query"},
		{"NotURL", "http://[::1", "is not a URL"},
	} {
		t.Run("URL"+tc.name, func(t *testing.T) {
			_, _, err := run(context.Background(), cli.Tail, tokenEnv(""), nil, "-url", tc.url, "*")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("run = %v, want an error with %q", err, tc.err)
			}
		})
	}
}

// TestTokenCommand: livefeed token mints a token from the configured HMAC
// secret that the server accepts; without a secret, or without a pattern,
// it says what is missing, a secret with the key and the variable that
// give one.
func TestTokenCommand(t *testing.T) {
	t.Chdir(t.TempDir()) // no config.toml
	const secret = "e2e-subscriber-secret-0123456789abcdef"
	cfgPath := writeFile(t, "config.toml", "[auth]\nsubscriber_keys = [\""+secret+"\"]\nsubscriber_audience = \"feed.example\"\n")
	noKeys := writeFile(t, "no-keys.toml", "[auth]\n")
	out, errOut, err := run(context.Background(), cli.Token, tokenEnv(""), nil, "-subscribe", "premium/* stocks/rt/AAPL", "-ttl", "10m", "-config", cfgPath)
	if err != nil {
		t.Fatalf("token: %v\n%s", err, errOut)
	}
	keys, err := token.ParseKeys([]string{secret}, "feed.example", os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	g, err := keys.Verify(strings.TrimSpace(out))
	if err != nil || !g.Topics.Match("premium/x") || !g.Topics.Match("stocks/rt/AAPL") || time.Until(g.Expires) > 10*time.Minute || time.Until(g.Expires) < 9*time.Minute {
		t.Fatalf("minted %q: %+v, %v", out, g, err)
	}
	// A token of the paying tier: delayed topics in real time, conflated.
	out, errOut, err = run(context.Background(), cli.Token, tokenEnv(""), nil, "-realtime", "stocks/*", "-conflate", "500ms", "-config", cfgPath)
	if err != nil {
		t.Fatalf("token -realtime: %v\n%s", err, errOut)
	}
	if g, err := keys.Verify(strings.TrimSpace(out)); err != nil || !g.Topics.IsZero() || g.Realtime.String() != "stocks/*" || g.Conflate != 500*time.Millisecond {
		t.Fatalf("minted %q: %+v, %v", out, g, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"ErrNoPattern", []string{"-config", cfgPath}, "at least one -subscribe or -realtime"},
		{"ErrConflateTooShort", []string{"-realtime", "*", "-conflate", "10ms", "-config", cfgPath}, "-conflate 10ms is out of range"},
		{"ErrBadRealtime", []string{"-realtime", "a/*/b", "-config", cfgPath}, `"a/*/b"`},
		{"ErrBadTTL", []string{"-subscribe", "*", "-ttl", "0s", "-config", cfgPath}, "-ttl"},
		{"ErrNoSecret", []string{"-subscribe", "*", "-config", noKeys}, "no HMAC secret among auth.subscriber_keys to sign with (public keys only verify): give one of 32 bytes or more in auth.subscriber_keys of " + noKeys + ", or in the environment variable LIVEFEED_SUBSCRIBER_KEYS"},
		{"ErrNoConfig", []string{"-subscribe", "*"}, "give one of 32 bytes or more in auth.subscriber_keys of a config file (there is no config.toml here; -config names one), or in the environment variable LIVEFEED_SUBSCRIBER_KEYS"},
		{"ErrBadPattern", []string{"-subscribe", "a b/*/c", "-config", cfgPath}, `"b/*/c"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(context.Background(), cli.Token, tokenEnv(""), nil, tc.args...)
			if err == nil || !strings.Contains(err.Error()+errOut, tc.err) || len(out) > 0 {
				t.Fatalf("err %v, stderr %q, stdout %q; want an error with %q", err, errOut, out, tc.err)
			}
		})
	}
	// What `livefeed help token` prints, on stdout.
	if help, errOut, err := run(context.Background(), cli.Token, tokenEnv(""), nil, "-help"); err != nil || !strings.Contains(help, "-subscribe") || errOut != "" {
		t.Fatalf("token -help: %v\nstdout %q\nstderr %q", err, help, errOut)
	}
}

// TestVersion: version and -version print the version, the Go version and
// the revision from the build information.
func TestVersion(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a server that starts returns at once
	for _, tc := range []struct {
		name string
		cmd  command
		args []string
	}{{"version", cli.Version, nil}, {"-version", cli.Serve, []string{"-version"}}} {
		out, _, err := run(ctx, tc.cmd, tokenEnv(""), nil, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "livefeed ") || !strings.Contains(out, "go:       go1.") || !strings.Contains(out, "revision: ") {
			t.Fatalf("%s printed %q", tc.name, out)
		}
	}
}

// TestHashPasswordCommand reads the password from standard input as passed
// to the command, a pipe here: its first line.
func TestHashPasswordCommand(t *testing.T) {
	t.Parallel()
	out, _, err := run(context.Background(), cli.HashPassword, tokenEnv(""), strings.NewReader("correct horse battery\n"))
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out)
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery")) != nil {
		t.Fatalf("printed %q", hash)
	}
}
