package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"livefeed/handlers/cli"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// TestImportCommand: an export imported into another server gives the
// same events (topics, types, data; new IDs and times), text that the
// export guarded against formulas included; with -keys=file a rerun
// publishes nothing new and says so, without it every row is published
// again; a fixtures sheet becomes score events; a bad row is named and
// publishes nothing, wherever it is; a batch the server refuses is named
// with the rows stored before it.
func TestImportCommand(t *testing.T) {
	t.Parallel()
	const scoped = "e2e-scoped-publish-token-0123456789"
	cfg := nodetest.Config(t)
	cfg.Auth.PublishTokens = []config.PublishToken{{Token: nodetest.Token}, {Token: scoped, Topics: []string{"nba/*"}}}
	from, to := nodetest.Start(t, nodetest.Config(t), node.Options{}), nodetest.Start(t, cfg, node.Options{})
	for _, body := range []string{
		`{"topic":"nba/lal-bos","type":"score","data":{"home":"=Lakers","away":"'Celtics","home_score":3,"away_score":0,"period":"OT","clock":"1:02","status":"live","venue":"Crypto.com"}}`,
		`{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":5,"away_score":2,"period":4,"home_abbr":"LAL","away_abbr":"BOS","home_color":"#552583","away_color":"#007A33","home_logo":"https://cdn.example.com/lal.svg?v=1"}}`,
		`{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":187.25,"change":-1.5,"currency":"USD"}}`,
		`{"topic":"misc/note","type":"note","data":{"text":"Zürich, 東京","n":[1,2]}}`,
	} {
		nodetest.MustPublish(t, from.URL, body)
	}
	export := filepath.Join(t.TempDir(), "export.csv")
	resp, err := http.Get(from.URL + "/api/export.csv")
	if err != nil {
		t.Fatal(err)
	}
	csv, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(export, csv, 0o600); err != nil {
		t.Fatal(err)
	}
	importFile := func(env func(string) string, file string, args ...string) (string, error) {
		t.Helper()
		out, errs, err := run(context.Background(), cli.Import, env, nil, append(append([]string{"-url", to.URL, "-batch", "3"}, args...), file)...)
		if err == nil && errs != "" {
			t.Errorf("import wrote to stderr, which is no terminal: %q", errs) // the summary is the report
		}
		return out, err
	}
	for _, want := range []string{
		"livefeed import: " + export + ": rows 1 to 4 published (IDs 1 to 4)\n",
		"livefeed import: " + export + ": rows 1 to 4 already stored by an earlier run (IDs 1 to 4); nothing new was published\n",
	} {
		if out, err := importFile(tokenEnv(nodetest.Token), export, "-keys", "file"); err != nil || out != want {
			t.Fatalf("import: %q %v, want %q", out, err, want)
		}
	}
	want, got := storedEvents(t, from.URL), storedEvents(t, to.URL)
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
	if out, err := importFile(tokenEnv(nodetest.Token), export); err != nil || !strings.HasSuffix(out, ": rows 1 to 4 published (IDs 5 to 8)\n") {
		t.Fatalf("import without keys: %q %v, want every row published again", out, err)
	}

	dir := t.TempDir()
	fixtures := filepath.Join(dir, "fixtures.csv")
	os.WriteFile(fixtures, []byte("topic,home,away,start\r\nnba/2026-12-03/nyk-chi,Knicks,Bulls,2026-12-03T00:30:00Z\r\n"), 0o600)
	if out, err := importFile(tokenEnv(nodetest.Token), fixtures); err != nil || !strings.HasSuffix(out, ": row 1 published (ID 9)\n") {
		t.Fatalf("fixtures: %q %v", out, err)
	}
	last := storedEvents(t, to.URL)
	if e := last[len(last)-1]; e.Topic != "nba/2026-12-03/nyk-chi" || e.Type != "score" || !strings.Contains(string(e.Data), `"status":"scheduled"`) {
		t.Errorf("a fixture became %s %s %s", e.Topic, e.Type, e.Data)
	}

	const row = "nba/ok,A,B,2026-12-03T00:30:00Z\r\n"
	const header = "topic,home,away,start\r\n"
	for _, tc := range []struct {
		name, csv string
		env       func(string) string
		err       []string
		stored    int
	}{
		{"Header", "a,b\r\n1,2\r\n", tokenEnv(nodetest.Token), []string{"Header.csv, line 1: the header is \"a,b\": use livefeed's export format"}, 0},
		{"Start", header + "nba/x,A,B,tomorrow\r\n", tokenEnv(nodetest.Token), []string{"Start.csv, row 1 (line 2): start \"tomorrow\" is not an RFC 3339 time"}, 0},
		{"Topic", header + row + "bad topic,A,B,2026-12-03T00:30:00Z\r\n", tokenEnv(nodetest.Token), []string{"Topic.csv, row 2 (line 3): topic \"bad topic\""}, 0},
		{"ThirdRow", header + row + row + "nba/x,A\r\n" + row, tokenEnv(nodetest.Token), []string{"ThirdRow.csv, row 3 (line 4): wrong number of fields; nothing was published (the whole file is checked before anything is sent)"}, 0},
		{"NoToken", header + row, tokenEnv(""), []string{"no publish token: give it with -token, or in the environment variable LIVEFEED_TOKEN"}, 0},
		{"Refused", header + row + row + row + "stocks/x,A,B,2026-12-03T00:30:00Z\r\n" + row + row + row, tokenEnv(scoped),
			[]string{"Refused.csv: rows 1 to 3 published (IDs ", "); rows 4 to 6 not stored: refused by the server, one batch all or nothing (", `"stocks/x"`, "); row 7 not sent"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".csv")
			os.WriteFile(file, []byte(tc.csv), 0o600)
			before := len(storedEvents(t, to.URL))
			_, err := importFile(tc.env, file)
			if err == nil {
				t.Fatal("import succeeded")
			}
			for _, want := range tc.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error %q does not say %q", err, want)
				}
			}
			if tc.stored == 0 && tc.name != "NoToken" && !strings.HasSuffix(err.Error(), "; nothing was published (the whole file is checked before anything is sent)") {
				t.Errorf("the error %q does not say that nothing was published", err)
			}
			if n := len(storedEvents(t, to.URL)) - before; n != tc.stored {
				t.Errorf("%d events stored, want %d", n, tc.stored)
			}
		})
	}
}
