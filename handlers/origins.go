package handlers

import (
	"net/http"
	"strings"
)

// Origins are the web origins allowed to read the feed from a browser
// (cors.allowed_origins): exact origins, such as "https://example.com",
// and patterns for the subdomains of a site, "https://*.example.com".
type Origins struct {
	exact map[string]bool
	wild  []wildOrigin
}

// wildOrigin is "scheme://*.suffix[:port]": any host under suffix, with
// the same scheme and port.
type wildOrigin struct {
	scheme string // "https"
	suffix string // ".example.com"
	port   string // "" for the scheme's default
}

// NewOrigins reads allowed origins, checked by the configuration (see
// config.checkOrigin): each is an exact origin or a "*." pattern.
func NewOrigins(allowed []string) *Origins {
	o := &Origins{exact: make(map[string]bool)}
	for _, a := range allowed {
		scheme, rest, ok := strings.Cut(a, "://*.")
		if !ok {
			o.exact[a] = true
			continue
		}
		host, port := splitPort(rest)
		o.wild = append(o.wild, wildOrigin{scheme: scheme, suffix: "." + host, port: port})
	}
	return o
}

// Allows reports whether a browser's Origin header names an allowed
// origin. A pattern matches strictly: the scheme and the port must be the
// pattern's, and the host one or more whole labels in front of its
// domain, so that "https://*.example.com" matches "https://a.example.com"
// and "https://a.b.example.com" but never "https://example.com.evil.org",
// "https://evil.com/x.example.com", "https://evilexample.com" or
// "http://a.example.com". Origins are compared as browsers send them
// (RFC 6454 §6.2: lower case, no default port, no path).
func (o *Origins) Allows(origin string) bool {
	if o.exact[origin] {
		return true
	}
	if len(o.wild) == 0 {
		return false
	}
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	host, port := splitPort(rest)
	if !hostName(host) || len(host) < len(rest) && !digits(port) {
		return false
	}
	for _, w := range o.wild {
		if scheme == w.scheme && port == w.port && len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) &&
			!strings.HasSuffix(host[:len(host)-len(w.suffix)], ".") {
			return true
		}
	}
	return false
}

// splitPort splits "host:port" at its port, if it has one.
func splitPort(hostport string) (host, port string) {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		return hostport[:i], hostport[i+1:]
	}
	return hostport, ""
}

// hostName reports whether s is a lower-case DNS name of non-empty labels:
// what a browser puts in an Origin header for a site a pattern may match
// (IP addresses never match a pattern).
func hostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// digits reports whether s is a non-empty string of ASCII digits.
func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// sameOrigin reports whether r's Origin header names the host r was sent
// to: the server's own pages, which need no CORS.
func sameOrigin(r *http.Request) bool {
	_, host, ok := strings.Cut(r.Header.Get("Origin"), "://")
	return ok && host == r.Host
}
