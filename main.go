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
//	livefeed bench -workload W1..W11|W13|all [-url URL] [-pid N] ...   (load tool; -workloads lists them)
//	livefeed version
//	livefeed help [command]
//
// Every command takes -help. This file is the command table and the
// process's signals; each command is a file of handlers/cli, and a serving
// node is wired in handlers/node.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"livefeed/feed/bench"
	"livefeed/handlers/cli"
)

func main() {
	// SIGINT and SIGTERM end the command (a server shuts down cleanly);
	// SIGHUP reloads a server's configuration (see hangups).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, cli.ErrUsage):
		os.Exit(2) // the usage and what was wrong are printed
	case err != nil:
		fmt.Fprintln(os.Stderr, "livefeed:", err)
		os.Exit(1)
	}
}

// command is one of livefeed's subcommands.
type command struct {
	name, summary string // the summary is its line in the usage
	run           func(ctx context.Context, e cli.Env) error
}

// commands are livefeed's subcommands, each a file of handlers/cli (set
// in init: help lists them).
var commands []command

func init() {
	commands = []command{
		{"tail", "print the events of topics as JSON lines, resuming after a disconnect", cli.Tail},
		{"publish", "publish NDJSON events from a file or stdin, in batches", cli.Publish},
		{"import", "publish the rows of a CSV export or a fixtures sheet, in batches", cli.Import},
		{"backup", "copy the database to a file, while livefeed serves", cli.Backup},
		{"restore", "replace the database with a backup, while livefeed is stopped", cli.Restore},
		{"hash-password", "read a new operator's password and print its password_hash", cli.HashPassword},
		{"token", "mint a subscriber token for private topics from the configured HMAC key", cli.Token},
		{"bench", "drive a running server with the workloads of the performance page", func(ctx context.Context, e cli.Env) error {
			err := bench.Main(ctx, e.Args, e.Getenv, e.Stdout, e.Stderr)
			if errors.Is(err, bench.ErrUsage) {
				return fmt.Errorf("%w: %w", cli.ErrUsage, err) // said, with the usage
			}
			return err
		}},
		{"version", "print livefeed's version, its Go version and VCS revision", cli.Version},
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
	cli.PrintServeFlags(w)
}

// run is the whole program, with its inputs and outputs passed in so tests
// can start a real server: it returns when ctx ends and the server has shut
// down, or when it cannot start. An unknown command or a stray argument is
// cli.ErrUsage, and starts nothing.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := cli.Env{Args: args, Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr, Hangups: hangups, Usage: printUsage}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return cli.Serve(ctx, e)
	}
	for _, c := range commands {
		if c.name == args[0] {
			e.Args = args[1:]
			return c.run(ctx, e)
		}
	}
	return cli.UsageError(stderr, func() { printUsage(stderr) }, "unknown command %q", args[0])
}

// hangups delivers the process's SIGHUPs until stop is called: a serving
// node reloads its configuration on each, and a hangup never ends the
// process while it serves.
func hangups() (_ <-chan os.Signal, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// helpCommand is `livefeed help [command]`: the help goes to stdout, as
// with -help.
func helpCommand(ctx context.Context, e cli.Env) error {
	usage := func() { printUsage(e.Stderr) }
	switch {
	case len(e.Args) > 1:
		return cli.UsageError(e.Stderr, usage, "help takes one command, not %d", len(e.Args))
	case len(e.Args) == 0 || e.Args[0] == "help" || isHelpFlag(e.Args[0]):
		printUsage(e.Stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == e.Args[0] {
			help := e
			help.Args = []string{"-help"}
			return c.run(ctx, help)
		}
	}
	return cli.UsageError(e.Stderr, usage, "unknown command %q", e.Args[0])
}

// isHelpFlag reports whether arg asks for help as flag takes it.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--h", "--help":
		return true
	}
	return false
}
