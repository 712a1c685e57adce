package cli_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/cli"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// closedAddress is a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFindsLocalServer: without -url, tail, publish and import talk to
// the livefeed on this machine that has the database of config.toml (or
// -config, or -db) open, at the address it really listens on (a port the
// system chose), whatever config.toml's server.address says, and say so
// on stderr; with no such server they take server.address and say that;
// when nobody answers there they stop at once (tail waited silently
// forever) and say where they looked and what to do. With -url they say
// nothing of it.
func TestFindsLocalServer(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg := nodetest.ConfigAt(filepath.Join(dir, "data", "feed.db"))
	n := nodetest.Start(t, cfg, node.Options{})
	// config.toml names the database, and an address nobody listens on.
	closed := closedAddress(t)
	writeConfig := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("config.toml", fmt.Sprintf("[server]\naddress = %q\n[store]\npath = \"data/feed.db\"\n", closed))
	writeConfig("other.toml", fmt.Sprintf("[server]\naddress = %q\n[store]\npath = \"elsewhere.db\"\n", closed))
	found := fmt.Sprintf("talking to %s (the livefeed that has %%s open, process %d); give -url for another\n", n.URL, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, errs, err := run(ctx, cli.Publish, tokenEnv(nodetest.Token), strings.NewReader(nodetest.Note("local/a", 1)+"\n"))
	if err != nil || !strings.HasPrefix(errs, "livefeed publish: "+fmt.Sprintf(found, "data/feed.db")) {
		t.Fatalf("publish: %v\n%s", err, errs)
	}
	importFile := writeFile(t, "fixtures.csv", "topic,home,away,start\nlocal/b,Knicks,Bulls,2026-12-03T00:30:00Z\n")
	out, errs, err := run(ctx, cli.Import, tokenEnv(nodetest.Token), nil, "-config", "other.toml", "-db", cfg.Store.Path, importFile)
	if err != nil || !strings.HasPrefix(errs, "livefeed import: "+fmt.Sprintf(found, cfg.Store.Path)) || !strings.HasSuffix(out, "row 1 published (ID 2)\n") {
		t.Fatalf("import -db: %v\n%s%s", err, out, errs)
	}
	for _, args := range [][]string{nil, {"-config", "config.toml"}, {"-db", "./data/../data/feed.db"}} {
		out, errs, err = run(ctx, cli.Tail, tokenEnv(""), nil, append(args, "-from", "0", "-n", "2", "local/*")...)
		db := "data/feed.db"
		if len(args) > 0 && args[0] == "-db" {
			db = args[1]
		}
		if err != nil || !slices.Equal(printedIDs(t, out), []int64{1, 2}) || !strings.HasPrefix(errs, "livefeed tail: "+fmt.Sprintf(found, db)) {
			t.Fatalf("tail %v: %v\n%s%s", args, err, out, errs)
		}
		if !strings.HasSuffix(errs, "livefeed tail: printed 2 events (IDs 1 to 2); -from 2 continues after them\n") {
			t.Errorf("tail %v did not say what it printed: %q", args, errs)
		}
	}
	// With -url, nothing is said of where.
	_, errs, err = run(ctx, cli.Tail, tokenEnv(""), nil, "-url", n.URL, "-from", "0", "-n", "1", "local/*")
	if err != nil || strings.Contains(errs, "talking to") {
		t.Fatalf("tail -url: %v\n%s", err, errs)
	}

	// No server has the database open: config.toml's address, said so.
	other := nodetest.Start(t, nodetest.Config(t), node.Options{})
	nodetest.MustPublish(t, other.URL, nodetest.Note("local/c", 1))
	writeConfig("fallback.toml", fmt.Sprintf("[server]\naddress = %q\n[store]\npath = \"nobody.db\"\n", strings.TrimPrefix(other.URL, "http://")))
	out, errs, err = run(ctx, cli.Tail, tokenEnv(""), nil, "-config", "fallback.toml", "-from", "0", "-n", "1", "local/*")
	if err != nil || !slices.Equal(printedIDs(t, out), []int64{1}) ||
		!strings.HasPrefix(errs, "livefeed tail: talking to "+other.URL+" (server.address of fallback.toml; no livefeed has nobody.db open); give -url for another\n") {
		t.Fatalf("tail, falling back on server.address: %v\n%s%s", err, out, errs)
	}

	// Nobody answers: tail and publish stop and say what to do.
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	noAnswer := fmt.Sprintf("no livefeed answers at http://%s (server.address of config.toml; no livefeed has data/feed.db open)", closed)
	_, errs, err = run(ctx, cli.Tail, tokenEnv(""), nil, "local/*")
	if err == nil || !strings.HasPrefix(err.Error(), noAnswer) || !strings.HasSuffix(err.Error(), "Start one (livefeed), or give the address of a running one with -url") {
		t.Fatalf("tail with nobody there: %v\n%s", err, errs)
	}
	_, errs, err = run(ctx, cli.Publish, tokenEnv(nodetest.Token), strings.NewReader(nodetest.Note("local/a", 2)+"\n"), "-config", "config.toml")
	if err == nil || !strings.Contains(err.Error(), "nothing was published. N"+noAnswer[1:]+". Start one (livefeed -config config.toml), or give the address of a running one with -url") {
		t.Fatalf("publish with nobody there: %v\n%s", err, errs)
	}
	_, _, err = run(ctx, cli.Tail, tokenEnv(""), nil, "-url", "http://"+closed, "local/*")
	if err == nil || !strings.Contains(err.Error(), "no livefeed answers at http://"+closed+" (-url): ") || !strings.HasSuffix(err.Error(), "Check -url, or start the server") {
		t.Fatalf("tail -url with nobody there: %v", err)
	}
}

// TestTailWarnsOfPrivateTopics: a tail without a subscriber token whose
// patterns reach private topics (auth.private_topics of the config file)
// says which, and how to give a token: the server sends only their public
// topics, and says nothing of it.
func TestTailWarnsOfPrivateTopics(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := nodetest.ConfigAt(filepath.Join(dir, "feed.db"))
	cfg.Auth.PrivateTopics = []string{"premium/*"}
	n := nodetest.Start(t, cfg, node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("nba/a", 1))
	if err := os.WriteFile("config.toml", []byte("[store]\npath = \"feed.db\"\n[auth]\nprivate_topics = [\"premium/*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, errs, err := run(ctx, cli.Tail, tokenEnv(""), nil, "-from", "0", "-n", "1", "nba/*", "premium/*", "premium/gold/x")
	if err != nil || !strings.Contains(errs, "livefeed tail: 'premium/*', 'premium/gold/x' reach private topics (auth.private_topics of config.toml), of which only the public ones are printed without a subscriber token: give one with -token, or in the environment variable LIVEFEED_TOKEN") {
		t.Fatalf("tail: %v\n%s", err, errs)
	}
	for _, args := range [][]string{{"nba/*"}, {"-url", n.URL, "*"}} {
		_, errs, err = run(ctx, cli.Tail, tokenEnv(""), nil, append([]string{"-from", "0", "-n", "1"}, args...)...)
		if err != nil || strings.Contains(errs, "private") {
			t.Fatalf("tail %v: %v\n%s", args, err, errs)
		}
	}
	_, errs, err = run(ctx, cli.Tail, tokenEnv(""), nil, "-from", "0", "-n", "1", "*")
	if err != nil || !strings.Contains(errs, "livefeed tail: '*' reaches private topics") {
		t.Fatalf("tail '*': %v\n%s", err, errs)
	}
}
