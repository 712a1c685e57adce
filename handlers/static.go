package handlers

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// webFile is one of the web files, ready to serve: its bytes, gzipped
// when that makes them smaller, and an entity tag of each.
type webFile struct {
	plain, gzipped []byte
	etag, gzETag   string
}

// webFiles reads the web files once (they are embedded in the binary and
// never change while it runs), so that each gets a strong ETag from its
// content — embedded files have no modification time to revalidate with —
// and a compressed copy made once rather than per request.
func webFiles(files fs.FS) map[string]*webFile {
	index := make(map[string]*webFile)
	if files == nil {
		return index
	}
	fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil // served by the file server, which says what is wrong
		}
		index[name] = newWebFile(b, compressible(name))
		return nil
	})
	return index
}

// newWebFile makes b ready to serve, with a gzipped copy if compress
// and that is smaller.
func newWebFile(b []byte, compress bool) *webFile {
	sum := sha256.Sum256(b)
	f := &webFile{plain: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	if compress {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b) {
			f.gzipped, f.gzETag = buf.Bytes(), `"`+hex.EncodeToString(sum[:12])+`-gzip"`
		}
	}
	return f
}

// compressible reports whether a file is text worth compressing.
func compressible(name string) bool {
	switch path.Ext(name) {
	case ".js", ".css", ".html", ".svg", ".json", ".txt":
		return true
	}
	return false
}

// serveWebFile serves the web file the request names, if it is one of
// index, with its ETag (a matching If-None-Match gets 304) and, for a
// client that accepts gzip, compressed. It reports false for anything
// else (a directory, say), which the file server then answers.
func serveWebFile(index map[string]*webFile, w http.ResponseWriter, r *http.Request) bool {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" || strings.HasSuffix(r.URL.Path, "/") {
		name = path.Join(name, "index.html")
	}
	if strings.HasSuffix(r.URL.Path, "/index.html") {
		return false // the file server redirects it to the directory
	}
	f := index[name]
	if f == nil {
		return false
	}
	f.serve(w, r, name)
	return true
}

// serve answers r with f, with its ETag (a matching If-None-Match gets
// 304) and, for a client that accepts gzip, compressed. Its type comes
// from name unless the header has one.
func (f *webFile) serve(w http.ResponseWriter, r *http.Request, name string) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	body, etag := f.plain, f.etag
	if f.gzipped != nil && acceptsGzip(r) {
		body, etag = f.gzipped, f.gzETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match from the ETag, and ranges; the
	// type comes from the name.
	http.ServeContent(w, r, path.Base(name), time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (RFC 9110 §12.5.3; "gzip;q=0" refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if c := strings.ToLower(strings.TrimSpace(coding)); c != "gzip" && c != "x-gzip" && c != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
			return true
		}
	}
	return false
}
