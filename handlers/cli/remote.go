package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"livefeed/feed/client"
	"livefeed/store"
)

// EnvToken is the token the feed's commands use when -token is not given:
// a subscriber token for tail, a publish token for publish and import.
const EnvToken = "LIVEFEED_TOKEN"

// feedFlags are the flags of the commands that talk to a running server
// over its API (tail, publish, import), and the command's name.
type feedFlags struct {
	name               string
	flags              *flag.FlagSet
	url, token         *string
	configPath, dbPath *string
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

// newFeedFlags returns the flag set of `livefeed name` with -url, -token,
// -config and -db; tokenUse says what the token is for.
func newFeedFlags(name, tokenUse string, e Env) feedFlags {
	f := flag.NewFlagSet("livefeed "+name, flag.ContinueOnError)
	f.SetOutput(e.Stderr)
	return feedFlags{
		name:       name,
		flags:      f,
		url:        f.String("url", "", "the server's `URL` (default: the livefeed on this machine that has the database open, else http://server.address of the config file)"),
		token:      f.String("token", "", "the "+tokenUse+" (default: $"+EnvToken+")"),
		configPath: f.String("config", "config.toml", "configuration `file`, for the default -url: its store.path and server.address"),
		dbPath:     f.String("db", "", "database `file` of the server on this machine to talk to, overriding store.path"),
	}
}

// remote is the server a command talks to, and how it was found.
type remote struct {
	url string
	// found says how, when -url did not say: "the livefeed that has
	// data/livefeed.db open, process 1234", "server.address of
	// config.toml; no livefeed has data/livefeed.db open". "" for -url.
	found string
	// start is the command that starts a server there, for one that
	// does not answer ("livefeed -config feed.toml").
	start string
}

// String names the server for messages: its URL, and how it was found.
func (r remote) String() string {
	return fmt.Sprintf("%s (%s)", r.url, cmp.Or(r.found, "-url"))
}

// remote finds the server the flags name: the one -url gives; else the
// livefeed on this machine that has the database open, whichever address
// it was told to listen on (the database's lock file says where it
// serves); else the address of the config file. The database and the
// address are the config file's (-config, or config.toml here, or the
// built-in defaults if there is none), -db overriding the database.
// What was not given is said on stderr, a line.
func (ff feedFlags) remote(e Env) (remote, error) {
	if *ff.url != "" {
		return remote{url: *ff.url}, checkBaseURL(*ff.url)
	}
	cfg, err := loadConfig(ff.flags, *ff.configPath, e.Getenv)
	if err != nil {
		return remote{}, fmt.Errorf("-url not given, and the config file that names the server cannot be read: %w", err)
	}
	named, builtIn := configNamed(ff.flags, *ff.configPath)
	db := cmp.Or(*ff.dbPath, cfg.Store.Path)
	r := remote{start: "livefeed"}
	if named {
		r.start += " -config " + *ff.configPath
	}
	if *ff.dbPath != "" {
		r.start += " -db " + *ff.dbPath
	}
	h, held := store.HolderOf(db)
	if held && h.URL != "" {
		r.url, r.found = h.URL, fmt.Sprintf("the livefeed that has %s open, process %d", db, h.PID)
	} else {
		r.url = localURL(cfg.Server.Address, cfg.Server.TLSCert != "")
		r.found = "server.address of " + *ff.configPath
		if builtIn {
			r.found = "the built-in server.address, as there is no " + *ff.configPath + " here"
		}
		if held { // a restore, or a server not listening yet
			r.found += fmt.Sprintf("; process %d has %s open, and serves nothing", h.PID, db)
		} else {
			r.found += "; no livefeed has " + db + " open"
		}
	}
	if err := checkBaseURL(r.url); err != nil {
		return remote{}, fmt.Errorf("%s: %w", r.found, err)
	}
	fmt.Fprintf(e.Stderr, "livefeed %s: talking to %s; give -url for another\n", ff.name, r)
	return r, nil
}

// configNamed reports whether the config file at path was named with
// -config, and whether the built-in defaults are in use, as there is no
// file at the default path.
func configNamed(flags *flag.FlagSet, path string) (named, builtIn bool) {
	flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	_, err := os.Stat(path)
	return named, !named && errors.Is(err, os.ErrNotExist)
}

// localURL is how a user on this machine reaches a server listening on
// address: a host left out or unspecified ("0.0.0.0", "[::]") is this
// machine.
func localURL(address string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return scheme + "://" + address // checkBaseURL says what is wrong
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// answers reports whether a server listens at r: no answer is said with
// what to do. A server that listens but is slow to answer is not waited
// for here.
func (r remote) answers(ctx context.Context) error {
	u, err := url.Parse(r.url)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return r.noAnswer(err)
	}
	return c.Close()
}

// noAnswer is the error of a server that could not be reached (err).
func (r remote) noAnswer(err error) error {
	return fmt.Errorf("no livefeed answers at %s: %w. %s", r, err, r.whatToDo())
}

// whatToDo says what to do when no server answers at r.
func (r remote) whatToDo() string {
	if r.found == "" {
		return "Check -url, or start the server"
	}
	return fmt.Sprintf("Start one (%s), or give the address of a running one with -url", r.start)
}

// client returns a client of the server the flags name, and the server.
func (ff feedFlags) client(e Env) (*client.Client, remote, error) {
	r, err := ff.remote(e)
	if err != nil {
		return nil, r, err
	}
	tok, _ := ff.tokenFrom(e)
	return client.New(r.url, tok), r, nil
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

// errNoPublishToken is a publish or import without a token.
var errNoPublishToken = errors.New("no publish token: give it with -token, or in the environment variable " + EnvToken)

// publisher returns a client of the server the flags name that publishes
// with the token they give, the server, and where that token came from;
// with no token it says how to give one, before anything is read or sent.
func (ff feedFlags) publisher(e Env) (c *client.Client, r remote, tokenFrom string, err error) {
	tok, from := ff.tokenFrom(e)
	if tok == "" {
		return nil, r, "", errNoPublishToken
	}
	c, r, err = ff.client(e)
	return c, r, from, err
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
