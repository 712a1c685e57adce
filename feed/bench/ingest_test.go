package bench_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"livefeed/feed/bench"
)

// TestIngestSymbols: a W9 connection publishes ticks of its own symbols
// (index*symbols on), every one of them, each on its topic.
func TestIngestSymbols(t *testing.T) {
	t.Parallel()
	bare := bench.BareEndpoint()
	var mu sync.Mutex
	topics := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The lines pass to the bare endpoint as they are read, and
		// their topics are noted.
		pr, pw := io.Pipe()
		body := r.Body
		go func() {
			sc := bufio.NewScanner(io.TeeReader(body, pw))
			for sc.Scan() {
				var line struct{ Topic, Type string }
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Type != "tick" {
					t.Errorf("line %q: %v", sc.Bytes(), err)
				}
				mu.Lock()
				topics[line.Topic] = true
				mu.Unlock()
			}
			io.Copy(io.Discard, body)
			pw.Close()
		}()
		r.Body = pr
		bare.ServeHTTP(w, r)
	}))
	defer srv.Close()
	target, err := bench.NewTarget(srv.URL, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	res := bench.RunIngest(t.Context(), target, 2, 7, 64, "run", 50*time.Millisecond)
	if res.Err != nil || res.Acked < 7 || res.Refused != 0 || res.Disorder != 0 {
		t.Fatalf("ingest: %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for topic := range topics {
		got = append(got, topic)
	}
	slices.Sort(got)
	want := []string{"run/S0014", "run/S0015", "run/S0016", "run/S0017", "run/S0018", "run/S0019", "run/S0020"}
	if !slices.Equal(got, want) {
		t.Fatalf("topics %q, want %q", got, want)
	}
}
