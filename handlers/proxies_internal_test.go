package handlers

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// proxied returns a server trusting the proxies trusted (as in the
// configuration) and passing the client's address in header.
func proxied(t testing.TB, header string, trusted ...string) *Server {
	t.Helper()
	prefixes, err := ParseTrusted(trusted)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	s.SetProxies(Proxies{Trusted: prefixes, ClientIPHeader: header})
	return s
}

// request is a GET from remote with the header lines kv (name, value,
// ...; a name may come several times).
func request(remote string, kv ...string) *http.Request {
	r := httptest.NewRequest("GET", "/events", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

func TestParseTrusted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string // want: the prefix; err: a substring
	}{
		{"10.0.0.5", "10.0.0.5/32", ""},
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"::1", "::1/128", ""},
		{"fd00::/8", "fd00::/8", ""},
		{"::ffff:10.0.0.1", "10.0.0.1/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"0.0.0.0/0", "0.0.0.0/0", ""},
		{"", "", "is not an IP address"},
		{"proxy.internal", "", "host names are not looked up"},
		{" 10.0.0.5", "", "is not an IP address"},
		{"10.0.0.5:80", "", "is not an IP address"},
		{"10.0.0.1/8", "", `write "10.0.0.0/8"`},
		{"10.0.0.0/33", "", "is not a CIDR prefix"},
		{"10.0.0.0/", "", "is not a CIDR prefix"},
		{"fe80::1%eth0", "", "is not an IP address"},
		{"::ffff:0:0/95", "", `write "::fffe:0:0/95"`},
		{"::ffff:0:0/96", "0.0.0.0/0", ""},
		{"*", "", "is not an IP address"},
		{"010.0.0.1", "", "is not an IP address"},
	} {
		got, err := ParseTrusted([]string{"192.0.2.1", tc.in})
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), "[1]: ") || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want an error of entry [1] with %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || len(got) != 2 || got[1].String() != tc.want):
			t.Errorf("%q: %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	const xff = "X-Forwarded-For"
	for _, tc := range []struct {
		name      string
		trusted   []string
		header    string   // the configured header, "" for X-Forwarded-For
		remote    string   // the connection's peer
		kv        []string // request header lines
		want      string
		fromProxy bool
	}{
		{"NoProxies", nil, "", "192.0.2.1:5000", []string{xff, "203.0.113.9"}, "192.0.2.1", false},
		{"UntrustedPeerSpoofs", []string{"10.0.0.0/8"}, "", "192.0.2.1:5000", []string{xff, "203.0.113.9", "X-Real-IP", "203.0.113.8"}, "192.0.2.1", false},
		{"TrustedPeer", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "203.0.113.9"}, "203.0.113.9", true},
		{"ClientPrependsSpoof", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "127.0.0.1, 10.0.0.9, 203.0.113.9"}, "203.0.113.9", true},
		{"ChainOfTrusted", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "1.2.3.4, 203.0.113.9, 10.0.0.7"}, "203.0.113.9", true},
		{"AllTrusted", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "10.0.0.8, 10.0.0.7"}, "10.0.0.8", true},
		{"NoHeader", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", nil, "10.0.0.5", true},
		{"NotAnAddress", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "203.0.113.9, unknown"}, "10.0.0.5", true},
		{"NotAnAddressAfterAHop", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "203.0.113.9, unknown, 10.0.0.7"}, "10.0.0.7", true},
		{"NotAnAddressLeftOfClient", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "<script>, 203.0.113.9"}, "203.0.113.9", true},
		{"TwoLines", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "1.2.3.4", xff, "203.0.113.9"}, "203.0.113.9", true},
		{"TwoLinesTrustedLast", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "203.0.113.9", xff, "10.0.0.7"}, "203.0.113.9", true},
		{"Ports", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "203.0.113.9:5555"}, "203.0.113.9", true},
		{"IPv6BracketsPort", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "[2001:db8::1]:443"}, "2001:db8::1", true},
		{"IPv6Brackets", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "[2001:db8::2]"}, "2001:db8::2", true},
		{"IPv4Mapped", []string{"10.0.0.0/8"}, "", "[::ffff:10.0.0.5]:5000", []string{xff, "::ffff:203.0.113.9"}, "203.0.113.9", true},
		{"Zone", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "fe80::1%eth0"}, "fe80::1", true},
		{"EmptyElements", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, " ,203.0.113.9, ,\t"}, "203.0.113.9", true},
		{"Tabs", []string{"10.0.0.0/8"}, "", "10.0.0.5:5000", []string{xff, "\t203.0.113.9\t"}, "203.0.113.9", true},
		{"IPv6Peer", []string{"::1"}, "", "[::1]:5000", []string{xff, "2001:db8::5"}, "2001:db8::5", true},
		{"OtherHeader", []string{"127.0.0.1"}, "X-Real-IP", "127.0.0.1:5000", []string{xff, "198.51.100.1", "X-Real-IP", "203.0.113.9"}, "203.0.113.9", true},
		{"OtherHeaderLowerCase", []string{"127.0.0.1"}, "x-real-ip", "127.0.0.1:5000", []string{"X-Real-IP", "203.0.113.9"}, "203.0.113.9", true},
		{"NotAPeerAddress", []string{"0.0.0.0/0", "::/0"}, "", "pipe", []string{xff, "203.0.113.9"}, "pipe", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := proxied(t, tc.header, tc.trusted...)
			r := request(tc.remote, tc.kv...)
			if got := s.clientIP(r); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
			if _, fromProxy := s.proxies.Load().client(r); fromProxy != tc.fromProxy {
				t.Errorf("from a proxy: %v, want %v", fromProxy, tc.fromProxy)
			}
		})
	}
}

func TestOverTLS(t *testing.T) {
	t.Parallel()
	const xfp = "X-Forwarded-Proto"
	for _, tc := range []struct {
		name   string
		remote string
		tls    bool
		kv     []string
		want   bool
	}{
		{"Plain", "10.0.0.5:5000", false, nil, false},
		{"TLS", "192.0.2.1:5000", true, nil, true},
		{"TrustedHTTPS", "10.0.0.5:5000", false, []string{xfp, "https"}, true},
		{"TrustedHTTPSUpperCase", "10.0.0.5:5000", false, []string{xfp, " HTTPS "}, true},
		{"TrustedHTTP", "10.0.0.5:5000", false, []string{xfp, "http"}, false},
		{"UntrustedHTTPS", "192.0.2.1:5000", false, []string{xfp, "https"}, false},
		{"NearestSaysHTTP", "10.0.0.5:5000", false, []string{xfp, "https, http"}, false},
		{"NearestSaysHTTPS", "10.0.0.5:5000", false, []string{xfp, "http,https"}, true},
		{"NearestLine", "10.0.0.5:5000", false, []string{xfp, "https", xfp, "http"}, false},
		{"Other", "10.0.0.5:5000", false, []string{xfp, "httpsx"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.remote, tc.kv...)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := proxied(t, "", "10.0.0.0/8").overTLS(r); got != tc.want {
				t.Errorf("overTLS = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	const xff = "X-Forwarded-For"
	for _, tc := range []struct {
		name    string
		trusted []string
		remote  string
		kv      []string
		want    bool
	}{
		{"Loopback", nil, "127.0.0.1:5000", nil, true},
		{"LoopbackIPv6", nil, "[::1]:5000", nil, true},
		{"Loopback127Slash8", nil, "127.0.0.2:5000", nil, true},
		{"Network", nil, "192.0.2.1:5000", nil, false},
		{"UnspecifiedIsNotLocal", nil, "0.0.0.0:5000", nil, false},
		// A proxy on this machine that is not trusted forwards
		// requests from anywhere.
		{"UntrustedProxyXFF", nil, "127.0.0.1:5000", []string{xff, "127.0.0.1"}, false},
		{"UntrustedProxyProto", nil, "127.0.0.1:5000", []string{"X-Forwarded-Proto", "https"}, false},
		{"UntrustedProxyForwarded", nil, "127.0.0.1:5000", []string{"Forwarded", "for=192.0.2.1"}, false},
		{"UntrustedProxyRealIP", nil, "127.0.0.1:5000", []string{"X-Real-IP", "192.0.2.1"}, false},
		{"TrustedProxyForNetwork", []string{"127.0.0.1"}, "127.0.0.1:5000", []string{xff, "203.0.113.9"}, false},
		{"TrustedProxyForLoopback", []string{"127.0.0.1"}, "127.0.0.1:5000", []string{xff, "127.0.0.1"}, true},
		{"TrustedProxySpoofedLoopback", []string{"127.0.0.1"}, "127.0.0.1:5000", []string{xff, "127.0.0.1, 203.0.113.9"}, false},
		// A trusted proxy that passes no address could be forwarding
		// anyone; a request without any proxy's header is a local
		// client's.
		{"TrustedProxyProtoOnly", []string{"127.0.0.1"}, "127.0.0.1:5000", []string{"X-Forwarded-Proto", "https"}, false},
		{"TrustedProxyOtherHeaderOnly", []string{"127.0.0.1"}, "127.0.0.1:5000", []string{"X-Real-IP", "203.0.113.9"}, false},
		{"TrustedPeerNoHeader", []string{"127.0.0.1"}, "127.0.0.1:5000", nil, true},
		{"TrustedRemotePeerNoHeader", []string{"10.0.0.0/8"}, "10.0.0.5:5000", nil, false},
		{"NotAPeerAddress", nil, "pipe", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := proxied(t, "", tc.trusted...).local(request(tc.remote, tc.kv...)); got != tc.want {
				t.Errorf("local = %v, want %v", got, tc.want)
			}
		})
	}
}

// referenceClient is proxies.client written plainly: the header's lines
// joined, split at every comma, walked from the right.
func referenceClient(trusted []netip.Prefix, peer netip.Addr, lines []string) netip.Addr {
	trusts := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	if !peer.IsValid() || !trusts(peer) {
		return peer
	}
	addr := peer
	entries := strings.Split(strings.Join(lines, ","), ",")
	for i := len(entries) - 1; i >= 0; i-- {
		e := strings.Trim(entries[i], " \t")
		if e == "" {
			continue
		}
		a, ok := forwardedAddr(e)
		if !ok {
			return addr
		}
		if addr = a; !trusts(a) {
			return a
		}
	}
	return addr
}

// FuzzClientAddress: the client's address is the reference walk's, the
// peer's when the peer is not trusted, and is never one the header does
// not hold (or the peer); an entry that parses is an address without a
// zone or an IPv4-mapped form, which prints as it parses.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.0.0.5:5000", "203.0.113.9")
	f.Add("10.0.0.5:5000", "1.2.3.4, 203.0.113.9, 10.0.0.7")
	f.Add("10.0.0.5:5000", "10.0.0.8,10.0.0.7")
	f.Add("10.0.0.5:5000", "203.0.113.9, unknown")
	f.Add("10.0.0.5:5000", "1.2.3.4\n203.0.113.9")
	f.Add("[::1]:1", "[2001:db8::1]:443, ::ffff:10.0.0.1")
	f.Add("[::ffff:10.0.0.5]:1", "fe80::1%eth0,,\t,")
	f.Add("192.0.2.1:5000", "203.0.113.9")
	f.Add("192.0.2.7:1", "192.0.2.7, 192.0.2.7:80, [192.0.2.7]")
	f.Add("pipe", "203.0.113.9")
	f.Add("10.0.0.5:5000", "[::1")
	trusted := []string{"10.0.0.0/8", "::1", "192.0.2.7"}
	f.Fuzz(func(t *testing.T, remote, header string) {
		s := proxied(t, "", trusted...)
		lines := strings.Split(header, "\n")
		r := request(remote)
		for _, l := range lines {
			r.Header.Add("X-Forwarded-For", l)
		}
		p := s.proxies.Load()
		got, fromProxy := p.client(r)
		if want := referenceClient(p.trusted, peer(r), lines); got != want {
			t.Fatalf("client %v, the reference walk %v", got, want)
		}
		if !fromProxy && got != peer(r) {
			t.Fatalf("from an untrusted peer %q: %v", remote, got)
		}
		if got.IsValid() && got != peer(r) && !strings.Contains(header, strings.TrimPrefix(got.String(), "::ffff:")) {
			// The header holds it, possibly written another way.
			found := false
			for _, e := range strings.FieldsFunc(header, func(c rune) bool { return c == ',' || c == '\n' }) {
				if a, ok := forwardedAddr(strings.Trim(e, " \t")); ok && a == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("client %v is neither the peer nor in the header %q", got, header)
			}
		}
		for _, e := range strings.FieldsFunc(header, func(c rune) bool { return c == ',' || c == '\n' }) {
			if a, ok := forwardedAddr(strings.Trim(e, " \t")); ok {
				if a.Zone() != "" || a.Is4In6() {
					t.Fatalf("entry %q parsed as %v", e, a)
				}
				if b, ok := forwardedAddr(a.String()); !ok || b != a {
					t.Fatalf("entry %q parsed as %v, which parses as %v %v", e, a, b, ok)
				}
			}
		}
	})
}

// FuzzParseTrusted: an entry is refused or is a prefix with no bits set
// after its length, which parses back as itself.
func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"10.0.0.5", "10.0.0.0/8", "::1", "fd00::/8", "::ffff:10.0.0.0/104", "10.0.0.1/8", "fe80::1%eth0", "proxy.internal", "0.0.0.0/0", "::ffff:0:0/95", "1.2.3.4/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTrusted([]string{s})
		if err != nil {
			return
		}
		p := got[0]
		if p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("%q: %v", s, p)
		}
		again, err := ParseTrusted([]string{p.String()})
		if err != nil || again[0] != p {
			t.Fatalf("%q: %v, which parses as %v %v", s, p, again, err)
		}
	})
}
