package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"livefeed/handlers/config"
)

// HashPassword is `livefeed hash-password`.
func HashPassword(_ context.Context, e Env) error {
	args, stdin, stdout, stderr := e.Args, e.Stdin, e.Stdout, e.Stderr
	flags := flag.NewFlagSet("livefeed hash-password", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: livefeed hash-password\n\n"+
			"Reads a new operator's password, at a terminal twice and without showing it,\n"+
			"from a pipe its first line, and prints its bcrypt hash: the password_hash\n"+
			"of [[auth.operators]] in config.toml, or of %s.\n", config.EnvOperators)
	}
	if err := e.parse(flags, func() error { return flags.Parse(args) }); err != nil {
		return FlagError(err)
	}
	if flags.NArg() > 0 {
		return UsageError(stderr, flags.Usage, "hash-password takes no arguments (the password is read, never passed: it would stay in the shell's history)")
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
