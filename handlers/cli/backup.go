package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"livefeed/store"
)

// Backup is `livefeed backup [-config f] [-db f] FILE`: a consistent
// copy of the database, taken while livefeed serves.
func Backup(ctx context.Context, e Env) error {
	flags, dbPath, err := storeFlags("backup", "FILE", e)
	if err != nil || flags == nil {
		return err
	}
	out := flags.Arg(0)
	// The copy is at most the database's size (VACUUM INTO leaves out
	// free pages).
	done := WatchGrowth(e.Stderr, "backing up", store.BackupTemp(out), dbPath)
	err = store.BackupFile(ctx, dbPath, out)
	done(err == nil)
	if err != nil {
		return err
	}
	// What the copy holds: the snapshot of the moment it was taken.
	holds := ""
	if last, err := store.LastIDOf(ctx, out); err == nil {
		holds = fmt.Sprintf("events up to ID %d", last)
	}
	if fi, err := os.Stat(out); err == nil {
		holds = strings.TrimPrefix(holds+", "+size(fi.Size()), ", ")
	}
	if holds != "" {
		holds = ": " + holds
	}
	fmt.Fprintf(e.Stdout, "backed up %s to %s%s\n", dbPath, out, holds)
	return nil
}

// size says n bytes in the unit that fits.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Restore is `livefeed restore [-config f] [-db f] [-next-id N]
// BACKUP`, run while livefeed is stopped.
func Restore(ctx context.Context, e Env) error {
	var nextID int64
	flags, dbPath, err := storeFlags("restore", "BACKUP", e, func(f *flag.FlagSet) {
		f.Int64Var(&nextID, "next-id", 0, "the ID the next event must at least get, if the database being replaced cannot be read")
	})
	if err != nil || flags == nil {
		return err
	}
	done := WatchGrowth(e.Stderr, "restoring", store.RestoreTemp(dbPath), flags.Arg(0))
	r, err := store.Restore(ctx, flags.Arg(0), dbPath, nextID)
	done(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "restored %s from %s: events up to %d; the next event gets ID %d\n", dbPath, flags.Arg(0), r.BackupLastID, r.NextID)
	if r.NextID > r.BackupLastID+1 {
		fmt.Fprintf(e.Stdout, "IDs %d to %d are skipped: clients that saw them get a reset and the current state\n", r.BackupLastID+1, r.NextID-1)
	}
	if r.Replaced != "" {
		fmt.Fprintf(e.Stdout, "the previous database is kept as %s\n", r.Replaced)
	}
	return nil
}

// storeFlags parses the flags of a command working on the database file:
// -config and -db, one argument named arg. Flags may come before or after
// the argument ("restore BACKUP -db feed.db"). A nil FlagSet with a nil
// error means help was asked for; on return flags.Arg(0) is the argument.
func storeFlags(name, arg string, e Env, more ...func(*flag.FlagSet)) (*flag.FlagSet, string, error) {
	args, getenv, stderr := e.Args, e.Getenv, e.Stderr
	flags := flag.NewFlagSet("livefeed "+name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.toml", "configuration `file`, for store.path")
	dbPath := flags.String("db", "", "database `file`, overriding store.path")
	for _, m := range more {
		m(flags)
	}
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: livefeed %s [flags] %s\n", name, arg)
		flags.PrintDefaults()
	}
	var positional []string
	err := e.parse(flags, func() (err error) {
		positional, err = parseFlags(flags, args)
		return err
	})
	if err != nil {
		return nil, "", FlagError(err)
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
		return nil, "", UsageError(stderr, flags.Usage, "livefeed %s takes one argument, %s; got %s. Write: livefeed %s %s %s (the flags before or after %s)",
			name, arg, got, name, arg, strings.Join(synopsis, " "), arg)
	}
	flags.Parse(append([]string{"--"}, positional...)) // so that flags.Arg(0) is the argument
	if *dbPath != "" {
		return flags, *dbPath, nil
	}
	cfg, err := loadConfig(flags, *configPath, getenv)
	if err != nil {
		return nil, "", err
	}
	return flags, cfg.Store.Path, nil
}
