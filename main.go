// Command livefeed is a live score and stock-ticker feed server: updates are
// stored in SQLite with increasing IDs and streamed to browsers and services
// over Server-Sent Events, with exact resume after a reconnect.
//
//	livefeed [-config config.toml] [-demo] [-addr host:port] [-db path] [-pprof addr]
//	livefeed backup [-config config.toml] [-db path] FILE
//	livefeed restore [-config config.toml] [-db path] [-next-id N] BACKUP
//	livefeed hash-password < password    (prints the password_hash of an operator)
//	livefeed bench -workload W1..W8|all [-url URL] [-pid N] ...   (load tool; -help)
package main

import (
	"bufio"
	"context"
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
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"livefeed/feed"
	"livefeed/feed/bench"
	"livefeed/feed/demo"
	"livefeed/handlers"
	"livefeed/handlers/config"
	"livefeed/store"
	"livefeed/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "livefeed:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its inputs and outputs passed in so tests
// can start a real server: it returns when ctx ends and the server has shut
// down, or when it cannot start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "backup":
			return backupCommand(ctx, args[1:], getenv, stdout, stderr)
		case "restore":
			return restoreCommand(ctx, args[1:], getenv, stdout, stderr)
		case "hash-password":
			return hashPassword(os.Stdin, stdout, stderr)
		case "bench":
			return bench.Main(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	flags := flag.NewFlagSet("livefeed", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.toml", "configuration `file`")
	withDemo := flags.Bool("demo", false, "also publish a simulated game and stock ticker")
	addr := flags.String("addr", "", "listen `address`, overriding server.address")
	dbPath := flags.String("db", "", "database `file`, overriding store.path")
	pprofAddr := flags.String("pprof", "", "serve Go's profiler (net/http/pprof) on this loopback `address`")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	configNamed := false
	flags.Visit(func(f *flag.Flag) { configNamed = configNamed || f.Name == "config" })
	cfg, err := config.Load(*configPath, configNamed, getenv)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Server.Address = *addr
	}
	if *dbPath != "" {
		cfg.Store.Path = *dbPath
	}
	if err := cfg.CheckDeployment(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The path of an event: the store validates and commits it, giving it
	// its ID, and its single writer hands committed events to the hub in
	// ID order.
	hub := feed.NewHub(feed.Options{
		Window:       cfg.Feed.Window,
		WindowBytes:  cfg.Feed.WindowBytes,
		Heartbeat:    cfg.Feed.Heartbeat,
		WriteTimeout: cfg.Feed.WriteTimeout,
		Logger:       log,
	})
	defer hub.Close()
	st, err := store.Open(cfg.Store.Path, store.Options{
		Synchronous: cfg.Store.Synchronous,
		Committed:   func(events []store.Event) { hub.Publish(handlers.Messages(events)) },
		Logger:      log,
		Retention:   store.Retention{MaxAge: cfg.Store.RetentionAge, MaxRows: cfg.Store.RetentionRows},
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := preload(ctx, st, hub, cfg.Feed.Window); err != nil {
		return err
	}

	var operators []handlers.Operator
	for _, op := range cfg.Auth.Operators {
		operators = append(operators, handlers.Operator{Name: op.Name, PasswordHash: op.PasswordHash})
	}
	srv := handlers.New(st, hub, handlers.Options{
		PublishTokens:   cfg.Auth.PublishTokens,
		AllowedOrigins:  cfg.CORS.AllowedOrigins,
		Retry:           cfg.Feed.Retry,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		WriteTimeout:    cfg.Feed.WriteTimeout,
		MaxStreams:      maxStreams(cfg.Feed.MaxSubscribers),
		MaxStreamsPerIP: cfg.Feed.MaxSubscribersPerIP,
		BusyRetry:       cfg.Feed.BusyRetry,
		ClientIPHeader:  cfg.Server.ClientIPHeader,
		PublishRate:     cfg.Auth.PublishRate,
		PublishBurst:    cfg.Auth.PublishBurst,
		Web:             web.Files(),
		Operators:       operators,
		SessionLifetime: cfg.Auth.SessionLifetime,
		Logger:          log,
	})
	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", cfg.Server.Address)
	if err != nil {
		return err
	}
	tls := cfg.Server.TLSCert != ""
	base := baseURL(ln.Addr(), tls)
	fmt.Fprintf(stdout, "livefeed is serving on %s\n  demo page: %s/\n  admin:     %s/admin\n  events:    %s/events?topic=*\n",
		base, base, base, base)
	log.Info("started", "address", ln.Addr().String(), "database", st.Path(), "last_id", st.LastID(), "tls", tls)
	if len(cfg.Auth.PublishTokens) == 0 {
		log.Warn("no publish tokens are configured: POST /api/publish will refuse every request")
	}
	if len(operators) == 0 {
		log.Warn("no operator accounts are configured: nobody can sign in to /admin")
	}

	if *pprofAddr != "" {
		stopProfiler, err := serveProfiler(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}

	served := make(chan error, 1)
	go func() {
		if tls {
			served <- httpServer.ServeTLS(ln, cfg.Server.TLSCert, cfg.Server.TLSKey)
		} else {
			served <- httpServer.Serve(ln)
		}
	}()
	var background sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	if *withDemo {
		background.Go(func() {
			demo.Run(bgCtx, demoPublisher(st), func(err error) { log.Warn("demo", "err", err) })
		})
		fmt.Fprintln(stdout, "  demo game and ticker are publishing to nba/demo/lal-bos and stocks/*")
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		stopBackground()
		background.Wait()
		return err
	}
	// Shut down: stop accepting and let running requests (publishes)
	// finish, end the event streams (clients reconnect and resume), then
	// close the database once nothing can write to it.
	log.Info("shutting down")
	stopBackground()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- httpServer.Shutdown(shutdownCtx) }()
	hub.Close()
	err = <-shutdown
	background.Wait()
	return errors.Join(err, st.Close())
}

// backupCommand is `livefeed backup [-config f] [-db f] FILE`: a consistent
// copy of the database, taken while livefeed serves.
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags, dbPath, err := storeFlags("backup", "FILE", args, getenv, stderr)
	if err != nil || flags == nil {
		return err
	}
	out := flags.Arg(0)
	if err := store.BackupFile(ctx, dbPath, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", dbPath, out)
	return nil
}

// restoreCommand is `livefeed restore [-config f] [-db f] [-next-id N]
// BACKUP`, run while livefeed is stopped.
func restoreCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var nextID int64
	flags, dbPath, err := storeFlags("restore", "BACKUP", args, getenv, stderr, func(f *flag.FlagSet) {
		f.Int64Var(&nextID, "next-id", 0, "the ID the next event must at least get, if the database being replaced cannot be read")
	})
	if err != nil || flags == nil {
		return err
	}
	r, err := store.Restore(ctx, flags.Arg(0), dbPath, nextID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s from %s: events up to %d; the next event gets ID %d\n", dbPath, flags.Arg(0), r.BackupLastID, r.NextID)
	if r.NextID > r.BackupLastID+1 {
		fmt.Fprintf(stdout, "IDs %d to %d are skipped: clients that saw them get a reset and the current state\n", r.BackupLastID+1, r.NextID-1)
	}
	if r.Replaced != "" {
		fmt.Fprintf(stdout, "the previous database is kept as %s\n", r.Replaced)
	}
	return nil
}

// storeFlags parses the flags of a command working on the database file:
// -config and -db, one argument named arg. A nil FlagSet with a nil error
// means help was asked for.
func storeFlags(name, arg string, args []string, getenv func(string) string, stderr io.Writer, more ...func(*flag.FlagSet)) (*flag.FlagSet, string, error) {
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
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, "", nil
		}
		return nil, "", err
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return nil, "", fmt.Errorf("livefeed %s needs one argument, %s", name, arg)
	}
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
	if n := feed.OpenFileLimit(); n > 2048 {
		return n - 1024
	}
	return 0 // unknown: no limit
}

// preload fills the hub's window and snapshot from the database, so clients
// reconnecting after a restart resume from memory.
func preload(ctx context.Context, st *store.Store, hub *feed.Hub, window int) error {
	latest, err := st.Latest(ctx)
	if err != nil {
		return fmt.Errorf("load latest events: %w", err)
	}
	recent, err := st.Recent(ctx, window)
	if err != nil {
		return fmt.Errorf("load recent events: %w", err)
	}
	hub.Preload(handlers.Messages(latest), handlers.Messages(recent), st.LastID())
	return nil
}

// demoPublisher publishes the simulation's events through the store, like
// the API does.
func demoPublisher(st *store.Store) demo.Publisher {
	return demo.PublisherFunc(func(ctx context.Context, topic, typ string, data any) error {
		raw, err := json.Marshal(data)
		if err != nil {
			return err
		}
		_, err = st.Append(ctx, []store.Update{{Topic: topic, Type: typ, Data: raw}})
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

// hashPassword reads a new operator's password from the first line of in
// and prints its bcrypt hash, the value of password_hash in config.toml
// (or of LIVEFEED_OPERATORS). The password is read from standard input, not
// taken as an argument, so it stays out of the shell history and the
// process list.
func hashPassword(in io.Reader, out, prompt io.Writer) error {
	fmt.Fprintln(prompt, "Type the new operator's password and press Enter:")
	line, err := bufio.NewReader(io.LimitReader(in, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	password := strings.TrimRight(line, "\r\n")
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
