// Package cli holds livefeed's commands, one a file: serving a node
// (serve.go), the commands on a running server's API on the Go client
// (tail, publish, import), on its database file (backup, restore), and the
// helpers (token, hash-password, version), with the progress bars of the
// commands working on files. main holds the command table and the
// process's signals; how a node is wired is handlers/node's.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"livefeed/handlers/config"
)

// Env is what a command gets from the command line: its arguments and the
// process's environment, input, outputs and signals.
type Env struct {
	Args           []string
	Getenv         func(string) string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Hangups, if set, starts delivering the process's hangups (SIGHUP)
	// and returns them, with a function that stops it: a serving node
	// reloads its configuration on each.
	Hangups func() (<-chan os.Signal, func())
	// Usage, if set, prints livefeed's whole usage (the commands and the
	// flags of serving).
	Usage func(io.Writer)
}

// usage prints livefeed's usage to w, if the command line gave one.
func (e Env) usage(w io.Writer) {
	if e.Usage != nil {
		e.Usage(w)
	}
}

// ErrUsage is a command line that makes no sense: the command has printed
// what is wrong and how it is used (exit status 2).
var ErrUsage = errors.New("usage")

// UsageError prints what is wrong with the command line, then the usage
// of the command, and returns ErrUsage.
func UsageError(stderr io.Writer, usage func(), format string, args ...any) error {
	fmt.Fprintf(stderr, "livefeed: "+format+"\n\n", args...)
	usage()
	return ErrUsage
}

// FlagError turns an error of flag.Parse into a command's: help asked for
// is no error, anything else a usage error (flag has printed both).
func FlagError(err error) error {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case errors.Is(err, ErrUsage):
		return err
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

// parse runs parse (f.Parse, or parseFlags with f) and prints what flag
// prints where the user looks for it: help asked for (-h, -help, --help)
// on stdout, so that `livefeed tail -help | less` shows it, and a bad
// flag with the usage after it on stderr. f's Usage must print to
// f.Output(). It returns flag.ErrHelp once help is printed, and a usage
// error for a bad flag (see FlagError); from then on f prints to stderr,
// for the usage after an error found later.
func (e Env) parse(f *flag.FlagSet, parse func() error) error {
	var said bytes.Buffer
	f.SetOutput(&said)
	err := parse()
	f.SetOutput(e.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		e.Stdout.Write(said.Bytes())
		return err
	case err != nil:
		e.Stderr.Write(said.Bytes())
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}

// parseFlags parses args with f, and returns its arguments: flag stops at
// the first argument, and the flags that follow it are parsed too
// (livefeed publish events.ndjson -keys=file); after "--" everything is
// an argument.
func parseFlags(f *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for rest := args; ; {
		if err := f.Parse(rest); err != nil {
			return nil, err
		}
		left := f.Args()
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			return append(positional, left...), nil
		}
		if len(left) == 0 {
			return positional, nil
		}
		positional, rest = append(positional, left[0]), left[1:]
	}
}

// loadConfig loads the configuration file at path, named by the -config
// flag of flags or its default, with the environment over it. A file
// named on the command line must be there; the default one may be
// missing (the built-in defaults then).
func loadConfig(flags *flag.FlagSet, path string, getenv func(string) string) (config.Config, error) {
	named := false
	flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	return config.Load(path, named, getenv)
}
