package handlers_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"livefeed/handlers"
)

func TestOriginsAllows(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// TestOriginEndpoint: GET /api/origin tells any page, without credentials,
// whether its origin (or the one it asks about) may read the feed, by the
// feed's own CORS check; what is not an origin as browsers send it is a
// 400 that says why, readable cross-origin too.
func TestOriginEndpoint(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{AllowedOrigins: []string{"https://scores.example", "https://*.example.com"}}, false)
	ask := func(method, query string, origin ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, a.URL+"/api/origin"+query, nil)
		req.Header["Origin"] = origin
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	self := a.URL // the server's own pages need no CORS
	for _, tc := range []struct {
		name, query string
		origin      []string
		status      int
		body        string
	}{
		{"Allowed", "", []string{"https://scores.example"}, 200, `{"origin":"https://scores.example","allowed":true}`},
		{"Refused", "", []string{"https://news.example"}, 200, `{"origin":"https://news.example","allowed":false}`},
		{"Wildcard", "", []string{"https://shop.example.com"}, 200, `{"origin":"https://shop.example.com","allowed":true}`},
		{"WildcardDeeper", "", []string{"https://a.b.example.com"}, 200, `{"origin":"https://a.b.example.com","allowed":true}`},
		{"WildcardNotTheSite", "", []string{"https://example.com"}, 200, `{"origin":"https://example.com","allowed":false}`},
		{"WildcardOtherScheme", "", []string{"http://shop.example.com"}, 200, `{"origin":"http://shop.example.com","allowed":false}`},
		{"SuffixOfAnother", "", []string{"https://example.com.evil.org"}, 200, `{"origin":"https://example.com.evil.org","allowed":false}`},
		{"ServersOwn", "", []string{self}, 200, `{"origin":"` + self + `","allowed":true}`},
		{"Opaque", "", []string{"null"}, 200, `{"origin":"null","allowed":false}`},
		{"Parameter", "?origin=https%3A%2F%2Fshop.example.com", []string{"https://news.example"}, 200, `{"origin":"https://shop.example.com","allowed":true}`},
		{"ParameterRefused", "?origin=http://localhost:3000", nil, 200, `{"origin":"http://localhost:3000","allowed":false}`},
		{"ParameterIPv6", "?origin=http://[::1]:8080", nil, 200, `{"origin":"http://[::1]:8080","allowed":false}`},
		{"NoOrigin", "", nil, 400, `{"error":"the request has no Origin header (a browser sends one from a page of another site): ask about a site with ?origin=, such as ?origin=https://www.example.com"}`},
		{"EmptyParameter", "?origin=", nil, 400, `{"error":"the origin parameter is empty: give an origin such as https://www.example.com"}`},
		{"Path", "?origin=https://news.example/sports", nil, 400, `{"error":"the origin parameter: \"https://news.example/sports\" has a path; an origin ends after the host and port (https://news.example)"}`},
		{"Pattern", "?origin=https://*.example.com", nil, 400, `{"error":"the origin parameter \"https://*.example.com\" is a pattern: ask about one site's origin, such as https://www.example.com"}`},
		{"UpperCase", "?origin=https://News.example", nil, 400, `{"error":"the origin parameter: \"https://News.example\" must be lower case, as browsers send it"}`},
		{"DefaultPort", "?origin=https://news.example:443", nil, 400, `{"error":"the origin parameter \"https://news.example:443\" has the default port of https: browsers send the origin without it, https://news.example"}`},
		{"Unicode", "?origin=https://b%C3%BCcher.example", nil, 400, `{"error":"the origin parameter: \"https://bücher.example\": \"bücher.example\" is not a host name (browsers send international names in their xn-- form)"}`},
		{"CRLF", "?origin=https://news.example%0D%0AX:1", nil, 400, `{"error":"the origin parameter: \"https://news.example\\r\\nX:1\" is not an origin such as \"https://example.com\", \"http://localhost:3000\" or \"https://*.example.com\""}`},
		{"NUL", "?origin=https://news.example%00", nil, 400, `{"error":"the origin parameter: \"https://news.example\\x00\" is not an origin such as \"https://example.com\", \"http://localhost:3000\" or \"https://*.example.com\""}`},
		{"Scheme", "?origin=ftp://news.example", nil, 400, `{"error":"the origin parameter: \"ftp://news.example\": the scheme must be http or https"}`},
		{"Twice", "?origin=https://a.example.com&origin=https://news.example", nil, 400, `{"error":"parameter \"origin\" is given 2 times"}`},
		{"Unknown", "?site=https://news.example", nil, 400, `{"error":"unknown parameter \"site\": the only parameter is origin"}`},
		{"Huge", "?origin=https://" + strings.Repeat("a", 1<<16) + ".example.com", nil, 400, `{"error":"the origin parameter is 65556 bytes long: an origin (a scheme, a host and a port) is at most 300"}`},
		{"BadHeader", "", []string{"https://news.example/"}, 400, `{"error":"the Origin header: \"https://news.example/\" has a path; an origin ends after the host and port (https://news.example)"}`},
		{"HeaderTwice", "", []string{"https://scores.example", "https://news.example"}, 400, `{"error":"the Origin header is given 2 times"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ask(http.MethodGet, tc.query, tc.origin...)
			if resp.StatusCode != tc.status || body != tc.body+"\n" {
				t.Fatalf("%d %s\nwant %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			h := resp.Header
			if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" ||
				h.Get("Cache-Control") != "no-store" || h.Get("Vary") != "Origin" || h.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", h)
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		resp, body := ask(http.MethodHead, "", "https://news.example")
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
		}
	})
	t.Run("OPTIONS", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, a.URL+"/api/origin", nil)
		req.Header.Set("Origin", "https://news.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			resp.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("POST", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/origin", nil)
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	// It says what the feed's CORS headers say, and nothing else: the
	// answer for an origin is whether a read of the feed from it gets
	// them.
	t.Run("SameAsCORS", func(t *testing.T) {
		for _, origin := range []string{"https://scores.example", "https://news.example", "https://a.example.com", "https://example.com",
			"http://a.example.com", "https://a.example.com:8443", "https://scores.example.evil.org"} {
			req, _ := http.NewRequest(http.MethodGet, a.URL+"/api/topics", nil)
			req.Header.Set("Origin", origin)
			resp, err := a.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cors := resp.Header.Get("Access-Control-Allow-Origin") == origin
			_, body := ask(http.MethodGet, "?origin="+url.QueryEscape(origin))
			if want := fmt.Sprintf(`{"origin":%q,"allowed":%v}`+"\n", origin, cors); body != want {
				t.Errorf("%s: /api/origin says %s; the feed's CORS headers say %s", origin, body, want)
			}
		}
	})
	// A reload applies at once: the answer is never cached.
	a.server.SetCredentials(handlers.Credentials{AllowedOrigins: []string{"https://news.example"}})
	if _, body := ask(http.MethodGet, "", "https://news.example"); body != `{"origin":"https://news.example","allowed":true}`+"\n" {
		t.Fatalf("after a reload: %s", body)
	}
}
