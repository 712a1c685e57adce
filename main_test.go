package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/bench"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers/cli"
	"livefeed/handlers/config"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// testEnv is the environment the tests run livefeed with: the publish
// token is nodetest's, so nodetest.Publish publishes to their servers.
func testEnv(key string) string {
	if key == config.EnvPublishTokens {
		return nodetest.Token
	}
	return ""
}

// server is a livefeed started by run, as a user would start it, on a free
// port and a database in a temporary directory.
type server struct {
	url     string
	dir     string
	stop    context.CancelFunc
	done    chan error
	stopped sync.Once
	log     *nodetest.Buffer // what it wrote to stderr
}

// startServer writes configTOML to a temporary config file and runs the
// server until the test ends.
func startServer(t *testing.T, configTOML string, args ...string) *server {
	t.Helper()
	return startServerEnv(t, t.TempDir(), configTOML, testEnv, args...)
}

// startServerEnv is startServer in dir with the environment getenv.
func startServerEnv(t *testing.T, dir, configTOML string, getenv func(string) string, args ...string) *server {
	t.Helper()
	return startServerFlags(t, dir, configTOML, getenv, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

// startServerFlags is startServerEnv with only the flags args besides
// -config and -db: the listen address is the file's unless args name one.
func startServerFlags(t *testing.T, dir, configTOML string, getenv func(string) string, args ...string) *server {
	t.Helper()
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(configTOML), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-config", cfgPath, "-db", filepath.Join(dir, "feed.db")}, args...)
	out, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{dir: dir, stop: cancel, done: make(chan error, 1), log: new(nodetest.Buffer)}
	go func() {
		err := run(ctx, args, getenv, nil, outW, s.log)
		outW.CloseWithError(err)
		s.done <- err
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	go io.Copy(io.Discard, out)
	s.url = strings.TrimSpace(strings.TrimPrefix(line, "livefeed is serving on "))
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// shutdown stops the server as SIGINT would and waits for run to return.
func (s *server) shutdown(t *testing.T) {
	t.Helper()
	s.stopped.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the server did not shut down")
		}
	})
}

// TestLogJSON: with log.format "json" every line of the log is a JSON
// object; the access log names routes, never a token in the query; a
// shutdown logs "shutting down" and, once it is done, "shut down"; and
// log.level "warn" leaves out the lines at info. It runs the whole
// command: the start-up's warnings and the last line ("shut down", once
// the node is closed) are the serve command's, not the node's.
func TestLogJSON(t *testing.T) {
	const secret = "query-token-never-logged-0123456789"
	s := startServer(t, "[log]\nformat = \"json\"\naccess = true\n")
	nodetest.MustPublish(t, s.url, nodetest.Note("a", 1))
	resp, err := http.Get(s.url + "/api/history?topic=a&token=" + secret)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.shutdown(t)
	var msgs []string
	access := 0
	for line := range strings.SplitSeq(strings.TrimSpace(s.log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		msg, _ := m["msg"].(string)
		msgs = append(msgs, msg)
		if msg == "request" {
			access++
			if m["route"] != "/api/history" && m["route"] != "/api/publish" {
				t.Errorf("access line for another route: %v", m)
			}
		}
	}
	if access != 2 {
		t.Errorf("%d access lines, want 2 (the publish, the history)", access)
	}
	if strings.Contains(s.log.String(), secret) {
		t.Errorf("the log holds the query's token:\n%s", s.log.String())
	}
	down := slices.Index(msgs, "shutting down")
	if down < 0 || slices.Index(msgs[down:], "shut down") < 0 || msgs[len(msgs)-1] != "shut down" {
		t.Errorf("the log does not end with shutting down, then shut down: %q", msgs)
	}

	quiet := startServer(t, "[log]\nlevel = \"warn\"\naccess = true\n")
	nodetest.MustPublish(t, quiet.url, nodetest.Note("a", 1))
	quiet.shutdown(t)
	if l := quiet.log.String(); strings.Contains(l, "level=INFO") || !strings.Contains(l, "level=WARN") {
		t.Errorf("log.level warn logged:\n%s", l)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte("[feed]\nhartbeat = \"1s\"\n"), 0o600)
	err := run(context.Background(), []string{"-config", path}, testEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "feed.hartbeat") {
		t.Fatalf("run = %v, want an error naming feed.hartbeat", err)
	}
}

// TestCrashRecovery builds the real binary, kills it with SIGKILL while
// publishers are busy, and restarts it on the same database: every
// acknowledged ID is there, new IDs continue above them, and a client
// resuming from its last ID misses nothing.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := builtBinary(t)
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte("[feed]\nwindow = 200\n"), 0o600)
	db := filepath.Join(dir, "feed.db")

	acked := map[int64]bool{}
	ackedBy := map[int64]int{} // the publisher of each acknowledged ID
	var lastSeen int64
	for round := range 3 {
		proc, base := startBinary(t, bin, cfg, db)

		// A subscriber resumes from what it saw before the crash (the
		// first round starts fresh) and must get exactly the events after.
		c, br := nodetest.Stream(t, base, "/events?topic=*", "Last-Event-ID: "+strconv.FormatInt(lastSeen, 10))
		rd := client.NewReader(br)
		var mu sync.Mutex
		received := []int64{}
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			for {
				ev, err := rd.Next()
				if err != nil {
					return
				}
				id, _ := strconv.ParseInt(ev.ID, 10, 64)
				mu.Lock()
				received = append(received, id)
				mu.Unlock()
			}
		}()

		// Publishers run until the process is killed under them.
		var pubs sync.WaitGroup
		var ackMu sync.Mutex
		roundAcked := 0
		for p := range 8 {
			pubs.Go(func() {
				for i := 0; ; i++ {
					ids, err := nodetest.Publish(nil, base, nodetest.Note(fmt.Sprintf("t/%d", p), i))
					if err != nil {
						return
					}
					ackMu.Lock()
					for _, id := range ids {
						if acked[id] {
							t.Errorf("ID %d acknowledged twice", id)
						}
						acked[id], ackedBy[id] = true, p
					}
					roundAcked++
					ackMu.Unlock()
				}
			})
		}
		poll.Until(t, "", func() bool { ackMu.Lock(); defer ackMu.Unlock(); return roundAcked >= 1500 })
		proc.Kill()
		pubs.Wait()
		c.Close()
		<-readDone

		mu.Lock()
		for i, id := range received {
			want := lastSeen + 1
			if i > 0 {
				want = received[i-1] + 1
			}
			// Every ID in this run is one of ours, so the stream is
			// exactly consecutive.
			if id != want {
				t.Fatalf("round %d: received %d where %d was due", round, id, want)
			}
		}
		if n := len(received); n > 0 {
			lastSeen = received[n-1]
		}
		mu.Unlock()
		t.Logf("round %d: %d acknowledged in all, subscriber at %d", round, len(acked), lastSeen)
	}

	// After the last crash: every acknowledged ID is stored, and new IDs
	// continue above all of them.
	proc, base := startBinary(t, bin, cfg, db)
	defer proc.Stop()
	c, br := nodetest.Stream(t, base, "/events?topic=*", "Last-Event-ID: 0")
	rd := client.NewReader(br)
	var maxAcked int64
	for id := range acked {
		maxAcked = max(maxAcked, id)
	}
	stored := map[int64]bool{}
	for prev := int64(0); prev < maxAcked; {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("replay from 0 stopped after %d: %v", prev, err)
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= prev {
			t.Fatalf("replay: %d after %d", id, prev)
		}
		stored[id] = true
		prev = id
	}
	for id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged ID %d is missing after the crash", id)
		}
	}
	// One topic's history, read through the topic index: the events
	// committed since its last pass were in the killed process's memory
	// only, and the store read them back when it opened.
	c3, br3 := nodetest.Stream(t, base, "/events?topic=t/3", "Last-Event-ID: 0")
	rd3 := client.NewReader(br3)
	var want3 []int64
	for id, p := range ackedBy {
		if p == 3 {
			want3 = append(want3, id)
		}
	}
	slices.Sort(want3)
	got3 := map[int64]bool{}
	for prev := int64(0); len(want3) > 0 && prev < want3[len(want3)-1]; {
		c3.SetReadDeadline(time.Now().Add(10 * time.Second))
		ev, err := rd3.Next()
		if err != nil {
			t.Fatalf("replay of t/3 from 0 stopped after %d: %v", prev, err)
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= prev || acked[id] && ackedBy[id] != 3 {
			t.Fatalf("replay of t/3: %d after %d (published by %d)", id, prev, ackedBy[id])
		}
		got3[id] = true
		prev = id
	}
	for _, id := range want3 {
		if !got3[id] {
			t.Fatalf("acknowledged ID %d of t/3 is missing from its history after the crash", id)
		}
	}
	c3.Close()
	if ids := nodetest.MustPublish(t, base, nodetest.Note("after", 0)); ids[0] <= maxAcked {
		t.Fatalf("new ID %d is not above the acknowledged %d", ids[0], maxAcked)
	}
}

// builtBinary is the livefeed built for the tests that run it as its own
// process, as users do.
func builtBinary(t *testing.T) string { return nodetest.Binary(t) }

// TestMain removes the binary builtBinary made.
func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.RemoveBinary()
	os.Exit(code)
}

// startBinary starts the built server on db and returns it with its base
// URL; it is killed at the end of the test if still running.
func startBinary(t *testing.T, bin, cfg, db string) (*bench.Server, string) {
	t.Helper()
	srv, err := bench.StartServer(t.Context(), bin, db, cfg, nodetest.Token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv, "http://" + srv.Addr
}

// TestRunRejectsCorruptDatabase: start-up on a file that is not a livefeed
// database refuses, naming the file, and leaves it as it was.
func TestRunRejectsCorruptDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "feed.db")
	garbage := bytes.Repeat([]byte("not a database\n"), 1000)
	os.WriteFile(db, garbage, 0o600)
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, nil, 0o600)
	err := run(context.Background(), []string{"-config", cfg, "-db", db, "-addr", "127.0.0.1:0"}, testEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), db) {
		t.Fatalf("run = %v, want an error naming %s", err, db)
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(after, garbage) {
		t.Fatal("the corrupt file was modified")
	}
}

// TestRestoreRefusedWhileServing: `livefeed restore` while a server has
// the database open fails, names the server's process, and leaves both
// files and the server as they were; once the server is stopped it
// works. (It used to succeed: the server went on acknowledging events in
// the file moved aside, and after a restart gave their IDs out again.)
func TestRestoreRefusedWhileServing(t *testing.T) {
	bin := builtBinary(t)
	dir := t.TempDir()
	db, backupFile, cfg := filepath.Join(dir, "feed.db"), filepath.Join(dir, "backup.db"), filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, nil, 0o600)
	srv, base := startBinary(t, bin, cfg, db)
	nodetest.MustPublish(t, base, nodetest.Note("a", 1))
	if err := run(context.Background(), []string{"backup", "-db", db, backupFile}, testEnv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	nodetest.MustPublish(t, base, nodetest.Note("a", 2))
	backupBefore, _ := os.ReadFile(backupFile)

	err := run(context.Background(), []string{"restore", "-db", db, backupFile}, testEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("process %d", srv.Cmd.Process.Pid)) {
		t.Fatalf("restore while serving = %v, want a refusal naming process %d", err, srv.Cmd.Process.Pid)
	}
	if after, _ := os.ReadFile(backupFile); !bytes.Equal(after, backupBefore) {
		t.Fatal("the refused restore changed the backup")
	}
	if leftovers, _ := filepath.Glob(db + ".re*"); len(leftovers) > 0 {
		t.Fatalf("the refused restore left %v", leftovers)
	}
	if ids := nodetest.MustPublish(t, base, nodetest.Note("a", 3)); ids[0] != 3 {
		t.Fatalf("the server goes on at ID %d, want 3", ids[0])
	}

	srv.Stop()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"restore", "-db", db, backupFile}, testEnv, nil, &out, io.Discard); err != nil {
		t.Fatalf("restore after the server stopped: %v", err)
	}
	if !strings.Contains(out.String(), "the next event gets ID 4") {
		t.Fatalf("restore said %q", out.String())
	}
	_, base = startBinary(t, bin, cfg, db)
	if ids := nodetest.MustPublish(t, base, nodetest.Note("a", 4)); ids[0] != 4 {
		t.Fatalf("first ID after the restore %d, want 4: IDs 2 and 3 were acknowledged before it", ids[0])
	}
}

// TestLockFollowsTheFile: a server started on a symlink to the database
// keeps `livefeed restore` off the file by its own path and a second
// server off it by another symlink; both refusals name the server's
// process and change no file, and `livefeed backup` by the file's own path
// works meanwhile. (Both used to succeed: the lock was named after the
// path given. The restore's server went on acknowledging events that were
// lost at its restart, whose IDs were then given out again; the two
// servers failed each other's publishes with UNIQUE constraint errors.)
func TestLockFollowsTheFile(t *testing.T) {
	bin := builtBinary(t)
	dir := t.TempDir()
	real, link, link2 := filepath.Join(dir, "data", "real.db"), filepath.Join(dir, "link.db"), filepath.Join(dir, "link2.db")
	backupFile, cfg := filepath.Join(dir, "backup.db"), filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, nil, 0o600)
	os.Mkdir(filepath.Dir(real), 0o755)
	for _, l := range []string{link, link2} {
		if err := os.Symlink(real, l); err != nil {
			t.Fatal(err)
		}
	}
	srv, base := startBinary(t, bin, cfg, link)
	nodetest.MustPublish(t, base, nodetest.Note("a", 1))
	if err := run(context.Background(), []string{"backup", "-db", real, backupFile}, testEnv, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("backup by the file's own path while serving: %v", err)
	}
	nodetest.MustPublish(t, base, nodetest.Note("a", 2))
	files := func() map[string]string {
		got := map[string]string{}
		entries, _ := os.ReadDir(filepath.Dir(real))
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), "-wal") && !strings.HasSuffix(e.Name(), "-shm") {
				b, _ := os.ReadFile(filepath.Join(filepath.Dir(real), e.Name()))
				got[e.Name()] = string(b)
			}
		}
		b, _ := os.ReadFile(backupFile)
		got["backup"] = string(b)
		return got
	}
	before := files()
	holder := fmt.Sprintf("livefeed (process %d)", srv.Cmd.Process.Pid)

	err := run(context.Background(), []string{"restore", "-db", real, backupFile}, testEnv, nil, io.Discard, io.Discard)
	if want := "database " + real + " is open in " + holder + ": stop it first; nothing was changed"; err == nil || err.Error() != want {
		t.Errorf("restore by the file's own path = %v; want %q", err, want)
	}
	// The second server is stopped as soon as it says it serves.
	ctx, started := context.WithCancel(context.Background())
	defer started()
	err = run(ctx, []string{"-config", cfg, "-db", link2, "-addr", "127.0.0.1:0"}, testEnv, nil, startedWriter(started), io.Discard)
	if want := "database " + link2 + " is open in " + holder + ": stop it first"; ctx.Err() != nil || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a second server by another symlink = %v (started: %v); want %q", err, ctx.Err() != nil, want)
	}
	after := files()
	for name := range before {
		if after[name] != before[name] {
			t.Errorf("the refusals changed or removed %s", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("the refusals left %s", name)
		}
	}
	if ids := nodetest.MustPublish(t, base, nodetest.Note("a", 3)); ids[0] != 3 {
		t.Fatalf("the server goes on at ID %d, want 3", ids[0])
	}
}

// startedWriter is a server's stdout that calls started when the server
// writes, which it does once it serves.
type startedWriter func()

func (w startedWriter) Write(p []byte) (int, error) { w(); return len(p), nil }

// TestKilledBackupLeavesNothing kills `livefeed backup` while it writes:
// its temporary file is removed by the next backup, to another file, and
// by the next start of the server.
func TestKilledBackupLeavesNothing(t *testing.T) {
	bin := builtBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "feed.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Enough history that a backup takes a moment to write.
	pad := strings.Repeat("x", 400)
	for i := range 100 {
		batch := make([]feed.Update, 1000)
		for j := range batch {
			batch[j] = feed.Update{Topic: fmt.Sprintf("t/%d", j%50), Type: "note", Data: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i*1000+j, pad))}
		}
		if _, err := st.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	killBackup := func(out string) {
		t.Helper()
		cmd := exec.Command(bin, "backup", "-db", db, out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if fi, err := os.Stat(out + ".partial"); err == nil && fi.Size() > 0 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the backup never started writing")
			}
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Stat(out); err == nil {
			t.Fatal("the backup finished before it could be killed")
		}
		if _, err := os.Stat(out + ".partial"); err != nil {
			t.Fatalf("the killed backup left no temporary file to clean up: %v", err)
		}
	}

	first := filepath.Join(t.TempDir(), "first.db")
	killBackup(first)
	second := filepath.Join(t.TempDir(), "second.db")
	if err := run(context.Background(), []string{"backup", "-db", db, second}, testEnv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the next backup the killed one's file is still there (%v)", err)
	}

	third := filepath.Join(t.TempDir(), "third.db")
	killBackup(third)
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, nil, 0o600)
	srv, _ := startBinary(t, bin, cfg, db)
	srv.Stop()
	if _, err := os.Stat(third + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the next start the killed backup's file is still there (%v)", err)
	}
}

// TestCommandLine: an unknown command or a stray argument prints what is
// wrong and the usage on stderr and is cli.ErrUsage (exit status 2), never
// a server start; help asked for in any form (livefeed -help, --help, -h,
// help, help CMD, CMD -help, -h, --help) is printed on stdout, with
// nothing on stderr and no error, so that `livefeed -help | less` shows
// it; help and -help list every command.
func TestCommandLine(t *testing.T) {
	t.Chdir(t.TempDir()) // should a server start after all, not here
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a server that starts returns at once
	for _, tc := range []struct {
		args         []string
		usage        bool   // cli.ErrUsage, not nil
		stdout, errs string // substrings of stdout and stderr
	}{
		{[]string{"frobnicate"}, true, "", `unknown command "frobnicate"`},
		{[]string{"serve"}, true, "", `unknown command "serve"`},
		{[]string{"-demo", "extra"}, true, "", `unexpected argument "extra"`},
		{[]string{"-addr", "127.0.0.1:0", "stray", "-demo"}, true, "", `unexpected argument "stray"`},
		{[]string{"-nope"}, true, "", "flag provided but not defined: -nope"},
		{[]string{"help"}, false, "hash-password  read a new operator's password", ""},
		{[]string{"help", "restore"}, false, "usage: livefeed restore [flags] BACKUP", ""},
		{[]string{"help", "frobnicate"}, true, "", `unknown command "frobnicate"`},
		{[]string{"help", "a", "b"}, true, "", "help takes one command"},
		{[]string{"-help"}, false, "version        print livefeed's version", ""},
		{[]string{"-h"}, false, "commands:", ""},
		{[]string{"restore", "-help"}, false, "-next-id", ""},
		{[]string{"bench", "-help"}, false, "web/docs/performance.md", ""},
		{[]string{"tail", "-nope"}, true, "", "flag provided but not defined: -nope"},
		{[]string{"bench", "-nope"}, true, "", "flag provided but not defined: -nope"},
		{[]string{"bench"}, true, "", "-workload is required"},
		{[]string{"bench", "-workload", "W1", "stray"}, true, "", `unexpected argument "stray"`},
		{[]string{"publish", "-token", "t", "-batch", "0"}, true, "", "-batch 0 is out of range"},
		{[]string{"backup"}, true, "", "livefeed backup takes one argument, FILE; got none"},
		{[]string{"restore", "a.db", "b.db"}, true, "", `livefeed restore takes one argument, BACKUP; got 2 ("a.db", "b.db")`},
		{[]string{"restore", "a.db", "-db"}, true, "", "flag needs an argument: -db"},
		{[]string{"hash-password", "my-password"}, true, "", "hash-password takes no arguments"},
		{[]string{"version", "x"}, true, "", "version takes no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(ctx, tc.args, testEnv, strings.NewReader(""), &stdout, &stderr)
			if tc.usage != errors.Is(err, cli.ErrUsage) || !tc.usage && err != nil {
				t.Fatalf("run = %v, want usage error %v\nstderr: %s", err, tc.usage, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.errs) {
				t.Fatalf("stdout %q\nstderr %q\nwant %q and %q", stdout.String(), stderr.String(), tc.stdout, tc.errs)
			}
			if tc.usage && !strings.Contains(stderr.String(), "usage: livefeed") {
				t.Fatalf("no usage printed: %q", stderr.String())
			}
			if !tc.usage && stderr.Len() > 0 {
				t.Fatalf("help wrote to stderr: %q", stderr.String())
			}
			if _, err := os.Stat("data"); err == nil {
				t.Fatal("a server started: it created data/")
			}
		})
	}
	// Every form of asking, for livefeed and for each command: the
	// usage on stdout, nothing else done (publish would read stdin).
	helps := [][]string{{"-help"}, {"--help"}, {"-h"}, {"help"}, {"help", "-h"}}
	for _, c := range commands {
		helps = append(helps, []string{"help", c.name})
		for _, form := range []string{"-help", "--help", "-h"} {
			helps = append(helps, []string{c.name, form})
		}
	}
	for _, args := range helps {
		t.Run("Help "+strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(ctx, args, testEnv, strings.NewReader(nodetest.Note("help/x", 1)+"\n"), &stdout, &stderr)
			if err != nil || !strings.HasPrefix(stdout.String(), "usage: livefeed") || stderr.Len() > 0 {
				t.Fatalf("run = %v\nstdout %q\nstderr %q\nwant the usage on stdout alone", err, stdout.String(), stderr.String())
			}
		})
	}
	t.Run("HelpListsEveryCommand", func(t *testing.T) {
		var stdout bytes.Buffer
		if err := run(ctx, []string{"help"}, testEnv, nil, &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"backup", "restore", "hash-password", "bench", "version", "help"} {
			if !regexp.MustCompile(`(?m)^  ` + name + ` +\S`).MatchString(stdout.String()) {
				t.Errorf("help has no line for %s:\n%s", name, stdout.String())
			}
		}
	})
}

// TestRunWithoutConfig: started where there is no config.toml, and without
// -config, livefeed says on stdout that it uses the built-in defaults, and
// which.
func TestRunWithoutConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	out, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0"}, func(string) string { return "" }, nil, outW, io.Discard)
		outW.CloseWithError(err)
		done <- err
	}()
	// Once it serves, stop it and read all it said.
	var said strings.Builder
	rd := bufio.NewReader(out)
	for !strings.Contains(said.String(), "events:") {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stdout %q: %v", said.String(), err)
		}
		said.WriteString(line)
	}
	cancel()
	rest, _ := io.ReadAll(rd)
	said.Write(rest)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  docs:      http://127.0.0.1:", "no config.toml here, so the built-in defaults (http://127.0.0.1:", "/docs/configuration)", "database data/livefeed.db", "no publish tokens (set LIVEFEED_PUBLISH_TOKENS)", "no operators (set LIVEFEED_OPERATORS)"} {
		if !strings.Contains(said.String(), want) {
			t.Errorf("stdout %q lacks %q", said.String(), want)
		}
	}
}

// TestTLSCertificateLoadedFirst: a certificate or key that cannot be used
// stops the start with an error naming the keys, before anything says the
// server is serving on https.
func TestTLSCertificateLoadedFirst(t *testing.T) {
	pair := nodetest.WithTLS(t, config.Config{})
	certFile, keyFile := pair.Server.TLSCert, pair.Server.TLSKey
	otherKey := nodetest.WithTLS(t, config.Config{}).Server.TLSKey
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate\n"), 0o600)
	for name, files := range map[string][2]string{
		"ErrMissingCert": {filepath.Join(dir, "absent.pem"), keyFile},
		"ErrMissingKey":  {certFile, filepath.Join(dir, "absent-key.pem")},
		"ErrKeyMismatch": {certFile, otherKey},
		"ErrNotPEM":      {garbage, keyFile},
	} {
		t.Run(name, func(t *testing.T) {
			cfgPath := filepath.Join(t.TempDir(), "config.toml")
			os.WriteFile(cfgPath, []byte(fmt.Sprintf("[server]\ntls_cert = %q\ntls_key = %q\n", files[0], files[1])), 0o600)
			var stdout bytes.Buffer
			err := run(context.Background(), []string{"-config", cfgPath, "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "feed.db")}, testEnv, nil, &stdout, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "server.tls_cert, server.tls_key") {
				t.Fatalf("run = %v, want an error naming the TLS keys", err)
			}
			if strings.Contains(stdout.String(), "serving") {
				t.Fatalf("said %q before failing", stdout.String())
			}
		})
	}
}

// TestReloadOnHangup: SIGHUP applies new publish tokens, origins and log
// level at once; a key that needs a restart is named; a bad file is
// refused with the reason and changes nothing; a stream open all along
// is not dropped and misses nothing.
func TestReloadOnHangup(t *testing.T) {
	const tokenA, tokenB = "reload-token-a-0123456789", "reload-token-b-0123456789"
	configOf := func(token, origin, level, heartbeat string) string {
		return fmt.Sprintf("[auth]\npublish_tokens = [%q]\n[cors]\nallowed_origins = [%q]\n[log]\nlevel = %q\n[feed]\nheartbeat = %q\n", token, origin, level, heartbeat)
	}
	dir := t.TempDir()
	s := startServerEnv(t, dir, configOf(tokenA, "https://a.example", "info", "15s"), func(string) string { return "" })
	cfgPath := filepath.Join(dir, "config.toml")
	c, br := nodetest.Stream(t, s.url, "/events?topic=*")
	rd := client.NewReader(br)

	publishAs := func(token string, n int) int {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/publish", strings.NewReader(nodetest.Note("reload", n)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	allowed := func(origin string) bool {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/topics", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin") == origin
	}
	hangup := func(config, logged string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(s.log.String(), logged)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "", func() bool { return strings.Count(s.log.String(), logged) > before })
	}

	if publishAs(tokenA, 1) != http.StatusCreated || !allowed("https://a.example") {
		t.Fatal("the first settings are not in effect")
	}

	hangup(configOf(tokenB, "https://b.example", "debug", "5s"), "configuration reloaded")
	if got := publishAs(tokenA, 2); got != http.StatusUnauthorized {
		t.Errorf("the old token after the reload: %d", got)
	}
	if got := publishAs(tokenB, 3); got != http.StatusCreated {
		t.Errorf("the new token after the reload: %d", got)
	}
	if allowed("https://a.example") || !allowed("https://b.example") {
		t.Errorf("the origins did not change")
	}
	log := s.log.String()
	if !strings.Contains(log, "applied=\"[auth.publish_tokens cors.allowed_origins log.level]\"") {
		t.Errorf("the reload does not say what it applied:\n%s", log)
	}
	if !strings.Contains(log, "need a restart") || !strings.Contains(log, "feed.heartbeat") {
		t.Errorf("the changed heartbeat is not reported as needing a restart:\n%s", log)
	}

	hangup(configOf(tokenA, "https://a.example", "loud", "15s"), "reload refused")
	if !strings.Contains(s.log.String(), "log.level") {
		t.Errorf("the refusal does not name the bad key:\n%s", s.log.String())
	}
	if got := publishAs(tokenB, 4); got != http.StatusCreated {
		t.Errorf("after a bad reload the token in effect is refused: %d", got)
	}
	if got := publishAs(tokenA, 5); got != http.StatusUnauthorized {
		t.Errorf("a bad reload applied its token: %d", got)
	}
	if !allowed("https://b.example") {
		t.Errorf("a bad reload changed the origins")
	}

	// The stream opened before both reloads has every accepted event.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"1", "2", "3"} {
		ev, err := nodetest.NextEvent(rd)
		if err != nil || ev.ID != want {
			t.Fatalf("the stream after the reloads: %+v %v, want event %s", ev, err, want)
		}
	}
}

// TestReloadSubscriberKeysAndLevel: SIGHUP applies new subscriber keys (a
// token of the old key no longer opens private topics, one of the new key
// does) and a new log level (info lines stop at warn, and come back).
func TestReloadSubscriberKeysAndLevel(t *testing.T) {
	const secretA, secretB = "reload-secret-a-0123456789abcdef0123", "reload-secret-b-0123456789abcdef0123"
	configOf := func(secret, level string) string {
		return fmt.Sprintf("[auth]\npublish_tokens = [%q]\nprivate_topics = [\"premium/*\"]\nsubscriber_keys = [%q]\n[log]\nlevel = %q\n",
			"reload-token-a-0123456789", secret, level)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	s := startServerEnv(t, dir, configOf(secretA, "info"), func(string) string { return "" })
	mint := func(secret string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(configOf(secret, "info")), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		if err := run(t.Context(), []string{"token", "-subscribe", "premium/*", "-ttl", "10m", "-config", path}, testEnv, nil, &out, &errOut); err != nil {
			t.Fatalf("livefeed token: %v %s", err, errOut.String())
		}
		return strings.TrimSpace(out.String())
	}
	tokenA, tokenB := mint(secretA), mint(secretB)
	granted := func(tok string) bool {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/topics?topic=premium/*", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// hangup reloads config and waits until applied reports it is in
	// effect (at level warn, "configuration reloaded" is not logged).
	hangup := func(config string, applied func() bool) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "the reload to be applied", applied)
	}
	// A refused publish is logged at info, a line a second at most: each
	// check waits past that second.
	const refusal = "request refused: missing or bad credentials"
	refusalLogged := func() bool {
		time.Sleep(1100 * time.Millisecond)
		before := strings.Count(s.log.String(), refusal)
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/publish", strings.NewReader(nodetest.Note("misc", 1)))
		req.Header.Set("Authorization", "Bearer not-a-token-of-this-server")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return strings.Count(s.log.String(), refusal) > before
	}

	if !granted(tokenA) || granted(tokenB) {
		t.Fatal("before the reload: the first key's token should be granted, the other refused")
	}
	if !refusalLogged() {
		t.Fatalf("a refusal not logged at info:\n%s", s.log.String())
	}

	hangup(configOf(secretB, "warn"), func() bool { return granted(tokenB) })
	if granted(tokenA) || !granted(tokenB) {
		t.Errorf("after the reload: the old key's token should be refused, the new one's granted")
	}
	if refusalLogged() {
		t.Errorf("a refusal logged at info with the level at warn:\n%s", s.log.String())
	}

	before := strings.Count(s.log.String(), "configuration reloaded")
	hangup(configOf(secretB, "info"), func() bool { return strings.Count(s.log.String(), "configuration reloaded") > before })
	if !refusalLogged() {
		t.Errorf("no refusal logged after the level went back to info:\n%s", s.log.String())
	}
	if !granted(tokenB) {
		t.Errorf("the key in effect stopped working")
	}
}
