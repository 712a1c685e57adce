package main

import (
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"livefeed/feed"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/token"
)

// reloader applies a new configuration to a running server: the keys of
// config.Reloadable at once, without closing a stream or a session; a
// change of any other key is logged as needing a restart.
type reloader struct {
	sv     serving
	getenv func(string) string
	log    *slog.Logger
	level  *slog.LevelVar
	n      *node
	// running is the configuration in effect: the one the server started
	// with, with the reloadable keys of the last good reload.
	running config.Config
}

// reloadOnHangup reloads on every SIGHUP until stop is called.
func reloadOnHangup(rl *reloader) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-hup:
				rl.reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}

// reload reads the configuration file again, with the environment and
// the command line's flags over it as at the start, and validates all of
// it before it applies anything: a bad file changes nothing.
func (rl *reloader) reload() {
	cfg, _, err := rl.sv.config(rl.getenv)
	var keys *token.Keys
	if err == nil {
		keys, err = cfg.SubscriberKeys()
	}
	if err != nil {
		rl.log.Error("reload refused: the configuration is not valid, so the settings in effect stay", "err", err)
		return
	}
	rl.n.srv.SetCredentials(credentialsOf(cfg, keys, rl.n.demoToken))
	rl.level.Set(cfg.Log.SlogLevel())
	var applied, restart []string
	for _, key := range config.Changed(rl.running, cfg) {
		if slices.Contains(config.Reloadable, key) {
			applied = append(applied, key)
		} else {
			restart = append(restart, key)
		}
	}
	next := rl.running
	next.CORS.AllowedOrigins = cfg.CORS.AllowedOrigins
	next.Auth.PublishTokens, next.Auth.Operators = cfg.Auth.PublishTokens, cfg.Auth.Operators
	next.Auth.SubscriberKeys, next.Auth.SubscriberAudience = cfg.Auth.SubscriberKeys, cfg.Auth.SubscriberAudience
	next.Log.Level = cfg.Log.Level
	rl.running = next
	rl.log.Info("configuration reloaded", "applied", applied)
	if len(restart) > 0 {
		rl.log.Warn("changed settings need a restart to take effect", "keys", restart)
	}
}

// credentialsOf are the credentials of cfg for the server, with the
// token of the built-in simulation (-demo).
func credentialsOf(cfg config.Config, keys *token.Keys, demoToken string) handlers.Credentials {
	c := handlers.Credentials{PublishTokens: []string{demoToken}, SubscriberKeys: keys, AllowedOrigins: cfg.CORS.AllowedOrigins}
	for _, op := range cfg.Auth.Operators {
		c.Operators = append(c.Operators, handlers.Operator{Name: op.Name, PasswordHash: op.PasswordHash})
	}
	for _, t := range cfg.Auth.PublishTokens {
		if len(t.Topics) == 0 {
			c.PublishTokens = append(c.PublishTokens, t.Token)
			continue
		}
		topics, _ := feed.ParseFilter(t.Topics) // checked by Validate
		c.ScopedPublishTokens = append(c.ScopedPublishTokens, handlers.ScopedPublishToken{Token: t.Token, Topics: topics})
	}
	return c
}
