package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"livefeed/handlers/config"
	"livefeed/handlers/node"
)

// serving holds the flags of serving.
type serving struct {
	flags                             *flag.FlagSet
	configPath, addr, dbPath, pprofAt *string
	demo, version                     *bool
}

// serveFlags returns the flags of serving, printing to w.
func serveFlags(w io.Writer) serving {
	f := flag.NewFlagSet("livefeed", flag.ContinueOnError)
	f.SetOutput(w)
	return serving{
		flags:      f,
		configPath: f.String("config", "config.toml", "configuration `file`"),
		demo:       f.Bool("demo", false, "also publish a simulated game and stock ticker"),
		addr:       f.String("addr", "", "listen `address`, overriding server.address"),
		dbPath:     f.String("db", "", "database `file`, overriding store.path"),
		pprofAt:    f.String("pprof", "", "serve Go's profiler (net/http/pprof) on this loopback `address`"),
		version:    f.Bool("version", false, "print the version and exit"),
	}
}

// PrintServeFlags prints the flags of serving, for livefeed's usage.
func PrintServeFlags(w io.Writer) { serveFlags(w).flags.PrintDefaults() }

// Serve is `livefeed [flags]`: a node serving until ctx ends, reloading
// its configuration on each of e.Hangups.
func Serve(ctx context.Context, e Env) (err error) {
	sv := serveFlags(e.Stderr)
	sv.flags.Usage = func() { e.usage(sv.flags.Output()) }
	if err := e.parse(sv.flags, func() error { return sv.flags.Parse(e.Args) }); err != nil {
		return FlagError(err)
	}
	if sv.flags.NArg() > 0 {
		return UsageError(e.Stderr, sv.flags.Usage, "unexpected argument %q: livefeed takes flags only, or a command first", sv.flags.Arg(0))
	}
	if *sv.version {
		printVersion(e.Stdout)
		return nil
	}
	cfg, _, builtIn, err := sv.config(e.Getenv)
	if err == nil {
		err = cfg.CheckDeployment()
	}
	if err != nil {
		return err
	}
	n, err := node.Open(ctx, cfg, node.Options{Log: e.Stderr, Demo: *sv.demo})
	if err != nil {
		return err
	}
	defer func() { // last: once nothing writes any more
		err = errors.Join(err, n.Close())
		switch {
		case ctx.Err() == nil: // it did not start
		case err != nil:
			n.Log().Warn("shut down", "err", err)
		default:
			n.Log().Info("shut down")
		}
	}()
	if _, err := n.Listen(); err != nil {
		return err
	}
	// Hangups are caught before the server says it serves: from then on
	// a hangup reloads, never ends the process.
	if e.Hangups != nil {
		hangups, stop := e.Hangups()
		done := make(chan struct{})
		reloaded := make(chan struct{})
		go func() {
			defer close(reloaded)
			for {
				select {
				case <-hangups:
					sv.reload(n, e.Getenv)
				case <-done:
					return
				}
			}
		}()
		defer func() {
			stop()
			close(done)
			<-reloaded
		}()
	}
	n.Announce(e.Stdout, builtIn, *sv.configPath)
	return n.Serve(ctx, node.ServeOptions{Demo: *sv.demo, Profiler: *sv.pprofAt, Stdout: e.Stdout})
}

// reload reads the configuration file again, with the environment and
// the command line's flags over it as at the start, and has the node
// apply it (see node.Reload): a bad file changes nothing.
func (sv serving) reload(n *node.Node, getenv func(string) string) {
	cfg, given, _, err := sv.config(getenv)
	if err != nil {
		n.ReloadRefused(err)
		return
	}
	n.Reload(cfg, given)
}

// config loads the configuration the flags name, with the flags' own
// settings over it, and validates it; given are the keys the file and the
// environment set, and builtIn reports that no config.toml was there, so
// the built-in defaults are in use. Its secrets are left for the caller
// to check against where the server listens (CheckDeployment).
func (sv serving) config(getenv func(string) string) (cfg config.Config, given config.Given, builtIn bool, err error) {
	named := false
	sv.flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	_, statErr := os.Stat(*sv.configPath)
	builtIn = !named && errors.Is(statErr, os.ErrNotExist)
	if cfg, given, err = config.LoadGiven(*sv.configPath, named, getenv); err != nil {
		return cfg, nil, false, err
	}
	if *sv.addr != "" {
		cfg.Server.Address = *sv.addr
	}
	if *sv.dbPath != "" {
		cfg.Store.Path = *sv.dbPath
	}
	return cfg, given, builtIn, nil
}
