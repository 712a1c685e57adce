package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"livefeed/feed"
	"livefeed/handlers/config"
	"livefeed/handlers/token"
)

// maxTokenTTL bounds the lifetime of a minted token: subscriber tokens
// are meant to be short-lived, renewed by the site that hands them out.
const maxTokenTTL = 30 * 24 * time.Hour

// Token is `livefeed token -subscribe PATTERN [-realtime PATTERN]
// [-conflate 1s] [-ttl 1h] [-aud A] [-config f]`: a subscriber token
// granting the patterns (private topics to read, delayed topics to read in
// real time, a conflation interval imposed), signed with the first HMAC
// secret of auth.subscriber_keys, for testing and for simple setups (a
// site with many viewers mints its own, with its own key).
func Token(_ context.Context, e Env) error {
	flags := flag.NewFlagSet("livefeed token", flag.ContinueOnError)
	flags.SetOutput(e.Stderr)
	configPath := flags.String("config", "config.toml", "configuration `file`, for auth.subscriber_keys")
	var patterns []string
	flags.Func("subscribe", "a topic `pattern` the token grants, such as 'premium/*' (repeat it, or separate patterns with spaces)", func(v string) error {
		patterns = append(patterns, strings.Fields(v)...)
		return nil
	})
	var realtime []string
	flags.Func("realtime", "a topic `pattern` the token's holder reads in real time although feed.delayed delays it (repeat it, or separate patterns with spaces)", func(v string) error {
		realtime = append(realtime, strings.Fields(v)...)
		return nil
	})
	conflate := flags.Duration("conflate", 0, "the shortest `interval` at which the holder gets events of a topic, 100ms to 1h (default: as the holder asks)")
	ttl := flags.Duration("ttl", time.Hour, "how long the token is valid (at most auth.max_token_lifetime, 24h unless configured; 720h at most)")
	audience := flags.String("aud", "", "the audience to name in the token (default: auth.subscriber_audience)")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: livefeed token -subscribe PATTERN [-realtime PATTERN] [-conflate 1s] [-ttl 1h] [-aud AUDIENCE] [-config config.toml]\n\n"+
			"Prints a subscriber token (a JWT, HS256) granting the topic patterns until it\n"+
			"expires, signed with the first HMAC secret of auth.subscriber_keys (or %s).\n"+
			"-subscribe grants private topics, -realtime delayed topics in real time; a\n"+
			"token needs one of the two.\n"+
			"Subscribe with it: curl -N -H \"Authorization: Bearer $TOKEN\" 'http://HOST/events?topic=premium/*'\n\n", config.EnvSubscriberKeys)
		flags.PrintDefaults()
	}
	if err := e.parse(flags, func() error { return flags.Parse(e.Args) }); err != nil {
		return FlagError(err)
	}
	switch {
	case flags.NArg() > 0:
		return UsageError(e.Stderr, flags.Usage, "token takes flags only, not %q", flags.Arg(0))
	case len(patterns) == 0 && len(realtime) == 0:
		return UsageError(e.Stderr, flags.Usage, "token needs at least one -subscribe or -realtime pattern")
	case *conflate != 0 && (*conflate < feed.MinConflate || *conflate > feed.MaxConflate):
		return UsageError(e.Stderr, flags.Usage, "-conflate %s is out of range: use %s to %s", feed.FormatDuration(*conflate), feed.FormatDuration(feed.MinConflate), feed.FormatDuration(feed.MaxConflate))
	case *ttl <= 0 || *ttl > maxTokenTTL:
		return UsageError(e.Stderr, flags.Usage, "-ttl %s is out of range: use a duration from 1s to 720h", *ttl)
	}
	cfg, err := loadConfig(flags, *configPath, e.Getenv)
	if err != nil {
		return err
	}
	keys, err := cfg.SubscriberKeys()
	if err != nil {
		return fmt.Errorf("auth.subscriber_keys%w", err)
	}
	aud := cfg.Auth.SubscriberAudience
	if *audience != "" {
		aud = *audience
	}
	tok, err := keys.MintClaims(token.Claims{Subscribe: patterns, Realtime: realtime, Conflate: *conflate}, *ttl, aud)
	if errors.Is(err, token.ErrNoSecret) {
		named, builtIn := configNamed(flags, *configPath)
		where := "of " + *configPath
		if builtIn && !named {
			where = "of a config file (there is no " + *configPath + " here; -config names one)"
		}
		return fmt.Errorf("%w: give one of 32 bytes or more in auth.subscriber_keys %s, or in the environment variable %s", err, where, config.EnvSubscriberKeys)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, tok)
	return nil
}
