package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/demo"
	"livefeed/handlers/config"
	"livefeed/handlers/token"
)

// demoDelay is the delay of the demo's free tier.
const demoDelay = 15 * time.Second

// withDemo returns cfg with the demo's tiers, and the key of its paying
// tier's tokens: the demo's prices (stocks/*) are delayed by demoDelay for
// a reader without a token, and /demo/token (demoToken) hands the demo
// page's own widgets a token that reads everything in real time, so that
// the page shows a free ticker beside real-time and conflated ones. Only
// where the configuration has neither delayed tiers nor subscriber keys of
// its own: the demo never hands out tokens of an operator's keys, nor
// changes their tiers. The key is the process's own, random.
func withDemo(cfg config.Config) (config.Config, *token.Keys) {
	if len(cfg.Feed.Delayed) > 0 || len(cfg.Auth.SubscriberKeys) > 0 {
		return cfg, nil
	}
	keys, err := token.ParseKeys([]string{rand.Text() + rand.Text()}, "", nil) // 52 bytes of base32: a valid secret
	if err != nil {
		return cfg, nil
	}
	cfg.Feed.Delayed = []config.DelayedTier{{Topics: []string{demo.StockPrefix + "*"}, Delay: demoDelay}}
	return cfg, keys.WithMaxLifetime(cfg.Auth.MaxTokenLifetime)
}

// demoTokenLifetime is how long a token of /demo/token lasts: the widget
// fetches a new one before it expires.
const demoTokenLifetime = 10 * time.Minute

// demoToken serves GET /demo/token beside the API: the token of the
// demo's paying tier, as a site's own endpoint would hand it to its
// paying visitors (the widget's data-token-url). It is the demo's, not
// part of the API (handlers/server.go's routes).
func demoToken(api http.Handler, keys *token.Keys) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/demo/token" || r.Method != http.MethodGet {
			api.ServeHTTP(w, r)
			return
		}
		tok, err := keys.MintClaims(token.Claims{Realtime: []string{"*"}}, demoTokenLifetime, "")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
}

// demoPublisher publishes the simulation's events through the API, with
// the Go client and a token of its own, as any publisher does.
func (n *Node) demoPublisher() demo.Publisher {
	addr := n.ln.Addr().String()
	c := client.New(n.URL(), n.demoToken)
	transport := &http.Transport{
		// Straight to the listener, whatever name the certificate has.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	if cfg := n.http.TLSConfig; cfg != nil {
		// The server's own certificate is the one to trust.
		leaf := cfg.Certificates[0].Leaf
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		name := ""
		switch {
		case len(leaf.DNSNames) > 0:
			name = leaf.DNSNames[0]
		case len(leaf.IPAddresses) > 0:
			name = leaf.IPAddresses[0].String()
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: name}
	}
	c.HTTP = &http.Client{Transport: transport}
	return demo.PublisherFunc(func(ctx context.Context, topic, typ string, data any) error {
		raw, err := json.Marshal(data)
		if err != nil {
			return err
		}
		_, err = c.Publish(ctx, feed.Update{Topic: topic, Type: typ, Data: raw}, "")
		return err
	})
}
