package handlers_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"livefeed/handlers"
)

func TestOriginsAllows(t *testing.T) {
	o := handlers.NewOrigins([]string{"https://*.example.com", "http://*.dev.example.org:8080", "https://partner.example.net"})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://a.example.com", true},
		{"https://a.b.example.com", true},
		{"https://www-2.example.com", true},
		{"https://partner.example.net", true},
		{"http://x.dev.example.org:8080", true},
		{"https://example.com", false},             // the pattern is for subdomains
		{"https://example.com.evil.org", false},    // a suffix of another name
		{"https://evil.com/x.example.com", false},  // a path is no host
		{"https://evil.com?x.example.com", false},  // nor a query
		{"https://evil.com#.example.com", false},   // nor a fragment
		{"https://user@a.example.com", false},      // nor user info
		{"https://evilexample.com", false},         // not a whole label
		{"https://.example.com", false},            // an empty label
		{"https://a..example.com", false},          // an empty label
		{"http://a.example.com", false},            // another scheme
		{"https://a.example.com:443", false},       // browsers send no default port
		{"https://a.example.com:8443", false},      // another port
		{"http://x.dev.example.org", false},        // the pattern's port is missing
		{"http://x.dev.example.org:80801", false},  // another port
		{"https://A.example.com", false},           // browsers send lower case
		{"https://a.example.com.", false},          // a trailing dot
		{"https://a.example.com/", false},          // a path
		{"https://sub.partner.example.net", false}, // an exact origin has no subdomains
		{"null", false},
		{"", false},
		{"https://", false},
		{"https://[::1]", false},
	} {
		if got := o.Allows(tc.origin); got != tc.ok {
			t.Errorf("Allows(%q) = %v, want %v", tc.origin, got, tc.ok)
		}
	}
}

// FuzzOriginsAllows: whatever the Origin header holds, a pattern allows
// it only when it is the pattern's scheme, a host ending in the pattern's
// domain after a dot, and the pattern's port, and nothing else.
func FuzzOriginsAllows(f *testing.F) {
	for _, s := range []string{"https://a.example.com", "https://example.com.evil.org", "https://evil.com/x.example.com",
		"https://a.example.com:443", "https://a.example.com\x00", "https://a.example.com:", "https://:@.example.com", "https://ä.example.com"} {
		f.Add(s)
	}
	o := handlers.NewOrigins([]string{"https://*.example.com"})
	f.Fuzz(func(t *testing.T, origin string) {
		if !o.Allows(origin) {
			return
		}
		host, ok := strings.CutPrefix(origin, "https://")
		sub, found := strings.CutSuffix(host, ".example.com")
		if !ok || !found || sub == "" || strings.HasSuffix(sub, ".") || strings.Trim(sub, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
			t.Fatalf("allowed %q", origin)
		}
	})
}

// TestCORSRefusedCounted: a read from an origin not allowed gets no CORS
// headers, is counted on /metrics and logged, rate-limited;
// allowed and same-origin reads are not counted.
func TestCORSRefusedCounted(t *testing.T) {
	var logs bytes.Buffer
	a := newApp(t, handlers.Options{AllowedOrigins: []string{"https://*.example.com"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, false)
	get := func(origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, a.URL+"/api/topics", nil)
		req.Header.Set("Origin", origin)
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("https://shop.example.com"); resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("allowed origin: headers %v", resp.Header)
	}
	get(a.URL) // the server's own page
	for range 3 {
		if resp := get("https://example.com.evil.org"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("refused origin got %q", resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	get("https://other.org")
	_, body := a.get(t, "/metrics")
	if !strings.Contains(string(body), "\nlivefeed_cors_refused_total 4\n") {
		t.Fatalf("metrics:\n%s", body)
	}
	// Logged at info, a line a second at most (see TestRefusalsLogged).
	if n := strings.Count(logs.String(), "cross-origin request refused"); n != 1 || !strings.Contains(logs.String(), "origin=https://example.com.evil.org") {
		t.Fatalf("%d log lines:\n%s", n, logs.String())
	}
}
