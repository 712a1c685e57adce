package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
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

// CheckOrigin accepts an entry of cors.allowed_origins: a web origin as
// browsers send it (RFC 6454 §6.2), http or https, a host, an optional
// port from 1 to 65535, nothing after; or a pattern for the subdomains of
// a site, "https://*.example.com". Its error says what is wrong, quoting o.
func CheckOrigin(o string) error {
	example := fmt.Errorf("%q is not an origin such as \"https://example.com\", \"http://localhost:3000\" or \"https://*.example.com\"", o)
	wildcard := false
	if scheme, rest, ok := strings.Cut(o, "://*."); ok {
		// The subdomains of a site: the rest must be a host name of at
		// least two labels, so that "https://*.com" is refused.
		if !strings.Contains(strings.Split(rest, ":")[0], ".") {
			return fmt.Errorf("%q: a wildcard must stand for subdomains of a site, such as \"https://*.example.com\"", o)
		}
		o, wildcard = scheme+"://"+rest, true
	} else if strings.Contains(o, "*") {
		return fmt.Errorf("%q: a wildcard may only stand for the subdomains of a site, as in \"https://*.example.com\"", o)
	}
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return example
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be http or https", o)
	}
	if u.Path != "" {
		return fmt.Errorf("%q has a path; an origin ends after the host and port (%s://%s)", o, u.Scheme, u.Host)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.HasSuffix(u.Host, ":") {
		return example
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", o)
		}
	}
	if wildcard && (strings.HasPrefix(u.Host, "[") || net.ParseIP(host) != nil) {
		return fmt.Errorf("%q: a wildcard stands for subdomains, not addresses", o)
	}
	if strings.HasPrefix(u.Host, "[") {
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return fmt.Errorf("%q: %q is not an IPv6 address", o, host)
		}
	} else if !dnsOrIPv4(host) {
		return fmt.Errorf("%q: %q is not a host name (browsers send international names in their xn-- form)", o, host)
	}
	if o != strings.ToLower(o) {
		return fmt.Errorf("%q must be lower case, as browsers send it", o)
	}
	return nil
}

// dnsOrIPv4 reports whether h is a DNS name or IPv4 address as browsers
// send it: dot-separated labels of letters, digits and hyphens.
func dnsOrIPv4(h string) bool {
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return len(h) <= 253
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
	return ownOrigin(r.Header.Get("Origin"), r.Host)
}

// ownOrigin reports whether origin names host, the server's own as a
// request names it.
func ownOrigin(origin, host string) bool {
	_, h, ok := strings.Cut(origin, "://")
	return ok && h == host
}

// maxOriginBytes bounds the origin asked about: the longest host name (253
// bytes, RFC 1035 §2.3.4) with a scheme and a port takes less.
const maxOriginBytes = 300

// OriginAnswer is the answer of GET /api/origin: an origin, and whether a
// page of it may read the feed.
type OriginAnswer struct {
	Origin  string `json:"origin"`
	Allowed bool   `json:"allowed"`
}

// originCheck handles GET /api/origin: whether a page of the asking
// origin (its Origin header), or of the one in ?origin=, may read the feed
// from a browser, by the same check as the feed's CORS (see cors). A
// widget whose stream fails asks it, so that a page on a site not allowed
// says why instead of "reconnecting…" for ever; the console's widget
// builder asks it about the site a widget is for. Anyone may read it,
// from any origin and without credentials: it tells an origin only what
// the browser's refusal of the stream tells it anyway, and nothing of the
// other origins allowed.
func (s *Server) originCheck(w http.ResponseWriter, r *http.Request) {
	setOriginHeaders(w.Header())
	origin, err := askedOrigin(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	allowed := origin != "null" && (s.creds.Load().origins.Allows(origin) || ownOrigin(origin, r.Host))
	writeJSON(w, http.StatusOK, OriginAnswer{Origin: origin, Allowed: allowed})
}

// originPreflight answers a preflight of GET /api/origin (a plain GET
// needs none; a client adding headers does).
func (s *Server) originPreflight(w http.ResponseWriter, r *http.Request) {
	setOriginHeaders(w.Header())
	w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// setOriginHeaders lets any page read /api/origin's answers, errors
// included, without credentials; the answer depends on the Origin header
// and on the configuration (a reload), so it is never cached.
func setOriginHeaders(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Vary", "Origin")
	h.Set("Cache-Control", "no-store")
}

// askedOrigin returns the origin r asks about: its origin parameter, else
// its Origin header ("null", the opaque origin of a sandboxed frame or a
// file, is never allowed). Either is refused unless it is an origin as
// browsers send it (see checkAskedOrigin).
func askedOrigin(r *http.Request) (string, error) {
	q := r.URL.Query()
	for name, v := range q {
		if name != "origin" {
			return "", queryError("unknown parameter %q: the only parameter is origin", name)
		}
		if len(v) > 1 {
			return "", queryError("parameter \"origin\" is given %d times", len(v))
		}
	}
	if v, ok := q["origin"]; ok {
		return v[0], checkAskedOrigin(v[0], "the origin parameter")
	}
	switch h := r.Header.Values("Origin"); {
	case len(h) == 0:
		return "", queryError("the request has no Origin header (a browser sends one from a page of another site): ask about a site with ?origin=, such as ?origin=https://www.example.com")
	case len(h) > 1:
		return "", queryError("the Origin header is given %d times", len(h))
	case h[0] == "null":
		return h[0], nil
	default:
		return h[0], checkAskedOrigin(h[0], "the Origin header")
	}
}

// checkAskedOrigin refuses what is not an origin as browsers send it in an
// Origin header (RFC 6454 §6.2): http or https, a lower-case host, a port
// unless it is the scheme's default, nothing after; what says where it
// was read, for the message.
func checkAskedOrigin(o, what string) error {
	switch {
	case o == "":
		return queryError("%s is empty: give an origin such as https://www.example.com", what)
	case len(o) > maxOriginBytes:
		return queryError("%s is %d bytes long: an origin (a scheme, a host and a port) is at most %d", what, len(o), maxOriginBytes)
	case strings.Contains(o, "*"):
		return queryError("%s %q is a pattern: ask about one site's origin, such as https://www.example.com", what, o)
	}
	if err := CheckOrigin(o); err != nil {
		return queryError("%s: %v", what, err)
	}
	scheme, rest, _ := strings.Cut(o, "://")
	if port := map[string]string{"http": ":80", "https": ":443"}[scheme]; strings.HasSuffix(rest, port) {
		return queryError("%s %q has the default port of %s: browsers send the origin without it, %s://%s", what, o, scheme, scheme, strings.TrimSuffix(rest, port))
	}
	return nil
}
