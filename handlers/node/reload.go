package node

import (
	"slices"

	"livefeed/handlers/config"
	"livefeed/handlers/token"
)

// Reload applies a new configuration to the running node: the keys of
// config.Reloadable at once, without closing a stream or a session but
// those of what it removes; a change of any other key is logged as
// needing a restart. cfg must be valid (config.Load); given are the keys
// its file and environment set. Nothing is applied unless all of it can
// be: its secrets are checked as strictly as at the start, for where the
// node listens (a file naming a loopback address does not make a server
// on the network accept the sample token), and a file that would leave
// the node without a kind of credential it has, without saying so (an
// emptied or cut-short file, the defaults), is refused: the key must be
// written empty to remove them all.
func (n *Node) Reload(cfg config.Config, given config.Given) {
	n.mu.Lock()
	listening := ""
	if n.ln != nil {
		listening = n.ln.Addr().String()
	}
	n.mu.Unlock()
	err := cfg.CheckDeploymentAt(listening, n.running.Server.Address)
	var keys *token.Keys
	if err == nil {
		keys, err = cfg.SubscriberKeys()
	}
	if err != nil {
		n.log.Error("reload refused: the configuration is not valid, so the settings in effect stay", "err", err)
		return
	}
	if n.demoKeys != nil && keys.Len() == 0 {
		keys = n.demoKeys // the demo's, as long as the file names none
	}
	if gone := removedAll(n.running, cfg, given); len(gone) > 0 {
		n.log.Warn("reload refused: the file would remove every entry of these keys without naming them (write a key as [] to remove them all); the settings in effect stay",
			"would_remove", gone)
		return
	}
	cfg.ApplyTo(config.Live{Server: n.srv, Level: n.level, Keys: keys, ExtraTokens: []string{n.demoToken}, Topics: n.topics})
	var applied, restart []string
	for _, key := range config.Changed(n.running, cfg) {
		if slices.Contains(config.Reloadable, key) {
			applied = append(applied, key)
		} else {
			restart = append(restart, key)
		}
	}
	n.running = config.WithReloadable(n.running, cfg)
	n.log.Info("configuration reloaded", "applied", applied)
	if len(restart) > 0 {
		n.log.Warn("changed settings need a restart to take effect", "keys", restart)
	}
}

// ReloadRefused logs a reload whose file could not be read or is not
// valid: the settings in effect stay.
func (n *Node) ReloadRefused(err error) {
	n.log.Error("reload refused: the configuration is not valid, so the settings in effect stay", "err", err)
}

// removedAll lists the keys of the credentials (and trusted proxies) the
// running node has and cfg would leave none of, though neither the file
// nor the environment gives the key: a file emptied, cut short or
// replaced by the defaults would otherwise refuse every publisher,
// operator or private subscriber at once.
func removedAll(running, cfg config.Config, given config.Given) []string {
	var keys []string
	for _, c := range []struct {
		key      string
		had, has int
	}{
		{"auth.publish_tokens", len(running.Auth.PublishTokens), len(cfg.Auth.PublishTokens)},
		{"auth.operators", len(running.Auth.Operators), len(cfg.Auth.Operators)},
		{"auth.subscriber_keys", len(running.Auth.SubscriberKeys), len(cfg.Auth.SubscriberKeys)},
		// Without its proxies, a server behind one would count every
		// client as the proxy and send its cookies without Secure.
		{"server.trusted_proxies", len(running.Server.TrustedProxies), len(cfg.Server.TrustedProxies)},
		{"server.ops_token", len(running.Server.OpsToken), len(cfg.Server.OpsToken)},
	} {
		if c.had > 0 && c.has == 0 && !given[c.key] {
			keys = append(keys, c.key)
		}
	}
	return keys
}
