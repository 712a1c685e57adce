package handlers_test

import (
	"strings"
	"testing"

	"livefeed/handlers"
)

// TestPageHeaders checks the security headers of the pages and scripts,
// and that no page holds inline script (the policy would block it).
func TestPageHeaders(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	for _, path := range []string{"/", "/admin", "/widget.js"} {
		resp, body := a.get(t, path)
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
		if strings.Contains(string(body), "<script>") || strings.Contains(string(body), " onclick=") {
			t.Errorf("GET %s: inline script", path)
		}
	}
	resp, _ := a.get(t, "/admin")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("admin page Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

// TestAdminPageMissing: a server built without the web files answers
// /admin with a 404, not a crash.
func TestAdminPageMissing(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	if resp, body := a.get(t, "/admin"); resp.StatusCode != 404 || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("GET /admin: %d %s", resp.StatusCode, body)
	}
}
