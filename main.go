// Command livefeed is a live score and stock-ticker feed server: updates are
// stored in SQLite with increasing IDs and streamed to browsers and services
// over Server-Sent Events, with exact resume after a reconnect.
//
//	livefeed [-config config.toml] [-demo] [-addr host:port] [-db path] [-pprof addr]
//	livefeed tail [-url URL] [-token T] [-from ID] [-n N] TOPIC...
//	livefeed publish [-url URL] [-token T] [-batch N] [-keys none|file] [FILE]
//	livefeed import [-url URL] [-token T] [-batch N] [-keys none|file] FILE.csv
//	livefeed backup [-config config.toml] [-db path] FILE
//	livefeed restore [-config config.toml] [-db path] [-next-id N] BACKUP
//	livefeed hash-password    (prints the password_hash of an operator)
//	livefeed token -subscribe 'premium/*' [-ttl 1h]   (mints a subscriber token)
//	livefeed bench -workload W1..W8|all [-url URL] [-pid N] ...   (load tool)
//	livefeed version
//	livefeed help [command]
//
// Every command takes -help.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed"
	"livefeed/feed/archive"
	"livefeed/feed/bench"
	"livefeed/feed/cli"
	"livefeed/feed/client"
	"livefeed/feed/demo"
	"livefeed/feed/fanout"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/handlers/token"
	"livefeed/store"
	"livefeed/store/cluster"
	"livefeed/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2) // the usage and what was wrong are printed
	case err != nil:
		fmt.Fprintln(os.Stderr, "livefeed:", err)
		os.Exit(1)
	}
}

// errUsage is a command line that makes no sense: run has printed what is
// wrong and the usage, and the exit status is 2.
var errUsage = cli.ErrUsage

// env is what a command gets from run: its arguments and the process's
// environment, input and outputs.
type env struct {
	args           []string
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// onAPI is a command of package cli, which works on a running server
// through its API.
func onAPI(cmd func(context.Context, cli.Env) error) func(context.Context, env) error {
	return func(ctx context.Context, e env) error {
		return cmd(ctx, cli.Env{Args: e.args, Getenv: e.getenv, Stdin: e.stdin, Stdout: e.stdout, Stderr: e.stderr})
	}
}

// command is one of livefeed's subcommands.
type command struct {
	name, summary string // the summary is its line in the usage
	run           func(ctx context.Context, e env) error
}

// commands are livefeed's subcommands, each in a function of its own (set
// in init: help lists them).
var commands []command

func init() {
	commands = []command{
		{"tail", "print the events of topics as JSON lines, resuming after a disconnect", onAPI(cli.Tail)},
		{"publish", "publish NDJSON events from a file or stdin, in batches", onAPI(cli.Publish)},
		{"import", "publish the rows of a CSV export or a fixtures sheet, in batches", onAPI(cli.Import)},
		{"backup", "copy the database to a file, while livefeed serves", backupCommand},
		{"restore", "replace the database with a backup, while livefeed is stopped", restoreCommand},
		{"hash-password", "read a new operator's password and print its password_hash", hashPasswordCommand},
		{"token", "mint a subscriber token for private topics from the configured HMAC key", tokenCommand},
		{"bench", "drive a running server with the workloads of BENCH.md", func(ctx context.Context, e env) error {
			return bench.Main(ctx, e.args, e.getenv, e.stdout, e.stderr)
		}},
		{"version", "print livefeed's version, its Go version and VCS revision", versionCommand},
		{"help", "print this help, or a command's: livefeed help restore", helpCommand},
	}
}

// printUsage writes livefeed's usage: serving, then every subcommand.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: livefeed [flags]                 serve the feed\n       livefeed COMMAND [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nEach command takes -help (\"livefeed restore -help\").\n\nflags for serving:\n")
	serveFlags(w).PrintDefaults()
}

// run is the whole program, with its inputs and outputs passed in so tests
// can start a real server: it returns when ctx ends and the server has shut
// down, or when it cannot start. An unknown command or a stray argument is
// errUsage, and starts nothing.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{args: args, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return serveCommand(ctx, e)
	}
	for _, c := range commands {
		if c.name == args[0] {
			e.args = args[1:]
			return c.run(ctx, e)
		}
	}
	return cli.UsageError(stderr, func() { printUsage(stderr) }, "unknown command %q", args[0])
}

// helpCommand is `livefeed help [command]`.
func helpCommand(ctx context.Context, e env) error {
	usage := func() { printUsage(e.stderr) }
	switch {
	case len(e.args) > 1:
		return cli.UsageError(e.stderr, usage, "help takes one command, not %d", len(e.args))
	case len(e.args) == 0 || e.args[0] == "help":
		printUsage(e.stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == e.args[0] {
			return c.run(ctx, env{args: []string{"-help"}, getenv: e.getenv, stdin: e.stdin, stdout: e.stdout, stderr: e.stdout})
		}
	}
	return cli.UsageError(e.stderr, usage, "unknown command %q", e.args[0])
}

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

// PrintDefaults prints the flags' usage.
func (s serving) PrintDefaults() { s.flags.PrintDefaults() }

// serveCommand is `livefeed [flags]`: the server, until ctx ends.
func serveCommand(ctx context.Context, e env) (err error) {
	sv := serveFlags(e.stderr)
	sv.flags.Usage = func() { printUsage(e.stderr) }
	if err := sv.flags.Parse(e.args); err != nil {
		return cli.FlagError(err)
	}
	if sv.flags.NArg() > 0 {
		return cli.UsageError(e.stderr, sv.flags.Usage, "unexpected argument %q: livefeed takes flags only, or a command first", sv.flags.Arg(0))
	}
	if *sv.version {
		printVersion(e.stdout)
		return nil
	}
	cfg, _, builtIn, err := sv.config(e.getenv)
	if err == nil {
		err = cfg.CheckDeployment()
	}
	if err != nil {
		return err
	}
	level := new(slog.LevelVar) // SIGHUP sets it anew
	level.Set(cfg.Log.SlogLevel())
	log := newLogger(e.stderr, cfg.Log.Format, level)
	n, err := openNode(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { // last: once nothing writes any more
		err = errors.Join(err, n.close())
		switch {
		case ctx.Err() == nil: // it did not start
		case err != nil:
			log.Warn("shut down", "err", err)
		default:
			log.Info("shut down")
		}
	}()
	ln, err := n.listen(cfg)
	if err != nil {
		return err
	}
	// SIGHUP is caught before the server says it serves: from then on a
	// hangup reloads, never ends the process.
	stopReloads := reloadOnHangup(&reloader{sv: sv, getenv: e.getenv, log: log, level: level, n: n, running: cfg, listening: ln.Addr().String()})
	defer stopReloads()
	announce(e.stdout, log, ln, n, cfg, builtIn, *sv.configPath)
	if *sv.pprofAt != "" {
		stopProfiler, err := serveProfiler(*sv.pprofAt, log)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer background.Wait()
	defer stopBackground()
	if linger := cfg.Feed.FinalLinger; linger > 0 {
		// On every node of a cluster: the archive is appended only while
		// the final score is the game's latest event, so one node's wins
		// and the others' are no-ops.
		background.Go(func() { archive.Run(bgCtx, n.history, n.eventLog, linger, archiveEvery, log) })
	}
	if *sv.demo {
		publisher := n.demoPublisher(ln)
		background.Go(func() { demo.Run(bgCtx, publisher, func(err error) { log.Warn("demo", "err", err) }) })
		fmt.Fprintln(e.stdout, "  demo game and ticker are publishing to nba/demo/lal-bos and stocks/*")
	}
	return n.serve(ctx, ln, stopBackground)
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

// archiveEvery is how often final games past feed.final_linger are looked
// for: a game leaves the live views at most this much after its time.
const archiveEvery = time.Minute

// node is one running livefeed: the store that gives events their IDs,
// the hub that streams them, and the HTTP server in front.
type node struct {
	log             *slog.Logger
	store           *store.Store
	cluster         *cluster.Node // nil on a single node
	hub             *fanout.Hub
	srv             *handlers.Server
	http            *http.Server
	eventLog        feed.Log         // the store, or the cluster's log
	history         handlers.History // the store, or the cluster node's view of it
	shutdownTimeout time.Duration
	// demoToken is the publish token of the built-in simulation (-demo).
	demoToken string
}

// openNode opens the store and the hub and wires them. The path of an
// event: handlers validate it, the store commits it and gives it its ID,
// and the store's single writer hands committed events on, in ID order,
// to a goroutine that gives them to the hub (the Committed hook below is
// that one piece of code).
func openNode(ctx context.Context, cfg config.Config, log *slog.Logger) (*node, error) {
	n := &node{log: log, demoToken: rand.Text() + rand.Text(), shutdownTimeout: cfg.Server.ShutdownTimeout}
	metrics := handlers.NewMetrics()
	n.hub = fanout.NewHub(fanout.Options{
		Window:       cfg.Feed.Window,
		WindowBytes:  cfg.Feed.WindowBytes,
		Heartbeat:    cfg.Feed.Heartbeat,
		WriteTimeout: cfg.Feed.WriteTimeout,
		Logger:       log,
		DeliveryLag:  metrics.DeliveryLag(),
		// Every subscriber sees who published, in every frame the hub
		// sends (live, from the window, replayed).
		ExposeOperator: cfg.Feed.ExposeOperator,
	})
	st, err := store.Open(cfg.Store.Path, store.Options{
		Synchronous:       cfg.Store.Synchronous,
		Committed:         n.hub.Publish,
		Logger:            log,
		Retention:         store.Retention{MaxAge: cfg.Store.RetentionAge, MaxRows: cfg.Store.RetentionRows},
		MaxDataBytes:      cfg.Feed.MaxEventBytes,
		IdempotencyWindow: cfg.Store.IdempotencyWindow,
	})
	if err != nil {
		n.hub.Close()
		return nil, err
	}
	n.store = st
	if err := preload(ctx, st, n.hub, cfg.Feed.Window); err != nil {
		n.close()
		return nil, err
	}
	keys, err := cfg.SubscriberKeys()
	if err != nil {
		n.close()
		return nil, fmt.Errorf("auth.subscriber_keys%w", err)
	}
	// Single node: the store gives events their IDs. In a cluster, the
	// stream does, and the store mirrors it.
	var eventLog feed.Log = st
	var history handlers.History = st
	var sessions handlers.SessionStore = st
	var status func() handlers.ClusterStatus
	if len(cfg.Cluster.NATSURLs) > 0 {
		if n.cluster, err = openCluster(ctx, st, cfg, log); err != nil {
			n.close()
			return nil, err
		}
		// Sessions too: an operator signed in on one node is signed in
		// on all of them.
		eventLog, history, sessions = n.cluster, n.cluster, n.cluster
		status = func() handlers.ClusterStatus {
			c := n.cluster.Status()
			return handlers.ClusterStatus{Node: c.Node, Applied: c.Applied, StreamLast: c.StreamLast, Connected: c.Connected, Ready: c.Ready, Problem: c.Problem}
		}
	}
	creds := credentialsOf(cfg, keys, n.demoToken)
	n.eventLog, n.history = eventLog, history
	n.srv = handlers.New(handlers.Backends{Log: eventLog, History: history, Sessions: sessions, Hub: n.hub, Cluster: status, Metrics: metrics, StoreStats: func() handlers.StoreStats {
		ss := st.Stats()
		return handlers.StoreStats{Commits: ss.Commits, Events: ss.Events, Busy: ss.Busy, WALFrames: ss.WALFrames}
	}}, handlers.Options{
		PublishTokens:             creds.PublishTokens,
		ScopedPublishTokens:       creds.ScopedPublishTokens,
		PrivateTopics:             cfg.PrivateTopics(),
		SubscriberKeys:            creds.SubscriberKeys,
		AllowedOrigins:            creds.AllowedOrigins,
		Retry:                     cfg.Feed.Retry,
		MaxBodyBytes:              cfg.Server.MaxBodyBytes,
		WriteTimeout:              cfg.Feed.WriteTimeout,
		ReadTimeout:               cfg.Server.ReadTimeout,
		MaxStreams:                maxStreams(cfg.Feed.MaxSubscribers),
		MaxStreamsPerIP:           cfg.Feed.MaxSubscribersPerIP,
		BusyRetry:                 cfg.Feed.BusyRetry,
		MaxPublishStreams:         cfg.Feed.MaxPublishStreams,
		MaxPublishStreamsPerToken: cfg.Feed.MaxPublishStreamsPerToken,
		Proxies:                   cfg.Proxies(),
		OpsToken:                  cfg.Server.OpsToken,
		PublishRate:               cfg.Auth.PublishRate,
		PublishBurst:              cfg.Auth.PublishBurst,
		Web:                       web.Files(),
		Operators:                 creds.Operators,
		SessionLifetime:           cfg.Auth.SessionLifetime,
		ExposeOperator:            cfg.Feed.ExposeOperator,
		Logger:                    log,
		AccessLog:                 cfg.Log.Access,
	})
	n.http = &http.Server{
		Handler:           n.srv.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	n.http.RegisterOnShutdown(n.srv.StopIngest)
	return n, nil
}

// newLogger returns the server's log: text or JSON lines on w, of level
// and above.
func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// listen loads the TLS certificate, if there is one, before anything says
// "https" (a missing or mismatched file stops the start here, with the key
// named), and opens the listener.
func (n *node) listen(cfg config.Config) (net.Listener, error) {
	if cfg.Server.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server.tls_cert, server.tls_key: %w", err)
		}
		n.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	return net.Listen("tcp", cfg.Server.Address)
}

// announce says where the server serves, and what it is missing.
func announce(stdout io.Writer, log *slog.Logger, ln net.Listener, n *node, cfg config.Config, builtIn bool, configPath string) {
	useTLS := n.http.TLSConfig != nil
	base := baseURL(ln.Addr(), useTLS)
	fmt.Fprintf(stdout, "livefeed is serving on %s\n  demo page: %s/\n  admin:     %s/admin\n  events:    %s/events?topic=*\n",
		base, base, base, base)
	if builtIn {
		fmt.Fprintf(stdout, "  settings:  no %s here, so the built-in defaults (README, \"Configuration\"): database %s, %s, %s, no CORS origins\n",
			configPath, cfg.Store.Path,
			count(len(cfg.Auth.PublishTokens), "publish token", "no publish tokens (set "+config.EnvPublishTokens+")"),
			count(len(cfg.Auth.Operators), "operator", "no operators (set "+config.EnvOperators+")"))
	}
	log.Info("started", "address", ln.Addr().String(), "database", n.store.Path(), "last_id", n.store.LastID(), "tls", useTLS)
	if len(cfg.Auth.PublishTokens) == 0 {
		log.Warn("no publish tokens are configured: POST /api/publish will refuse every request")
	}
	if len(cfg.Auth.Operators) == 0 {
		log.Warn("no operator accounts are configured: nobody can sign in to /admin")
	}
	if len(cfg.Auth.PrivateTopics) > 0 && len(cfg.Auth.SubscriberKeys) == 0 {
		log.Warn("auth.private_topics are set but no auth.subscriber_keys: no subscriber can be granted them")
	}
}

// serve serves on ln until ctx ends, then shuts down: it stops accepting,
// lets running requests (publishes) finish, calls stopBackground (the
// demo), and ends the event streams (clients reconnect and resume). The
// database is closed by close, once nothing can write to it.
func (n *node) serve(ctx context.Context, ln net.Listener, stopBackground func()) error {
	served := make(chan error, 1)
	go func() {
		if n.http.TLSConfig != nil {
			served <- n.http.ServeTLS(ln, "", "") // the certificate is in TLSConfig
		} else {
			served <- n.http.Serve(ln)
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	n.log.Info("shutting down")
	stopBackground()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), n.shutdownTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- n.http.Shutdown(shutdownCtx) }()
	n.hub.Close()
	return <-shutdown
}

// openCluster joins the cluster of cfg: this node mirrors the stream into
// st and publishes through it.
func openCluster(ctx context.Context, st *store.Store, cfg config.Config, log *slog.Logger) (*cluster.Node, error) {
	c := cfg.Cluster
	name := c.Node
	if name == "" {
		name, _ = os.Hostname()
	}
	log.Info("joining the cluster", "node", name, "nats", strings.Join(c.NATSURLs, ","), "stream", c.Stream)
	return cluster.Open(ctx, st, cluster.Options{
		URLs: c.NATSURLs, Stream: c.Stream, Subjects: c.Subjects, Replicas: c.Replicas, Node: name,
		Credentials: c.Credentials, Token: c.Token, CAFile: c.CAFile, MaxAge: c.MaxAge, MaxBytes: c.MaxBytes,
		CatchUpWait: c.CatchUpWait, MaxDataBytes: cfg.Feed.MaxEventBytes, Logger: log,
	})
}

// close closes the cluster connection, the hub and the store.
func (n *node) close() error {
	if n.cluster != nil {
		n.cluster.Close()
	}
	n.hub.Close()
	if n.store == nil {
		return nil
	}
	return n.store.Close()
}

// backupCommand is `livefeed backup [-config f] [-db f] FILE`: a consistent
// copy of the database, taken while livefeed serves.
func backupCommand(ctx context.Context, e env) error {
	flags, dbPath, err := storeFlags("backup", "FILE", e)
	if err != nil || flags == nil {
		return err
	}
	out := flags.Arg(0)
	// The copy is at most the database's size (VACUUM INTO leaves out
	// free pages).
	done := cli.WatchGrowth(e.stderr, "backing up", store.BackupTemp(out), dbPath)
	err = store.BackupFile(ctx, dbPath, out)
	done(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s\n", dbPath, out)
	return nil
}

// restoreCommand is `livefeed restore [-config f] [-db f] [-next-id N]
// BACKUP`, run while livefeed is stopped.
func restoreCommand(ctx context.Context, e env) error {
	var nextID int64
	flags, dbPath, err := storeFlags("restore", "BACKUP", e, func(f *flag.FlagSet) {
		f.Int64Var(&nextID, "next-id", 0, "the ID the next event must at least get, if the database being replaced cannot be read")
	})
	if err != nil || flags == nil {
		return err
	}
	done := cli.WatchGrowth(e.stderr, "restoring", store.RestoreTemp(dbPath), flags.Arg(0))
	r, err := store.Restore(ctx, flags.Arg(0), dbPath, nextID)
	done(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s from %s: events up to %d; the next event gets ID %d\n", dbPath, flags.Arg(0), r.BackupLastID, r.NextID)
	if r.NextID > r.BackupLastID+1 {
		fmt.Fprintf(e.stdout, "IDs %d to %d are skipped: clients that saw them get a reset and the current state\n", r.BackupLastID+1, r.NextID-1)
	}
	if r.Replaced != "" {
		fmt.Fprintf(e.stdout, "the previous database is kept as %s\n", r.Replaced)
	}
	return nil
}

// storeFlags parses the flags of a command working on the database file:
// -config and -db, one argument named arg. Flags may come before or after
// the argument ("restore BACKUP -db feed.db"). A nil FlagSet with a nil
// error means help was asked for; on return flags.Arg(0) is the argument.
func storeFlags(name, arg string, e env, more ...func(*flag.FlagSet)) (*flag.FlagSet, string, error) {
	args, getenv, stderr := e.args, e.getenv, e.stderr
	flags := flag.NewFlagSet("livefeed "+name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.toml", "configuration `file`, for store.path")
	dbPath := flags.String("db", "", "database `file`, overriding store.path")
	for _, m := range more {
		m(flags)
	}
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: livefeed %s [flags] %s\n", name, arg)
		flags.PrintDefaults()
	}
	// flag stops at the first argument: parse what follows it too.
	var positional []string
	for rest := args; ; {
		if err := flags.Parse(rest); err != nil {
			return nil, "", cli.FlagError(err)
		}
		left := flags.Args()
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			positional = append(positional, left...) // after "--", only arguments
			break
		}
		if len(left) == 0 {
			break
		}
		positional, rest = append(positional, left[0]), left[1:]
	}
	if len(positional) != 1 {
		got := "none"
		if len(positional) > 1 {
			got = fmt.Sprintf("%d (%s)", len(positional), strings.Trim(fmt.Sprintf("%q", positional), "[]"))
			got = strings.ReplaceAll(got, `" "`, `", "`)
		}
		var synopsis []string
		flags.VisitAll(func(f *flag.Flag) {
			what, _ := flag.UnquoteUsage(f)
			synopsis = append(synopsis, strings.TrimSpace("[-"+f.Name+" "+what)+"]")
		})
		return nil, "", cli.UsageError(stderr, flags.Usage, "livefeed %s takes one argument, %s; got %s. Write: livefeed %s %s %s (the flags before or after %s)",
			name, arg, got, name, arg, strings.Join(synopsis, " "), arg)
	}
	flags.Parse(append([]string{"--"}, positional...)) // so that flags.Arg(0) is the argument
	if *dbPath != "" {
		return flags, *dbPath, nil
	}
	configNamed := false
	flags.Visit(func(f *flag.Flag) { configNamed = configNamed || f.Name == "config" })
	cfg, err := config.Load(*configPath, configNamed, getenv)
	if err != nil {
		return nil, "", err
	}
	return flags, cfg.Store.Path, nil
}

// maxStreams is the configured limit on event streams, or, when 0, the
// process's open-file limit less a reserve of 1,024 for the database, the
// listener and publishers' connections (no limit if that is unknown).
func maxStreams(configured int) int {
	if configured > 0 {
		return configured
	}
	if n := fanout.OpenFileLimit(); n > 2048 {
		return n - 1024
	}
	return 0 // unknown: no limit
}

// preload fills the hub's window and snapshot from the database, so clients
// reconnecting after a restart resume from memory.
func preload(ctx context.Context, st *store.Store, hub *fanout.Hub, window int) error {
	latest, err := st.Latest(ctx)
	if err != nil {
		return fmt.Errorf("load latest events: %w", err)
	}
	recent, err := st.Recent(ctx, window)
	if err != nil {
		return fmt.Errorf("load recent events: %w", err)
	}
	hub.Preload(latest, recent, st.LastID())
	return nil
}

// demoPublisher publishes the simulation's events through the API, with
// the Go client and a token of its own, as any publisher does.
func (n *node) demoPublisher(ln net.Listener) demo.Publisher {
	c := client.New(baseURL(ln.Addr(), n.http.TLSConfig != nil), n.demoToken)
	transport := &http.Transport{
		// Straight to the listener, whatever name the certificate has.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, ln.Addr().String())
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

// serveProfiler serves net/http/pprof on its own listener, never on the
// public one: profiles reveal internals. Only loopback addresses are
// accepted.
func serveProfiler(addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return nil, fmt.Errorf("-pprof %q: must be a loopback host:port such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("profiler", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}

// hashPasswordCommand is `livefeed hash-password`.
func hashPasswordCommand(_ context.Context, e env) error {
	args, stdin, stdout, stderr := e.args, e.stdin, e.stdout, e.stderr
	flags := flag.NewFlagSet("livefeed hash-password", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: livefeed hash-password\n\n"+
			"Reads a new operator's password, at a terminal twice and without showing it,\n"+
			"from a pipe its first line, and prints its bcrypt hash: the password_hash\n"+
			"of [[auth.operators]] in config.toml, or of %s.\n", config.EnvOperators)
	}
	if err := flags.Parse(args); err != nil {
		return cli.FlagError(err)
	}
	if flags.NArg() > 0 {
		return cli.UsageError(stderr, flags.Usage, "hash-password takes no arguments (the password is read, never passed: it would stay in the shell's history)")
	}
	return hashPassword(stdin, stdout, stderr)
}

// hashPassword reads a new operator's password from in and prints its
// bcrypt hash, the value of password_hash in config.toml (or of
// LIVEFEED_OPERATORS). The password is read, not taken as an argument, so
// it stays out of the shell history and the process list.
func hashPassword(in io.Reader, out, prompt io.Writer) error {
	password, err := config.ReadNewPassword(in, prompt)
	if err != nil {
		return err
	}
	if n := utf8.RuneCountInString(password); n < config.MinPasswordLen {
		return fmt.Errorf("the password has %d characters; use at least %d", n, config.MinPasswordLen)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), config.PasswordCost)
	if err != nil {
		return fmt.Errorf("hash the password: %w", err) // longer than bcrypt's 72 bytes
	}
	fmt.Fprintf(out, "%s\n", hash)
	return nil
}

// maxTokenTTL bounds the lifetime of a minted token: subscriber tokens
// are meant to be short-lived, renewed by the site that hands them out.
const maxTokenTTL = 30 * 24 * time.Hour

// tokenCommand is `livefeed token -subscribe PATTERN [-ttl 1h] [-aud A]
// [-config f]`: a subscriber token granting the patterns, signed with the
// first HMAC secret of auth.subscriber_keys, for testing and for simple
// setups (a site with many viewers mints its own, with its own key).
func tokenCommand(_ context.Context, e env) error {
	flags := flag.NewFlagSet("livefeed token", flag.ContinueOnError)
	flags.SetOutput(e.stderr)
	configPath := flags.String("config", "config.toml", "configuration `file`, for auth.subscriber_keys")
	var patterns []string
	flags.Func("subscribe", "a topic `pattern` the token grants, such as 'premium/*' (repeat it, or separate patterns with spaces)", func(v string) error {
		patterns = append(patterns, strings.Fields(v)...)
		return nil
	})
	ttl := flags.Duration("ttl", time.Hour, "how long the token is valid (at most auth.max_token_lifetime, 24h unless configured; 720h at most)")
	audience := flags.String("aud", "", "the audience to name in the token (default: auth.subscriber_audience)")
	flags.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: livefeed token -subscribe PATTERN [-ttl 1h] [-aud AUDIENCE] [-config config.toml]\n\n"+
			"Prints a subscriber token (a JWT, HS256) granting the topic patterns until it\n"+
			"expires, signed with the first HMAC secret of auth.subscriber_keys (or %s).\n"+
			"Subscribe with it: curl -N -H \"Authorization: Bearer $TOKEN\" 'http://HOST/events?topic=premium/*'\n\n", config.EnvSubscriberKeys)
		flags.PrintDefaults()
	}
	if err := flags.Parse(e.args); err != nil {
		return cli.FlagError(err)
	}
	switch {
	case flags.NArg() > 0:
		return cli.UsageError(e.stderr, flags.Usage, "token takes flags only, not %q", flags.Arg(0))
	case len(patterns) == 0:
		return cli.UsageError(e.stderr, flags.Usage, "token needs at least one -subscribe pattern")
	case *ttl <= 0 || *ttl > maxTokenTTL:
		return cli.UsageError(e.stderr, flags.Usage, "-ttl %s is out of range: use a duration from 1s to 720h", *ttl)
	}
	named := false
	flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	cfg, err := config.Load(*configPath, named, e.getenv)
	if err != nil {
		return err
	}
	keys, err := cfg.SubscriberKeys()
	if err != nil {
		return fmt.Errorf("auth.subscriber_keys%w", err)
	}
	aud := cfg.Auth.SubscriberAudience
	if *audience != "" {
		aud = *audience
	}
	tok, err := keys.Mint(patterns, *ttl, aud)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}

// versionCommand is `livefeed version`.
func versionCommand(_ context.Context, e env) error {
	args, stdout, stderr := e.args, e.stdout, e.stderr
	flags := flag.NewFlagSet("livefeed version", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: livefeed version\n\nPrints livefeed's version, the Go version it was built with and the VCS revision it was built from.\n")
	}
	if err := flags.Parse(args); err != nil {
		return cli.FlagError(err)
	}
	if flags.NArg() > 0 {
		return cli.UsageError(stderr, flags.Usage, "version takes no arguments")
	}
	printVersion(stdout)
	return nil
}

// printVersion writes what the binary's build information says: the
// module version ("(devel)" for a build from a checkout), the Go version
// and the revision of the checkout, when the build recorded it.
func printVersion(w io.Writer) {
	version, goVersion, revision := "unknown", runtime.Version(), "unknown (not recorded by the build)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		var rev, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = " of " + s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", with uncommitted changes"
				}
			}
		}
		if rev != "" {
			revision = rev + at + modified
		}
	}
	if version == "" {
		version = "unknown"
	}
	fmt.Fprintf(w, "livefeed %s\n  go:       %s\n  revision: %s\n", version, goVersion, revision)
}

// count says "2 operators", or none when n is 0.
func count(n int, one, none string) string {
	switch n {
	case 0:
		return none
	case 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// baseURL is how a user on this machine reaches the listener.
func baseURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

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
	// listening is the address the server listens on: a new file's
	// secrets are checked against it, and against the address it
	// started with, whatever address the file names.
	listening string
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
// it before it applies anything: a bad file changes nothing. Its secrets
// are checked as strictly as at the start, for where the server listens
// (a file naming a loopback address does not make a server on the
// network accept the sample token). A file that would leave the server
// without a kind of credential it has, without saying so (an emptied or
// cut-short file, the defaults), is refused too: the key must be written
// empty to remove them all.
func (rl *reloader) reload() {
	cfg, given, _, err := rl.sv.config(rl.getenv)
	if err == nil {
		err = cfg.CheckDeploymentAt(rl.listening, rl.running.Server.Address)
	}
	var keys *token.Keys
	if err == nil {
		keys, err = cfg.SubscriberKeys()
	}
	if err != nil {
		rl.log.Error("reload refused: the configuration is not valid, so the settings in effect stay", "err", err)
		return
	}
	if gone := removedAll(rl.running, cfg, given); len(gone) > 0 {
		rl.log.Warn("reload refused: the file would remove every entry of these keys without naming them (write a key as [] to remove them all); the settings in effect stay",
			"would_remove", gone)
		return
	}
	rl.n.srv.SetCredentials(credentialsOf(cfg, keys, rl.n.demoToken))
	rl.n.srv.SetProxies(cfg.Proxies())
	rl.n.srv.SetOpsToken(cfg.Server.OpsToken)
	rl.level.Set(cfg.Log.SlogLevel())
	var applied, restart []string
	for _, key := range config.Changed(rl.running, cfg) {
		if slices.Contains(config.Reloadable, key) {
			applied = append(applied, key)
		} else {
			restart = append(restart, key)
		}
	}
	rl.running = config.WithReloadable(rl.running, cfg)
	rl.log.Info("configuration reloaded", "applied", applied)
	if len(restart) > 0 {
		rl.log.Warn("changed settings need a restart to take effect", "keys", restart)
	}
}

// removedAll lists the keys of the credentials (and trusted proxies) the
// running server has and cfg would leave none of, though neither the file
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
