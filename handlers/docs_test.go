package handlers_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"livefeed/handlers"
	"livefeed/web"
)

// TestDocs: /docs lists the reference pages, each renders with the
// headers of the other pages, and every link of a page leads somewhere
// this server serves (a page's anchor included) or to the web.
func TestDocs(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{Web: web.Files(), Docs: web.Docs()}, false)
	resp, index := a.get(t, "/docs")
	checkPage(t, "/docs", resp)
	pages := regexp.MustCompile(`href="(/docs/[a-z-]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(pages) < 10 {
		t.Fatalf("/docs lists %d pages:\n%s", len(pages), index)
	}
	href := regexp.MustCompile(`href="([^"]*)"`)
	_, err := fs.Stat(web.Docs(), "ops")
	opsShipped := err == nil
	ids := make(map[string]map[string]bool) // the IDs of each page
	idsOf := func(path string) map[string]bool {
		if ids[path] == nil {
			resp, body := a.get(t, path)
			checkPage(t, path, resp)
			ids[path] = make(map[string]bool)
			for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(string(body), -1) {
				ids[path][m[1]] = true
			}
		}
		return ids[path]
	}
	for _, p := range pages {
		resp, body := a.get(t, p[1])
		checkPage(t, p[1], resp)
		for _, m := range href.FindAllStringSubmatch(string(body), -1) {
			u, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
			switch {
			case err != nil:
				t.Errorf("%s: link %q: %v", p[1], m[1], err)
			case u.Scheme == "https" || u.Scheme == "http":
			case u.Scheme != "" || u.Host != "":
				t.Errorf("%s: link %q leads neither to this server nor to the web", p[1], m[1])
			case u.Path == "" && u.Fragment != "":
				if !idsOf(p[1])[u.Fragment] {
					t.Errorf("%s: link %q: no such anchor on the page", p[1], m[1])
				}
			case !strings.HasPrefix(u.Path, "/"):
				t.Errorf("%s: link %q is relative: it leads nowhere under /docs", p[1], m[1])
			case u.Fragment != "":
				if !idsOf(u.Path)[u.Fragment] {
					t.Errorf("%s: link %q: no such anchor on %s", p[1], m[1], u.Path)
				}
			case strings.HasPrefix(u.Path, "/docs/ops/") && !opsShipped:
				// The ops files come with another branch of issue 22.
			default:
				if resp, _ := a.get(t, u.Path); resp.StatusCode != http.StatusOK {
					t.Errorf("%s: link %q: %s", p[1], m[1], resp.Status)
				}
			}
		}
	}
	// The demo page and the console lead to the reference.
	for _, path := range []string{"/", "/admin"} {
		if _, body := a.get(t, path); !strings.Contains(string(body), `href="/docs"`) {
			t.Errorf("%s has no link to /docs", path)
		}
	}
}

// checkPage fails t unless resp is an HTML page with the pages' headers.
func checkPage(t *testing.T, path string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	switch {
	case resp.StatusCode != http.StatusOK:
		t.Errorf("GET %s: %s", path, resp.Status)
	case !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"):
		t.Errorf("GET %s: Content-Type %q", path, resp.Header.Get("Content-Type"))
	case !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff":
		t.Errorf("GET %s: headers %v", path, resp.Header)
	}
}

// TestDocsRoutes: the paths around the pages: a file to download, a
// page named as its file, the index with a slash, what is not there,
// and a build without the pages.
func TestDocsRoutes(t *testing.T) {
	pages := fstest.MapFS{
		"api.md":               {Data: []byte("# The API\n\n<script>alert(1)</script>\n")},
		"ops/livefeed.service": {Data: []byte("[Unit]\nDescription=livefeed\n")},
		"ops/dashboard.json":   {Data: []byte(`{"title":"livefeed"}`)},
	}
	a := newApp(t, handlers.Options{Docs: pages}, false)
	resp, body := a.get(t, "/docs/api")
	checkPage(t, "/docs/api", resp)
	if strings.Contains(string(body), "<script>") {
		t.Errorf("raw HTML of the page reached the browser:\n%s", body)
	}
	if etag := resp.Header.Get("ETag"); etag == "" {
		t.Error("a page without an ETag")
	} else if resp, _ := a.get(t, "/docs/api", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidated: %s", resp.Status)
	}
	for path, want := range map[string]string{"/docs/ops/livefeed.service": "text/plain; charset=utf-8", "/docs/ops/dashboard.json": "application/json"} {
		resp, body := a.get(t, path)
		name := path[strings.LastIndex(path, "/")+1:]
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want ||
			resp.Header.Get("Content-Disposition") != `attachment; filename=`+name ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || string(body) != string(pages[path[len("/docs/"):]].Data) {
			t.Errorf("GET %s: %s %v %q", path, resp.Status, resp.Header, body)
		}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{"/docs/api.md": "/docs/api", "/docs/": "/docs"} {
		resp, err := noRedirect.Get(a.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %s to %q, want a redirect to %s", path, resp.Status, resp.Header.Get("Location"), want)
		}
	}
	for _, path := range []string{"/docs/nothing", "/docs/api.html", "/docs/ops", "/docs/ops/", "/docs/ops/nothing.conf", "/docs/nothing.md"} {
		if resp, body := a.get(t, path); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"error"`) {
			t.Errorf("GET %s: %s %s, want a JSON 404", path, resp.Status, body)
		}
	}
	if resp, _ := a.do(t, http.MethodPost, "/docs/api", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /docs/api: %s", resp.Status)
	}
	without := newApp(t, handlers.Options{}, false)
	if resp, body := without.get(t, "/docs"); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not part of this build") {
		t.Errorf("GET /docs without the pages: %s %s", resp.Status, body)
	}
}
