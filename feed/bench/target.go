package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target is the livefeed server under test, reached over real sockets.
type Target struct {
	// Addr is the host:port to dial; Host the Host header to send.
	Addr, Host string
	// Token is the publish token.
	Token string
	// OpsToken, if set, is sent with /healthz and /metrics: a server
	// gives their figures only to clients on its machine and to holders
	// of its server.ops_token.
	OpsToken string
	// sources are local addresses subscriber connections are spread over,
	// so 10,000 connections to one port do not exhaust the ephemeral
	// ports of one source address (about 28,000 on Linux, and closed ones
	// linger in TIME_WAIT for a minute). Empty: the kernel chooses.
	sources []net.IP
}

// NewTarget parses the server's base URL. With sourceIPs > 1 and a
// loopback target, connections are spread over 127.0.0.1 to
// 127.0.0.sourceIPs (all of 127.0.0.0/8 is the loopback interface on
// Linux).
func NewTarget(baseURL, token string, sourceIPs int) (*Target, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("-url %q: the load tool speaks plain http:// (HTTP/1.1) only", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("-url %q has no host", baseURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	t := &Target{Addr: addr, Host: u.Host, Token: token}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil && sourceIPs > 1 {
		for i := 1; i <= min(sourceIPs, 254); i++ {
			t.sources = append(t.sources, net.IPv4(127, 0, 0, byte(i)))
		}
	}
	return t, nil
}

// Loopback reports whether the server is on this machine's loopback
// interface, where its sockets can be seen in /proc/net/tcp.
func (t *Target) Loopback() bool {
	host, _, _ := net.SplitHostPort(t.Addr)
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 24

// Dial connects to the server. n picks the source address (connection n
// of a workload uses source n modulo their number); rcvBuf, if positive,
// sets SO_RCVBUF before connecting, which is when it bounds the window the
// connection advertises.
func (t *Target) Dial(ctx context.Context, n int, rcvBuf int) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if len(t.sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: t.sources[n%len(t.sources)]}
	}
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if d.LocalAddr != nil {
				// Choose the port at connect, not at bind: bind alone
				// must find a port free for every destination, a scan
				// that gets slow with thousands of connections open.
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			}
			if rcvBuf > 0 && serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	return d.DialContext(ctx, "tcp", t.Addr)
}

// eventsRequest is the request of an event stream for topic, with query
// added to its query string ("&conflate=1s", or ""), resuming after
// position if resume is set.
func (t *Target) eventsRequest(topic, query string, resume bool, position int64) []byte {
	b := fmt.Appendf(nil, "GET /events?topic=%s%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nUser-Agent: livefeed-bench\r\n",
		url.QueryEscape(topic), query, t.Host)
	if resume {
		b = fmt.Appendf(b, "Last-Event-ID: %d\r\n", position)
	}
	return append(b, "\r\n"...)
}

// ResponseHead is the status and the headers the load tool looks at.
type ResponseHead struct {
	Status        int
	ContentLength int64 // -1 if absent
	Chunked       bool
	Close         bool
}

// ParseResponseHead reads an HTTP/1.1 status line and headers, head being
// everything before the blank line. It looks only at what the load tool
// needs, so that reading a publish acknowledgement costs little.
func ParseResponseHead(head []byte) (ResponseHead, error) {
	h := ResponseHead{ContentLength: -1}
	s := string(head)
	line, rest, _ := strings.Cut(s, "\r\n")
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' {
		return h, fmt.Errorf("not an HTTP/1.x response: %q", truncate(line, 60))
	}
	for i := 9; i < 12; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return h, fmt.Errorf("bad status line %q", truncate(line, 60))
		}
		h.Status = h.Status*10 + int(c-'0')
	}
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Content-Length"):
			var n int64
			for _, c := range []byte(value) {
				if c < '0' || c > '9' {
					return h, fmt.Errorf("bad Content-Length %q", value)
				}
				n = n*10 + int64(c-'0')
			}
			h.ContentLength = n
		case strings.EqualFold(name, "Transfer-Encoding"):
			h.Chunked = strings.Contains(strings.ToLower(value), "chunked")
		case strings.EqualFold(name, "Connection"):
			h.Close = strings.EqualFold(value, "close")
		}
	}
	return h, nil
}

// Health is what GET /healthz reports.
type Health struct {
	LastID      int64 `json:"last_id"`
	Subscribers int64 `json:"subscribers"`
	// PID is the server's process ID.
	PID int `json:"pid"`
}

// Health asks the server for its health figures.
func (t *Target) Health(ctx context.Context) (Health, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return t.Dial(ctx, 0, 0) },
	}}
	defer client.CloseIdleConnections()
	req, err := t.opsRequest(ctx, "/healthz")
	if err != nil {
		return Health{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Health{}, err
	}
	defer resp.Body.Close()
	var h Health
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, err
	}
	if h.PID == 0 {
		return h, fmt.Errorf("GET /healthz answered without its figures: the server gives them only to clients on its machine and to holders of its server.ops_token (set %s)", EnvOpsToken)
	}
	return h, nil
}

// EnvOpsToken is the environment variable the load tool takes the
// server's ops token from.
const EnvOpsToken = "LIVEFEED_OPS_TOKEN"

// opsRequest is a GET of an operations endpoint, with the ops token.
func (t *Target) opsRequest(ctx context.Context, path string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Host+path, nil)
	if err == nil && t.OpsToken != "" {
		req.Header.Set("Authorization", "Bearer "+t.OpsToken)
	}
	return req, err
}

// Metrics reads the server's /metrics: each sample line's value by its
// name with labels as written (`livefeed_streams_closed_total{reason="lag"}`).
func (t *Target) Metrics(ctx context.Context) (map[string]float64, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return t.Dial(ctx, 0, 0) },
	}}
	defer client.CloseIdleConnections()
	req, err := t.opsRequest(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	return ParseMetrics(string(body)), nil
}

// ParseMetrics reads the samples of a Prometheus text exposition; comment
// lines and lines it cannot read are skipped.
func ParseMetrics(text string) map[string]float64 {
	m := make(map[string]float64)
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}
