package web_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"livefeed/handlers/cli"
)

// The ops files shipped under docs/ops (served at /docs too) are checked
// here, beside them, by the tools that read them where those are
// installed (systemd-analyze, promtool, nginx, caddy) and against a live
// node. A missing tool skips its check, saying which Debian package has
// it; .ci/run installs them all and sets LIVEFEED_REQUIRE_OPS=1, which
// makes a missing tool a failure.

// opsDir holds the shipped ops files.
const opsDir = "docs/ops"

// readOps returns the shipped ops file name.
func readOps(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(opsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// opsTool returns the path of the program name, from Debian's package
// pkg, or skips t when it is not installed (fails it under
// LIVEFEED_REQUIRE_OPS=1).
func opsTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install -y %s)", name, pkg)
	if os.Getenv("LIVEFEED_REQUIRE_OPS") == "1" {
		t.Fatalf("%s, and LIVEFEED_REQUIRE_OPS=1", msg)
	}
	t.Skipf("skipping: %s; LIVEFEED_REQUIRE_OPS=1 makes this a failure", msg)
	return ""
}

// unitSetting is one setting of a systemd unit file.
type unitSetting struct {
	line         int
	section, key string
	value        string
}

// parseUnit returns the settings of a unit file and what is wrong with
// its lines as systemd reads them (systemd.syntax(7)): a comment is a
// line that starts with "#" or ";", and nothing else, so a "#" after a
// value is part of the value. A file's lines are not continued with "\"
// here: the shipped unit has none.
func parseUnit(text string) (settings []unitSetting, problems []string) {
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				problems = append(problems, fmt.Sprintf("line %d is neither a setting, a section nor a comment: %q", i+1, line))
				continue
			}
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			if j := strings.IndexAny(value, "#;"); j > 0 && (value[j-1] == ' ' || value[j-1] == '\t') {
				problems = append(problems, fmt.Sprintf("line %d: %s= has a comment after its value, which systemd takes into the value: %q", i+1, key, value))
			}
			settings = append(settings, unitSetting{i + 1, section, key, value})
		}
	}
	return settings, problems
}

// TestUnitComments: the check of comments finds what made the README's
// unit fail (a comment after a value), so that its silence on the shipped
// unit means something.
func TestUnitComments(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		problem    bool
	}{
		{"Value", "LimitNOFILE=65536", false},
		{"CommentLine", "# LimitNOFILE=65536 # one file per stream", false},
		{"SemicolonLine", "; LimitNOFILE=65536", false},
		{"HashInValue", "Description=livefeed#1", false},
		{"CommentAfterNumber", "LimitNOFILE=65536                           # one file per open stream", true},
		{"CommentAfterName", "StateDirectory=livefeed                     # /var/lib/livefeed", true},
		{"CommentAfterPath", "EnvironmentFile=-/etc/livefeed/env          # LIVEFEED_PUBLISH_TOKENS=...", true},
		{"SemicolonAfterValue", "Restart=on-failure ; always would loop", true},
		{"TabThenComment", "Restart=on-failure\t# or always", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := parseUnit("[Service]\n" + tc.line + "\n")
			if got := len(problems) > 0; got != tc.problem {
				t.Errorf("%q: problems %q, want a problem: %v", tc.line, problems, tc.problem)
			}
		})
	}
}

// TestUnit: the shipped unit has its comments on lines of their own, and
// the settings the docs rely on: SIGHUP on reload (livefeed's reload),
// secrets from a file whose absence stops the start (a leading "-" would
// start livefeed without them, silently), a restart on failure, room for
// many streams, and a database inside the one directory the service may
// write (ProtectSystem=strict makes every other path read-only). What it
// runs takes livefeed's own flags.
func TestUnit(t *testing.T) {
	settings, problems := parseUnit(readOps(t, "livefeed.service"))
	for _, p := range problems {
		t.Error(p)
	}
	get := func(section, key string) []string {
		var values []string
		for _, s := range settings {
			if s.section == section && s.key == key {
				values = append(values, s.value)
			}
		}
		return values
	}
	one := func(section, key string) string {
		values := get(section, key)
		if len(values) != 1 {
			t.Errorf("[%s] %s= is set %d times, want once", section, key, len(values))
			return ""
		}
		return values[0]
	}
	if v := one("Service", "ExecReload"); v != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s, want /bin/kill -HUP $MAINPID (livefeed reloads on SIGHUP)", v)
	}
	if v := one("Service", "EnvironmentFile"); !strings.HasPrefix(v, "/") {
		t.Errorf("EnvironmentFile=%s: want an absolute path without \"-\": a missing secrets file must stop the start", v)
	}
	if v := one("Service", "Restart"); v != "on-failure" {
		t.Errorf("Restart=%s, want on-failure", v)
	}
	if v := one("Service", "LimitNOFILE"); !regexp.MustCompile(`^[0-9]{5,}$`).MatchString(v) {
		t.Errorf("LimitNOFILE=%s, want a number for tens of thousands of streams", v)
	}
	if one("Service", "DynamicUser") != "yes" && one("Service", "User") == "" {
		t.Errorf("the unit names no user: livefeed would run as root")
	}
	state := one("Service", "StateDirectory")
	if state == "" || strings.Contains(state, "/") {
		t.Errorf("StateDirectory=%s, want a name under /var/lib", state)
	}

	exec := strings.Fields(one("Service", "ExecStart"))
	if len(exec) == 0 || exec[0] != "/usr/local/bin/livefeed" {
		t.Fatalf("ExecStart=%s, want /usr/local/bin/livefeed and its flags", strings.Join(exec, " "))
	}
	var usage bytes.Buffer
	cli.PrintServeFlags(&usage)
	known := regexp.MustCompile(`(?m)^\s+-([a-z][a-z-]*)`).FindAllStringSubmatch(usage.String(), -1)
	flags := map[string]string{}
	for i := 1; i < len(exec); i += 2 {
		name := strings.TrimPrefix(exec[i], "-")
		if !slices.ContainsFunc(known, func(m []string) bool { return m[1] == name }) || i+1 >= len(exec) {
			t.Errorf("ExecStart passes %q, which is not a flag of livefeed's with a value (%s)", exec[i], strings.TrimSpace(usage.String()))
			continue
		}
		flags[name] = exec[i+1]
	}
	if db := flags["db"]; filepath.Dir(db) != "/var/lib/"+state {
		t.Errorf("ExecStart's -db %q is not in /var/lib/%s, the StateDirectory, the one directory the service may write", db, state)
	}
}

// verifyUnit runs systemd-analyze verify on a unit file's text, named
// name, with what ExecStart runs present (systemd checks that it is an
// executable file), and returns what it reported: systemd-analyze exits
// with 0 when it only ignores a setting it cannot read, so its output is
// what tells.
func verifyUnit(t *testing.T, analyze, name, text string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "livefeed")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if strings.Count(text, "ExecStart=/usr/local/bin/livefeed ") != 1 {
		t.Fatalf("the unit does not run /usr/local/bin/livefeed once")
	}
	text = strings.Replace(text, "ExecStart=/usr/local/bin/livefeed ", "ExecStart="+bin+" ", 1)
	unit := filepath.Join(dir, name)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestUnitVerifies: systemd-analyze verify reads the shipped unit without
// a word; the same unit with a comment after LimitNOFILE's value (as the
// README's unit had) makes it complain, so that its silence means
// something.
func TestUnitVerifies(t *testing.T) {
	analyze := opsTool(t, "systemd-analyze", "systemd")
	unit := readOps(t, "livefeed.service")
	if out := verifyUnit(t, analyze, "livefeed.service", unit); out != "" {
		t.Errorf("systemd-analyze verify livefeed.service:\n%s", out)
	}
	broken := regexp.MustCompile(`(?m)^LimitNOFILE=(\d+)$`).ReplaceAllString(unit, "LimitNOFILE=$1   # one file per open stream")
	if broken == unit {
		t.Fatal("the unit has no LimitNOFILE= line to break")
	}
	if out := verifyUnit(t, analyze, "livefeed.service", broken); out == "" {
		t.Errorf("systemd-analyze verify said nothing of a unit with a comment after LimitNOFILE's value")
	}
}
