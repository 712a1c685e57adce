package handlers_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestWebFilesRevalidateAndCompress: the web files carry an ETag that a
// revalidation answers with 304, and come gzipped to clients that accept
// it (and only to them), with their own ETag and Vary: Accept-Encoding.
func TestWebFilesRevalidateAndCompress(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	// Accept-Encoding set, so that the transport leaves bodies as they come.
	fetch := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		return a.get(t, path, append([]string{"Accept-Encoding", "identity"}, header...)...)
	}
	plainResp, plain := fetch("/widget.js")
	etag := plainResp.Header.Get("ETag")
	if plainResp.StatusCode != 200 || plainResp.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(etag, `"`) ||
		!strings.Contains(plainResp.Header.Get("Content-Type"), "javascript") || plainResp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /widget.js: %d %v", plainResp.StatusCode, plainResp.Header)
	}
	if resp, body := fetch("/widget.js", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("revalidation: %d, %d bytes", resp.StatusCode, len(body))
	}
	for _, accept := range []string{"gzip", "br, gzip;q=0.8", "GZIP", "*"} {
		resp, body := fetch("/widget.js", "Accept-Encoding", accept)
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == etag || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: %v", accept, resp.Header)
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, _ := io.ReadAll(zr)
		if !bytes.Equal(unzipped, plain) || len(body) >= len(plain) {
			t.Errorf("Accept-Encoding %q: %d bytes gzipped of %d, the same when unzipped: %v", accept, len(body), len(plain), bytes.Equal(unzipped, plain))
		}
		if again, _ := fetch("/widget.js", "Accept-Encoding", accept, "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
			t.Errorf("revalidating the gzipped copy: %d", again.StatusCode)
		}
	}
	for _, accept := range []string{"identity", "br", "gzip;q=0", "gzip; q=0.000"} {
		if resp, _ := fetch("/widget.js", "Accept-Encoding", accept); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q got %q", accept, resp.Header.Get("Content-Encoding"))
		}
	}
	if resp, body := fetch("/"); resp.StatusCode != 200 || !bytes.Contains(body, []byte("<html")) || resp.Header.Get("ETag") == "" {
		t.Errorf("GET /: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := fetch("/index.html"); resp.Request.URL.Path != "/" {
		t.Errorf("GET /index.html ended at %s, want the file server's redirect to /", resp.Request.URL)
	}
}
