package handlers_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"livefeed/handlers"
	"livefeed/web"
)

// loopbackProxy trusts the test's client, on this machine, as a reverse
// proxy: its X-Forwarded-* headers say who the client is.
var loopbackProxy = handlers.Proxies{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

// TestCookiesSecureBehindProxy: behind a trusted proxy that says the
// client came over https (X-Forwarded-Proto), the console's cookies, the
// sign-in form's and the session's, are Secure; from any other peer, or
// when the proxy says http, the header changes nothing. Before, only a
// TLS connection to livefeed itself made them Secure.
func TestCookiesSecureBehindProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		proxies handlers.Proxies
		proto   string // X-Forwarded-Proto, if any
		secure  bool
	}{
		{"TrustedHTTPS", loopbackProxy, "https", true},
		{"UntrustedHTTPS", handlers.Proxies{}, "https", false},
		{"TrustedHTTP", loopbackProxy, "http", false},
		{"TrustedNoHeader", loopbackProxy, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, handlers.Options{
				Web:       web.Files(),
				Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}},
				Proxies:   tc.proxies,
			}, false)
			do := func(req *http.Request) (*http.Response, []byte) {
				t.Helper()
				if tc.proto != "" {
					req.Header.Set("X-Forwarded-Proto", tc.proto)
					req.Header.Set("X-Forwarded-For", "203.0.113.9")
				}
				resp, err := a.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp, body
			}
			cookie := func(resp *http.Response, name string) *http.Cookie {
				t.Helper()
				for _, c := range resp.Cookies() {
					if c.Name == name {
						return c
					}
				}
				t.Fatalf("no cookie %s in %v", name, resp.Header["Set-Cookie"])
				return nil
			}

			req, _ := http.NewRequest(http.MethodGet, a.URL+"/admin/session", nil)
			resp, body := do(req)
			var session struct{ CSRF string }
			if err := json.Unmarshal(body, &session); err != nil || session.CSRF == "" {
				t.Fatalf("GET /admin/session: %d %s", resp.StatusCode, body)
			}
			login := cookie(resp, "livefeed_login")
			if login.Secure != tc.secure {
				t.Errorf("the sign-in form's cookie: Secure %v, want %v", login.Secure, tc.secure)
			}

			form := url.Values{"name": {operatorName}, "password": {operatorPassword}, "csrf": {session.CSRF}}
			req, _ = http.NewRequest(http.MethodPost, a.URL+"/admin/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: login.Name, Value: login.Value})
			resp, body = do(req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
			}
			for _, name := range []string{"livefeed_session", "livefeed_login"} { // the session, and the form's deleted
				if c := cookie(resp, name); c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
					t.Errorf("cookie %s: %+v, want Secure %v", name, c, tc.secure)
				}
			}
		})
	}
}

// TestClientAddressBehindProxy: behind a trusted proxy the per-address
// stream limit and the access log count the client the proxy names in
// X-Forwarded-For; from a peer that is not trusted the header is ignored,
// so a client cannot pass for others to get past the limit. Before, the
// header was either ignored from everyone (the proxy was the one client)
// or, with server.client_ip_header, believed from anyone.
func TestClientAddressBehindProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		proxies handlers.Proxies
		client  string // whom the access log names
		apart   bool   // streams naming other clients get in
	}{
		{"Trusted", loopbackProxy, "203.0.113.1", true},
		{"Untrusted", handlers.Proxies{}, "127.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncBuffer
			a := newApp(t, handlers.Options{
				MaxStreamsPerIP: 1,
				BusyRetry:       20 * time.Second,
				Proxies:         tc.proxies,
				AccessLog:       true,
				Logger:          slog.New(slog.NewTextHandler(&log, nil)),
			}, false)
			from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {"198.51.100.7, " + addr}} }
			shed := func(addr string) bool {
				t.Helper()
				resp, rd := a.stream(t, "topic=a", from(addr))
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("stream: %d", resp.StatusCode)
				}
				a.publish(t, "Bearer "+token, `{"topic":"a","type":"x","data":{}}`)
				_, err := rd.Next()
				return errors.Is(err, io.EOF)
			}
			first, _ := a.stream(t, "topic=a", from("203.0.113.1")) // holds the client's one place
			defer first.Body.Close()
			if !shed("203.0.113.1") {
				t.Fatal("a second stream of the same client got in")
			}
			if got := !shed("203.0.113.2"); got != tc.apart {
				t.Errorf("a stream naming another client got in: %v, want %v", got, tc.apart)
			}
			req, _ := http.NewRequest(http.MethodGet, a.URL+"/api/topics", nil)
			req.Header = from("203.0.113.1")
			if resp, err := a.Client().Do(req); err == nil {
				resp.Body.Close()
			}
			if want := "route=/api/topics status=200"; !strings.Contains(log.String(), want) {
				t.Fatalf("no access log line: %s", log.String())
			}
			line := log.String()[strings.Index(log.String(), "route=/api/topics"):]
			if line, _, _ = strings.Cut(line, "\n"); !strings.HasSuffix(line, "client="+tc.client) {
				t.Errorf("access log %q, want client=%s", line, tc.client)
			}
		})
	}
}
