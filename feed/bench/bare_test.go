package bench_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livefeed/feed/bench"
)

// TestBareEndpoint checks that the yardstick answers as livefeed does: a
// publish gets 201 and the next ID, a stream one ID line per line.
func TestBareEndpoint(t *testing.T) {
	srv := httptest.NewServer(bench.BareEndpoint())
	defer srv.Close()
	post := func(contentType, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/publish", contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	t.Run("OK", func(t *testing.T) {
		for _, want := range []string{"{\"id\":1}\n", "{\"id\":2}\n"} {
			if code, body := post("application/json", `{"topic":"a","type":"b","data":{}}`); code != 201 || body != want {
				t.Fatalf("%d %q, want 201 %q", code, body, want)
			}
		}
	})
	t.Run("Stream", func(t *testing.T) {
		code, body := post("application/x-ndjson", "{}\n{}\n{}\n")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		var lines []string
		for sc := bufio.NewScanner(strings.NewReader(body)); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		if strings.Join(lines, ",") != `{"id":3},{"id":4},{"id":5}` {
			t.Fatalf("lines %q", lines)
		}
	})
	t.Run("Fanout", func(t *testing.T) {
		// The load tool's subscriber takes the stream for attached at
		// its position event, as with livefeed, and gets every publish.
		target, err := bench.NewTarget(srv.URL, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		sub := bench.NewSubscriber(target, bench.SubscriberOptions{Topic: "a", Publishers: 1})
		done := make(chan bench.Tally, 1)
		go func() { done <- sub.Run(t.Context()) }()
		select {
		case <-sub.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("the stream was never attached: no position event")
		}
		// Ready also closes when the subscriber gives up connecting:
		// the endpoint must count the stream before the publish.
		streams := func() int64 {
			h, err := target.Health(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return h.Subscribers
		}
		if n := streams(); n != 1 {
			sub.Stop()
			tally := <-done
			t.Fatalf("the endpoint holds %d streams after Ready; the subscriber: %+v, %v", n, tally, sub.Err())
		}
		data := string(bench.AppendTick(nil, 0, 1, 100))
		if code, _ := post("application/json", `{"topic":"a","type":"b","data":`+data+`}`); code != 201 {
			t.Fatalf("publish: %d", code)
		}
		for deadline := time.Now().Add(10 * time.Second); sub.Deliveries() < 1; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				n := streams()
				sub.Stop()
				tally := <-done
				t.Fatalf("the publish never arrived (the endpoint holds %d streams); the subscriber: %+v, %v", n, tally, sub.Err())
			}
		}
		sub.Stop()
		if tally := <-done; tally.Deliveries != 1 || tally.Foreign != 0 {
			t.Fatalf("tally %+v", tally)
		}
	})
	t.Run("Health", func(t *testing.T) {
		h, err := (&bench.Target{Addr: strings.TrimPrefix(srv.URL, "http://"), Host: strings.TrimPrefix(srv.URL, "http://")}).Health(t.Context())
		if err != nil || h.LastID != 6 {
			t.Fatalf("health %+v, %v", h, err)
		}
	})
}
