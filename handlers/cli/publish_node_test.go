package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"livefeed/feed/poll"
	"livefeed/handlers/cli"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// TestPublishCommand: NDJSON lines are published in batches, each event's
// ID printed on stdout in the order of the lines and what was published
// said on stderr, from a file and from standard input; the same lines
// given again are published again.
func TestPublishCommand(t *testing.T) {
	t.Parallel()
	s := nodetest.Start(t, nodetest.Config(t), node.Options{})
	var body strings.Builder
	for i := 1; i <= 5; i++ {
		body.WriteString(nodetest.Note("cli/a", i) + "\n")
		if i == 2 {
			body.WriteString("\n") // blank lines are skipped
		}
	}
	input := writeFile(t, "events.ndjson", body.String())
	out, errs, err := run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, "-url", s.URL, "-batch", "2", input)
	if err != nil || out != "1\n2\n3\n4\n5\n" || !strings.Contains(errs, "events.ndjson: lines 1 to 6 published (IDs 1 to 5)\n") {
		t.Fatalf("publish: %q %v\n%s", out, err, errs)
	}
	out, errs, err = run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), strings.NewReader(body.String()), "-url", s.URL, "-batch", "2")
	if err != nil || out != "6\n7\n8\n9\n10\n" || !strings.Contains(errs, "standard input: lines 1 to 6 published (IDs 6 to 10)\n") {
		t.Fatalf("publish from stdin: %q %v\n%s", out, err, errs)
	}
	want := strings.Split(strings.Repeat(`{"n":1} {"n":2} {"n":3} {"n":4} {"n":5} `, 2), " ")
	if got := dataOf(storedEvents(t, s.URL)); !slices.Equal(got, want[:10]) {
		t.Fatalf("stored %v, want %v", got, want[:10])
	}
}

// TestPublishRepeatedUpdates: a score that goes A, then B, then back to A,
// published by three runs of livefeed publish, is three events, the
// third as new as the first, from a file rewritten each time as from a
// pipe. (Keys made from the lines made the third a retry of the first: it
// was dropped and the first's ID printed, for 24 hours.)
func TestPublishRepeatedUpdates(t *testing.T) {
	t.Parallel()
	s := nodetest.Start(t, nodetest.Config(t), node.Options{})
	score := func(home, away int) string {
		return fmt.Sprintf(`{"topic":"nba/x","type":"score","data":{"home":"A","away":"B","home_score":%d,"away_score":%d}}`, home, away)
	}
	updates := []string{score(1, 0), score(1, 1), score(1, 0)}
	file := filepath.Join(t.TempDir(), "update.ndjson")
	id := 0
	for _, update := range updates {
		if err := os.WriteFile(file, []byte(update+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		id++
		out, errs, err := run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, "-url", s.URL, file)
		if err != nil || out != fmt.Sprintf("%d\n", id) {
			t.Fatalf("update %d from a file: %q %v\n%s", id, out, err, errs)
		}
		if !strings.Contains(errs, fmt.Sprintf("line 1 published (ID %d)", id)) {
			t.Errorf("update %d from a file: stderr %q", id, errs)
		}
	}
	for _, update := range updates {
		id++
		out, errs, err := run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), strings.NewReader(update+"\n"), "-url", s.URL)
		if err != nil || out != fmt.Sprintf("%d\n", id) {
			t.Fatalf("update %d from a pipe: %q %v\n%s", id, out, err, errs)
		}
	}
	events := storedEvents(t, s.URL)
	if len(events) != 6 {
		t.Fatalf("%d events stored, want 6: %v", len(events), dataOf(events))
	}
	for i, e := range events {
		var want, got any
		json.Unmarshal([]byte(updates[i%3]), &want)
		json.Unmarshal(e.Data, &got)
		if !reflect.DeepEqual(want.(map[string]any)["data"], got) {
			t.Errorf("event %d is %s, want the data of %s", e.ID, e.Data, updates[i%3])
		}
	}
}

// breakingProxy is a proxy to base that passes on the first ok requests
// and their answers, and every later request too but not its answer: it
// closes the connection instead, as a network failing at that moment
// would. The server stores what it gets; the publisher never hears.
func breakingProxy(t *testing.T, base string, ok int) string {
	t.Helper()
	var n atomic.Int32
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		reply, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Error(err)
			return
		}
		if int(n.Add(1)) > ok {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		w.Write(reply)
	}))
	t.Cleanup(p.Close)
	return p.URL
}

// TestPublishRerunAfterBrokenConnection: the connection breaks after the
// server stored the second batch, before its answer: publish says that
// lines 1 to 2 were published, that lines 3 to 4 may or may not be stored
// and that lines 5 to 6 were not sent, and exits non-zero. Run again with
// -keys=file, it skips what the first run stored and publishes the rest,
// saying which is which: six events, each once; a third run publishes
// nothing new and says so. Without -keys, the same failure is reported
// the same way, with no promise about a rerun.
func TestPublishRerunAfterBrokenConnection(t *testing.T) {
	t.Parallel()
	s := nodetest.Start(t, nodetest.Config(t), node.Options{})
	file := writeFile(t, "events.ndjson", noteLines("cli/r", 6))
	args := func(url string) []string { return []string{"-url", url, "-batch", "2", "-keys=file", file} }
	out, errs, err := run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, args(breakingProxy(t, s.URL, 1))...)
	if err == nil || out != "1\n2\n" ||
		!strings.Contains(err.Error(), "events.ndjson: lines 1 to 2 published (IDs 1 to 2); lines 3 to 4 may or may not be stored: the connection failed before the server's answer") ||
		!strings.Contains(err.Error(), "; lines 5 to 6 not sent. Run the same command again to publish the rest: what was stored is skipped") {
		t.Fatalf("through a connection that breaks: %q %v\n%s", out, err, errs)
	}
	if n := len(storedEvents(t, s.URL)); n != 4 {
		t.Fatalf("%d events stored, want the 4 of the batches the server got", n)
	}
	out, errs, err = run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, args(s.URL)...)
	if err != nil || out != "1\n2\n3\n4\n5\n6\n" ||
		!strings.Contains(errs, "events.ndjson: lines 1 to 4 already stored by an earlier run (IDs 1 to 4), lines 5 to 6 published (IDs 5 to 6)\n") {
		t.Fatalf("the rerun: %q %v\n%s", out, err, errs)
	}
	if got, want := dataOf(storedEvents(t, s.URL)), strings.Fields(`{"n":1} {"n":2} {"n":3} {"n":4} {"n":5} {"n":6}`); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	_, errs, err = run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, args(s.URL)...)
	if err != nil || !strings.Contains(errs, "lines 1 to 6 already stored by an earlier run (IDs 1 to 6); nothing new was published\n") {
		t.Fatalf("a third run: %v\n%s", err, errs)
	}

	_, _, err = run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, "-batch", "2", "-url", breakingProxy(t, s.URL, 0), file)
	if err == nil || !strings.HasPrefix(err.Error(), file+": lines 1 to 2 may or may not be stored: the connection failed before the server's answer") ||
		!strings.HasSuffix(err.Error(), "; lines 3 to 6 not sent; nothing was published") {
		t.Fatalf("without keys: %v", err)
	}
}

// TestPublishStopsHalfway: whatever stops a publish, its message names
// the lines that were stored, with their IDs, the ones that were not, and
// why, and the exit status is not 0; what the server holds is exactly
// what the message says. A bad line in a file publishes nothing (the file
// is checked whole first); from a pipe, what came before it is
// published. A missing token is named with the flag and the variable.
func TestPublishStopsHalfway(t *testing.T) {
	t.Parallel()
	const scoped = "e2e-scoped-publish-token-0123456789"
	good := nodetest.Note("cli/x", 1) + "\n" + nodetest.Note("cli/x", 2) + "\n"
	badLine := good + `{"topic":"no spaces allowed","type":"note","data":{}}` + "\n" + nodetest.Note("cli/x", 4) + "\n"
	outOfScope := good + nodetest.Note("other/x", 3) + "\n" + nodetest.Note("cli/x", 4) + "\n" + nodetest.Note("cli/x", 5) + "\n"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there
	for _, tc := range []struct {
		name   string
		input  string
		pipe   bool // from standard input, not a file
		env    func(string) string
		args   []string
		err    []string
		out    string
		stored int
	}{
		{"BadLineInFile", badLine, false, tokenEnv(nodetest.Token), nil,
			[]string{"events.ndjson, line 3: topic \"no spaces allowed\"", "; nothing was published (the whole file is checked before anything is sent)"}, "", 0},
		{"BadLineFromPipe", badLine, true, tokenEnv(nodetest.Token), nil,
			[]string{"standard input: lines 1 to 2 published (IDs 1 to 2); line 3: topic \"no spaces allowed\"", "; nothing after line 3 was sent"}, "1\n2\n", 2},
		{"RefusedBatch", outOfScope, false, tokenEnv(scoped), nil,
			[]string{"events.ndjson: lines 1 to 2 published (IDs 1 to 2); lines 3 to 4 not stored: refused by the server, one batch all or nothing (", `"other/x"`, "); line 5 not sent"}, "1\n2\n", 2},
		{"RefusedToken", good, false, tokenEnv(""), []string{"-token", "not-the-token-0123456789"},
			[]string{"events.ndjson: lines 1 to 2 not stored: the publish token given with -token was refused (the publish token is not valid); nothing was published"}, "", 0},
		{"RefusedTokenFromEnv", good, false, tokenEnv("not-the-token-0123456789"), nil,
			[]string{"the publish token given with $LIVEFEED_TOKEN was refused"}, "", 0},
		{"NoToken", good, false, tokenEnv(""), nil,
			[]string{"no publish token: give it with -token, or in the environment variable LIVEFEED_TOKEN"}, "", 0},
		{"ServerDown", good, false, tokenEnv(nodetest.Token), []string{"-url", down},
			[]string{"events.ndjson: lines 1 to 2 not stored: the server could not be reached (", "connection refused); nothing was published"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodetest.Config(t)
			cfg.Auth.PublishTokens = []config.PublishToken{{Token: nodetest.Token}, {Token: scoped, Topics: []string{"cli/*"}}}
			s := nodetest.Start(t, cfg, node.Options{})
			args := append([]string{"-url", s.URL, "-batch", "2"}, tc.args...)
			var stdin io.Reader
			if tc.pipe {
				stdin = strings.NewReader(tc.input)
			} else {
				args = append(args, writeFile(t, "events.ndjson", tc.input))
			}
			out, errs, err := run(context.Background(), cli.Publish, tc.env, stdin, args...)
			if err == nil {
				t.Fatalf("publish succeeded: %q\n%s", out, errs)
			}
			for _, want := range tc.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error %q does not say %q", err, want)
				}
			}
			if out != tc.out {
				t.Errorf("printed %q, want %q", out, tc.out)
			}
			if n := len(storedEvents(t, s.URL)); n != tc.stored {
				t.Errorf("%d events stored, want %d", n, tc.stored)
			}
		})
	}
}

// TestPublishLargeFile: a file larger than the reader's 64 KB buffer is
// published as it is, from a file and from a pipe: every event has its
// own line's data. (The data of the lines of a batch pointed into that
// buffer, which the lines after them overwrote: events went out with
// other lines' data.)
func TestPublishLargeFile(t *testing.T) {
	t.Parallel()
	s := nodetest.Start(t, nodetest.Config(t), node.Options{})
	var body strings.Builder
	var want []string
	for i := range 3000 {
		data := fmt.Sprintf(`{"s":"%05d"}`, i)
		fmt.Fprintf(&body, `{"topic":"cli/big","type":"note","data":%s}`+"\n", data)
		want = append(want, data)
	}
	file := writeFile(t, "big.ndjson", body.String())
	if _, errs, err := run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), nil, "-url", s.URL, file); err != nil {
		t.Fatalf("publish: %v\n%s", err, errs)
	}
	if _, errs, err := run(context.Background(), cli.Publish, tokenEnv(nodetest.Token), strings.NewReader(body.String()), "-url", s.URL); err != nil {
		t.Fatalf("publish from a pipe: %v\n%s", err, errs)
	}
	got := dataOf(storedEvents(t, s.URL))
	if want = append(want, want...); !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%d events stored, want %d; event %d has %s, want %s", len(got), len(want), i+1, got[i], want[i])
			}
		}
		t.Fatalf("%d events stored, want %d", len(got), len(want))
	}
}

// TestPublishFromPipe: events piped in are published as they come, each
// ID printed once it is stored, while the pipe stays open: a feed piped
// from a script goes out live, not once a batch is full or the pipe
// closed. Interrupted (Ctrl-C), it says which lines were published and
// exits non-zero.
func TestPublishFromPipe(t *testing.T) {
	t.Parallel()
	s := nodetest.Start(t, nodetest.Config(t), node.Options{})
	for _, interrupt := range []bool{false, true} {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr nodetest.Buffer
		done := make(chan error, 1)
		go func() {
			done <- cli.Publish(ctx, cli.Env{Args: []string{"-url", s.URL}, Getenv: tokenEnv(nodetest.Token), Stdin: pr, Stdout: &stdout, Stderr: &stderr})
		}()
		first := len(storedEvents(t, s.URL)) + 1
		var ids strings.Builder
		for i := range 3 {
			if _, err := io.WriteString(pw, nodetest.Note("cli/pipe", i)+"\n"); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&ids, "%d\n", first+i)
			poll.Until(t, "", func() bool { return stdout.String() == ids.String() })
		}
		if interrupt {
			cancel()
		} else {
			pw.Close()
		}
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("publish did not end")
		}
		summary := fmt.Sprintf("standard input: lines 1 to 3 published (IDs %d to %d)", first, first+2)
		switch {
		case interrupt && (err == nil || err.Error() != summary+"; interrupted; nothing after line 3 was sent"):
			t.Errorf("interrupted: %v", err)
		case !interrupt && (err != nil || stderr.String() != "livefeed publish: "+summary+"\n"):
			t.Errorf("the pipe closed: %v\n%s", err, stderr.String())
		}
		cancel()
		pw.Close()
		pr.Close()
	}
}

// openTerminal opens a pseudo-terminal: what is written to typist is
// what a user types at tty.
func openTerminal(t *testing.T) (typist, tty *os.File) {
	t.Helper()
	if runtime.GOOS != "linux" || !slices.Contains([]string{"amd64", "arm64", "386", "arm", "riscv64"}, runtime.GOARCH) {
		t.Skip("this test opens a pseudo-terminal with Linux's ioctls, whose numbers here are those of " + runtime.GOOS + "/" + runtime.GOARCH + "'s kernel")
	}
	const tiocsptlck, tiocgptn = 0x40045431, 0x80045430 // <asm-generic/ioctls.h>
	typist, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { typist.Close() })
	var unlock int32
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, typist.Fd(), tiocsptlck, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatal(errno)
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, typist.Fd(), tiocgptn, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatal(errno)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	go io.Copy(io.Discard, typist) // the terminal's echo
	return typist, tty
}

// TestPublishFromTerminal: livefeed publish reading a terminal says how
// to type events and end, publishes each line as it is entered, and ends
// at Ctrl-D with what it published.
func TestPublishFromTerminal(t *testing.T) {
	t.Parallel()
	s := nodetest.Start(t, nodetest.Config(t), node.Options{})
	typist, tty := openTerminal(t)
	var stdout, stderr nodetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Publish(context.Background(), cli.Env{Args: []string{"-url", s.URL}, Getenv: tokenEnv(nodetest.Token), Stdin: tty, Stdout: &stdout, Stderr: &stderr})
	}()
	poll.Until(t, "", func() bool { return strings.Contains(stderr.String(), "reading events from the terminal") })
	for i := 1; i <= 2; i++ {
		if _, err := io.WriteString(typist, nodetest.Note("cli/tty", i)+"\n"); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "", func() bool { return stdout.String() == map[int]string{1: "1\n", 2: "1\n2\n"}[i] })
	}
	if _, err := typist.Write([]byte{4}); err != nil { // Ctrl-D
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(stderr.String(), "livefeed publish: standard input: lines 1 to 2 published (IDs 1 to 2)\n") {
			t.Fatalf("publish: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ctrl-D did not end publish")
	}
}
