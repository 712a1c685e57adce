package handlers

import (
	"regexp"
	"strings"
	"testing"
)

// browserOrigin is what a browser sends in an Origin header for a page of
// an http or https site (RFC 6454 §6.2): a lower-case host name or
// address, a port other than the scheme's default.
var browserOrigin = regexp.MustCompile(`^(http|https)://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?$`)

func TestCheckAskedOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://news.example", true},
		{"http://localhost:3000", true},
		{"https://xn--bcher-kva.example", true},
		{"http://192.0.2.1:8080", true},
		{"http://[2001:db8::1]", true},
		{"https://news.example:8443", true},
		{"http://news.example:443", true}, // not http's default
		{"", false},
		{"null", false}, // only the header may be "null"
		{"news.example", false},
		{"https://", false},
		{"https://news.example/", false},
		{"https://news.example?", false},
		{"https://news.example#", false},
		{"https://user@news.example", false},
		{"https://News.example", false},
		{"HTTPS://news.example", false},
		{"https://news.example:443", false},
		{"http://news.example:80", false},
		{"https://news.example:0", false},
		{"https://news.example:65536", false},
		{"https://news.example:080", false},
		{"https://news.example:", false},
		{"https://*.example.com", false},
		{"*", false},
		{"https://bücher.example", false},
		{"https://news.example\r\n", false},
		{"https://news.example\x00", false},
		{"https://news%2eexample", false},
		{"https://news..example", false},
		{"https://-news.example", false},
		{"https://[::1", false},
		{"https://[192.0.2.1]", false},
		{"ftp://news.example", false},
		{"javascript:alert(1)", false},
		{"https://" + strings.Repeat("a.", 146) + "example", false}, // 300 bytes, beyond 253 of host
		{"https://" + strings.Repeat("a", 300), false},
	} {
		if err := checkAskedOrigin(tc.origin, "origin"); (err == nil) != tc.ok {
			t.Errorf("checkAskedOrigin(%q) = %v, want ok %v", tc.origin, err, tc.ok)
		}
	}
}

// FuzzCheckAskedOrigin: whatever ?origin= holds, what is accepted is an
// origin as a browser sends it, at most maxOriginBytes long; what is
// refused gets a message naming the parameter.
func FuzzCheckAskedOrigin(f *testing.F) {
	for _, s := range []string{"https://news.example", "http://localhost:3000", "http://[::1]:8080", "https://a.example.com:443",
		"https://News.example", "https://news.example/x", "https://news.example\r\nX: 1", "https://news.example\x00",
		"https://b\u00fccher.example", "https://*.example.com", "https://news%2eexample", "https://[::ffff:1.2.3.4]", "http://1.2.3.4:65535", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		err := checkAskedOrigin(origin, "the origin parameter")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "the origin parameter") {
				t.Fatalf("%q: %v", origin, err)
			}
			return
		}
		if len(origin) > maxOriginBytes || !browserOrigin.MatchString(origin) ||
			strings.HasSuffix(origin, ":443") && strings.HasPrefix(origin, "https:") || strings.HasSuffix(origin, ":80") && strings.HasPrefix(origin, "http:") {
			t.Fatalf("accepted %q", origin)
		}
	})
}
