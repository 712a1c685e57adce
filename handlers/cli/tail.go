package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"livefeed/feed"
	"livefeed/feed/client"
)

// EnvToken is the token the feed's commands use when -token is not given:
// a subscriber token for tail, a publish token for publish and import.
const EnvToken = "LIVEFEED_TOKEN"

// feedFlags are the flags of the commands that talk to a running server
// over its API.
type feedFlags struct {
	flags      *flag.FlagSet
	url, token *string
	configPath *string
}

// parseBatched parses the command line of a command publishing in
// batches of -batch events (publish, import), flags before and after its
// arguments, and returns the arguments; flag.ErrHelp once help is printed
// (see FlagError).
func (ff feedFlags) parseBatched(e Env, batch *int) ([]string, error) {
	var args []string
	err := e.parse(ff.flags, func() (err error) {
		args, err = parseFlags(ff.flags, e.Args)
		return err
	})
	if err != nil {
		return nil, err
	}
	if *batch < 1 || *batch > maxBatch {
		return nil, UsageError(e.Stderr, ff.flags.Usage, "-batch %d is out of range: use 1 to %d events", *batch, maxBatch)
	}
	return args, nil
}

// newFeedFlags returns the flag set of `livefeed name` with -url, -token
// and -config; tokenUse says what the token is for.
func newFeedFlags(name, tokenUse string, e Env) feedFlags {
	f := flag.NewFlagSet("livefeed "+name, flag.ContinueOnError)
	f.SetOutput(e.Stderr)
	return feedFlags{
		flags:      f,
		url:        f.String("url", "", "the server's `URL` (default: http://server.address of the config file)"),
		token:      f.String("token", "", "the "+tokenUse+" (default: $"+EnvToken+")"),
		configPath: f.String("config", "config.toml", "configuration `file`, for the default -url"),
	}
}

// client returns a client of the server the flags name.
func (ff feedFlags) client(e Env) (*client.Client, error) {
	base := *ff.url
	if base == "" {
		cfg, err := loadConfig(ff.flags, *ff.configPath, e.Getenv)
		if err != nil {
			return nil, fmt.Errorf("-url not given, and the config file names no address: %w", err)
		}
		scheme := "http"
		if cfg.Server.TLSCert != "" {
			scheme = "https"
		}
		base = scheme + "://" + cfg.Server.Address
	}
	if err := checkBaseURL(base); err != nil {
		return nil, err
	}
	tok, _ := ff.tokenFrom(e)
	return client.New(base, tok), nil
}

// tokenFrom returns the token and where it came from, for messages: the
// -token flag, or the environment variable EnvToken ("" if neither
// gives one).
func (ff feedFlags) tokenFrom(e Env) (tok, from string) {
	if *ff.token != "" {
		return *ff.token, "-token"
	}
	if tok := e.Getenv(EnvToken); tok != "" {
		return tok, "$" + EnvToken
	}
	return "", ""
}

// publisher returns a client of the server the flags name that publishes
// with the token they give, and where that token came from; with no token
// it says how to give one, before anything is read or sent.
func (ff feedFlags) publisher(e Env) (c *client.Client, tokenFrom string, err error) {
	tok, from := ff.tokenFrom(e)
	if tok == "" {
		return nil, "", fmt.Errorf("no publish token: give it with -token, or in the environment variable %s", EnvToken)
	}
	c, err = ff.client(e)
	return c, from, err
}

// checkBaseURL accepts an http or https URL of a server: a host, and
// nothing after the path.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("-url %q is not a URL: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("-url %q: use an http:// or https:// URL, such as http://127.0.0.1:8080", s)
	case u.Host == "":
		return fmt.Errorf("-url %q names no host", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("-url %q: give the server's address only, with no query, fragment or user", s)
	}
	return nil
}

// Tail is `livefeed tail [-url URL] [-token T] [-from ID] [-n N]
// TOPIC...`: the events of the topics, one JSON line each on stdout, for
// as long as it runs. After a disconnect it reconnects by itself and
// resumes after the last event it printed, missing none; a position the
// server cannot resume from is reported on stderr ("reset"), and the
// latest event of each topic follows. A subscriber token the server
// refuses, at the start or once expired, ends it with an error that says
// where to continue from.
func Tail(ctx context.Context, e Env) error {
	ff := newFeedFlags("tail", "subscriber token, for private topics", e)
	from := ff.flags.String("from", "", "print the events after this `ID` first (0: all the history), then live ones; default: the latest event of each topic, then live ones")
	count := ff.flags.Int("n", 0, "stop after `N` events (0: never)")
	ff.flags.Usage = func() {
		fmt.Fprintf(ff.flags.Output(), "usage: livefeed tail [-url URL] [-token T] [-from ID] [-n N] TOPIC...\n\n"+
			"Prints the events of the topics (a topic, a prefix such as 'nba/*', or '*'),\n"+
			"one JSON object a line, resuming by itself after a disconnect.\n\n"+
			"Private topics need a subscriber token. When the server refuses the token,\n"+
			"at the start or once it has expired, tail stops with exit status 1 and says\n"+
			"why, with the -from ID that continues where it stopped: it never goes on\n"+
			"quietly with the public topics only. Without a token it prints the public\n"+
			"topics of the patterns.\n\n")
		ff.flags.PrintDefaults()
	}
	if err := e.parse(ff.flags, func() error { return ff.flags.Parse(e.Args) }); err != nil {
		return FlagError(err)
	}
	topics := ff.flags.Args()
	if len(topics) == 0 {
		return UsageError(e.Stderr, ff.flags.Usage, "tail needs at least one topic pattern, such as 'nba/*' or '*'")
	}
	if _, err := feed.ParseFilter(topics); err != nil {
		return UsageError(e.Stderr, ff.flags.Usage, "%v", err)
	}
	if *from != "" {
		if n, err := strconv.ParseInt(*from, 10, 64); err != nil || n < 0 || strings.TrimLeft(*from, "0123456789") != "" {
			return UsageError(e.Stderr, ff.flags.Usage, "-from %q is not an event ID: use a whole number, 0 or more", *from)
		}
	}
	if *count < 0 {
		return UsageError(e.Stderr, ff.flags.Usage, "-n %d: use a number of events, 0 or more (0: never stop)", *count)
	}
	c, err := ff.client(e)
	if err != nil {
		return err
	}
	_, tokenFrom := ff.tokenFrom(e)
	if c.Token != "" {
		subscriber := c.Token
		c.SubscriberToken = func(context.Context) (string, error) { return subscriber, nil }
	}
	return tail(ctx, c, topics, *from, *count, tokenFrom, e.Stdout, e.Stderr)
}

// tail prints the stream's events until ctx ends (no error) or count are
// printed, or the server refuses the token given with tokenFrom.
func tail(ctx context.Context, c *client.Client, topics []string, from string, count int, tokenFrom string, stdout, stderr io.Writer) error {
	s := c.Subscribe(ctx, topics, from)
	defer s.Close()
	out := bufio.NewWriter(stdout)
	var line []byte
	for printed := 0; count == 0 || printed < count; {
		item, err := s.Next()
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return nil // interrupted: the usual way to stop
		case err != nil:
			return err
		case item.Reset != "":
			out.Flush()
			fmt.Fprintf(stderr, "livefeed tail: reset (%s): the server cannot resume from the position; the latest event of each topic follows\n", item.Reset)
			continue
		case item.Unauthorized != "":
			// The stream would go on with the public topics only: a
			// reader of the output could not tell what is missing.
			if err := out.Flush(); err != nil {
				return err
			}
			return refusedToken(item.Unauthorized, tokenFrom, cmp.Or(s.LastEventID(), from))
		}
		line = append(item.Event.AppendJSON(line[:0]), '\n')
		if _, err := out.Write(line); err != nil {
			return err
		}
		printed++
		if err := out.Flush(); err != nil { // each line as soon as it arrives, as with tail -f
			return err
		}
	}
	return nil
}

// refusedToken is the error of a tail whose subscriber token, given with
// tokenFrom, the server refused for reason; position is where it stopped
// ("" before any).
func refusedToken(reason, tokenFrom, position string) error {
	resume := "run it again with a new one"
	if position != "" {
		resume = "continue where it stopped with a new one and -from " + position
	}
	return fmt.Errorf("the server refused the subscriber token given with %s (%s), so the private topics it granted cannot be received: "+
		"tail stops rather than go on with the public topics only; %s (livefeed token mints one), or run it without a token for the public topics",
		cmp.Or(tokenFrom, "-token"), reason, resume)
}
