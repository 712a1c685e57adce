package docs_test

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"livefeed/handlers/docs"
)

// root is the repository, from this package's folder.
const root = "../.."

// arriving is the folder of the files that the operations page links to
// and that another branch of the same issue adds (the ops files of issue
// 22): while the folder is not in the repository, a link into it may lead
// nowhere. Once it is, the check is the usual one.
const arriving = "web/docs/ops/"

// TestLinksResolve: every link of the README and the reference pages leads
// to the public web or to a file of the repository, and an anchor to a
// heading of its page. A reference page's relative links stay among the
// reference pages and the files beside them: those are all livefeed
// serves at /docs.
func TestLinksResolve(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(root, "web/docs/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 10 {
		t.Fatalf("%d reference pages", len(pages))
	}
	anchors := make(map[string][]string) // of each page, by its path in the repository
	outline := func(file string) []string {
		if _, ok := anchors[file]; !ok {
			b, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				t.Fatal(err)
			}
			anchors[file], _ = docs.Outline(b)
		}
		return anchors[file]
	}
	checked := 0
	for _, p := range append([]string{filepath.Join(root, "README.md")}, pages...) {
		file := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, links := docs.Outline(b)
		for _, link := range links {
			checked++
			if msg := checkLink(file, link, outline); msg != "" {
				t.Errorf("%s: link %q: %s", file, link, msg)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d links: the pages were not read", checked)
	}
}

// checkLink says what is wrong with a link of the page at file (a path
// in the repository), or "".
func checkLink(file, link string, outline func(string) []string) string {
	u, err := url.Parse(link)
	switch {
	case err != nil:
		return err.Error()
	case u.Scheme == "https" || u.Scheme == "http":
		if u.Host == "" || u.Hostname() == "localhost" || strings.HasPrefix(u.Hostname(), "127.") {
			return "not a public web page"
		}
		return ""
	case u.Scheme != "" || u.Host != "":
		return "neither a public web page nor a file of the repository"
	case strings.HasPrefix(u.Path, "/"):
		return "an absolute path: GitHub and /docs read it differently; write it relative to the page"
	}
	target := file
	if u.Path != "" {
		target = path.Join(path.Dir(file), u.Path)
	}
	if target == ".." || strings.HasPrefix(target, "../") {
		return "outside the repository"
	}
	if strings.HasPrefix(file, "web/docs/") && !strings.HasPrefix(target, "web/docs/") && target != "web/docs" {
		return "outside web/docs: /docs would not serve it"
	}
	if _, err := os.Stat(filepath.Join(root, target)); err != nil {
		if _, err := os.Stat(filepath.Join(root, arriving)); err != nil && strings.HasPrefix(target, arriving) && u.Fragment == "" {
			return ""
		}
		return "no such file"
	}
	if u.Fragment == "" {
		return ""
	}
	if !strings.HasSuffix(target, ".md") {
		return "an anchor of a file that is not a page"
	}
	if !slices.Contains(outline(target), u.Fragment) {
		return "no such heading in " + target
	}
	return ""
}
