// Package docs renders livefeed's reference pages — the Markdown files of
// web/docs — to the HTML pages the server serves at /docs. The same files
// read on GitHub and served by livefeed link to each other the same way:
// a link to "api.md#publish" becomes "/docs/api#publish" here, and each
// heading gets the anchor GitHub gives it. Markdown's raw HTML is never
// passed through (goldmark leaves it out unless told otherwise), so a page
// cannot carry script.
package docs

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// Prefix is where the pages are served: the page of api.md is Prefix+"/api".
const Prefix = "/docs"

// order is the reading order of the index: what a newcomer needs first.
// Pages not named here follow, by name.
var order = []string{"api", "streams", "widgets", "console", "configuration", "cli", "operations", "security", "cluster", "performance"}

// Page is one reference page, rendered.
type Page struct {
	Name    string // "api", for api.md
	Title   string // its first heading
	Summary string // the first sentence of its first paragraph
	HTML    []byte // the whole HTML page
}

// Site is the reference pages and the files beside them, rendered once:
// they are embedded in the binary and never change while it runs.
type Site struct {
	pages []*Page
	files map[string][]byte // the files that are not Markdown, by path: "ops/livefeed.service"
	index []byte
}

// markdown is GitHub's flavour (tables above all), as the pages are read
// on GitHub too. Its renderer leaves raw HTML out.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// New renders the Markdown files at the top of fsys as pages and keeps
// every other file (in any folder) for download.
func New(fsys fs.FS) (*Site, error) {
	s := &Site{files: make(map[string][]byte)}
	sources := make(map[string][]byte)
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if page, ok := strings.CutSuffix(name, ".md"); ok && !strings.Contains(page, "/") {
			sources[page] = b
		} else {
			s.files[name] = b
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the reference pages: %w", err)
	}
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := rank(a), rank(b)
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		s.pages = append(s.pages, &Page{Name: name})
	}
	// Every title first: each page lists all of them.
	bodies := make([]template.HTML, len(s.pages))
	for i, p := range s.pages {
		bodies[i], p.Title, p.Summary = s.render(sources[p.Name])
		if p.Title == "" {
			p.Title = p.Name
		}
	}
	for i, p := range s.pages {
		p.HTML = s.frame(p.Title, bodies[i])
	}
	s.index = s.frame("Reference", s.indexBody())
	return s, nil
}

// rank is a page's place in order, or after all of it.
func rank(name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

// Page returns the page called name ("api").
func (s *Site) Page(name string) (*Page, bool) {
	for _, p := range s.pages {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Pages returns the pages in reading order.
func (s *Site) Pages() []*Page { return s.pages }

// Index returns the HTML page listing the pages and the files.
func (s *Site) Index() []byte { return s.index }

// File returns the file at name ("ops/livefeed.service"), one that is
// not a page.
func (s *Site) File(name string) ([]byte, bool) {
	b, ok := s.files[name]
	return b, ok
}

// Files returns the paths of the files that are not pages, sorted.
func (s *Site) Files() []string {
	names := make([]string, 0, len(s.files))
	for name := range s.files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// render turns a page's Markdown into the HTML of its body, with its
// title and summary.
func (s *Site) render(source []byte) (body template.HTML, title, summary string) {
	doc := parse(source)
	visit(doc, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.Heading:
			if title == "" && n.Level == 1 {
				title = plainText(n, source)
			}
		case *ast.Paragraph:
			if summary == "" && n.Parent() == doc {
				summary = firstSentence(plainText(n, source))
			}
		case *ast.Link:
			n.Destination = []byte(s.href(string(n.Destination)))
		}
	})
	var buf bytes.Buffer
	if err := markdown.Renderer().Render(&buf, source, doc); err != nil {
		// Rendering into memory fails only on a bug of the renderer:
		// say so on the page rather than serve half of it.
		return template.HTML(template.HTMLEscapeString("This page could not be rendered: " + err.Error())), title, summary
	}
	return template.HTML(buf.String()), title, summary
}

// href is where a link of a page leads under /docs: a page ("api.md#x")
// to its rendered page ("/docs/api#x"), a file beside the pages
// ("ops/alerts.yml") to its download. Other links (the web, an anchor of
// the page, a file outside the pages' folder) stay as they are.
func (s *Site) href(dest string) string {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "" || strings.HasPrefix(u.Path, "/") {
		return dest
	}
	name := path.Clean(u.Path)
	if name == ".." || strings.HasPrefix(name, "../") {
		return dest
	}
	fragment := ""
	if u.Fragment != "" {
		fragment = "#" + u.EscapedFragment()
	}
	if page, ok := strings.CutSuffix(name, ".md"); ok && !strings.Contains(page, "/") {
		return Prefix + "/" + page + fragment
	}
	return Prefix + "/" + name + fragment
}

// plainText is the text a reader sees of a node: its text and code,
// without the marks around them.
func plainText(n ast.Node, source []byte) string {
	var b strings.Builder
	visit(n, func(c ast.Node) {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(source))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		}
	})
	return b.String()
}

// firstSentence is text up to the end of its first sentence.
func firstSentence(text string) string {
	if i := strings.Index(text, ". "); i >= 0 {
		return text[:i+1]
	}
	return text
}

// Slug is the anchor GitHub gives a heading of this text: lower case,
// spaces as hyphens, and only letters, digits, marks, '-' and '_' kept
// (as github-slugger does), so that "api.md#publish" leads to the same
// heading on GitHub and under /docs.
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unique returns slug, or for its second and later uses slug-1, slug-2…,
// as GitHub numbers headings of the same text.
func unique(seen map[string]int, slug string) string {
	n, ok := seen[slug]
	seen[slug] = n + 1
	if !ok {
		return slug
	}
	return fmt.Sprintf("%s-%d", slug, n)
}

// Outline returns the anchors of a Markdown page's headings, as GitHub
// and Site give them, and the destinations of its links, as written.
func Outline(source []byte) (anchors, links []string) {
	visit(parse(source), func(n ast.Node) {
		switch n := n.(type) {
		case *ast.Heading:
			id, _ := n.AttributeString("id")
			anchors = append(anchors, string(id.([]byte)))
		case *ast.Link:
			links = append(links, string(n.Destination))
		case *ast.AutoLink:
			links = append(links, string(n.URL(source)))
		}
	})
	return anchors, links
}

// parse parses a page and gives each heading the anchor GitHub gives it
// (see Slug), the one place anchors are made: Site links to them and
// Outline lists them.
func parse(source []byte) ast.Node {
	doc := markdown.Parser().Parse(text.NewReader(source))
	slugs := make(map[string]int)
	visit(doc, func(n ast.Node) {
		if h, ok := n.(*ast.Heading); ok {
			h.SetAttributeString("id", []byte(unique(slugs, Slug(plainText(h, source)))))
		}
	})
	return doc
}

// visit calls f with each node of the tree under n, parents first.
func visit(n ast.Node, f func(ast.Node)) {
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			f(c)
		}
		return ast.WalkContinue, nil
	})
}

// page is the frame of every page: the site's bar, the list of pages,
// the body. Styles come from files of the server (its Content-Security-
// Policy allows no inline style or script).
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — livefeed</title>
<link rel="stylesheet" href="/site.css">
<link rel="stylesheet" href="/docs.css">
</head>
<body>
<header class="bar">
  <h1><a href="{{.Prefix}}">livefeed <span>docs</span></a></h1>
  <nav><a href="/">Demo</a> <a href="/admin">Admin console</a></nav>
</header>
<nav class="docs-pages" aria-label="Reference pages">
{{- range .Pages}} <a href="{{$.Prefix}}/{{.Name}}">{{.Title}}</a>{{end}}
</nav>
<main class="docs">
{{.Body}}
</main>
</body>
</html>
`))

// frame puts a body in the frame of the pages.
func (s *Site) frame(title string, body template.HTML) []byte {
	var buf bytes.Buffer
	err := page.Execute(&buf, struct {
		Title, Prefix string
		Pages         []*Page
		Body          template.HTML
	}{title, Prefix, s.pages, body})
	if err != nil {
		panic(err) // the template and its data are fixed: a bug
	}
	return buf.Bytes()
}

// indexBody lists the pages, each with its summary, and the files.
func (s *Site) indexBody() template.HTML {
	var b strings.Builder
	b.WriteString("<h1>livefeed reference</h1>\n<p>The README is the guide; these pages are the reference. Each is also a Markdown file in the repository, under <code>web/docs/</code>.</p>\n<ul class=\"docs-index\">\n")
	for _, p := range s.pages {
		fmt.Fprintf(&b, "<li><a href=\"%s/%s\">%s</a> — %s</li>\n", Prefix, template.HTMLEscapeString(p.Name),
			template.HTMLEscapeString(p.Title), template.HTMLEscapeString(p.Summary))
	}
	b.WriteString("</ul>\n")
	if files := s.Files(); len(files) > 0 {
		b.WriteString("<h2 id=\"files\">Files</h2>\n<p>Shipped files, to download and adapt (see Operations).</p>\n<ul class=\"docs-files\">\n")
		for _, name := range files {
			fmt.Fprintf(&b, "<li><a href=\"%s/%s\" download><code>%s</code></a></li>\n", Prefix, template.HTMLEscapeString(name), template.HTMLEscapeString(name))
		}
		b.WriteString("</ul>\n")
	}
	return template.HTML(b.String())
}
