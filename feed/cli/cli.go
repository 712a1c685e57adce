// Package cli holds the commands of livefeed's command line that work on
// a running server through its API — tail, publish, import — on the Go
// client, and the progress bars the commands working on files draw.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Env is what a command gets from the command line: its arguments and the
// process's environment, input and outputs.
type Env struct {
	Args           []string
	Getenv         func(string) string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
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
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
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
