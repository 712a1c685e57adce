package feed_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
)

// Column kinds of the CSV export, as an analyst reading it back sees them.
var (
	textColumns   = map[string]bool{"home": true, "away": true, "clock": true, "status": true, "symbol": true, "currency": true}
	numberColumns = map[string]bool{"home_score": true, "away_score": true, "price": true, "change": true, "change_pct": true, "volume": true}
)

// unneutralise undoes the export's formula neutralising of a text cell: a
// leading apostrophe is always one the export added.
func unneutralise(cell string) string { return strings.TrimPrefix(cell, "'") }

// formulaStart reports whether a spreadsheet could run a text cell as a
// formula (CWE-1236).
func formulaStart(cell string) bool {
	trimmed := strings.TrimLeft(cell, " ")
	return trimmed != "" && strings.ContainsRune("=+-@\t\r\n", rune(trimmed[0]))
}

// recordEvent reads one CSV record back into the event it was written from.
func recordEvent(header, rec []string) (feed.Event, error) {
	if len(rec) != len(header) {
		return feed.Event{}, fmt.Errorf("%d fields, want %d", len(rec), len(header))
	}
	cell := map[string]string{}
	for i, name := range header {
		cell[name] = rec[i]
	}
	var e feed.Event
	var err error
	if e.ID, err = strconv.ParseInt(cell["id"], 10, 64); err != nil {
		return e, err
	}
	if e.Time, err = time.Parse(feed.TimeLayout, cell["time"]); err != nil {
		return e, err
	}
	e.Topic, e.Type = unneutralise(cell["topic"]), unneutralise(cell["type"])
	data := unneutralise(cell["data"])
	if e.Type != "score" && e.Type != "tick" {
		e.Data = json.RawMessage(data)
		return e, nil
	}
	fields := map[string]any{}
	if data != "" {
		dec := json.NewDecoder(strings.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			return e, fmt.Errorf("data %q: %w", data, err)
		}
	}
	for name, v := range cell {
		switch {
		case v == "":
		case textColumns[name]:
			fields[name] = unneutralise(v)
		case numberColumns[name]:
			fields[name] = json.Number(v)
		case name == "period":
			if _, err := strconv.ParseFloat(v, 64); err == nil && !strings.HasPrefix(v, "'") {
				fields[name] = json.Number(v)
			} else {
				fields[name] = unneutralise(v)
			}
		}
	}
	e.Data, err = json.Marshal(fields)
	return e, err
}

// sameData reports whether two JSON texts hold the same value.
func sameData(a, b []byte) bool {
	decode := func(text []byte) (any, error) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		err := dec.Decode(&v)
		return v, err
	}
	va, errA := decode(a)
	vb, errB := decode(b)
	if errA != nil || errB != nil {
		return errA == nil && errB == nil && bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// checkCells fails unless every cell of rec is safe in a spreadsheet: a
// number column holds a number, any other cell cannot start a formula.
func checkCells(t *testing.T, header, rec []string) {
	t.Helper()
	for i, v := range rec {
		switch name := header[i]; {
		case name == "id" || numberColumns[name]:
			if v != "" && !json.Valid([]byte(v)) {
				t.Errorf("%s: %q is not a number", name, v)
			}
		case name == "period" && v != "" && json.Valid([]byte(v)):
		default:
			if formulaStart(v) {
				t.Errorf("%s: %q could run as a formula", name, v)
			}
		}
	}
}

// readCSV parses an export and returns its header and records.
func readCSV(t *testing.T, text []byte) ([]string, [][]string) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(text))
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v\n%s", err, text)
	}
	if len(records) == 0 {
		t.Fatal("the export has no header")
	}
	return records[0], records[1:]
}

func TestAppendCSVHeader(t *testing.T) {
	got := string(feed.AppendCSVHeader(nil))
	want := "id,time,topic,type,home,away,home_score,away_score,period,clock,status,symbol,price,change,change_pct,volume,currency,data,operator\r\n"
	if got != want {
		t.Fatalf("header %q, want %q", got, want)
	}
}

// TestCSVColumnsUnique: no two validated types have a field of the same
// name, nor one named like an envelope column: `livefeed import` finds a
// field's column by its name.
func TestCSVColumnsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range feed.CSVColumns {
		if seen[c] {
			t.Errorf("two CSV columns are named %q", c)
		}
		seen[c] = true
	}
}

func TestAppendCSV(t *testing.T) {
	at := time.Date(2026, 11, 21, 19, 4, 5, 123_000_000, time.UTC)
	event := func(typ, data string) feed.Event {
		return feed.Event{ID: 42, Topic: "nba/lal-bos", Type: typ, Time: at, Data: json.RawMessage(data)}
	}
	const prefix = "42,2026-11-21T19:04:05.123Z,nba/lal-bos,"
	for _, tc := range []struct {
		name  string
		event feed.Event
		want  string // the record after the id, time and topic fields
	}{
		{"OKScore", event("score", `{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0,"period":4,"clock":"1:02","status":"live"}`),
			"score,Lakers,Celtics,3,0,4,1:02,live,,,,,,,,\r\n"},
		{"OKScorePeriodText", event("score", `{"home":"A","away":"B","home_score":0,"away_score":0,"period":"OT"}`),
			"score,A,B,0,0,OT,,,,,,,,,,\r\n"},
		{"OKScorePeriodTextNumber", event("score", `{"home":"A","away":"B","home_score":0,"away_score":0,"period":"4"}`),
			`score,A,B,0,0,,,,,,,,,,"{""period"":""4""}"` + ",\r\n"},
		{"OKScoreExtraFields", event("score", `{"home":"A","venue":"Arena, Boston","away":"B","home_score":1,"away_score":2,"clock":null}`),
			`score,A,B,1,2,,,,,,,,,,"{""venue"":""Arena, Boston"",""clock"":null}"` + ",\r\n"},
		// A team's looks have no columns: the header stays as spreadsheets
		// and import know it.
		{"OKScoreTeamLooks", event("score", `{"home":"A","away":"B","home_score":1,"away_score":2,"home_abbr":"AA","home_color":"#552583","away_logo":"https://x.example/b.png?s=1,2"}`),
			`score,A,B,1,2,,,,,,,,,,"{""home_abbr"":""AA"",""home_color"":""#552583"",""away_logo"":""https://x.example/b.png?s=1,2""}"` + ",\r\n"},
		{"OKTick", event("tick", `{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54,"volume":1200,"currency":"USD"}`),
			"tick,,,,,,,,AAPL,231.4,-1.25,-0.54,1200,USD,,\r\n"},
		{"OKTickExponent", event("tick", `{"symbol":"X","price":-1.5e-3}`),
			"tick,,,,,,,,X,-1.5e-3,,,,,,\r\n"},
		{"OKOtherType", event("note", `{"text":"=1+1","n":[1,2]}`),
			`note,,,,,,,,,,,,,,"{""text"":""=1+1"",""n"":[1,2]}"` + ",\r\n"},
		{"OKEscapedText", event("score", `{"home":"Caf\u00e9 \"Les Bleus\"","away":"a\nb","home_score":0,"away_score":0}`),
			"score,\"Café \"\"Les Bleus\"\"\",\"a\nb\",0,0,,,,,,,,,,,\r\n"},
		{"OKFormulaEquals", event("score", `{"home":"=HYPERLINK(\"http://x\",\"y\")","away":"B","home_score":0,"away_score":0}`),
			"score,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",B,0,0,,,,,,,,,,,\r\n"},
		{"OKFormulaPlus", event("score", `{"home":"+1+cmd","away":"-2-cmd","home_score":0,"away_score":0}`),
			"score,'+1+cmd,'-2-cmd,0,0,,,,,,,,,,,\r\n"},
		{"OKFormulaAt", event("score", `{"home":"@SUM(A1)","away":" =1","home_score":0,"away_score":0}`),
			"score,'@SUM(A1),\"' =1\",0,0,,,,,,,,,,,\r\n"},
		{"OKFormulaTab", event("score", `{"home":"\t=1","away":"\r=1","home_score":0,"away_score":0}`),
			"score,'\t=1,\"'\r=1\",0,0,,,,,,,,,,,\r\n"},
		{"OKApostrophe", event("score", `{"home":"'quoted","away":"it's","home_score":0,"away_score":0}`),
			"score,''quoted,it's,0,0,,,,,,,,,,,\r\n"},
		{"OKNotAnObject", event("score", `[1,2]`),
			"score,,,,,,,,,,,,,,\"[1,2]\",\r\n"},
		{"OKOperator", feed.Event{ID: 42, Topic: "nba/lal-bos", Type: "score", Time: at, Operator: "=ann", Data: json.RawMessage(`{"home":"A","away":"B","home_score":1,"away_score":0}`)},
			"score,A,B,1,0,,,,,,,,,,,'=ann\r\n"},
		{"OKWrongKinds", event("tick", `{"symbol":7,"price":"1","volume":"=1"}`),
			`tick,,,,,,,,,,,,,,"{""symbol"":7,""price"":""1"",""volume"":""=1""}"` + ",\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(feed.AppendCSV(nil, tc.event))
			if got != prefix+tc.want {
				t.Fatalf("got  %q\nwant %q", got, prefix+tc.want)
			}
			header, records := readCSV(t, append(feed.AppendCSVHeader(nil), got...))
			if len(records) != 1 {
				t.Fatalf("%d records", len(records))
			}
			checkCells(t, header, records[0])
		})
	}
}

// TestAppendCSVRoundTrip reads records back into the events they came from.
func TestAppendCSVRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for i, data := range []string{
		`{"home":"=A","away":"@B","home_score":10,"away_score":7,"period":"OT","clock":"-0:01","status":"final"}`,
		`{"home":"'x","away":"y,z","home_score":0,"away_score":0,"period":2,"extra":{"a":[1,"-2"]}}`,
		`{"home":"A","away":"B","home_score":1,"away_score":0,"home_abbr":"LAL","away_abbr":"BOS","home_color":"#552583","away_color":"#007a33","home_logo":"https://cdn.example.com/lal.svg","away_logo":"https://cdn.example.com/a=b,c.svg"}`,
		`{"symbol":"-X","price":0.5,"change":-0.25,"change_pct":-50,"volume":0,"currency":"EUR"}`,
		`{"anything":"+goes","deep":{"x":null}}`,
	} {
		typ := []string{"score", "score", "score", "tick", "note"}[i]
		e := feed.Event{ID: int64(i + 1), Topic: "t/-" + typ, Type: typ, Time: at, Data: json.RawMessage(data)}
		header, records := readCSV(t, feed.AppendCSV(feed.AppendCSVHeader(nil), e))
		got, err := recordEvent(header, records[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != e.ID || !got.Time.Equal(e.Time) || got.Topic != e.Topic || got.Type != e.Type || !sameData(got.Data, e.Data) {
			t.Errorf("read back %+v (%s), want %+v (%s)", got, got.Data, e, e.Data)
		}
	}
}

func FuzzAppendCSV(f *testing.F) {
	f.Add("score", []byte(`{"home":"=cmd|' /C calc'!A0","away":"B","home_score":1,"away_score":2,"period":"4"}`))
	f.Add("tick", []byte(`{"symbol":"@X","price":-0.0e+0,"change":-1,"currency":"USD","x":"\u0000"}`))
	f.Add("note", []byte(`{"a":"b"}`))
	f.Add("score", []byte(`{"home":"\"a\",\r\n","away":" +1","home_score":0,"away_score":0,"clock":"'"}`))
	f.Add("score", []byte(`{ "home" : "a" , "away":"b","home_score":0 ,"away_score":0}`))
	f.Add("tick", []byte(`{"symbol":"S","price":1,"price2":[1,{"]":"}"}]}`))
	f.Add("score", []byte(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":"LAL","home_color":"#552583","home_logo":"https://x.example/=1.png"}`))
	f.Add("note", []byte(`{"a":"Z\u00fcrich","b":"\\u00fc","c":"\ud83d\ude00","d":"\u202e\ud800"}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e := feed.Event{ID: 7, Topic: "fuzz", Type: typ, Time: time.UnixMilli(1_700_000_000_123).UTC(), Data: data}
		text := feed.AppendCSV(feed.AppendCSVHeader(nil), e)
		r := csv.NewReader(bytes.NewReader(text))
		records, err := r.ReadAll()
		if err != nil || len(records) != 2 {
			t.Fatalf("%q: %d records, %v", text, len(records), err)
		}
		checkCells(t, records[0], records[1])
		// An event the store accepts reads back exactly.
		u, err := feed.Update{Topic: "fuzz", Type: typ, Data: data}.Validate()
		if err != nil {
			return
		}
		e.Data = u.Data
		header, records := readCSV(t, feed.AppendCSV(feed.AppendCSVHeader(nil), e))
		got, err := recordEvent(header, records[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != e.Type || !sameData(got.Data, e.Data) {
			t.Fatalf("read back %s %s, want %s %s", got.Type, got.Data, e.Type, e.Data)
		}
	})
}

// TestCSVDataUTF8: the data column shows escaped visible non-ASCII text
// as UTF-8 and keeps every other escape.
func TestCSVDataUTF8(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"Latin", `{"city":"Z\u00fcrich"}`, `{"city":"Zürich"}`},
		{"UpperHex", `{"city":"Z\u00FCrich"}`, `{"city":"Zürich"}`},
		{"Pair", `{"e":"\ud83d\ude00"}`, `{"e":"😀"}`},
		{"ASCII", `{"a":"\u0041\u0022"}`, `{"a":"\u0041\u0022"}`},
		{"Control", `{"a":"\u0085\u0007"}`, `{"a":"\u0085\u0007"}`},
		{"Bidi", `{"a":"\u202e\u200b"}`, `{"a":"\u202e\u200b"}`},
		{"EscapedBackslash", `{"a":"\\u00fc"}`, `{"a":"\\u00fc"}`},
		{"LoneSurrogate", `{"a":"\ud83dx"}`, `{"a":"\ud83dx"}`},
		{"ShortEscape", `{"a":"\u00f"}`, `{"a":"\u00f"}`},
		{"Plain", `{"a":"Zürich"}`, `{"a":"Zürich"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := feed.Event{ID: 1, Topic: "t", Type: "note", Time: time.UnixMilli(0).UTC(), Data: []byte(tc.data)}
			records, err := csv.NewReader(bytes.NewReader(feed.AppendCSV(nil, e))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if got := records[0][slices.Index(feed.CSVColumns, "data")]; got != tc.want {
				t.Fatalf("data column %s, want %s", got, tc.want)
			}
		})
	}
}
