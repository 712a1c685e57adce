package handlers_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/handlers"
)

func TestParseIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		values []string
		want   string
		err    string
	}{
		{"OKAbsent", nil, "", ""},
		{"OKQuoted", []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`}, "8e03978e-40d5-43e8-bc93-6894a57f9324", ""},
		{"OKBare", []string{"tap-17:nba/lal-bos"}, "tap-17:nba/lal-bos", ""},
		{"OKQuotedSpaceAndEscapes", []string{`"a b \"c\" \\d"`}, `a b "c" \d`, ""},
		{"OKSurroundingSpace", []string{`  "k"  `}, "k", ""},
		{"OKLongest", []string{strings.Repeat("k", 255)}, strings.Repeat("k", 255), ""},
		{"ErrEmpty", []string{""}, "", "empty"},
		{"ErrEmptyQuoted", []string{`""`}, "", "empty"},
		{"ErrTwice", []string{"a", "b"}, "", "2 times"},
		{"ErrTooLong", []string{strings.Repeat("k", 256)}, "", "256 characters"},
		{"ErrUnterminated", []string{`"abc`}, "", "quoted string"},
		{"ErrBadEscape", []string{`"a\nb"`}, "", "quoted string"},
		{"ErrQuoteInside", []string{`"a"b"`}, "", "quoted string"},
		{"ErrControlQuoted", []string{"\"a\x01b\""}, "", "quoted string"},
		{"ErrNonASCIIQuoted", []string{`"ключ"`}, "", "quoted string"},
		{"ErrSpaceBare", []string{"a b"}, "", "character ' '"},
		{"ErrNonASCIIBare", []string{"ключ"}, "", "character"},
		{"ErrBackslashBare", []string{`a\b`}, "", "character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Idempotency-Key", v)
			}
			got, err := handlers.ParseIdempotencyKey(h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, feed.ErrInvalid) {
					t.Fatalf("ParseIdempotencyKey(%q) = %q, %v; want an invalid-input error with %q", tc.values, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseIdempotencyKey(%q) = %q, %v; want %q", tc.values, got, err, tc.want)
			}
		})
	}
}

func FuzzParseIdempotencyKey(f *testing.F) {
	for _, s := range []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "bare-key", `"a\"b"`, `"\`, `""`, "", "\"\x7f\"", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Idempotency-Key": {v}}
		key, err := handlers.ParseIdempotencyKey(h)
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("%q: error of another kind: %v", v, err)
			}
			return
		}
		if key == "" || len(key) > 255 {
			t.Fatalf("%q: accepted key %q", v, key)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("%q: key %q holds byte %#x", v, key, key[i])
			}
		}
	})
}

// TestPublishIdempotent: a retry with the same key and body gets the
// original reply and makes no event; another body with that key is 422.
func TestPublishIdempotent(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	post := func(key, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/publish", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	batch := `[` + scoreBody + `,` + scoreBody + `]`
	resp, first := post(`"tap-1"`, batch)
	if resp.StatusCode != http.StatusCreated || first != "{\"ids\":[1,2]}\n" || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first publish: %d %s", resp.StatusCode, first)
	}
	respaced := "[ " + scoreBody + ",\n\t" + strings.ReplaceAll(scoreBody, ":", ": ") + " ]"
	for _, retry := range []string{batch, batch, respaced} {
		resp, again := post(`"tap-1"`, retry)
		if resp.StatusCode != http.StatusCreated || again != first || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry: %d %s (replayed %q), want %s", resp.StatusCode, again, resp.Header.Get("Idempotent-Replayed"), first)
		}
	}
	resp, body := post(`"tap-1"`, scoreBody)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Idempotency-Key") {
		t.Fatalf("same key, another body: %d %s", resp.StatusCode, body)
	}
	resp, body = post(`"tap-1`, scoreBody)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a broken key: %d %s", resp.StatusCode, body)
	}
	if resp, body := post("", scoreBody); body != "{\"id\":3}\n" {
		t.Fatalf("without a key: %d %s", resp.StatusCode, body)
	}
	if last := a.store.LastID(); last != 3 {
		t.Fatalf("LastID = %d, want 3: retries made events", last)
	}
}

// TestPublishRetryAfterBrokenConnection: a publisher whose connection
// breaks before the reply retries with the same key; however far the
// first attempt got, the event exists exactly once.
func TestPublishRetryAfterBrokenConnection(t *testing.T) {
	a := newApp(t, handlers.Options{}, false)
	u, _ := url.Parse(a.URL)
	for attempt := range 10 {
		key := "retry-" + string(rune('a'+attempt))
		// The first try: the request goes out, the connection is cut
		// before the reply is read.
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+
			"\r\nIdempotency-Key: "+key+"\r\nContent-Length: "+strconv.Itoa(len(scoreBody))+"\r\n\r\n"+scoreBody)
		if attempt%2 == 1 {
			time.Sleep(time.Duration(attempt) * time.Millisecond) // sometimes after the commit
		}
		c.Close()
		// The retry.
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, a.URL+"/api/publish", strings.NewReader(scoreBody))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Idempotency-Key", key)
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("retry %d: %s", attempt, resp.Status)
		}
	}
	events, err := a.store.After(context.Background(), 0, feed.Filter{All: true}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 10 {
		t.Fatalf("%d events for 10 publishes, each tried twice", len(events))
	}
}
