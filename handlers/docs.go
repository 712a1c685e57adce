package handlers

import (
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"livefeed/feed"
	"livefeed/handlers/docs"
)

// docsSite is the reference pages, rendered and ready to serve at /docs
// with an ETag and compressed, and the files beside them as downloads.
type docsSite struct {
	index *webFile
	pages map[string]*webFile // by name: "api"
	files map[string]*webFile // by path: "ops/livefeed.service"
}

// newDocsSite renders the Markdown pages of fsys (see package docs).
func newDocsSite(fsys fs.FS) (*docsSite, error) {
	site, err := docs.New(fsys)
	if err != nil {
		return nil, err
	}
	d := &docsSite{index: newWebFile(site.Index(), true), pages: make(map[string]*webFile), files: make(map[string]*webFile)}
	for _, p := range site.Pages() {
		d.pages[p.Name] = newWebFile(p.HTML, true)
	}
	for _, name := range site.Files() {
		b, _ := site.File(name)
		d.files[name] = newWebFile(b, true)
	}
	return d, nil
}

// docsPage handles GET /docs and /docs/...: the list of pages, a page
// ("/docs/api" for api.md; "/docs/api.md" leads there), or a file to
// download ("/docs/ops/livefeed.service"). Each with the headers of the
// other pages.
func (s *Server) docsPage(w http.ResponseWriter, r *http.Request) {
	if s.docs == nil {
		Error(w, r, s.log, feed.Errorf(feed.ErrNotFound, "the reference pages are not part of this build"))
		return
	}
	name, _ := strings.CutPrefix(r.URL.Path, docs.Prefix)
	name = strings.TrimPrefix(name, "/")
	h := w.Header()
	if name == "" && strings.HasSuffix(r.URL.Path, "/") {
		http.Redirect(w, r, docs.Prefix, http.StatusMovedPermanently)
		return
	}
	if page, ok := strings.CutSuffix(name, ".md"); ok && s.docs.pages[page] != nil {
		http.Redirect(w, r, docs.Prefix+"/"+page, http.StatusMovedPermanently)
		return
	}
	setPageHeaders(h)
	h.Set("Cache-Control", "no-cache")
	if name == "" {
		s.docs.index.serve(w, r, "index.html")
		return
	}
	if f := s.docs.pages[name]; f != nil {
		f.serve(w, r, name+".html")
		return
	}
	if f := s.docs.files[name]; f != nil {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		if path.Ext(name) == ".json" {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
		f.serve(w, r, name)
		return
	}
	Error(w, r, s.log, feed.Errorf(feed.ErrNotFound, "no such page: %s; the pages are listed at %s", r.URL.Path, docs.Prefix))
}
