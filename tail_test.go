package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
)

// lines is a writer safe for concurrent use that counts its lines.
type lines struct{ lockedBuffer }

func (l *lines) events(t *testing.T) []feed.Event {
	t.Helper()
	var events []feed.Event
	for line := range strings.SplitSeq(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var e feed.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON event line: %q", line)
		}
		events = append(events, e)
	}
	return events
}

// tailEnv is the environment of a command: no token but the one given.
func tailEnv(token string) func(string) string {
	return func(key string) string {
		if key == EnvToken {
			return token
		}
		return ""
	}
}

// TestTailCommand: -from 0 prints every stored event as a JSON line, -n
// stops after N; without -from, the latest of each topic; a position
// ahead of the server is a reset on stderr, then the latest events.
func TestTailCommand(t *testing.T) {
	s := startServer(t, "")
	for i := 1; i <= 3; i++ {
		mustPublish(t, s.url, noteBody("tail/a", i))
	}
	mustPublish(t, s.url, noteBody("tail/b", 4))
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
			var stdout lines
			var stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := run(ctx, append([]string{"tail", "-url", s.url}, tc.args...), tailEnv(""), nil, &stdout, &stderr); err != nil {
				t.Fatalf("tail: %v\n%s", err, stderr.String())
			}
			var ids []int64
			for _, e := range stdout.events(t) {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("tail printed %v, want %v", ids, tc.ids)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestTailAcrossRestart: a tail running while the server restarts
// reconnects by itself with its last event ID and prints every event
// once, in order: none missed, none twice.
func TestTailAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the servers take it; nothing else here asks for a port
	config := "[feed]\nretry = \"1s\"\n"
	s := startServerIn(t, dir, config, "-addr", addr)
	var stdout lines
	var stderr lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tail", "-url", s.url, "-from", "0", "-n", "8", "tail/*"}, tailEnv(""), nil, &stdout, &stderr)
	}()
	for i := 1; i <= 4; i++ {
		mustPublish(t, s.url, noteBody("tail/x", i))
	}
	waitUntil(t, func() bool { return strings.Count(stdout.String(), "\n") == 4 })
	s.shutdown(t)
	s = startServerIn(t, dir, config, "-addr", addr)
	for i := 5; i <= 8; i++ {
		mustPublish(t, s.url, noteBody("tail/x", i))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("tail printed %q before the deadline", stdout.String())
	}
	var ids []int64
	for _, e := range stdout.events(t) {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("across the restart tail printed %v", ids)
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// TestFeedCommandFlags: bad flags of tail and publish are refused before
// anything is sent, with what is wrong.
func TestFeedCommandFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"TailNoTopic", []string{"tail", "-url", "http://127.0.0.1:1"}, "tail needs at least one topic pattern"},
		{"TailBadTopic", []string{"tail", "-url", "http://127.0.0.1:1", "a b"}, "topic"},
		{"TailFromWord", []string{"tail", "-url", "http://127.0.0.1:1", "-from", "abc", "*"}, `-from "abc" is not an event ID`},
		{"TailFromNegative", []string{"tail", "-url", "http://127.0.0.1:1", "-from", "-5", "*"}, `-from "-5" is not an event ID`},
		{"TailFromExponent", []string{"tail", "-url", "http://127.0.0.1:1", "-from", "1e3", "*"}, `-from "1e3"`},
		{"TailFromPlus", []string{"tail", "-url", "http://127.0.0.1:1", "-from", "+3", "*"}, `-from "+3"`},
		{"TailFromHuge", []string{"tail", "-url", "http://127.0.0.1:1", "-from", "99999999999999999999", "*"}, "is not an event ID"},
		{"TailNegativeN", []string{"tail", "-url", "http://127.0.0.1:1", "-n", "-1", "*"}, "-n -1"},
		{"TailNWord", []string{"tail", "-n", "x", "*"}, "invalid value"},
		{"PublishBatchZero", []string{"publish", "-url", "http://127.0.0.1:1", "-batch", "0"}, "-batch 0 is out of range"},
		{"PublishBatchHuge", []string{"publish", "-url", "http://127.0.0.1:1", "-batch", "5000"}, "-batch 5000 is out of range"},
		{"PublishTwoFiles", []string{"publish", "-url", "http://127.0.0.1:1", "a", "b"}, "one file at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, tailEnv(""), strings.NewReader(""), &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tc.err) {
				t.Fatalf("run = %v, stderr %q; want a usage error with %q", err, stderr.String(), tc.err)
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
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"tail", "-url", tc.url, "*"}, tailEnv(""), nil, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("run = %v, want an error with %q", err, tc.err)
			}
		})
	}
}

// TestPublishCommand: NDJSON lines are published in batches and their IDs
// printed; a rerun on the same input publishes nothing again; a bad line
// stops it, named, with the batches before it published and nothing
// after; a refused token names the batch's lines.
func TestPublishCommand(t *testing.T) {
	s := startServer(t, "")
	input := filepath.Join(t.TempDir(), "events.ndjson")
	var body strings.Builder
	for i := 1; i <= 5; i++ {
		body.WriteString(noteBody("cli/a", i) + "\n")
		if i == 2 {
			body.WriteString("\n") // blank lines are skipped
		}
	}
	if err := os.WriteFile(input, []byte(body.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	publishFile := func(env func(string) string, args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"publish", "-url", s.url}, args...), env, strings.NewReader(body.String()), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	out, errs, err := publishFile(tailEnv(testToken), "-batch", "2", input)
	if err != nil || out != "1\n2\n3\n4\n5\n" {
		t.Fatalf("publish: %q %v\n%s", out, err, errs)
	}
	// Again, from stdin: the same batches, the same keys, the same IDs.
	if out, errs, err = publishFile(tailEnv(testToken), "-batch", "2"); err != nil || out != "1\n2\n3\n4\n5\n" {
		t.Fatalf("publish again: %q %v\n%s", out, err, errs)
	}
	if got := lastID(t, s.url); got != 5 {
		t.Fatalf("after a rerun the last ID is %d, want 5", got)
	}

	_, _, err = publishFile(func(string) string { return "" }, "-token", "not-the-token-0123456789", "-batch", "2", input)
	if err == nil || !strings.Contains(err.Error(), "lines 1 to 2") || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("a refused token: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	os.WriteFile(bad, []byte(noteBody("cli/b", 1)+"\n"+noteBody("cli/b", 2)+"\n"+`{"topic":"no spaces allowed","type":"note","data":{}}`+"\n"+noteBody("cli/b", 4)+"\n"), 0o600)
	out, _, err = publishFile(tailEnv(testToken), "-batch", "2", bad)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("a bad line 3: %v", err)
	}
	if out != "6\n7\n" || lastID(t, s.url) != 7 {
		t.Fatalf("before the bad line: printed %q, last ID %d; want the first batch only", out, lastID(t, s.url))
	}
}

// lastID is the server's newest event ID.
func lastID(t *testing.T, base string) int64 {
	t.Helper()
	var h struct {
		LastID int64 `json:"last_id"`
	}
	if err := json.Unmarshal([]byte(get(t, http.DefaultClient, base+"/healthz")), &h); err != nil {
		t.Fatal(err)
	}
	return h.LastID
}

// TestImportCommand: an export imported into another server gives the
// same events (topics, types, data; new IDs and times), text that the
// export guarded against formulas included; a rerun imports nothing
// twice; a fixtures sheet becomes score events; a bad row is named.
func TestImportCommand(t *testing.T) {
	from, to := startServer(t, ""), startServer(t, "")
	for _, body := range []string{
		`{"topic":"nba/lal-bos","type":"score","data":{"home":"=Lakers","away":"'Celtics","home_score":3,"away_score":0,"period":"OT","clock":"1:02","status":"live","venue":"Crypto.com"}}`,
		`{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":5,"away_score":2,"period":4}}`,
		`{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":187.25,"change":-1.5,"currency":"USD"}}`,
		`{"topic":"misc/note","type":"note","data":{"text":"Zürich, 東京","n":[1,2]}}`,
	} {
		mustPublish(t, from.url, body)
	}
	export := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(export, []byte(get(t, http.DefaultClient, from.url+"/api/export.csv")), 0o600); err != nil {
		t.Fatal(err)
	}
	importFile := func(base, file string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"import", "-url", base, "-batch", "3", file}, tailEnv(testToken), nil, &stdout, &stderr)
		if err == nil && stderr.Len() > 0 {
			t.Errorf("import wrote to stderr, which is no terminal: %q", stderr.String()) // the summary is the report
		}
		return stdout.String(), err
	}
	for range 2 { // the second time, nothing new
		if out, err := importFile(to.url, export); err != nil || !strings.Contains(out, "imported 4 rows") {
			t.Fatalf("import: %q %v", out, err)
		}
	}
	events := func(base string) []feed.Event {
		var page struct{ Events []feed.Event }
		if err := json.Unmarshal([]byte(get(t, http.DefaultClient, base+"/api/history?limit=100")), &page); err != nil {
			t.Fatal(err)
		}
		return page.Events
	}
	want, got := events(from.url), events(to.url)
	if len(got) != len(want) {
		t.Fatalf("imported %d events, want %d", len(got), len(want))
	}
	for i := range want {
		var a, b any
		json.Unmarshal(want[i].Data, &a)
		json.Unmarshal(got[i].Data, &b)
		if got[i].Topic != want[i].Topic || got[i].Type != want[i].Type || !reflect.DeepEqual(a, b) {
			t.Errorf("event %d: imported %s %s %s, want %s %s %s", i, got[i].Topic, got[i].Type, got[i].Data, want[i].Topic, want[i].Type, want[i].Data)
		}
	}

	dir := t.TempDir()
	fixtures := filepath.Join(dir, "fixtures.csv")
	os.WriteFile(fixtures, []byte("topic,home,away,start\r\nnba/2026-12-03/nyk-chi,Knicks,Bulls,2026-12-03T00:30:00Z\r\n"), 0o600)
	if out, err := importFile(to.url, fixtures); err != nil || !strings.Contains(out, "imported 1 rows") {
		t.Fatalf("fixtures: %q %v", out, err)
	}
	last := events(to.url)
	if e := last[len(last)-1]; e.Topic != "nba/2026-12-03/nyk-chi" || e.Type != "score" || !strings.Contains(string(e.Data), `"status":"scheduled"`) {
		t.Errorf("a fixture became %s %s %s", e.Topic, e.Type, e.Data)
	}

	for _, tc := range []struct{ name, csv, err string }{
		{"Header", "a,b\r\n1,2\r\n", "the header is"},
		{"Start", "topic,home,away,start\r\nnba/x,A,B,tomorrow\r\n", "row 1 (line 2)"},
		{"Topic", "topic,home,away,start\r\nnba/ok,A,B,2026-12-03T00:30:00Z\r\nbad topic,A,B,2026-12-03T00:30:00Z\r\n", "row 2 (line 3)"},
		{"Columns", "topic,home,away,start\r\nnba/x,A\r\n", "wrong number of fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".csv")
			os.WriteFile(file, []byte(tc.csv), 0o600)
			before := lastID(t, to.url)
			if _, err := importFile(to.url, file); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("import = %v, want an error with %q", err, tc.err)
			}
			if lastID(t, to.url) != before {
				t.Errorf("a refused import published")
			}
		})
	}
}

// FuzzImportRows: any file given to livefeed import, and any NDJSON given
// to livefeed publish, is read without a panic, and what is sent is only
// events that pass the server's validation, in batches of the size asked.
func FuzzImportRows(f *testing.F) {
	header := strings.Join(feed.CSVColumns, ",")
	f.Add(header + "\r\n1,2026-01-01T00:00:00.000Z,nba/x,score,'=A,B,1,2,OT,,live,,,,,,,\"{\"\"x\"\":1}\",ann\r\n")
	f.Add(header + "\r\n1,t,stocks/X,tick,,,,,,,,X,1.5,-1,,10,USD,,\r\n2,t,misc,note,,,,,,,,,,,,,,\"{\"\"a\"\":[1]}\",\r\n")
	f.Add(header + "\r\n1,t,misc,note,,,,,,,,,,,,,,not json,\r\n")
	f.Add(header + "\r\n1,t,misc,note,,,,,,,,,,,,,,{}\r\n") // a row of the export before the operator column
	f.Add("topic,home,away,start\n\"")                      // a quote that never closes (found by fuzzing)
	f.Add("topic,home,away,start\r\nnba/a,A,B,2026-12-03T00:30:00Z\r\nnba/b,\"C, D\",E,2026-12-03T00:30:00+01:00\r\n")
	f.Add("\ufefftopic,home,away,start\nnba/a,A,B,x\n")
	f.Add(`{"topic":"a","type":"note","data":{}}` + "\n[1]\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, read := range []func(*batcher) error{
			func(b *batcher) error { _, err := importRows(strings.NewReader(text), b); return err },
			func(b *batcher) error { return b.run(strings.NewReader(text)) },
		} {
			sent := 0
			b := &batcher{size: 2, name: "fuzz", stdout: io.Discard, send: func(updates []feed.Update, key string) ([]int64, error) {
				if len(updates) == 0 || len(updates) > 2 || key == "" {
					t.Fatalf("a batch of %d with key %q", len(updates), key)
				}
				if _, err := feed.ValidateBatch(updates); err != nil {
					t.Fatalf("sent an event the server refuses: %v", err)
				}
				ids := make([]int64, len(updates))
				for i := range ids {
					sent++
					ids[i] = int64(sent)
				}
				return ids, nil
			}}
			read(b)
		}
	})
}
