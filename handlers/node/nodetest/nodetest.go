// Package nodetest starts whole livefeed nodes for tests: the real wiring
// of handlers/node, serving on a loopback port of its choosing with a
// temporary database, stopped when the test ends. It is the one helper
// the tests of every package start a node with (and feed/poll the one
// they wait with), and has what they talk to one with: a publish by the
// Go client (Publish, Note) and a raw reader of an event stream (Stream,
// NextEvent).
package nodetest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/token"
)

// Token is the publish token of the configuration Config returns.
const Token = "nodetest-publish-token-0123456789"

// Config returns the configuration a test node starts from: the built-in
// defaults, on 127.0.0.1 on a port of the system's choosing, with a
// database in a temporary directory, heartbeats of a second, and Token as
// its publish token.
func Config(tb testing.TB) config.Config {
	tb.Helper()
	return ConfigAt(filepath.Join(tb.TempDir(), "feed.db"))
}

// ConfigAt is Config with the database at db.
func ConfigAt(db string) config.Config {
	cfg := config.Default()
	cfg.Server.Address = "127.0.0.1:0"
	cfg.Store.Path = db
	cfg.Feed.Heartbeat = time.Second
	cfg.Feed.WriteTimeout = 5 * time.Second
	cfg.Auth.PublishTokens = []config.PublishToken{{Token: Token}}
	return cfg
}

// Node is a node serving for a test.
type Node struct {
	*node.Node
	// URL is where it serves ("http://127.0.0.1:PORT", or https).
	URL string
	// Client trusts the node's certificate, when it has one.
	Client *http.Client
	// Log is what it logged.
	Log *Buffer

	cfg   config.Config
	opts  node.Options
	serve node.ServeOptions
	stop  context.CancelFunc
	done  chan error
	ended sync.Once
	err   error // how it shut down
}

// Start opens a node with cfg (see Config) and opts and serves it until
// the test ends, when it must shut down cleanly. With TLS (see WithTLS) it
// speaks HTTP/2.
func Start(tb testing.TB, cfg config.Config, opts node.Options) *Node {
	tb.Helper()
	return StartServing(tb, cfg, opts, node.ServeOptions{})
}

// StartServing is Start with what the node serves beside its API (the
// demo, the profiler).
func StartServing(tb testing.TB, cfg config.Config, opts node.Options, serve node.ServeOptions) *Node {
	tb.Helper()
	n, err := open(cfg, opts, serve)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := n.Stop(); err != nil {
			tb.Errorf("the node shut down with %v", err)
		}
	})
	return n
}

// Open is Start for code without a test (runnable examples): the caller
// stops the node.
func Open(cfg config.Config, opts node.Options) (*Node, error) {
	return open(cfg, opts, node.ServeOptions{})
}

func open(cfg config.Config, opts node.Options, serve node.ServeOptions) (*Node, error) {
	n := &Node{cfg: cfg, opts: opts, serve: serve, Log: new(Buffer), Client: http.DefaultClient}
	if cfg.Server.TLSCert != "" {
		c, err := Trusting(cfg.Server.TLSCert)
		if err != nil {
			return nil, err
		}
		n.Client = c
	}
	return n, n.start()
}

func (n *Node) start() error {
	opts := n.opts
	opts.Log = n.Log
	nd, err := node.Open(context.Background(), n.cfg, opts)
	if err != nil {
		return err
	}
	if _, err := nd.Listen(); err != nil {
		nd.Close()
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	n.Node, n.stop, n.done, n.ended = nd, stop, make(chan error, 1), sync.Once{}
	n.URL = strings.Replace(nd.URL(), "localhost", "127.0.0.1", 1)
	go func() {
		err := nd.Serve(ctx, n.serve)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		n.done <- errors.Join(err, nd.Close())
	}()
	return nil
}

// Stop shuts the node down as SIGTERM does, waits for it, and returns how
// it shut down.
func (n *Node) Stop() error {
	n.ended.Do(func() {
		n.stop()
		n.err = <-n.done
	})
	return n.err
}

// Restart stops the node and opens it again on the same address and
// database, as a restart or a deploy does. whileDown, if not nil, runs
// while it is stopped.
func (n *Node) Restart(whileDown func()) error {
	addr := strings.TrimPrefix(strings.TrimPrefix(n.URL, "http://"), "https://")
	if err := n.Stop(); err != nil {
		return err
	}
	if whileDown != nil {
		whileDown()
	}
	n.cfg.Server.Address = addr
	// The port was just freed: listen again until it is free (a moment).
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err = n.start(); err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// WithTLS gives cfg a self-signed certificate for 127.0.0.1, made in a
// temporary directory: the node then speaks HTTPS and HTTP/2, and Start's
// Client trusts it.
func WithTLS(tb testing.TB, cfg config.Config) config.Config {
	tb.Helper()
	dir := tb.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "livefeed test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Server.TLSCert, cfg.Server.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cfg.Server.TLSCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(cfg.Server.TLSKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Trusting returns a client that trusts the certificate in certFile (as
// WithTLS makes) and speaks HTTP/2: of a node's, or of a proxy in front
// of one.
func Trusting(certFile string) (*http.Client, error) {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}, nil
}

// Buffer is a log safe for concurrent writes.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

var _ io.Writer = (*Buffer)(nil)

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Stream opens GET path (an event stream) of the server at base on a raw
// HTTP/1.1 socket, sending the header lines given ("Last-Event-ID: 5"),
// and returns the socket (for read deadlines) and a reader of the stream.
// A status other than 200 fails the test.
func Stream(tb testing.TB, base, path string, header ...string) (net.Conn, *bufio.Reader) {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %s", path, resp.Status)
	}
	return c, br
}

// NextEvent reads the next event of a stream, passing over the position
// event that ends a snapshot (feed.EventPosition), which the tests of
// snapshots in feed/fanout look at.
func NextEvent(rd *client.Reader) (client.Message, error) {
	for {
		ev, err := rd.Next()
		if err != nil || ev.Type != feed.EventPosition {
			return ev, err
		}
	}
}

// Note is the body of a publish of a note event on topic with the data
// {"n":n}.
func Note(topic string, n int) string {
	return fmt.Sprintf(`{"topic":%q,"type":"note","data":{"n":%d}}`, topic, n)
}

// Publish publishes body (an event, or an array of them, as POST
// /api/publish takes it) to the server at base with Token, by the Go
// client over hc (nil: http.DefaultClient), and returns the acknowledged
// IDs.
func Publish(hc *http.Client, base, body string) ([]int64, error) {
	c := client.New(base, Token)
	if hc != nil {
		c.HTTP = hc
	}
	if strings.HasPrefix(strings.TrimSpace(body), "[") {
		var updates []feed.Update
		if err := json.Unmarshal([]byte(body), &updates); err != nil {
			return nil, err
		}
		return c.PublishBatch(context.Background(), updates, "")
	}
	var u feed.Update
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		return nil, err
	}
	id, err := c.Publish(context.Background(), u, "")
	return []int64{id}, err
}

// MustPublish is Publish over http.DefaultClient that fails tb if the
// publish fails.
func MustPublish(tb testing.TB, base, body string) []int64 {
	tb.Helper()
	ids, err := Publish(nil, base, body)
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// StartNATS starts a NATS server with JetStream in the test's process, on
// a port of its own, stopped when the test ends, and returns its URL.
func StartNATS(tb testing.TB) string {
	tb.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Start()
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("NATS did not start")
	}
	return "nats://" + srv.Addr().(*net.TCPAddr).String()
}

// SubscriberToken mints a subscriber token granting patterns for an
// hour, signed with secret (one of the node's auth.subscriber_keys).
func SubscriberToken(tb testing.TB, secret string, patterns ...string) string {
	tb.Helper()
	keys, err := token.ParseKeys([]string{secret}, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := keys.Mint(patterns, time.Hour, "")
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// Binary builds the livefeed command of this checkout once per test
// process, for the tests that run it as its own process, as users do, and
// returns its path. The package's TestMain calls RemoveBinary.
func Binary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the binary")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "livefeed-test"); built.err != nil {
			return
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(built.dir, "livefeed"), "livefeed").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return filepath.Join(built.dir, "livefeed")
}

// RemoveBinary removes what Binary built.
func RemoveBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
