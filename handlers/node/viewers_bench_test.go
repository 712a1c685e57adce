package node_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livefeed/feed/bench"
	"livefeed/handlers/node/nodetest"
)

// BenchmarkWidgetAudience is what a page with a data-viewers widget costs
// the server per visitor: the widget's request for the figures of its
// topics, through /api/topics (what widgets asked before /api/viewers:
// every topic with its latest event) and through /api/viewers, answered
// anew and revalidated (304). The server is the livefeed binary, on its
// own process, holding 50 games and 50 symbols, 20 streams of the games;
// the widget asks for nba/* (the 50 games) from 8 connections at once,
// over loopback:
//
//	go test -run '^$' -bench WidgetAudience -benchtime 20000x ./handlers/node
//
// It reports requests per second, the server's CPU per request (from
// /proc, 10 ms resolution: run enough requests) and the load generator's
// own, which shares the machine, and the bytes of each answer.
func BenchmarkWidgetAudience(b *testing.B) {
	dir := b.TempDir()
	cfgFile := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgFile, []byte("[feed]\nviewers = \"public\"\nviewers_min = 10\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	srv, err := bench.StartServer(b.Context(), nodetest.Binary(b), filepath.Join(dir, "feed.db"), cfgFile, nodetest.Token)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Kill)
	base := "http://" + srv.Addr
	var events []string
	for i := range 50 {
		events = append(events,
			fmt.Sprintf(`{"topic":"nba/2026-11-21/game-%d","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":%d,"away_score":%d,"period":3,"clock":"10:22","status":"live"}}`, i, 50+i, 48+i),
			fmt.Sprintf(`{"topic":"stocks/S%d","type":"tick","data":{"symbol":"S%d","price":%d.25,"change":-1.5,"change_pct":-0.65,"volume":123456,"currency":"USD"}}`, i, i, 100+i))
	}
	nodetest.MustPublish(b, base, "["+strings.Join(events, ",")+"]")
	for range 20 {
		nodetest.Stream(b, base, "/events?topic=nba/*")
	}
	proc := bench.Process{PID: srv.Cmd.Process.Pid}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	get := func(path, etag string) (*http.Response, int) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, int(n)
	}
	first, _ := get("/api/viewers?topic=nba/*", "")
	for _, tc := range []struct {
		name, path string
		revalidate bool
		want       int
	}{
		{"topics", "/api/topics?topic=nba/*", false, http.StatusOK},
		{"viewers", "/api/viewers?topic=nba/*", false, http.StatusOK},
		{"viewers-304", "/api/viewers?topic=nba/*", true, http.StatusNotModified},
	} {
		b.Run(tc.name, func(b *testing.B) {
			etag := ""
			if tc.revalidate {
				etag = first.Header.Get("ETag") // 20 watching each game at every count: the same figures
			}
			var size atomic.Int64
			cpu0, err := proc.CPU()
			if err != nil {
				b.Skip("the server's CPU time cannot be read here:", err)
			}
			self0, start := bench.SelfCPU(), time.Now()
			b.SetParallelism(4) // 8 at once on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, n := get(tc.path, etag)
					if resp.StatusCode != tc.want {
						b.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
						return
					}
					size.Store(int64(n))
				}
			})
			elapsed := time.Since(start)
			cpu1, _ := proc.CPU()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "server-µs/req")
			b.ReportMetric(float64((bench.SelfCPU()-self0).Microseconds())/float64(b.N), "client-µs/req")
			b.ReportMetric(float64(size.Load()), "bytes/answer")
		})
	}
}
