package bench_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/bench"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		workloads []string
		check     func(t *testing.T, cfg bench.Config)
		err       string
	}{
		{name: "OneWorkload", args: []string{"-workload", "W1"}, workloads: []string{"W1"},
			check: func(t *testing.T, cfg bench.Config) {
				p := cfg.Workloads[0].Defaults.Override(cfg.Override)
				if p.Subscribers != 10_000 || p.Rate != 10 || p.Duration != 10*time.Second || p.Payload != 100 {
					t.Fatalf("W1 params %+v", p)
				}
				if cfg.Runs != 3 || cfg.URL != "http://127.0.0.1:8080" || cfg.Token != "dev-publish-token-change-me" {
					t.Fatalf("defaults %+v", cfg)
				}
			}},
		{name: "All", args: []string{"-workload", "all"}, workloads: []string{"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10"}},
		{name: "ListAnyCase", args: []string{"-workload", "w2, W8"}, workloads: []string{"W2", "W8"}},
		{name: "Overrides", args: []string{"-workload", "W1", "-subscribers", "50", "-duration", "1s", "-rate", "0", "-runs", "1"}, workloads: []string{"W1"},
			check: func(t *testing.T, cfg bench.Config) {
				p := cfg.Workloads[0].Defaults.Override(cfg.Override)
				if p.Subscribers != 50 || p.Duration != time.Second || p.Rate != 0 || p.Publishers != 1 || p.Payload != 100 {
					t.Fatalf("overridden params %+v", p)
				}
			}},
		{name: "W9Symbols", args: []string{"-workload", "W9,W14"}, workloads: []string{"W9", "W14"},
			check: func(t *testing.T, cfg bench.Config) {
				// 400 a connection for W9, 2,000 in all for W14, unless
				// -symbols says.
				for i, want := range []int{400, 2000} {
					if p := cfg.Workloads[i].Defaults.Override(cfg.Override); p.Symbols != want {
						t.Fatalf("%s: symbols %d, want %d", cfg.Workloads[i].Name, p.Symbols, want)
					}
				}
			}},
		{name: "W9SymbolsOverride", args: []string{"-workload", "W9", "-symbols", "25000"}, workloads: []string{"W9"},
			check: func(t *testing.T, cfg bench.Config) {
				if p := cfg.Workloads[0].Defaults.Override(cfg.Override); p.Symbols != 25_000 {
					t.Fatalf("symbols %d, want 25000", p.Symbols)
				}
			}},
		{name: "TokenFromEnv", args: []string{"-workload", "W4"}, env: map[string]string{"LIVEFEED_PUBLISH_TOKENS": "first-token-0123456789, second-token-0123456789"}, workloads: []string{"W4"},
			check: func(t *testing.T, cfg bench.Config) {
				if cfg.Token != "first-token-0123456789" {
					t.Fatalf("token %q", cfg.Token)
				}
			}},
		{name: "ErrNoWorkload", args: nil, err: "-workload is required"},
		{name: "ErrUnknownWorkload", args: []string{"-workload", "W12"}, err: `unknown workload "W12"`},
		{name: "ErrRuns", args: []string{"-workload", "W1", "-runs", "0"}, err: "-runs 0"},
		{name: "ErrDurability", args: []string{"-workload", "W4", "-durability", "off"}, err: "-durability"},
		{name: "ErrStoreCPU", args: []string{"-workload", "W4", "-store-cpu-us", "-1"}, err: "-store-cpu-us"},
		{name: "ErrStoreCPUNaN", args: []string{"-workload", "W4", "-store-cpu-us", "NaN"}, err: "-store-cpu-us"},
		{name: "ErrExtraArgument", args: []string{"-workload", "W1", "extra"}, err: "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := bench.ParseArgs(tc.args, env(tc.env), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, w := range cfg.Workloads {
				names = append(names, w.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.workloads, ",") {
				t.Fatalf("workloads %v, want %v", names, tc.workloads)
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

// TestHelp: -help is a screenful on stdout (what the tool does, the flags
// most used, how to list the rest) pointing at the performance page in
// the repository, and never shows the token taken from the environment;
// -workloads describes every workload and -all-flags lists every flag.
func TestHelp(t *testing.T) {
	const secret = "server-token-from-env-0123456789"
	help := func(arg string) string {
		t.Helper()
		var out, errs bytes.Buffer
		if err := bench.Main(t.Context(), []string{arg}, env(map[string]string{"LIVEFEED_PUBLISH_TOKENS": secret}), &out, &errs); err != nil || errs.Len() > 0 {
			t.Fatalf("%s: %v, stderr %q", arg, err, errs.String())
		}
		if strings.Contains(out.String(), secret) {
			t.Fatalf("%s shows the token of $LIVEFEED_PUBLISH_TOKENS:\n%s", arg, out.String())
		}
		return out.String()
	}
	short := help("-help")
	if n := strings.Count(short, "\n"); n > 25 {
		t.Errorf("-help has %d lines, want a screenful:\n%s", n, short)
	}
	for _, want := range []string{"usage: livefeed bench -workload", "web/docs/performance.md", "-workload", "-url", "-token", "-pid", "livefeed bench -workloads", "livefeed bench -all-flags"} {
		if !strings.Contains(short, want) {
			t.Errorf("-help does not say %q:\n%s", want, short)
		}
	}
	if strings.Contains(short, bench.Workloads[0].Reading) {
		t.Errorf("-help holds the workloads' long text:\n%s", short)
	}
	workloads := help("-workloads")
	for _, w := range bench.Workloads {
		if !strings.Contains(workloads, w.Name+"  "+w.Bench) || !strings.Contains(workloads, w.Reading) {
			t.Fatalf("-workloads does not describe %s:\n%s", w.Name, workloads)
		}
	}
	all := help("-all-flags")
	for _, name := range []string{"-subscribers", "-bare-url", "-per-request", "-cpuprofile", "-drain"} {
		if !strings.Contains(all, "\n  "+name+" ") {
			t.Errorf("-all-flags does not list %s:\n%s", name, all)
		}
	}
}

// TestUsageErrors: a command line that makes no sense is said on stderr
// with the usage, and is ErrUsage (exit status 2); nothing is on stdout.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"NoWorkload", "livefeed bench: -workload is required", nil},
		{"UnknownFlag", "flag provided but not defined: -nope", []string{"-nope"}},
		{"Stray", `unexpected argument "stray"`, []string{"-workload", "W1", "stray"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := bench.Main(t.Context(), tc.args, env(nil), &out, &errs)
			if !errors.Is(err, bench.ErrUsage) || out.Len() > 0 || !strings.Contains(errs.String(), tc.want) || !strings.Contains(errs.String(), "usage: livefeed bench") {
				t.Fatalf("Main = %v\nstdout %q\nstderr %q\nwant ErrUsage and %q with the usage on stderr", err, out.String(), errs.String(), tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{nil, 0},
	} {
		if got := bench.Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1000000, "1000000"}, {0, "0"}, {41.234, "41.2"}, {2.345, "2.35"}, {123.6, "124"}, {0.01234, "0.0123"}, {-3.5, "-3.50"},
	} {
		if got := bench.FormatValue(tc.in); got != tc.want {
			t.Errorf("FormatValue(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriteSummary(t *testing.T) {
	runs := []bench.Figures{
		{{Name: "missing", Value: 0}, {Name: "latency_p99_ms", Value: 50}, {Name: "change_pct", Value: 5}},
		{{Name: "missing", Value: 2}, {Name: "latency_p99_ms", Value: 70}, {Name: "change_pct", Value: -30}},
		{{Name: "missing", Value: 0}, {Name: "latency_p99_ms", Value: 55}, {Name: "change_pct", Value: 10}},
	}
	bars := []bench.Bar{
		{Figure: "latency_p99_ms", Op: "<=", Limit: 60},
		{Figure: "missing", Op: "<=", Limit: 0, Worst: true},
		{Figure: "change_pct", Op: "within", Limit: 20},
		{Figure: "absent", Op: ">=", Limit: 1},
	}
	var out bytes.Buffer
	if bench.WriteSummary(&out, "W9", runs, bars) {
		t.Fatal("bars reported met")
	}
	want := `W9 median runs=3 missing=0 latency_p99_ms=55 change_pct=5
W9 bar latency_p99_ms=55 bar<=60 MET (median of 3 runs)
W9 bar missing=2 bar<=0 NOT MET (worst of 3 runs)
W9 bar change_pct=5 bar=±20 MET (median of 3 runs)
W9 bar absent=0 bar>=1 NOT MEASURED (no such figure)
W9 result NOT MET (2 of 4 bars not met)
`
	if out.String() != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestRowCounter compares the row counter with encoding/csv on random
// CSV with quoted fields holding commas, quotes and line breaks.
func TestRowCounter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"a", ",", "\n", "\r\n", `"`, "x y", "é"}
	for round := range 200 {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.UseCRLF = round%2 == 0
		rows := rng.IntN(50)
		for range rows {
			rec := make([]string, 1+rng.IntN(4))
			for i := range rec {
				var field strings.Builder
				field.WriteString("f") // no empty line: encoding/csv skips those
				for range rng.IntN(6) {
					field.WriteString(pieces[rng.IntN(len(pieces))])
				}
				rec[i] = field.String()
			}
			w.Write(rec)
		}
		w.Flush()
		text := buf.Bytes()
		if round%3 == 0 {
			text = bytes.TrimSuffix(text, []byte("\n")) // a last row without a line break
		}
		var c bench.RowCounter
		for rest := text; len(rest) > 0; { // in pieces of every size
			n := min(1+rng.IntN(7), len(rest))
			c.Write(rest[:n])
			rest = rest[n:]
		}
		rd := csv.NewReader(bytes.NewReader(text))
		rd.FieldsPerRecord = -1
		records, err := rd.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if c.Records() != int64(len(records)) {
			t.Fatalf("round %d: counted %d records, encoding/csv read %d in %q", round, c.Records(), len(records), text)
		}
	}
}

func TestParseAck(t *testing.T) {
	for _, tc := range []struct {
		body        string
		first, last int64
		ok          bool
	}{
		{`{"id":42}`, 42, 42, true},
		{`{"ids":[7,8,9]}`, 7, 9, true},
		{`{"ids":[5]}`, 5, 5, true},
		{`{"error":"bad"}`, 0, 0, false},
		{`{"ids":[]}`, 0, 0, false},
	} {
		first, last, err := bench.ParseAck([]byte(tc.body))
		if (err == nil) != tc.ok || first != tc.first || last != tc.last {
			t.Errorf("ParseAck(%s) = %d, %d, %v", tc.body, first, last, err)
		}
	}
}

func TestParseResponseHead(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       bench.ResponseHead
		ok         bool
	}{
		{"Created", "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 9", bench.ResponseHead{Status: 201, ContentLength: 9}, true},
		{"Stream", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/event-stream", bench.ResponseHead{Status: 200, ContentLength: -1, Close: true}, true},
		{"Chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked", bench.ResponseHead{Status: 200, ContentLength: -1, Chunked: true}, true},
		{"NotHTTP", "SSH-2.0-OpenSSH", bench.ResponseHead{ContentLength: -1}, false},
		{"BadLength", "HTTP/1.1 200 OK\r\nContent-Length: 1x", bench.ResponseHead{Status: 200, ContentLength: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bench.ParseResponseHead([]byte(tc.head))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseResponseHead = %+v, %v; want %+v (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestAppendTick: the load tool publishes tick events that the server's
// own validation accepts (the product's type, not one of its own that no
// schema checks), of the payload's size, from which a subscriber reads the
// symbol and the sequence number back.
func TestAppendTick(t *testing.T) {
	for _, tc := range []struct {
		symbol  int
		seq     int64
		payload int
	}{
		{0, 1, 100}, {3, 12345, 100}, {123, 42, 64}, {1999, 90_000_000, 64},
		{7, 1, 0}, {7, 1, 45}, {12345, 7, 80}, {1, 1, 250}, {1, 1, 4096},
	} {
		t.Run(fmt.Sprintf("S%d-%d-%dB", tc.symbol, tc.seq, tc.payload), func(t *testing.T) {
			data := bench.AppendTick(nil, tc.symbol, tc.seq, tc.payload)
			if len(data) != tc.payload && len(data) > tc.payload {
				// Only a payload below the smallest tick may be exceeded.
				small := bench.AppendTick(nil, tc.symbol, tc.seq, 0)
				if len(data) != len(small) {
					t.Fatalf("data of %d bytes for a payload of %d: %s", len(data), tc.payload, data)
				}
			} else if len(data) != tc.payload {
				t.Fatalf("data of %d bytes, want %d: %s", len(data), tc.payload, data)
			}
			line := `{"topic":"stocks/` + bench.SymbolName(tc.symbol) + `","type":"tick","data":` + string(data) + `}`
			u, _, err := feed.ParseLine([]byte(line))
			if err != nil {
				t.Fatalf("the server refuses %s: %v", line, err)
			}
			var tick feed.Tick
			if err := json.Unmarshal(u.Data, &tick); err != nil || tick.Symbol != bench.SymbolName(tc.symbol) || tick.Volume == nil || *tick.Volume != tc.seq || !(tick.Price >= 100 && tick.Price < 150) {
				t.Fatalf("tick %s: %+v, %v", u.Data, tick, err)
			}
			p, ok := bench.ParsePayload([]byte(`{"id":9,"topic":"stocks/x","type":"tick","time":"t","data":` + string(u.Data) + `}`))
			if !ok || p.Symbol != tc.symbol || p.Seq != tc.seq {
				t.Fatalf("ParsePayload = %+v, %v", p, ok)
			}
		})
	}
}

// TestSentLog: a send is found by symbol and sequence number until a later
// tick of the symbol takes its slot.
func TestSentLog(t *testing.T) {
	l := bench.NewSentLog(2, 3) // 4 slots a symbol
	at := time.Unix(1763751845, 123456789)
	for seq := int64(1); seq <= 6; seq++ {
		l.Record(1, seq, at.Add(time.Duration(seq)))
	}
	for seq := int64(1); seq <= 6; seq++ {
		got, ok := l.At(1, seq)
		if want := seq > 2; ok != want || (ok && !got.Equal(at.Add(time.Duration(seq)))) {
			t.Errorf("At(1, %d) = %v, %v; want found %v", seq, got, ok, want)
		}
	}
	if _, ok := l.At(0, 3); ok {
		t.Error("a symbol with no sends has one")
	}
	if _, ok := l.At(2, 1); ok {
		t.Error("a symbol beyond the log has a send")
	}
}

// TestRefusedToken: a server that refuses the load tool's publish token
// is said with the flag and the variable that give the right one, not
// only with the server's 401.
func TestRefusedToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/publish" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"the publish token is not valid"}`)
	}))
	defer srv.Close()
	var out, errs bytes.Buffer
	err := bench.Main(t.Context(), []string{"-workload", "W4", "-url", srv.URL, "-runs", "1", "-publishers", "1", "-duration", "100ms", "-rate", "10"}, env(nil), &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "the publish token is not valid") ||
		!strings.Contains(err.Error(), "give one of the server's publish tokens with -token, or in the environment variable LIVEFEED_PUBLISH_TOKENS") {
		t.Fatalf("Main = %v\n%s%s", err, out.String(), errs.String())
	}
}
