// Command livefeed is a live score and stock-ticker feed server: updates are
// stored in SQLite with increasing IDs and streamed to browsers and services
// over Server-Sent Events, with exact resume after a reconnect.
//
//	livefeed [-config config.toml] [-demo] [-addr host:port] [-db path]
//	livefeed bench -workload W1..W8|all [-url URL] [-pid N] ...   (load tool; -help)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

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
	if len(args) > 0 && args[0] == "bench" {
		return bench.Main(ctx, args[1:], getenv, stdout, stderr)
	}
	flags := flag.NewFlagSet("livefeed", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.toml", "configuration `file`")
	withDemo := flags.Bool("demo", false, "also publish a simulated game and stock ticker")
	addr := flags.String("addr", "", "listen `address`, overriding server.address")
	dbPath := flags.String("db", "", "database `file`, overriding store.path")
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
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := preload(ctx, st, hub, cfg.Feed.Window); err != nil {
		return err
	}

	srv := handlers.New(st, hub, handlers.Options{
		PublishTokens:  cfg.Auth.PublishTokens,
		AllowedOrigins: cfg.CORS.AllowedOrigins,
		Retry:          cfg.Feed.Retry,
		MaxBodyBytes:   cfg.Server.MaxBodyBytes,
		WriteTimeout:   cfg.Feed.WriteTimeout,
		Web:            web.Files(),
		Logger:         log,
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
