package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/demo"
)

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
