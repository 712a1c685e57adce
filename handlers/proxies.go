package handlers

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies whose word the server takes about a
// request: who its client is (for the per-address limits, the sign-in
// throttle and the logs) and whether the client came over TLS (for
// Secure cookies). From any other peer the headers are ignored, since
// anyone can send them.
type Proxies struct {
	// Trusted are the proxies' addresses, as prefixes (an address alone
	// is a /32 or /128); see ParseTrusted.
	Trusted []netip.Prefix
	// ClientIPHeader is the header in which they pass the client's
	// address, X-Forwarded-For when empty. Each proxy appends the address
	// it saw; the client is the nearest address that is not a trusted
	// proxy's.
	ClientIPHeader string
}

// ParseTrusted reads a list of trusted proxies: IP addresses ("10.0.0.5",
// "::1") and CIDR prefixes ("10.0.0.0/8", "fd00::/8"). Host names are not
// looked up: a proxy is trusted for its address, not for a name someone
// else may point. Each error starts with the entry's index, "[2]: ...".
func ParseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range list {
		p, err := parseTrusted(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func parseTrusted(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or a CIDR prefix such as \"10.0.0.0/8\" (host names are not looked up)", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix such as \"10.0.0.0/8\" or \"fd00::/8\"", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has bits set after its prefix length: write %q", s, p.Masked().String())
	}
	if a := p.Addr(); a.Is4In6() {
		// ::ffff:10.0.0.0/104 is 10.0.0.0/8: peers are compared
		// unmapped. (A shorter prefix, masked, is no longer mapped.)
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96), nil
	}
	return p, nil
}

// proxies are Proxies made ready for requests: the header's canonical
// name. A Server holds them behind an atomic pointer, swapped whole by
// SetProxies.
type proxies struct {
	trusted []netip.Prefix
	header  string
}

// SetProxies replaces the proxies the server trusts; requests under way
// finish with the ones they started with.
func (s *Server) SetProxies(p Proxies) {
	header := p.ClientIPHeader
	if header == "" {
		header = "X-Forwarded-For"
	}
	s.proxies.Store(&proxies{trusted: p.Trusted, header: http.CanonicalHeaderKey(header)})
}

// trusts reports whether a is the address of a trusted proxy.
func (p *proxies) trusts(a netip.Addr) bool {
	for _, t := range p.trusted {
		if t.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the address of the connection's peer: invalid if RemoteAddr is
// not an IP address and port (a test's fake connection).
func peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().WithZone("").Unmap()
}

// client returns the address of the request's client, and whether the
// connection's peer is a trusted proxy. From a trusted proxy, the
// client's address header is read from its right end, where the nearest
// proxy appended the address it saw, leftwards over the addresses of
// trusted proxies: the client is the first address that is not one. The
// entries left of it were sent by the client or by proxies not trusted,
// so they are never looked at. An entry that is not an address ends the
// walk at the last trusted proxy's address; a header of trusted
// addresses only gives its leftmost one.
func (p *proxies) client(r *http.Request) (addr netip.Addr, fromProxy bool) {
	addr = peer(r)
	if !addr.IsValid() || !p.trusts(addr) {
		return addr, false
	}
	values := r.Header[p.header]
	for i := len(values) - 1; i >= 0; i-- {
		for rest := values[i]; rest != ""; {
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" {
				continue // an empty list element (RFC 9110 §5.6.1)
			}
			a, ok := forwardedAddr(entry)
			if !ok {
				return addr, true
			}
			addr = a
			if !p.trusts(a) {
				return addr, true
			}
		}
	}
	return addr, true
}

// forwardedAddr parses an entry of X-Forwarded-For as proxies write it:
// an IPv4 or IPv6 address, possibly in brackets, possibly with a port.
func forwardedAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		} else {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(s)
			a = ap.Addr()
		}
	}
	if err != nil || !a.IsValid() {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// clientIP is the address a request comes from, as text: the connection's
// peer, or behind a trusted proxy the client's address the proxies pass
// on (see proxies.client).
func (s *Server) clientIP(r *http.Request) string {
	if a, _ := s.proxies.Load().client(r); a.IsValid() {
		return a.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// overTLS reports whether the client reached the server over TLS: the
// connection is TLS, or a trusted proxy says in X-Forwarded-Proto (as
// the nearest proxy set it: its last entry) that the client's was.
func (s *Server) overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	p := s.proxies.Load()
	if a := peer(r); !a.IsValid() || !p.trusts(a) {
		return false
	}
	values := r.Header["X-Forwarded-Proto"]
	if len(values) == 0 {
		return false
	}
	last := values[len(values)-1]
	if j := strings.LastIndexByte(last, ','); j >= 0 {
		last = last[j+1:]
	}
	return strings.EqualFold(strings.Trim(last, " \t"), "https")
}

// forwardingHeaders are headers that proxies add: a request with any of
// them came through a proxy.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip"}

// local reports whether the request's client is on this machine: its
// address is a loopback address, as the trusted proxies pass it on or,
// for a request no proxy forwarded, as the connection's peer. A request
// with a header that proxies add, which did not get its client's address
// from a trusted proxy, is not local: a proxy on this machine that is not
// listed in trusted_proxies (or that does not pass the address on)
// forwards requests from anywhere. One that adds no header at all cannot
// be told from a local client.
func (s *Server) local(r *http.Request) bool {
	p := s.proxies.Load()
	a, fromProxy := p.client(r)
	if !a.IsLoopback() {
		return false
	}
	if fromProxy && r.Header.Get(p.header) != "" {
		return true
	}
	if r.Header.Get(p.header) != "" {
		return false
	}
	for _, h := range forwardingHeaders {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
}
