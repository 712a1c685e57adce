// Package web holds livefeed's pages and scripts, embedded in the binary so
// that one file is all a deployment needs, and the reference pages under
// docs/. No Go code of the server's belongs here.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

//go:embed docs
var docs embed.FS

// Files returns the files served from "/".
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Docs returns the reference pages (Markdown) and the files beside them,
// served from "/docs".
func Docs() fs.FS {
	sub, err := fs.Sub(docs, "docs")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
