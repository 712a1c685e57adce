package handlers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/handlers"
	"livefeed/store"
)

const opsToken = "ops-token-for-the-tests-0123456789"

// get sends GET path to base with the header lines kv and returns the
// status and body.
func getWith(t *testing.T, c *http.Client, base, path string, kv ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOpsDetailRestricted: /healthz's figures (the newest ID, streams,
// the PID) and /metrics go to clients on the server's machine and to
// holders of the ops token; anyone else gets /healthz's status alone and
// no metrics (401 when a token would open them, 403 when none is set).
// Before, anyone learnt the newest ID, and from it the volume of private
// events between the public ones they saw.
func TestOpsDetailRestricted(t *testing.T) {
	t.Parallel()
	const short = "{\"status\":\"ok\"}\n"
	remote := []string{"X-Forwarded-For", "203.0.113.9"} // through the trusted proxy
	bearer := func(tok string) []string { return append([]string{"Authorization", "Bearer " + tok}, remote...) }
	for _, tc := range []struct {
		name     string
		opts     handlers.Options
		kv       []string
		detail   bool
		metrics  int // status of /metrics without the detail
		metricsE string
	}{
		{"Local", handlers.Options{OpsToken: opsToken}, nil, true, 0, ""},
		{"LocalWithTrustedProxy", handlers.Options{OpsToken: opsToken, Proxies: loopbackProxy}, []string{"X-Forwarded-For", "127.0.0.1"}, true, 0, ""},
		{"Remote", handlers.Options{OpsToken: opsToken, Proxies: loopbackProxy}, remote, false, 401, "Authorization: Bearer TOKEN"},
		{"RemoteWithToken", handlers.Options{OpsToken: opsToken, Proxies: loopbackProxy}, bearer(opsToken), true, 0, ""},
		{"RemoteWithTokenLowerCase", handlers.Options{OpsToken: opsToken, Proxies: loopbackProxy}, []string{"Authorization", "bearer " + opsToken, "X-Forwarded-For", "203.0.113.9"}, true, 0, ""},
		{"RemoteWithWrongToken", handlers.Options{OpsToken: opsToken, Proxies: loopbackProxy}, bearer(opsToken + "x"), false, 401, "ops token"},
		{"RemoteWithPublishToken", handlers.Options{OpsToken: opsToken, Proxies: loopbackProxy}, bearer(token), false, 401, "ops token"},
		{"RemoteNoOpsToken", handlers.Options{Proxies: loopbackProxy}, bearer(""), false, 403, "set server.ops_token"},
		// A proxy on this machine that is not trusted forwards requests
		// from anywhere: they are not local.
		{"UntrustedLocalProxy", handlers.Options{OpsToken: opsToken}, remote, false, 401, "ops token"},
		{"UntrustedLocalProxyForwarded", handlers.Options{}, []string{"Forwarded", "for=203.0.113.9"}, false, 403, "set server.ops_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tc.opts, false)
			a.publish(t, "Bearer "+token, scoreBody)
			waitHubAt(t, a, 1)
			status, body := getWith(t, a.Client(), a.URL, "/healthz", tc.kv...)
			if status != 200 {
				t.Fatalf("/healthz: %d %s", status, body)
			}
			if tc.detail != strings.Contains(body, `"last_id":1`) || !tc.detail && body != short {
				t.Errorf("/healthz: %s, detail %v", body, tc.detail)
			}
			status, body = getWith(t, a.Client(), a.URL, "/metrics", tc.kv...)
			switch {
			case tc.detail && (status != 200 || !strings.Contains(body, "livefeed_last_event_id 1\n")):
				t.Errorf("/metrics: %d %.200s", status, body)
			case !tc.detail && (status != tc.metrics || !strings.Contains(body, tc.metricsE) || strings.Contains(body, "livefeed_")):
				t.Errorf("/metrics: %d %s, want %d with %q", status, body, tc.metrics, tc.metricsE)
			}
			if strings.Contains(body, opsToken) {
				t.Errorf("the answer holds the ops token: %s", body)
			}
		})
	}
}

// waitHubAt waits until the hub has heard of event id (the publisher is
// answered first).
func waitHubAt(t *testing.T, a *app, id int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.hub.Stats().LastID < id {
		if time.Now().After(deadline) {
			t.Fatalf("the hub never heard of event %d", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOpsDetailOverNetwork: a client on another address than loopback,
// without proxies at all, gets no detail. It runs where the machine has
// an address other than loopback to connect from.
func TestOpsDetailOverNetwork(t *testing.T) {
	t.Parallel()
	var ln net.Listener
	addrs, _ := net.InterfaceAddrs()
	for _, addr := range addrs {
		ip, ok := addr.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.IsLinkLocalUnicast() || ip.IP.To4() == nil {
			continue
		}
		if l, err := net.Listen("tcp", net.JoinHostPort(ip.IP.String(), "0")); err == nil {
			ln = l
			break
		}
	}
	if ln == nil {
		t.Skip("this machine has no IPv4 address but loopback to connect from")
	}
	a := newApp(t, handlers.Options{OpsToken: opsToken}, false)
	srv := httptest.NewUnstartedServer(a.server.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	if status, body := getWith(t, srv.Client(), srv.URL, "/healthz"); status != 200 || body != "{\"status\":\"ok\"}\n" {
		t.Errorf("/healthz from %s: %d %s", ln.Addr(), status, body)
	}
	if status, _ := getWith(t, srv.Client(), srv.URL, "/metrics"); status != 401 {
		t.Errorf("/metrics from %s: %d, want 401", ln.Addr(), status)
	}
	if status, body := getWith(t, srv.Client(), srv.URL, "/healthz", "Authorization", "Bearer "+opsToken); status != 200 || !strings.Contains(body, `"pid":`) {
		t.Errorf("/healthz with the ops token: %d %s", status, body)
	}
}

// notReadyHistory is a store whose health check fails, telling where a
// cluster node is in the log, as one catching up does.
type notReadyHistory struct{ *store.Store }

func (notReadyHistory) Ping(context.Context) error {
	return feed.Errorf(feed.ErrUnavailable, "this node is catching up with the cluster's log (at %d of %d)", 1234, 5678)
}

// storeAndHub opens a store and a hub for a server the test builds with
// backends of its own, closed when the test ends.
func storeAndHub(t *testing.T) (*store.Store, *fanout.Hub) {
	t.Helper()
	hub := fanout.NewHub(fanout.Options{})
	st, err := store.Open(filepath.Join(t.TempDir(), "feed.db"), store.Options{})
	if err != nil {
		hub.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close(); st.Close() })
	return st, hub
}

// TestOpsNotReadyRestricted: a server that cannot serve answers /healthz
// with 503 to everyone, and says why (with its place in the log) only to
// clients allowed the detail.
func TestOpsNotReadyRestricted(t *testing.T) {
	t.Parallel()
	st, hub := storeAndHub(t)
	server := handlers.New(handlers.Backends{Log: st, History: notReadyHistory{st}, Sessions: st, Hub: hub}, handlers.Options{Proxies: loopbackProxy, OpsToken: opsToken})
	srv := httptest.NewServer(server.Handler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name string
		kv   []string
		want string
	}{
		{"Local", nil, "at 1234 of 5678"},
		{"RemoteWithToken", []string{"X-Forwarded-For", "203.0.113.9", "Authorization", "Bearer " + opsToken}, "at 1234 of 5678"},
		{"Remote", []string{"X-Forwarded-For", "203.0.113.9"}, `{"error":"the server cannot serve now"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := getWith(t, srv.Client(), srv.URL, "/healthz", tc.kv...)
			if status != http.StatusServiceUnavailable || !strings.Contains(body, tc.want) {
				t.Errorf("/healthz: %d %s, want 503 with %q", status, body, tc.want)
			}
		})
	}
}
