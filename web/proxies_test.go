package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// nginxDirective is one directive of an nginx configuration, with the
// directives of its block, if it has one.
type nginxDirective struct {
	name  string
	args  []string
	block []nginxDirective
}

// parseNginx reads an nginx configuration: directives of words and
// quoted strings ending in ";" or a block in braces, "#" comments.
func parseNginx(text string) ([]nginxDirective, error) {
	var tokens []string
	for i := 0; i < len(text); {
		switch c := text[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			tokens = append(tokens, string(c))
			i++
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(text) && text[j] != c {
				if text[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(text) {
				return nil, fmt.Errorf("the string at %d is not closed", i)
			}
			tokens = append(tokens, text[i+1:j])
			i = j + 1
		default:
			j := i
			for j < len(text) && !strings.ContainsRune(" \t\r\n;{}#\"'", rune(text[j])) {
				j++
			}
			tokens = append(tokens, text[i:j])
			i = j
		}
	}
	var parse func(depth int) ([]nginxDirective, error)
	parse = func(depth int) ([]nginxDirective, error) {
		var out []nginxDirective
		var words []string
		for len(tokens) > 0 {
			tok := tokens[0]
			tokens = tokens[1:]
			switch tok {
			case ";", "{":
				if len(words) == 0 {
					return nil, fmt.Errorf("%q with no directive before it", tok)
				}
				d := nginxDirective{name: words[0], args: words[1:]}
				if tok == "{" {
					var err error
					if d.block, err = parse(depth + 1); err != nil {
						return nil, err
					}
				}
				out = append(out, d)
				words = nil
			case "}":
				if depth == 0 || len(words) > 0 {
					return nil, fmt.Errorf("an unexpected } after %q", words)
				}
				return out, nil
			default:
				words = append(words, tok)
			}
		}
		if depth > 0 || len(words) > 0 {
			return nil, fmt.Errorf("the configuration ends inside a directive or block")
		}
		return out, nil
	}
	return parse(0)
}

// find returns the directives named name among ds.
func find(ds []nginxDirective, name string, args ...string) []nginxDirective {
	var out []nginxDirective
	for _, d := range ds {
		if d.name == name && (len(args) == 0 || slices.Equal(d.args, args)) {
			out = append(out, d)
		}
	}
	return out
}

// proxyConfig returns the configuration livefeed is told to run with in
// the comments of a proxy's snippet (the lines indented under "#   "),
// as livefeed loads it.
func proxyConfig(t *testing.T, snippet string) config.Config {
	t.Helper()
	var toml []string
	for line := range strings.SplitSeq(snippet, "\n") {
		if rest, ok := strings.CutPrefix(line, "#   "); ok {
			toml = append(toml, rest)
		}
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(strings.Join(toml, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, true, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the configuration the comments give livefeed: %v\n%s", err, strings.Join(toml, "\n"))
	}
	if !slices.Contains(cfg.Server.TrustedProxies, "127.0.0.1") {
		t.Errorf("the comments' configuration trusts %q, not the proxy on this machine", cfg.Server.TrustedProxies)
	}
	return cfg
}

// TestNginxSnippet: the nginx snippet has what event streams, streaming
// publishes and livefeed's trust in its proxy need, and tells livefeed
// to trust it where it sends requests.
func TestNginxSnippet(t *testing.T) {
	text := readOps(t, "nginx.conf")
	top, err := parseNginx(text)
	if err != nil {
		t.Fatalf("nginx.conf: %v", err)
	}
	cfg := proxyConfig(t, text)
	upstreams := find(top, "upstream", "livefeed")
	if len(upstreams) != 1 || len(find(upstreams[0].block, "server", cfg.Server.Address)) != 1 {
		t.Fatalf("nginx.conf: want one upstream livefeed, its server the address livefeed is told to listen on (%s)", cfg.Server.Address)
	}
	var tlsServers []nginxDirective
	for _, s := range find(top, "server") {
		overTLS := false
		for _, l := range find(s.block, "listen") {
			if slices.Contains(l.args, "ssl") {
				overTLS = true
				if !slices.Contains(l.args, "http2") {
					t.Errorf("listen %s: without http2, a browser's six connections a site limit its event streams", strings.Join(l.args, " "))
				}
			}
		}
		if overTLS {
			tlsServers = append(tlsServers, s)
		}
	}
	if len(tlsServers) != 1 {
		t.Fatalf("nginx.conf: want one server with TLS, found %d", len(tlsServers))
	}
	server := tlsServers[0].block
	want := func(where string, ds []nginxDirective, name string, args ...string) {
		if len(find(ds, name, args...)) != 1 {
			t.Errorf("%s: want %s %s;", where, name, strings.Join(args, " "))
		}
	}
	want("server", server, "proxy_http_version", "1.1")
	want("server", server, "proxy_set_header", "Connection", "")
	want("server", server, "proxy_set_header", "Host", "$host")
	want("server", server, "proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for")
	want("server", server, "proxy_set_header", "X-Forwarded-Proto", "$scheme")
	locations := map[string][]nginxDirective{}
	for _, l := range find(server, "location") {
		where := "location " + strings.Join(l.args, " ")
		locations[strings.Join(l.args, " ")] = l.block
		want(where, l.block, "proxy_pass", "http://livefeed")
		// nginx inherits proxy_set_header only into a block that sets none.
		if len(find(l.block, "proxy_set_header")) > 0 {
			t.Errorf("%s sets a header of its own, which drops the server's X-Forwarded-For and -Proto there", where)
		}
	}
	events, ok := locations["= /events"]
	if !ok {
		t.Fatal("nginx.conf: no location = /events")
	}
	want("location = /events", events, "proxy_buffering", "off")
	want("location = /events", events, "gzip", "off")
	if d := find(events, "proxy_read_timeout"); len(d) != 1 || len(d[0].args) != 1 || nginxSeconds(d[0].args[0]) < 4*cfg.Feed.Heartbeat.Seconds() {
		t.Errorf("location = /events: want a proxy_read_timeout well above feed.heartbeat (%s), got %v", cfg.Feed.Heartbeat, d)
	}
	publish, ok := locations["= /api/publish"]
	if !ok {
		t.Fatal("nginx.conf: no location = /api/publish")
	}
	want("location = /api/publish", publish, "proxy_request_buffering", "off")
	want("location = /api/publish", publish, "proxy_buffering", "off")
	want("location = /api/publish", publish, "client_max_body_size", "0")
	if _, ok := locations["/"]; !ok {
		t.Error("nginx.conf: no location / for the rest")
	}
}

// nginxSeconds returns an nginx time ("90", "15s", "1h") in seconds, or
// -1.
func nginxSeconds(v string) float64 {
	units := map[string]float64{"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(v)
	}
	n, err := strconv.Atoi(v[:i])
	unit, ok := units[v[i:]]
	if err != nil || !ok {
		return -1
	}
	return float64(n) * unit
}

// TestParseNginx: the reader of nginx configurations the test above uses.
func TestParseNginx(t *testing.T) {
	ds, err := parseNginx("a 1 '2 3';  # c { ;\nb { c \"x;y\"; d { e; } }\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].name != "a" || !slices.Equal(ds[0].args, []string{"1", "2 3"}) ||
		ds[1].name != "b" || len(ds[1].block) != 2 || !slices.Equal(ds[1].block[0].args, []string{"x;y"}) ||
		len(ds[1].block[1].block) != 1 {
		t.Errorf("parseNginx = %+v", ds)
	}
	for _, bad := range []string{"a {", "a;}", "; a;", "a 'b;", "a"} {
		if ds, err := parseNginx(bad); err == nil {
			t.Errorf("parseNginx(%q) = %+v, want an error", bad, ds)
		}
	}
}

// TestCaddySnippet: the Caddyfile proxies to where livefeed is told to
// listen, passes each event on at once, and compresses nothing.
func TestCaddySnippet(t *testing.T) {
	text := readOps(t, "Caddyfile")
	cfg := proxyConfig(t, text)
	var lines []string
	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			lines = append(lines, strings.Join(strings.Fields(line), " "))
		}
	}
	if !slices.Contains(lines, "reverse_proxy "+cfg.Server.Address+" {") {
		t.Errorf("Caddyfile: no reverse_proxy %s { ... }, the address livefeed is told to listen on", cfg.Server.Address)
	}
	if !slices.Contains(lines, "flush_interval -1") {
		t.Error("Caddyfile: no flush_interval -1: events could wait in a buffer")
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "encode") {
			t.Errorf("Caddyfile: %q would compress event streams", l)
		}
	}
}

// TestNginxChecks: nginx -t reads the snippet, in an http block as
// /etc/nginx/conf.d/ is, with a certificate where its paths say.
func TestNginxChecks(t *testing.T) {
	nginx := opsTool(t, "nginx", "nginx")
	dir := t.TempDir()
	cert, key := testCertificate(t)
	conf := replaceOnce(t, readOps(t, "nginx.conf"),
		"/etc/letsencrypt/live/feed.example.com/fullchain.pem", cert,
		"/etc/letsencrypt/live/feed.example.com/privkey.pem", key)
	writeFile(t, filepath.Join(dir, "livefeed.conf"), conf)
	writeFile(t, filepath.Join(dir, "nginx.conf"), "events {}\nhttp {\n    include "+filepath.Join(dir, "livefeed.conf")+";\n}\n")
	out, err := exec.Command(nginx, "-t", "-q", "-e", "stderr", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "pid "+filepath.Join(dir, "nginx.pid")+";").CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if len(out) > 0 {
		t.Logf("nginx -t:\n%s", out)
	}
}

// caddyEnv is the environment caddy runs with in the tests: its data and
// configuration in dir, not the home directory's.
func caddyEnv(dir string) []string {
	return append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}

// TestCaddyChecks: caddy validate reads the Caddyfile, and caddy fmt
// leaves it as it is (caddy warns of an unformatted file at every start).
func TestCaddyChecks(t *testing.T) {
	caddy := opsTool(t, "caddy", "caddy")
	dir := t.TempDir()
	path := filepath.Join(opsDir, "Caddyfile")
	validate := exec.Command(caddy, "validate", "--config", path, "--adapter", "caddyfile")
	validate.Env = caddyEnv(dir)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	format := exec.Command(caddy, "fmt", path)
	format.Env = caddyEnv(dir)
	out, err := format.Output()
	if err != nil {
		t.Fatalf("caddy fmt: %v", err)
	}
	if string(out) != readOps(t, "Caddyfile") {
		t.Errorf("caddy fmt would change the Caddyfile:\n%s", out)
	}
}

// replaceOnce replaces each old (the odd arguments) with its new (the
// even ones) in text, failing t unless each occurs exactly once: the
// snippet changed, and the test must follow.
func replaceOnce(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(text, pairs[i]); n != 1 {
			t.Fatalf("%q occurs %d times in the snippet, want once", pairs[i], n)
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testCertificate returns the files of a certificate for 127.0.0.1 and
// its key (nodetest's).
func testCertificate(t *testing.T) (cert, key string) {
	t.Helper()
	cfg := nodetest.WithTLS(t, config.Config{})
	return cfg.Server.TLSCert, cfg.Server.TLSKey
}

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// runProxy starts a proxy in front of a node, by command(ports) on ports
// free a moment before (another process may take one meanwhile: then it
// starts again on others), and returns once hc gets the node's /healthz
// through it at https://127.0.0.1:ports[0]. The proxy ends with the test.
func runProxy(t *testing.T, hc *http.Client, nports int, command func(ports []string) *exec.Cmd) (base string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, nports)
		cmd := command(ports)
		out := new(nodetest.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		base = "https://127.0.0.1:" + ports[0]
		var waitErr error
		ended := false
		poll.Until(t, cmd.Path+" to pass /healthz on", func() bool {
			select {
			case waitErr = <-exited:
				ended = true
				return true
			default:
			}
			resp, err := hc.Get(base + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		if !ended {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(poll.Deadline):
					cmd.Process.Kill()
					<-exited
					t.Errorf("%s did not end on SIGTERM:\n%s", cmd.Path, out)
				}
			})
			return base
		}
		if attempt < 3 && strings.Contains(strings.ToLower(out.String()), "address already in use") {
			continue
		}
		t.Fatalf("%s ended: %v\n%s", cmd.Path, waitErr, out)
	}
}

// proxiedNode starts a node that trusts a proxy on this machine, and
// returns it with a certificate for the proxy and a client that trusts
// it.
func proxiedNode(t *testing.T) (n *nodetest.Node, cert, key string, hc *http.Client) {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.Server.TrustedProxies = []string{"127.0.0.1"}
	n = nodetest.Start(t, cfg, node.Options{})
	cert, key = testCertificate(t)
	hc, err := nodetest.Trusting(cert)
	if err != nil {
		t.Fatal(err)
	}
	return n, cert, key, hc
}

// checkProxied checks what a proxy at base must do for livefeed's
// clients: speak HTTP/2 to them, pass each event of a stream on as it
// comes, pass a streaming publish's acknowledgements back while its
// body is still being sent, and tell livefeed the request came over TLS
// (the console's cookies are Secure through it, and not straight to the
// node at direct, over plain HTTP).
func checkProxied(t *testing.T, base, direct string, hc *http.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), poll.Deadline)
	defer cancel()
	pub := client.New(base, nodetest.Token)
	pub.HTTP = hc

	t.Run("Stream", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events?topic=ops/*", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("GET /events: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("GET /events over %s: browsers would have six connections a site for all their streams", resp.Proto)
		}
		id, err := pub.Publish(ctx, feed.Update{Topic: "ops/proxied", Type: "note", Data: json.RawMessage(`{"n":1}`)}, "")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := nodetest.NextEvent(client.NewReader(resp.Body))
		if err != nil {
			t.Fatalf("the stream gave no event (it ended, or it is held in a buffer): %v", err)
		}
		if ev.ID != strconv.FormatInt(id, 10) {
			t.Errorf("the stream gave event %s (%s), want %d", ev.ID, ev.Data, id)
		}
	})

	t.Run("StreamingPublish", func(t *testing.T) {
		in, err := pub.Ingest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		if err := in.Send(feed.Update{Topic: "ops/proxied", Type: "note", Data: json.RawMessage(`{"n":2}`)}, ""); err != nil {
			t.Fatal(err)
		}
		if err := in.Flush(); err != nil {
			t.Fatal(err)
		}
		ack, err := in.Recv() // the body is still open
		if err != nil || ack.Err != nil || ack.ID == 0 {
			t.Fatalf("the first line's acknowledgement, while the body is open: %+v, %v", ack, err)
		}
		if err := in.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if ack, err := in.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("after the body's end: %+v, %v; want the end", ack, err)
		}
	})

	t.Run("SecureCookies", func(t *testing.T) {
		secure := func(c *http.Client, url string) bool {
			t.Helper()
			resp, err := c.Get(url + "/admin/session")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			for _, c := range resp.Cookies() {
				if c.Name == "livefeed_login" {
					return c.Secure
				}
			}
			t.Fatalf("GET %s/admin/session: %s, no sign-in cookie", url, resp.Status)
			return false
		}
		if !secure(hc, base) {
			t.Error("through the proxy, the console's cookie is not Secure: livefeed was not told of TLS")
		}
		if secure(http.DefaultClient, direct) {
			t.Error("straight to livefeed over plain HTTP, the console's cookie is Secure: the check above means nothing")
		}
	})
}

// TestBehindNginx: the nginx snippet, run by nginx in front of a node,
// does for livefeed's clients what it must (checkProxied).
func TestBehindNginx(t *testing.T) {
	nginx := opsTool(t, "nginx", "nginx")
	t.Parallel()
	n, cert, key, hc := proxiedNode(t)
	dir := t.TempDir()
	// nginx's workers (nobody, when the test runs as root) write their
	// temporary files under dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := runProxy(t, hc, 2, func(ports []string) *exec.Cmd {
		conf := replaceOnce(t, readOps(t, "nginx.conf"),
			"server 127.0.0.1:8080;", "server "+strings.TrimPrefix(n.URL, "http://")+";",
			"listen 80;", "listen 127.0.0.1:"+ports[1]+";",
			"listen [::]:80;", "",
			"listen 443 ssl http2;", "listen 127.0.0.1:"+ports[0]+" ssl http2;",
			"listen [::]:443 ssl http2;", "",
			"/etc/letsencrypt/live/feed.example.com/fullchain.pem", cert,
			"/etc/letsencrypt/live/feed.example.com/privkey.pem", key)
		writeFile(t, filepath.Join(dir, "livefeed.conf"), conf)
		var main strings.Builder
		fmt.Fprintf(&main, "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n", dir)
		for _, temp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			fmt.Fprintf(&main, "    %s_temp_path %s/%s;\n", temp, dir, temp)
		}
		fmt.Fprintf(&main, "    include %s/livefeed.conf;\n}\n", dir)
		writeFile(t, filepath.Join(dir, "nginx.conf"), main.String())
		return exec.Command(nginx, "-e", "stderr", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	})
	checkProxied(t, base, n.URL, hc)
}

// TestBehindCaddy: the Caddyfile, run by Caddy in front of a node, does
// for livefeed's clients what it must (checkProxied). Its host name is
// this machine's address, with the test's certificate instead of one
// from an ACME CA.
func TestBehindCaddy(t *testing.T) {
	caddy := opsTool(t, "caddy", "caddy")
	t.Parallel()
	n, cert, key, hc := proxiedNode(t)
	dir := t.TempDir()
	base := runProxy(t, hc, 1, func(ports []string) *exec.Cmd {
		conf := replaceOnce(t, readOps(t, "Caddyfile"),
			"feed.example.com {", "127.0.0.1:"+ports[0]+" {\n\ttls "+cert+" "+key,
			"reverse_proxy 127.0.0.1:8080 {", "reverse_proxy "+strings.TrimPrefix(n.URL, "http://")+" {")
		global := "{\n\tadmin off\n\tauto_https disable_redirects\n}\n"
		path := filepath.Join(dir, "Caddyfile")
		writeFile(t, path, global+conf)
		cmd := exec.Command(caddy, "run", "--config", path, "--adapter", "caddyfile")
		cmd.Env = caddyEnv(dir)
		return cmd
	})
	checkProxied(t, base, n.URL, hc)
}
