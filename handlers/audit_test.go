package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"livefeed/handlers"
	"livefeed/web"
)

// TestAudit: an event pushed from the console records its operator. The
// operator's console sees the name in its answer, in history and in the
// CSV; the public, a page of another site in the operator's browser and
// the event stream do not, unless the server exposes it.
func TestAudit(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	_, stream := a.stream(t, "topic=*", nil)
	c := newConsole(t, a)
	if status, body := c.login(operatorName, operatorPassword); status != 200 {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	status, body := c.post("/admin/games", "topic", "nba/g", "home", "A", "away", "B")
	if status != 201 || !strings.Contains(string(body), `"operator":"ann"`) {
		t.Fatalf("the console's answer: %d %s", status, body)
	}
	a.publish(t, "Bearer "+token, `{"topic":"stocks/X","type":"tick","data":{"symbol":"X","price":1}}`)
	if ev, err := stream.Next(); err != nil || strings.Contains(ev.Data, "operator") || strings.Contains(ev.Data, "ann") {
		t.Fatalf("the stream: %+v, %v", ev, err)
	}

	t.Run("Console", func(t *testing.T) {
		status, body := c.do(http.MethodGet, "/admin/history", nil)
		if status != 200 || strings.Count(string(body), `"operator":"ann"`) != 1 || strings.Count(string(body), `"operator"`) != 1 {
			t.Fatalf("history: %d %s", status, body)
		}
		status, body = c.do(http.MethodGet, "/admin/export.csv", nil)
		if lines := strings.Split(string(body), "\r\n"); status != 200 || !strings.HasSuffix(lines[0], ",operator") || !strings.HasSuffix(lines[1], ",ann") || !strings.HasSuffix(lines[2], ",") {
			t.Fatalf("export: %d %q", status, body)
		}
	})
	t.Run("Public", func(t *testing.T) {
		for _, path := range []string{"/api/history", "/api/export.csv"} {
			if status, body := c.do(http.MethodGet, path, nil); status != 200 || strings.Contains(string(body), "ann") {
				t.Fatalf("%s for the operator: %d %s", path, status, body)
			}
			if resp, body := a.get(t, path); resp.StatusCode != 200 || strings.Contains(string(body), "ann") {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
		}
	})
	t.Run("SignedOut", func(t *testing.T) {
		for _, path := range []string{"/admin/history", "/admin/export.csv"} {
			if resp, body := a.get(t, path); resp.StatusCode != 401 {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
		}
		other := newConsole(t, a)
		if status, body := other.do(http.MethodGet, "/admin/history", nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://partner.example"); status != 403 && status != 401 {
			t.Fatalf("cross-site: %d %s", status, body)
		}
	})
	t.Run("Exposed", func(t *testing.T) {
		e := newApp(t, handlers.Options{ExposeOperator: true, Web: web.Files(),
			Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}}, false)
		c := newConsole(t, e)
		c.login(operatorName, operatorPassword)
		c.post("/admin/games", "topic", "nba/g", "home", "A", "away", "B")
		if resp, body := e.get(t, "/api/history"); resp.StatusCode != 200 || !strings.Contains(string(body), `"operator":"ann"`) {
			t.Fatalf("history: %d %s", resp.StatusCode, body)
		}
	})
}
