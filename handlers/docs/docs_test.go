package docs_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"livefeed/handlers/docs"
)

func TestSlug(t *testing.T) {
	for _, c := range []struct{ heading, want string }{
		{"Walk-through with curl", "walk-through-with-curl"},
		{"Publish: POST /api/publish", "publish-post-apipublish"},
		{"W4 (2026-12-02)", "w4-2026-12-02"},
		{"Reloading with SIGHUP", "reloading-with-sighup"},
		{"A & B", "a--b"},
		{"feed.write_timeout", "feedwrite_timeout"},
		{"Zürich", "zürich"},
		{"", ""},
	} {
		if got := docs.Slug(c.heading); got != c.want {
			t.Errorf("Slug(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}

// site is a small set of pages: links between them, to a file beside
// them and to the web, headings of the same text, and markup that must
// not reach a browser.
var site = fstest.MapFS{
	"api.md": {Data: []byte("# The API\n\nPublish and read. More here.\n\n" +
		"## Publish `POST /api/publish`\n\nSee [streams](streams.md#resume-after-a-disconnect), " +
		"[the unit](ops/livefeed.service), [this](#publish-post-apipublish), [RFC](https://www.rfc-editor.org/rfc/rfc7493) " +
		"and [a file elsewhere](../../main.go).\n\n## Notes\n\n## Notes\n")},
	"streams.md": {Data: []byte("# Streams and resume\n\n## Resume after a disconnect\n\n" +
		"<script>alert(1)</script>\n\nText <img src=x onerror=alert(2)> and [click](javascript:alert(3)).\n\n" +
		"| a | b |\n|---|---|\n| 1 | 2 |\n")},
	"zz-extra.md":          {Data: []byte("No heading at all.\n")},
	"ops/livefeed.service": {Data: []byte("[Unit]\nDescription=livefeed\n")},
}

func TestRender(t *testing.T) {
	s, err := docs.New(site)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range s.Pages() {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "api streams zz-extra" {
		t.Fatalf("pages %v, want api and streams first (reading order), then the others by name", names)
	}
	api, ok := s.Page("api")
	if !ok || api.Title != "The API" || api.Summary != "Publish and read." {
		t.Fatalf("api page %+v", api)
	}
	html := string(api.HTML)
	for _, want := range []string{
		`<title>The API — livefeed</title>`,
		`<a href="/docs/streams#resume-after-a-disconnect">streams</a>`,
		`<a href="/docs/ops/livefeed.service">the unit</a>`,
		`<a href="#publish-post-apipublish">this</a>`,
		`<a href="https://www.rfc-editor.org/rfc/rfc7493">RFC</a>`,
		`<a href="../../main.go">`, // not the site's: left for the link check to catch
		`<h2 id="publish-post-apipublish">`,
		`<h2 id="notes">`, `<h2 id="notes-1">`,
		`<a href="/docs/streams">Streams and resume</a>`, // the list of pages
		`<link rel="stylesheet" href="/docs.css">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("api page lacks %s:\n%s", want, html)
		}
	}
	streams, _ := s.Page("streams")
	html = string(streams.HTML)
	for _, banned := range []string{"<script>", "<img", "onerror", "javascript:"} {
		if strings.Contains(html, banned) {
			t.Errorf("streams page holds %q:\n%s", banned, html)
		}
	}
	if !strings.Contains(html, "<table>") {
		t.Errorf("streams page has no table:\n%s", html)
	}
	if extra, _ := s.Page("zz-extra"); extra.Title != "zz-extra" {
		t.Errorf("a page without a heading is titled %q, want its name", extra.Title)
	}
	if _, ok := s.Page("ops/livefeed"); ok {
		t.Error("a file that is not Markdown became a page")
	}
	if b, ok := s.File("ops/livefeed.service"); !ok || !strings.HasPrefix(string(b), "[Unit]") {
		t.Errorf("File(ops/livefeed.service) = %q, %v", b, ok)
	}
	if _, ok := s.File("api.md"); ok {
		t.Error("a page is offered as a file too")
	}
	index := string(s.Index())
	for _, want := range []string{`<a href="/docs/api">The API</a> — Publish and read.`, `<a href="/docs/ops/livefeed.service" download>`} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %s:\n%s", want, index)
		}
	}
}

func TestOutline(t *testing.T) {
	anchors, links := docs.Outline(site["api.md"].Data)
	if strings.Join(anchors, " ") != "the-api publish-post-apipublish notes notes-1" {
		t.Errorf("anchors %q", anchors)
	}
	want := "streams.md#resume-after-a-disconnect ops/livefeed.service #publish-post-apipublish https://www.rfc-editor.org/rfc/rfc7493 ../../main.go"
	if strings.Join(links, " ") != want {
		t.Errorf("links %q, want %q", links, want)
	}
}
