package handlers

import (
	"mime"
	"net/http"
	"testing"
)

// TestIsStream: a publish is a stream exactly when its Content-Type is
// application/x-ndjson as mime.ParseMediaType reads it — in any letter
// case, with spaces and parameters — and a body that names it only in a
// parameter, or in a malformed header, is not one.
func TestIsStream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, contentType string
		want              bool
	}{
		{"None", "", false},
		{"JSON", "application/json", false},
		{"JSONCharset", "application/json; charset=utf-8", false},
		{"NDJSON", "application/x-ndjson", true},
		{"NDJSONCase", "Application/X-NDJSON", true},
		{"NDJSONSpaces", "  application/x-ndjson ; charset=utf-8", true},
		{"NDJSONParameter", "application/x-ndjson;charset=utf-8", true},
		{"ErrNDJSONBadParameter", "application/x-ndjson; charset", false},
		{"ErrNDJSONInParameter", "application/json; type=application/x-ndjson", false},
		{"ErrNDJSONPrefix", "application/x-ndjsonx", false},
		{"ErrNDJSONLongS", "application/x-ndjſon", false}, // folds to "s", but is not it
		{"ErrNDJSONCommaList", "application/x-ndjson, application/json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}}
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			if got := isStream(r); got != tc.want {
				t.Errorf("isStream(Content-Type %q) = %v, want %v", tc.contentType, got, tc.want)
			}
		})
	}
}

// FuzzIsStream: isStream, which reads most Content-Types without
// mime.ParseMediaType, decides as mime.ParseMediaType does.
func FuzzIsStream(f *testing.F) {
	for _, seed := range []string{"", "application/json", "application/x-ndjson", "APPLICATION/X-NDJSON; charset=utf-8",
		" application/x-ndjson\t;q=1", "application/x-ndjson; charset", "application/x-ndjſon", "application/x-ndjson;;", "\u00a0application/x-ndjson"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, contentType string) {
		r := &http.Request{Header: http.Header{"Content-Type": {contentType}}}
		mt, _, err := mime.ParseMediaType(contentType)
		want := err == nil && mt == ndjsonType
		if got := isStream(r); got != want {
			t.Errorf("isStream(Content-Type %q) = %v; mime.ParseMediaType says %v", contentType, got, want)
		}
	})
}
