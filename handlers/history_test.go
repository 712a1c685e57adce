package handlers_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/handlers"
)

func TestParseHistoryQuery(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 19, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		query string
		check func(handlers.HistoryQuery) bool
		err   string // substring of the error, "" for valid
	}{
		{"OKEmpty", "", func(q handlers.HistoryQuery) bool {
			return q.Range.Filter.All && q.Limit == 100 && !q.NewestFirst && q.Range.After == 0 && q.Range.From.IsZero()
		}, ""},
		{"OKAll", "topic=nba/*&topic=stocks/AAPL&after=5&before=900&from=2026-11-21T19:00:00Z&to=2026-11-21T20:00:00.5%2B01:00&limit=1000&order=desc",
			func(q handlers.HistoryQuery) bool {
				return q.Range.Filter.String() == "stocks/AAPL,nba/*" && q.Range.After == 5 && q.Range.Before == 900 &&
					q.Range.From.Equal(at) && q.Range.To.Equal(at.Add(500*time.Millisecond)) && q.Limit == 1000 && q.NewestFirst
			}, ""},
		{"OKOrderAsc", "order=asc&limit=1", func(q handlers.HistoryQuery) bool { return !q.NewestFirst && q.Limit == 1 }, ""},
		{"OKFromEqualsTo", "from=2026-11-21T19:00:00Z&to=2026-11-21T19:00:00Z", nil, ""},
		{"OKMaxID", "after=9223372036854775807", nil, ""},
		{"ErrUnknown", "topics=nba/*", nil, `unknown parameter "topics"`},
		{"ErrRepeated", "after=1&after=2", nil, `"after" is given 2 times`},
		{"ErrTopic", "topic=nba/*/x", nil, "is not allowed"},
		{"ErrEmptyTopic", "topic=", nil, "topic is empty"},
		{"ErrAfterNegative", "after=-1", nil, "after must be a non-negative integer"},
		{"ErrAfterSign", "after=%2B1", nil, "after must be a non-negative integer"},
		{"ErrAfterText", "after=abc", nil, "after must be a non-negative integer"},
		{"ErrAfterEmpty", "after=", nil, "after must be a non-negative integer"},
		{"ErrAfterHuge", "after=9223372036854775808", nil, "out of range"},
		{"ErrBefore", "before=1e3", nil, "before must be a non-negative integer"},
		{"ErrFrom", "from=yesterday", nil, "from must be an RFC 3339 time"},
		{"ErrFromDateOnly", "from=2026-11-21", nil, "from must be an RFC 3339 time"},
		{"ErrToPlusAsSpace", "to=2026-11-21T19:00:00+01:00", nil, "%2B"},
		{"ErrFromAfterTo", "from=2026-11-21T20:00:00Z&to=2026-11-21T19:00:00Z", nil, "is after to"},
		{"ErrLimitZero", "limit=0", nil, "limit must be an integer from 1 to 1000"},
		{"ErrLimitBig", "limit=1001", nil, "limit must be an integer from 1 to 1000"},
		{"ErrOrder", "order=newest", nil, "order must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := handlers.ParseHistoryQuery(values)
			if tc.err != "" {
				if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an invalid-input error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(q) {
				t.Fatalf("parsed %+v", q)
			}
		})
	}
}

func TestParseExportQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		query string
		err   string
	}{
		{"OK", "topic=nba/lal-bos&from=2026-11-21T19:00:00Z&to=2026-11-22T00:00:00Z", ""},
		{"OKAfterBefore", "after=10&before=20", ""},
		{"ErrLimit", "limit=10", `unknown parameter "limit"`},
		{"ErrOrder", "order=desc", `unknown parameter "order"`},
		{"ErrTo", "to=now", "to must be an RFC 3339 time"},
		{"OKBOM", "bom=1&topic=a", ""},
		{"OKNoBOM", "bom=0", ""},
		{"ErrBOMWord", "bom=yes", "bom must be 1"},
		{"ErrBOMEmpty", "bom=", "bom must be 1"},
		{"ErrBOMTwice", "bom=1&bom=1", `parameter "bom" is given 2 times`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values, _ := url.ParseQuery(tc.query)
			_, err := handlers.ParseExportQuery(values)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}

func TestParseTopicsQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query string
		check func(handlers.TopicsQuery) bool
		err   string // substring of the error, "" for valid
	}{
		{"", func(q handlers.TopicsQuery) bool {
			return q.Topics.All && !q.Archived && q.After == "" && q.Limit == 1000
		}, ""},
		{"topic=nba/*&topic=stocks/AAPL&archived=1&after=nba/x&limit=5", func(q handlers.TopicsQuery) bool {
			return q.Topics.Match("nba/y") && q.Topics.Match("stocks/AAPL") && !q.Topics.Match("stocks/MSFT") && q.Archived && q.After == "nba/x" && q.Limit == 5
		}, ""},
		{"limit=1", func(q handlers.TopicsQuery) bool { return q.Limit == 1 }, ""},
		{"limit=1000", func(q handlers.TopicsQuery) bool { return q.Limit == 1000 }, ""},
		{"limit=0", nil, "limit must be an integer from 1 to 1000"},
		{"limit=1001", nil, "limit must be"},
		{"limit=-1", nil, "limit must be"},
		{"limit=1e3", nil, "limit must be"},
		{"limit=5&limit=6", nil, "limit is given 2 times"},
		{"after=a&after=b", nil, "after is given 2 times"},
		{"after=", nil, "after must be a topic"},
		{"after=a%20b", nil, "after must be a topic"},
		{"after=a/../b", nil, "after must be a topic"},
		{"archived=2", nil, "archived must be 1 or 0"},
		{"archived=1&archived=1", nil, "archived is given 2 times"},
		{"topic=a%20b", nil, "topic"},
		{"Topic=a", nil, `unknown parameter "Topic"`},
		{"order=desc", nil, `unknown parameter "order"`},
	} {
		values, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := handlers.ParseTopicsQuery(values)
		switch {
		case tc.err == "" && (err != nil || !tc.check(q)):
			t.Errorf("%q: %+v, %v", tc.query, q, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, feed.ErrInvalid)):
			t.Errorf("%q: %v, want %q", tc.query, err, tc.err)
		}
	}
}

func FuzzParseTopicsQuery(f *testing.F) {
	for _, seed := range []string{"", "topic=nba/*&archived=1&after=nba/x&limit=5", "limit=0", "after=%00", "after=a&after=b", "topic=*&topic=a", "x=1", "limit=99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := handlers.ParseTopicsQuery(values)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > feed.MaxPage || q.After != "" && feed.ValidateTopic(q.After) != nil || q.Topics.IsZero() {
			t.Fatalf("accepted %q as %+v", raw, q)
		}
	})
}

func FuzzParseHistoryQuery(f *testing.F) {
	for _, seed := range []string{
		"", "topic=nba/*&after=5&limit=10&order=desc", "from=2026-11-21T19:00:00Z&to=2026-11-21T19:00:00.999999999-23:59",
		"after=9223372036854775807&before=0", "topic=*&topic=a", "limit=%00", "from=2026-02-30T00:00:00Z", "a=b&a=c",
		"topic=ok/a;", "topic=ok/a;limit=5", "x=%zz", "topic=%", "before=0&order=desc", "topic=a/../b",
		"bom=1&topic=a", "bom=2", "bom=1&bom=0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := handlers.ParseQuery(raw)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			if _, uerr := url.ParseQuery(raw); uerr == nil {
				t.Fatalf("refused %q, which url.ParseQuery reads", raw)
			}
			return
		}
		if strings.Contains(raw, ";") {
			t.Fatalf("accepted the ';' in %q", raw)
		}
		for _, parse := range []func(url.Values) (handlers.HistoryQuery, error){
			handlers.ParseHistoryQuery,
			func(v url.Values) (handlers.HistoryQuery, error) {
				r, err := handlers.ParseExportQuery(v)
				return handlers.HistoryQuery{Range: r, Limit: 1}, err
			},
		} {
			q, err := parse(values)
			if err != nil {
				if !errors.Is(err, feed.ErrInvalid) {
					t.Fatalf("error %v is not ErrInvalid", err)
				}
				continue
			}
			if q.Limit < 1 || q.Limit > feed.MaxPage || q.Range.After < 0 || q.Range.Before < 0 || values.Has("before") && q.Range.Before == 0 {
				t.Fatalf("accepted %q as %+v", raw, q)
			}
			if !q.Range.From.IsZero() && !q.Range.To.IsZero() && q.Range.From.After(q.Range.To) {
				t.Fatalf("accepted from after to: %q", raw)
			}
		}
	})
}

// get fetches a path and returns the response and its body.
func (a *app) get(t *testing.T, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return a.do(t, http.MethodGet, path, "", header...)
}

func TestHistoryAPI(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{AllowedOrigins: []string{"https://scores.example"}}, false)
	for i := range 7 {
		topic := []string{"nba/a", "nba/b", "stocks/X"}[i%3]
		a.publish(t, "Bearer "+token, `{"topic":"`+topic+`","type":"note","data":{"n":`+string(rune('0'+i))+`}}`)
	}
	type page struct {
		Events []feed.Event
		Next   string
	}
	walk := func(t *testing.T, path string) (ids []int64, pages int) {
		t.Helper()
		for path != "" {
			resp, body := a.get(t, path)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
			}
			if strings.Contains(string(body), `\u0026`) {
				t.Errorf("the next URL is escaped for HTML: %s", body)
			}
			var p page
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("GET %s: %v in %s", path, err, body)
			}
			for _, e := range p.Events {
				ids = append(ids, e.ID)
			}
			pages++
			path = p.Next
		}
		return ids, pages
	}
	for _, tc := range []struct {
		name  string
		path  string
		want  string
		pages int
	}{
		{"OKAll", "/api/history", "[1 2 3 4 5 6 7]", 1},
		{"OKPaged", "/api/history?limit=3", "[1 2 3 4 5 6 7]", 3},
		{"OKExactPages", "/api/history?limit=7", "[1 2 3 4 5 6 7]", 1},
		{"OKNewestFirst", "/api/history?order=desc&limit=2", "[7 6 5 4 3 2 1]", 4},
		{"OKTopic", "/api/history?topic=nba/a&limit=2", "[1 4 7]", 2},
		{"OKPrefix", "/api/history?topic=nba/*&order=desc&limit=2", "[7 5 4 2 1]", 3},
		{"OKAfter", "/api/history?after=5", "[6 7]", 1},
		{"OKFuture", "/api/history?from=2999-01-01T00:00:00Z", "[]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, pages := walk(t, tc.path)
			if got := fmt.Sprint(ids); got != tc.want || pages != tc.pages {
				t.Fatalf("got %v in %d pages, want %s in %d", ids, pages, tc.want, tc.pages)
			}
		})
	}
	t.Run("OKCORS", func(t *testing.T) {
		resp, _ := a.get(t, "/api/history", "Origin", "https://scores.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://scores.example" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("ErrQuery", func(t *testing.T) {
		resp, body := a.get(t, "/api/history?limit=0")
		var e struct{ Error string }
		if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "limit") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTopicsAPI(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, `[{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":1}},`+scoreBody+`,
		{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":2}}]`)
	var got struct {
		Topics []struct {
			Topic  string
			Latest feed.Event
		}
	}
	resp, body := a.get(t, "/api/topics")
	if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(got.Topics) != 2 || got.Topics[0].Topic != "nba/lal-bos" || got.Topics[0].Latest.ID != 2 ||
		got.Topics[1].Topic != "stocks/X" || got.Topics[1].Latest.ID != 3 || string(got.Topics[1].Latest.Data) != `{"symbol":"X","price":2}` {
		t.Fatalf("topics %s", body)
	}
	resp, body = a.get(t, "/api/topics?topic=stocks/*")
	if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || len(got.Topics) != 1 || got.Topics[0].Topic != "stocks/X" {
		t.Fatalf("filtered: %d %s", resp.StatusCode, body)
	}
	for _, q := range []string{"?topic=a%20b", "?limit=0", "?limit=1001", "?after=a%20b", "?page=2"} {
		if resp, body := a.get(t, "/api/topics"+q); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

// TestTopicsAPIPages: /api/topics answers a page of topics and the URL of
// the next, whose pages together list every topic the reader sees once,
// in order, private and archived ones left out across the pages.
func TestTopicsAPIPages(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{PrivateTopics: mustFilter(t, "premium/*"), SubscriberKeys: subscriberKeys(t)}, false)
	var want []string
	for i := range 7 {
		topic := fmt.Sprintf("stocks/S%d", i)
		a.publish(t, "Bearer "+token, fmt.Sprintf(`{"topic":%q,"type":"tick","data":{"symbol":"S%d","price":1}}`, topic, i))
		want = append(want, topic)
		a.publish(t, "Bearer "+token, fmt.Sprintf(`{"topic":"premium/P%d","type":"note","data":{}}`, i))
		a.publish(t, "Bearer "+token, fmt.Sprintf(`{"topic":"stocks/S%d/old","type":"note","data":{}}`, i))
		a.publish(t, "Bearer "+token, fmt.Sprintf(`{"topic":"stocks/S%d/old","type":"archive","data":{}}`, i))
	}
	granted := mint(t, time.Now().Add(time.Hour), nil, "premium/P3")
	withP3 := slices.Insert(slices.Clone(want), 0, "premium/P3")
	for _, c := range []struct {
		first string
		pages int
		want  []string
	}{
		{"/api/topics?limit=2", 4, want},
		{"/api/topics?limit=3&topic=stocks/*&topic=premium/*", 3, want},
		{"/api/topics?limit=7", 1, want},
		{"/api/topics", 1, want},
		// The reader's token is never in a next URL.
		{"/api/topics?limit=3&token=" + granted, 3, withP3},
	} {
		var got []string
		url, pages := c.first, 0
		for url != "" {
			var page struct {
				Topics []struct{ Topic string }
				Next   string
			}
			resp, body := a.get(t, url)
			if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
				t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
			}
			for _, e := range page.Topics {
				got = append(got, e.Topic)
			}
			if strings.Contains(page.Next, "token") {
				t.Fatalf("%s: the next page's URL %q carries the token", c.first, page.Next)
			}
			if page.Next != "" && strings.Contains(c.first, "token=") {
				page.Next += "&token=" + granted // the reader adds its own, as it did to the first
			}
			url, pages = page.Next, pages+1
			if pages > 10 {
				t.Fatalf("%s: more than 10 pages", c.first)
			}
		}
		if !slices.Equal(got, c.want) || pages != c.pages {
			t.Errorf("%s: %d pages of %q, want %d of %q", c.first, pages, got, c.pages, c.want)
		}
	}
}

// TestExportAPI downloads an export and reads it back with encoding/csv into
// exactly the stored events, formula text neutralised and numbers numeric.
func TestExportAPI(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, `[
		{"topic":"nba/x","type":"score","data":{"home":"=HYPERLINK(\"http://evil\",\"x\")","away":"+1+1","home_score":0,"away_score":0}},
		{"topic":"nba/x","type":"score","data":{"home":"-2+3","away":"@SUM(A1:A9)","home_score":3,"away_score":0,"period":1}},
		{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":12.5,"change":-0.75,"change_pct":-5.66}},
		{"topic":"misc","type":"note","data":{"text":"a, \"b\""}}]`)
	resp, body := a.get(t, "/api/export.csv")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	if len(records) != 5 || strings.Join(records[0], ",") != strings.Join(feed.CSVColumns, ",") {
		t.Fatalf("records %q", records)
	}
	col := func(name string) int {
		for i, c := range feed.CSVColumns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return 0
	}
	for _, tc := range []struct {
		row    int
		column string
		want   string
	}{
		{1, "home", `'=HYPERLINK("http://evil","x")`},
		{1, "away", "'+1+1"},
		{2, "home", "'-2+3"},
		{2, "away", "'@SUM(A1:A9)"},
		{2, "home_score", "3"},
		{3, "price", "12.5"},
		{3, "change", "-0.75"},
		{3, "change_pct", "-5.66"},
		{4, "data", `{"text":"a, \"b\""}`},
	} {
		if got := records[tc.row][col(tc.column)]; got != tc.want {
			t.Errorf("row %d %s = %q, want %q", tc.row, tc.column, got, tc.want)
		}
	}
	stored, _, err := a.store.Page(t.Context(), feed.Range{}, 100, false)
	if err != nil || len(stored) != 4 {
		t.Fatal(stored, err)
	}
	for i, e := range stored {
		if records[i+1][0] != jsonText(e.ID) || records[i+1][1] != e.Time.Format(feed.TimeLayout) || records[i+1][2] != e.Topic {
			t.Errorf("row %d %q does not start with event %d", i+1, records[i+1], e.ID)
		}
	}

	t.Run("OKFiltered", func(t *testing.T) {
		resp, body := a.get(t, "/api/export.csv?topic=stocks/*&after=1")
		records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if resp.StatusCode != 200 || err != nil || len(records) != 2 || records[1][0] != "3" {
			t.Fatalf("%d %q %v", resp.StatusCode, records, err)
		}
	})
	t.Run("ErrQuery", func(t *testing.T) {
		for _, q := range []string{"from=yesterday", "limit=5", "topic=a%20b", "after=-1"} {
			resp, body := a.get(t, "/api/export.csv?"+q)
			var e struct{ Error string }
			if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s: %d %s", q, resp.StatusCode, body)
			}
		}
	})
}

// TestExportFailsAsJSON: an export that fails before its first row answers
// with the JSON error and no attachment header, so a browser shows the
// error instead of saving it as a .csv file.
func TestExportFailsAsJSON(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.store.Close()
	resp, err := a.Client().Get(a.URL + "/api/export.csv?topic=*")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("export of a closed store: %s %q %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		t.Fatalf("failed export has Content-Disposition %q", cd)
	}
}

// TestExportBOM: bom=1 starts the file with a UTF-8 byte-order mark (and
// nothing else changes); without it there is none; the data column keeps
// non-ASCII text as UTF-8, also when the publisher escaped it.
func TestExportBOM(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, `[{"topic":"misc","type":"note","data":{"city":"Zürich","jp":"東京"}},{"topic":"misc","type":"note","data":{"city":"Z\u00fcrich"}}]`)
	_, plain := a.get(t, "/api/export.csv")
	_, marked := a.get(t, "/api/export.csv?bom=1")
	if bytes.HasPrefix(plain, []byte("\ufeff")) {
		t.Errorf("a BOM without bom=1")
	}
	rest, ok := bytes.CutPrefix(marked, []byte("\ufeff"))
	if !ok || !bytes.Equal(rest[bytes.Index(rest, []byte("\r\n")):], plain[bytes.Index(plain, []byte("\r\n")):]) {
		t.Fatalf("bom=1 gave %q, the export without it %q", marked, plain)
	}
	if !bytes.Contains(plain, []byte("Zürich")) || !bytes.Contains(plain, []byte("東京")) {
		t.Errorf("non-ASCII text is not kept as UTF-8:\n%s", plain)
	}
	if bytes.Contains(plain, []byte(`\u00fc`)) {
		t.Errorf("an escaped non-ASCII letter stays escaped:\n%s", plain)
	}
	if resp, body := a.get(t, "/api/export.csv?bom=yes"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bom=yes: %d %s", resp.StatusCode, body)
	}
}

// TestTopicsArchive: an archive event takes its topic out of /api/topics
// unless archived=1 asks for the archived ones too; its history stays; an
// archive with data is refused and changes nothing.
func TestTopicsArchive(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	a.publish(t, "Bearer "+token, `[`+scoreBody+`,{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":1}}]`)
	if resp, body := a.publish(t, "Bearer "+token, `{"topic":"nba/lal-bos","type":"archive","data":{"reason":"over"}}`); resp.StatusCode != 400 || !strings.Contains(body, "archive event takes no data") {
		t.Fatalf("archive with data: %d %s", resp.StatusCode, body)
	}
	if resp, body := a.publish(t, "Bearer "+token, `{"topic":"nba/lal-bos","type":"archive","data":{}}`); resp.StatusCode != 201 || body != "{\"id\":3}\n" {
		t.Fatalf("archive: %d %s", resp.StatusCode, body)
	}
	type listing struct {
		Topics []struct {
			Topic    string
			Archived *bool
			Latest   feed.Event
		}
	}
	var live, all listing
	if resp, body := a.get(t, "/api/topics"); resp.StatusCode != 200 || json.Unmarshal(body, &live) != nil ||
		len(live.Topics) != 1 || live.Topics[0].Topic != "stocks/X" || live.Topics[0].Archived != nil {
		t.Fatalf("live topics: %d %s", resp.StatusCode, body)
	}
	if resp, body := a.get(t, "/api/topics?archived=1"); resp.StatusCode != 200 || json.Unmarshal(body, &all) != nil ||
		len(all.Topics) != 2 || all.Topics[0].Topic != "nba/lal-bos" || !*all.Topics[0].Archived || *all.Topics[1].Archived ||
		all.Topics[0].Latest.Type != "archive" {
		t.Fatalf("all topics: %d %s", resp.StatusCode, body)
	}
	if resp, body := a.get(t, "/api/history?topic=nba/lal-bos"); resp.StatusCode != 200 || !strings.Contains(string(body), `"Lakers"`) || !strings.Contains(string(body), `"type":"archive"`) {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	for _, q := range []string{"?archived=yes", "?archived=1&archived=0", "?archived="} {
		if resp, body := a.get(t, "/api/topics"+q); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	if got := a.store.LastID(); got != 3 {
		t.Fatalf("last ID %d after the refused requests", got)
	}
}
