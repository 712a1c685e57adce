package node_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// The examples of the README and of the reference pages (web/docs/*.md)
// are run by TestDocExamples, so that what they show is what livefeed
// answers. The convention, for whoever writes one:
//
//   - Every ```sh block runs, unless notRunnable names it (by its page
//     and the start of its first line, or its page alone) with the reason.
//   - A page's blocks run in order, each command on its own with
//     /bin/sh, against a node of its own (so a page's first event is
//     ID 1), started from the sample config.toml with the changes of
//     docConfig (and of pageConfig for its page), in a directory holding
//     that config.toml (with the node's address): the server a reader
//     starts with `go run .` in a checkout.
//     `livefeed` is the binary built from this checkout; localhost:8080
//     is rewritten to the node's address.
//   - A command ends at the end of a line outside quotes that does not end
//     in \, | or &&. A command that is only an assignment (TOKEN=..., or
//     export TOKEN=...) is evaluated once and the variable passed to the
//     commands after it.
//   - The "# " lines right after a command are its output (stdout and
//     stderr, CRLF read as LF; "#" alone is an empty line), compared line
//     by line: "..." within a line matches any text, a line of "..."
//     any number of lines, and a time (2026-11-21T19:04:05.123Z), a date
//     (2026-11-21) or a file name's stamp (20261121-190405) any other.
//     IDs are compared as written. "# " lines after a blank line are prose.
//   - A command with no output shown must exit with status 0. A stream (a
//     command reading /events, or `livefeed tail` without -n) is stopped
//     once its shown output has arrived; any other command must end by
//     itself within commandTimeout.

// notRunnable are the examples that cannot run in a test, by page and
// first line, with why. Keep it short: an example that can run should.
var notRunnable = map[string]string{
	"README.md: go run . -demo":                               "starts a server on port 8080 until stopped",
	"README.md: go test ./...":                                "the whole test suite",
	"README.md: d=$(mktemp -d)":                               "installs npm packages and runs a test",
	"README.md: CGO_ENABLED=0 go build -o livefeed .":         "builds a binary for a deployment",
	"operations.md: CGO_ENABLED=0 go build -o livefeed .":     "builds a binary and starts it on /etc/livefeed/config.toml",
	"operations.md: cp livefeed.service /etc/systemd/system/": "installs and starts a system service",
	"performance.md":                                          "load tests and benchmarks of minutes, every one of them",
}

// skipped returns the key of notRunnable that names b of page, if one does:
// the page's name alone names every block of the page, else it is followed
// by the start of the block's first command.
func skipped(page string, b block) (string, bool) {
	if _, ok := notRunnable[page]; ok {
		return page, true
	}
	for key := range notRunnable {
		if start, ok := strings.CutPrefix(key, page+": "); ok && strings.HasPrefix(b.firstLine(), start) {
			return key, true
		}
	}
	return "", false
}

// docConfig is what the examples' node changes of the sample config.toml:
// a port of its own, and the private topics and key that the security
// page's example puts in its config.toml.
var docConfig = [][2]string{
	{`address = "127.0.0.1:8080"`, `address = "127.0.0.1:0"`},
	{`private_topics = []`, `private_topics = ["premium/*"]`},
	{`subscriber_keys = []`, `subscriber_keys = ["a-secret-of-at-least-32-bytes-0123456789"]`},
	// The API page's heartbeat example: watched topics, none of which
	// another example publishes to, that go stale long after any page
	// has run.
	{"#   [[feed.stale]]\n#   topics = [\"fx/*\"]\n#   after = \"30s\"", "[[feed.stale]]\ntopics = [\"fx/*\"]\nafter = \"1h\""},
}

// pageConfig are the changes of the sample config.toml that one page's
// examples need beside docConfig's, by page: settings the page shows in
// its own config.toml and that would change the other pages' examples.
// The streams page delays fx/* by 15 minutes: with that, every stream of
// "*" is delayed too (README.md's resume, security.md's private topics).
var pageConfig = map[string][][2]string{
	"streams.md": {
		{"#   [[feed.delayed]]\n#   topics = [\"stocks/*\"]\n#   delay = \"15m\"", "[[feed.delayed]]\ntopics = [\"fx/*\"]\ndelay = \"15m\""},
	},
	// A site's visitors are told the audience (data-viewers).
	"widgets.md": {{`viewers = "operators"`, `viewers = "public"`}},
}

// commandTimeout bounds each command, and the wait for a stream's output.
const commandTimeout = 10 * time.Second

// TestDocExamples runs the examples of the README and the reference pages
// (see the convention above): a stale example fails it.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds livefeed and runs the examples of every page")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("LIVEFEED_REQUIRE_CURL") == "1" {
			t.Fatal("LIVEFEED_REQUIRE_CURL=1 but curl was not found (apt-get install -y curl)")
		}
		t.Skip("skipping the examples of the docs: they use curl, which is not installed (apt-get install -y curl); LIVEFEED_REQUIRE_CURL=1 makes this a failure")
	}
	bin := filepath.Dir(nodetest.Binary(t))
	sample, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	configText, err := changeConfig(string(sample), docConfig)
	if err != nil {
		t.Fatal(err)
	}
	for page, changes := range pageConfig {
		if _, err := changeConfig(configText, changes); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
	}
	pages, err := filepath.Glob("../../web/docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"../../README.md"}, pages...)
	listed := make(map[string]bool)
	for _, path := range pages {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		page := filepath.Base(path)
		var run []block
		for _, b := range shellBlocks(string(text)) {
			if key, skip := skipped(page, b); skip {
				listed[key] = true
				continue
			}
			run = append(run, b)
		}
		if len(run) == 0 {
			continue
		}
		pageText, _ := changeConfig(configText, pageConfig[page]) // checked above
		t.Run(page, func(t *testing.T) {
			t.Parallel() // a node, a directory and an environment of its own
			runExamples(t, page, run, bin, pageText)
		})
	}
	for key := range notRunnable {
		if !listed[key] {
			t.Errorf("notRunnable names %q, which is no example of the pages: remove it", key)
		}
	}
}

// changeConfig returns text with each change's first text replaced by
// its second, or an error naming a change whose text it does not hold.
func changeConfig(text string, changes [][2]string) (string, error) {
	for _, change := range changes {
		if !strings.Contains(text, change[0]) {
			return "", fmt.Errorf("config.toml has no line %s for the examples to change", change[0])
		}
		text = strings.Replace(text, change[0], change[1], 1)
	}
	return text, nil
}

// block is a ```sh block of a page.
type block struct {
	line  int // of its first line in the page
	lines []string
}

func (b block) firstLine() string {
	for _, l := range b.lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// shellBlocks returns the ```sh blocks of a Markdown page, indented ones
// (in a list) included.
func shellBlocks(text string) []block {
	var blocks []block
	var cur *block
	indent := ""
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```sh":
			cur = &block{line: i + 2}
			indent = line[:strings.Index(line, "```")]
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, strings.TrimPrefix(line, indent))
		}
	}
	return blocks
}

// example is one command of a block and the output shown after it.
type example struct {
	line    int // in the page
	command string
	output  []string // nil: none shown
}

// examples splits a block into its commands and their shown output.
func examples(b block) []example {
	var out []example
	var cmd strings.Builder
	start := 0
	inOutput := false // the "#" lines right after a command
	for i, line := range b.lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case cmd.Len() > 0:
			cmd.WriteString("\n" + line)
		case trimmed == "":
			inOutput = false
			continue
		case strings.HasPrefix(trimmed, "#"):
			if inOutput {
				shown := strings.TrimPrefix(strings.TrimPrefix(trimmed, "#"), " ")
				out[len(out)-1].output = append(out[len(out)-1].output, shown)
			}
			continue
		default:
			cmd.WriteString(line)
			start = b.line + i
		}
		if !complete(cmd.String()) {
			continue
		}
		out = append(out, example{line: start, command: cmd.String()})
		cmd.Reset()
		inOutput = true
	}
	return out
}

// complete reports whether a command ends with its last line: no quote
// left open, no \, | or && at the end.
func complete(cmd string) bool {
	var quote rune
	escaped := false
	for _, r := range cmd {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		}
	}
	end := strings.TrimSpace(cmd)
	return quote == 0 && !strings.HasSuffix(end, "\\") && !strings.HasSuffix(end, "|") && !strings.HasSuffix(end, "&&")
}

// assignment matches a command that only sets a variable.
var assignment = regexp.MustCompile(`^(?:export )?([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|"[^"]*"|\$\([^()]*\)|[^\s'"$()]*)\s*(#.*)?$`)

// runExamples runs a page's blocks against a node of their own.
func runExamples(t *testing.T, page string, blocks []block, bin, configText string) {
	work := t.TempDir()
	configFile := filepath.Join(work, "config.toml")
	if err := os.WriteFile(configFile, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configFile, true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.Path = filepath.Join(work, cfg.Store.Path)
	n := nodetest.Start(t, cfg, node.Options{})
	addr := strings.TrimPrefix(n.URL, "http://")
	// The commands find the node in config.toml, as they find the server
	// that `go run .` started.
	configText = strings.Replace(configText, `address = "127.0.0.1:0"`, `address = "`+addr+`"`, 1)
	if err := os.WriteFile(configFile, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + work, "TMPDIR=" + work, "LC_ALL=C.UTF-8"}
	local := strings.NewReplacer("localhost:8080", addr)
	for _, b := range blocks {
		for _, ex := range examples(b) {
			where := fmt.Sprintf("%s:%d", page, ex.line)
			command := local.Replace(ex.command)
			if m := assignment.FindStringSubmatch(command); m != nil {
				value, err := shell(work, env, command+"\nprintf '%s' \"$"+m[1]+"\"")
				if err != nil {
					t.Fatalf("%s: %s: %v\n%s", where, ex.command, err, value)
				}
				env = append(env, m[1]+"="+value)
				continue
			}
			var want []string
			for _, line := range ex.output {
				want = append(want, local.Replace(line))
			}
			if msg := runExample(work, env, command, want); msg != "" {
				t.Errorf("%s: %s\n%s", where, ex.command, msg)
			}
		}
	}
}

// shell runs command with /bin/sh in dir and returns its standard output.
func shell(dir string, env []string, command string) (string, error) {
	c := exec.Command("/bin/sh", "-c", command)
	c.Dir, c.Env = dir, env
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return stderr.String(), err
	}
	return string(out), nil
}

// isStream reports whether a command reads a stream that does not end:
// /events, or `livefeed tail` without -n.
func isStream(command string) bool {
	if strings.Contains(command, "/events") {
		return true
	}
	tail := strings.Index(command, "livefeed tail")
	return tail >= 0 && !regexp.MustCompile(`\s-n[\s=]`).MatchString(command[tail:])
}

// runExample runs one command and says how its output differs from
// want, if it does ("" if not).
func runExample(dir string, env []string, command string, want []string) string {
	c := exec.Command("/bin/sh", "-c", command)
	c.Dir, c.Env = dir, env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that its curl is stopped too
	r, w, err := os.Pipe()
	if err != nil {
		return err.Error()
	}
	c.Stdout, c.Stderr = w, w
	if err := c.Start(); err != nil {
		w.Close()
		r.Close()
		return err.Error()
	}
	w.Close()
	stop := func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	defer stop()
	stream := isStream(command)
	var (
		mu    sync.Mutex
		lines []string // the output, a line each
		shown = make(chan struct{})
		read  = make(chan struct{}) // closed once every process closed the pipe
	)
	go func() {
		defer close(read)
		defer r.Close()
		rd := bufio.NewReader(r)
		matched := false
		for {
			line, err := rd.ReadString('\n')
			if line != "" {
				mu.Lock()
				lines = append(lines, strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
				if stream && want != nil && !matched && strings.HasSuffix(line, "\n") && matches(want, lines) {
					matched = true
					close(shown)
				}
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	timer := time.NewTimer(commandTimeout)
	defer timer.Stop()
	var status error
	select {
	case <-shown:
		return ""
	case status = <-exited:
	case <-timer.C:
		stop()
		<-exited
		<-read
		what := "end"
		if stream {
			what = "show its output"
		}
		return fmt.Sprintf("did not %s within %v; its output:\n%s", what, commandTimeout, strings.Join(lines, "\n"))
	}
	stop() // anything it left running holds the pipe
	<-read
	switch {
	case want == nil && status != nil:
		return fmt.Sprintf("%v; its output:\n%s", status, strings.Join(lines, "\n"))
	case want != nil && !matches(want, lines):
		return fmt.Sprintf("the page shows:\n%s\nthe command printed:\n%s", strings.Join(want, "\n"), strings.Join(lines, "\n"))
	}
	return ""
}

// matches reports whether got (lines) is what want shows.
func matches(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matches(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && linePattern(want[0]).MatchString(got[0]) && matches(want[1:], got[1:])
}

// varying is what a shown line may hold that differs in each run: "...",
// a time, a date, a file name's stamp.
var varying = regexp.MustCompile(`\.\.\.|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)|\d{4}-\d\d-\d\d|\d{8}-\d{6}`)

// linePattern is a shown line as a pattern of the line it stands for.
func linePattern(shown string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range varying.FindAllStringIndex(shown, -1) {
		b.WriteString(regexp.QuoteMeta(shown[last:m[0]]))
		switch v := shown[m[0]:m[1]]; {
		case v == "...":
			b.WriteString(".*")
		case strings.Contains(v, "T"):
			b.WriteString(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`)
		case strings.Contains(v, "-") && len(v) == 10:
			b.WriteString(`\d{4}-\d\d-\d\d`)
		default:
			b.WriteString(`\d{8}-\d{6}`)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(shown[last:]) + "$")
	return regexp.MustCompile(b.String())
}

// TestExampleConvention: the reading of examples that TestDocExamples
// relies on, on a block of each kind of line.
func TestExampleConvention(t *testing.T) {
	t.Parallel()
	b := shellBlocks("text\n\n  ```sh\n" + `  TOKEN=abc

  # Prose before a command.
  curl -s -X POST localhost:8080/api/publish \
    -d '{"a":
         1}'
  # {"id":1}
  #
  # the end
  printf '%s\n' x |
  cat

  # Prose after a blank line.
  curl -sN 'localhost:8080/events?topic=*'   # a stream
  # retry: 2000
  ` + "```\n")
	if len(b) != 1 || b[0].line != 4 || b[0].firstLine() != "TOKEN=abc" {
		t.Fatalf("blocks %+v", b)
	}
	ex := examples(b[0])
	want := []example{
		{line: 4, command: "TOKEN=abc"},
		{line: 7, command: "curl -s -X POST localhost:8080/api/publish \\\n  -d '{\"a\":\n       1}'", output: []string{`{"id":1}`, "", "the end"}},
		{line: 13, command: "printf '%s\\n' x |\ncat"},
		{line: 17, command: "curl -sN 'localhost:8080/events?topic=*'   # a stream", output: []string{"retry: 2000"}},
	}
	if !reflect.DeepEqual(ex, want) {
		t.Fatalf("examples\n%#v\nwant\n%#v", ex, want)
	}
	if m := assignment.FindStringSubmatch("export TOKEN=$(livefeed token -subscribe 'premium/*')"); m == nil || m[1] != "TOKEN" {
		t.Errorf("an exported assignment is not one: %q", m)
	}
	if assignment.MatchString("LIVEFEED_TOKEN= livefeed publish events.ndjson") {
		t.Error("a command with a variable of its own taken for an assignment")
	}
	for command, stream := range map[string]bool{
		"curl -sN 'localhost:8080/events?topic=*'": true,
		"livefeed tail -from 0 'nba/*'":            true,
		"livefeed tail -n 1 stocks/AAPL":           false,
		"curl -s localhost:8080/api/topics":        false,
	} {
		if isStream(command) != stream {
			t.Errorf("isStream(%q) = %v", command, !stream)
		}
	}
	for _, c := range []struct {
		shown, got []string
		match      bool
	}{
		{[]string{`{"id":1,"time":"2026-11-21T19:04:05.123Z"}`}, []string{`{"id":1,"time":"2027-01-02T03:04:05.6Z"}`}, true},
		{[]string{`{"id":1,...}`}, []string{`{"id":1,"topic":"a"}`}, true},
		{[]string{`{"id":1,...}`}, []string{`{"id":2,"topic":"a"}`}, false}, // a stale ID
		{[]string{"a", "...", "d"}, []string{"a", "b", "c", "d"}, true},
		{[]string{"a", "...", "d"}, []string{"a", "d"}, true},
		{[]string{"a", "d"}, []string{"a", "d", "e"}, false},
		{[]string{"backed up to feed-2026-11-21.db"}, []string{"backed up to feed-2030-02-03.db"}, true},
		{[]string{"livefeed-20261121-190405.csv"}, []string{"livefeed-20300203-010203.csv"}, true},
		{[]string{"a.b"}, []string{"axb"}, false}, // the rest is literal
		{[]string{""}, []string{""}, true},
	} {
		if matches(c.shown, c.got) != c.match {
			t.Errorf("matches(%q, %q) = %v", c.shown, c.got, !c.match)
		}
	}
}
