package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version is `livefeed version`.
func Version(_ context.Context, e Env) error {
	args, stdout, stderr := e.Args, e.Stdout, e.Stderr
	flags := flag.NewFlagSet("livefeed version", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: livefeed version\n\nPrints livefeed's version, the Go version it was built with and the VCS revision it was built from.\n")
	}
	if err := e.parse(flags, func() error { return flags.Parse(args) }); err != nil {
		return FlagError(err)
	}
	if flags.NArg() > 0 {
		return UsageError(stderr, flags.Usage, "version takes no arguments")
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
