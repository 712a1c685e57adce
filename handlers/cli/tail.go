package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"livefeed/feed"
	"livefeed/feed/client"
)

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
	conflate := ff.flags.Duration("conflate", 0, "at most one event per topic every `interval` (100ms to 1h), the latest; default: every event")
	ff.flags.Usage = func() {
		fmt.Fprintf(ff.flags.Output(), "usage: livefeed tail [-url URL] [-token T] [-from ID] [-n N] [-conflate 1s] TOPIC...\n\n"+
			"Prints the events of the topics (a topic, a prefix such as 'nba/*', or '*'),\n"+
			"one JSON object a line, resuming by itself after a disconnect. When it stops\n"+
			"(Ctrl-C, or -n) it says on stderr how many it printed, and the -from that\n"+
			"continues after them.\n\n"+
			"Without -url it talks to the livefeed on this machine that has the database\n"+
			"of config.toml (or -config, or -db) open, else to its server.address, and says\n"+
			"which on stderr; when nobody answers there it stops and says so.\n\n"+
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
	if *conflate != 0 && (*conflate < feed.MinConflate || *conflate > feed.MaxConflate) {
		return UsageError(e.Stderr, ff.flags.Usage, "-conflate %s is out of range: use %s to %s", feed.FormatDuration(*conflate), feed.FormatDuration(feed.MinConflate), feed.FormatDuration(feed.MaxConflate))
	}
	if *count < 0 {
		return UsageError(e.Stderr, ff.flags.Usage, "-n %d: use a number of events, 0 or more (0: never stop)", *count)
	}
	c, r, err := ff.client(e)
	if err != nil {
		return err
	}
	// The stream reconnects by itself for as long as it runs: a server
	// that is not there at the start is said at once, not waited for.
	if err := r.answers(ctx); err != nil {
		return err
	}
	_, tokenFrom := ff.tokenFrom(e)
	if c.Token != "" {
		subscriber := c.Token
		c.SubscriberToken = func(context.Context) (string, error) { return subscriber, nil }
	} else {
		ff.warnPrivate(e, r, topics)
	}
	printed, err := tail(ctx, c, topics, *from, *count, tokenFrom, e.Stdout, e.Stderr, client.Conflate(*conflate))
	if err == nil {
		fmt.Fprintf(e.Stderr, "livefeed tail: %s\n", printed)
	}
	return err
}

// warnPrivate says, for a tail without a token, which of its topic
// patterns reach private topics, as the config file of a server it found
// on this machine, or named with -config, lists them: the server sends
// their public topics only, and says nothing of it.
func (ff feedFlags) warnPrivate(e Env, r remote, topics []string) {
	named := false
	ff.flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	if r.found == "" && !named {
		return // a server named with -url: its configuration is not known here
	}
	cfg, err := loadConfig(ff.flags, *ff.configPath, e.Getenv)
	if err != nil || len(cfg.Auth.PrivateTopics) == 0 {
		return
	}
	var reach []string
	for _, t := range topics {
		f, _ := feed.ParseFilter([]string{t}) // checked
		v := feed.Access{Private: cfg.PrivateTopics()}.Narrow(f)
		if !v.Exact() || v.Bounds().String() != f.String() {
			reach = append(reach, "'"+t+"'")
		}
	}
	if len(reach) == 0 {
		return
	}
	verb := "reach"
	if len(reach) == 1 {
		verb = "reaches"
	}
	fmt.Fprintf(e.Stderr, "livefeed tail: %s %s private topics (auth.private_topics of %s), of which only the public ones are printed without a subscriber token: "+
		"give one with -token, or in the environment variable %s (livefeed token -subscribe PATTERN mints one)\n",
		strings.Join(reach, ", "), verb, *ff.configPath, EnvToken)
}

// tailed is what a tail printed.
type tailed struct {
	events      int
	first, last int64
}

// String says what was printed, and where to continue from.
func (p tailed) String() string {
	switch p.events {
	case 0:
		return "printed no events"
	case 1:
		return fmt.Sprintf("printed 1 event (ID %d); -from %d continues after it", p.last, p.last)
	}
	return fmt.Sprintf("printed %d events (IDs %d to %d); -from %d continues after them", p.events, p.first, p.last, p.last)
}

// tail prints the stream's events until ctx ends (no error) or count are
// printed, or the server refuses the token given with tokenFrom, and
// returns what it printed.
func tail(ctx context.Context, c *client.Client, topics []string, from string, count int, tokenFrom string, stdout, stderr io.Writer, opts ...client.SubscribeOption) (printed tailed, err error) {
	s := c.Subscribe(ctx, topics, from, opts...)
	defer s.Close()
	out := bufio.NewWriter(stdout)
	var line []byte
	for count == 0 || printed.events < count {
		item, err := s.Next()
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return printed, nil // interrupted: the usual way to stop
		case err != nil:
			return printed, err
		case item.Delayed != 0:
			out.Flush()
			fmt.Fprintf(stderr, "livefeed tail: the stream is delayed by %s (delayed topics without a real-time grant)\n", feed.DescribeDelay(item.Delayed))
			continue
		case item.Reset != "":
			out.Flush()
			fmt.Fprintf(stderr, "livefeed tail: reset (%s): the server cannot resume from the position; the latest event of each topic follows\n", item.Reset)
			continue
		case item.Unauthorized != "":
			// The stream would go on with the public topics only: a
			// reader of the output could not tell what is missing.
			if err := out.Flush(); err != nil {
				return printed, err
			}
			return printed, refusedToken(item.Unauthorized, tokenFrom, cmp.Or(s.LastEventID(), from))
		}
		line = append(item.Event.AppendJSON(line[:0]), '\n')
		if _, err := out.Write(line); err != nil {
			return printed, err
		}
		if printed.events == 0 {
			printed.first = item.Event.ID
		}
		printed.events, printed.last = printed.events+1, item.Event.ID
		if err := out.Flush(); err != nil { // each line as soon as it arrives, as with tail -f
			return printed, err
		}
	}
	return printed, nil
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
