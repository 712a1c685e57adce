// Package config reads livefeed's config.toml: defaults, the file, then
// secrets from the environment, and validates the result before the server
// starts, naming the key of any bad value. It also says which keys a
// running server takes anew on SIGHUP (Reloadable) and applies them
// (ApplyTo), in one place. Opening and wiring a node from a configuration
// is handlers/node's; flags and files named on the command line are
// handlers/cli's.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/bcrypt"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/handlers"
	"livefeed/handlers/token"
	"livefeed/store"
	"livefeed/store/cluster"
)

// Config is the whole configuration. The TOML keys are the snake_case field
// tags; config.toml at the top of the repository documents each one.
type Config struct {
	Server  Server  `toml:"server"`
	Store   Store   `toml:"store"`
	Feed    Feed    `toml:"feed"`
	Cluster Cluster `toml:"cluster"`
	Auth    Auth    `toml:"auth"`
	CORS    CORS    `toml:"cors"`
	Log     Log     `toml:"log"`

	// env names the environment variable that set a key (such as
	// "auth.publish_tokens"), so that errors point at it, not the file.
	env map[string]string
}

// Server configures the HTTP listener.
type Server struct {
	Address           string        `toml:"address"`
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	ReadTimeout       time.Duration `toml:"read_timeout"`
	WriteTimeout      time.Duration `toml:"write_timeout"`
	IdleTimeout       time.Duration `toml:"idle_timeout"`
	ShutdownTimeout   time.Duration `toml:"shutdown_timeout"`
	MaxBodyBytes      int64         `toml:"max_body_bytes"`
	TLSCert           string        `toml:"tls_cert"`
	TLSKey            string        `toml:"tls_key"`
	ClientIPHeader    string        `toml:"client_ip_header"`
	// TrustedProxies are the reverse proxies (addresses, CIDR prefixes)
	// whose X-Forwarded-For (or ClientIPHeader) and X-Forwarded-Proto
	// are believed; see handlers.Proxies.
	TrustedProxies []string `toml:"trusted_proxies"`
	// OpsToken, if set, is the bearer token that opens the detail of
	// /healthz and /metrics to clients not on this machine.
	OpsToken string `toml:"ops_token"`
}

// Log configures the server's log.
type Log struct {
	// Format is "text" (key=value lines) or "json" (one object a line).
	Format string `toml:"format"`
	// Level is the least severe level logged: "debug", "info", "warn" or
	// "error".
	Level string `toml:"level"`
	// Access logs a line for every request (method, route, status,
	// bytes, duration, client address).
	Access bool `toml:"access"`
}

// LogFormats and LogLevels are the values of log.format and log.level.
var (
	LogFormats = []string{"text", "json"}
	LogLevels  = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
)

// SlogLevel is log.level as a slog.Level (info if it is not one of
// LogLevels; Validate refuses that).
func (l Log) SlogLevel() slog.Level { return LogLevels[l.Level] }

// Store configures the SQLite database.
type Store struct {
	Path          string        `toml:"path"`
	Synchronous   string        `toml:"synchronous"`
	RetentionAge  time.Duration `toml:"retention_age"`
	RetentionRows int64         `toml:"retention_rows"`
	// IdempotencyWindow is how long a publish's Idempotency-Key is
	// remembered.
	IdempotencyWindow time.Duration `toml:"idempotency_window"`
}

// Feed configures event streams.
type Feed struct {
	Heartbeat    time.Duration `toml:"heartbeat"`
	Retry        time.Duration `toml:"retry"`
	Window       int           `toml:"window"`
	WindowBytes  int           `toml:"window_bytes"`
	WriteTimeout time.Duration `toml:"write_timeout"`
	// MaxEventBytes bounds the data of one event.
	MaxEventBytes int `toml:"max_event_bytes"`
	// MaxSubscribers 0 means as many as the process's open-file limit
	// allows, less a reserve.
	MaxSubscribers      int           `toml:"max_subscribers"`
	MaxSubscribersPerIP int           `toml:"max_subscribers_per_ip"`
	BusyRetry           time.Duration `toml:"busy_retry"`
	// MaxPublishStreams and MaxPublishStreamsPerToken bound the open
	// streaming publishes (0: no limit).
	MaxPublishStreams         int `toml:"max_publish_streams"`
	MaxPublishStreamsPerToken int `toml:"max_publish_streams_per_token"`
	// MaxTopics bounds the topics the server holds (0: no limit): an
	// event to a new topic beyond it is refused.
	MaxTopics int `toml:"max_topics"`
	// FinalLinger is how long a game whose latest score is final stays in
	// the live views before it is archived by itself (0: never).
	FinalLinger time.Duration `toml:"final_linger"`
	// ExposeOperator sends the name of the operator who published an
	// event from the console to every reader of the feed, not only to
	// operators.
	ExposeOperator bool `toml:"expose_operator"`
	// NeverMerge are event types conflation never merges away (archive
	// events never are): each reaches conflated subscribers.
	NeverMerge []string `toml:"never_merge"`
	// Delayed are the delayed tiers ([[feed.delayed]]): their topics
	// reach readers without a real-time grant only once their delay old.
	Delayed []DelayedTier `toml:"delayed"`
	// Conflate are minimum conflation intervals ([[feed.conflate]]):
	// subscribers of their topics get at most one event per topic per
	// interval.
	Conflate []ConflateMinimum `toml:"conflate"`
	// Stale are the watched topics ([[feed.stale]]): one that hears
	// neither an event nor a heartbeat for its after is stale to its
	// subscribers until it hears again. A topic takes the first table
	// that holds it.
	Stale []StaleRule `toml:"stale"`
	// Viewers is who is told how many streams receive each topic (see
	// ViewersPolicies): nobody, operators only, or everybody, who is
	// told "fewer than ViewersMin" below it.
	Viewers    string `toml:"viewers"`
	ViewersMin int    `toml:"viewers_min"`
}

// ViewersPolicies are the values of feed.viewers.
var ViewersPolicies = []string{handlers.ViewersOff, handlers.ViewersOperators, handlers.ViewersPublic}

// MaxViewersMin bounds feed.viewers_min: a threshold above it would hide
// every figure of any feed this server can serve.
const MaxViewersMin = 1_000_000

// AudienceEvery is how long the hub keeps a count of its audience: 0
// where feed.viewers is off, so that nothing is counted.
func (c Config) AudienceEvery() time.Duration {
	if c.Feed.Viewers == handlers.ViewersOff {
		return 0
	}
	return fanout.DefaultAudience
}

// StaleRule is a [[feed.stale]] table: topic patterns, and how long one
// of them may hear nothing before it is stale.
type StaleRule struct {
	Topics []string      `toml:"topics"`
	After  time.Duration `toml:"after"`
}

// UnmarshalTOML reads a [[feed.stale]] table.
func (r *StaleRule) UnmarshalTOML(v any) error {
	var err error
	r.Topics, r.After, err = tierTable(v, "after", "10s")
	return err
}

// DelayedTier is a [[feed.delayed]] table: topic patterns and their
// delay.
type DelayedTier struct {
	Topics []string      `toml:"topics"`
	Delay  time.Duration `toml:"delay"`
}

// ConflateMinimum is a [[feed.conflate]] table: topic patterns and the
// shortest interval at which a subscriber gets events of one of them.
type ConflateMinimum struct {
	Topics   []string      `toml:"topics"`
	Interval time.Duration `toml:"interval"`
}

// UnmarshalTOML reads a [[feed.delayed]] table.
func (d *DelayedTier) UnmarshalTOML(v any) error {
	var err error
	d.Topics, d.Delay, err = tierTable(v, "delay", "15m")
	return err
}

// UnmarshalTOML reads a [[feed.conflate]] table.
func (m *ConflateMinimum) UnmarshalTOML(v any) error {
	var err error
	m.Topics, m.Interval, err = tierTable(v, "interval", "1s")
	return err
}

// tierTable reads a table of topic patterns ("topics") and a duration
// (named key), which, as every duration of the file, must be a string
// with a unit (a bare number would be nanoseconds); example is one.
func tierTable(v any, key, example string) (topics []string, d time.Duration, err error) {
	table, ok := v.(map[string]any)
	if !ok {
		return nil, 0, fmt.Errorf("must be a table of topics and %s, such as {topics = [\"stocks/*\"], %s = %q}", key, key, example)
	}
	for k, x := range table {
		switch k {
		case "topics":
			list, ok := x.([]any)
			for _, t := range list {
				s, isString := t.(string)
				ok = ok && isString
				topics = append(topics, s)
			}
			if !ok {
				return nil, 0, errors.New("topics must be an array of topic patterns")
			}
		case key:
			s, isString := x.(string)
			if !isString {
				return nil, 0, fmt.Errorf("%s: a duration needs a unit, as a string such as %q (a bare number would be nanoseconds)", key, example)
			}
			if d, err = time.ParseDuration(s); err != nil {
				return nil, 0, fmt.Errorf("%s: %q is not a duration such as %q", key, s, example)
			}
		default:
			return nil, 0, fmt.Errorf("unknown key %q: the keys are topics and %s", k, key)
		}
	}
	return topics, d, nil
}

// Auth holds credentials.
type Auth struct {
	PublishTokens   []PublishToken `toml:"publish_tokens"`
	PublishRate     float64        `toml:"publish_rate"`
	PublishBurst    int            `toml:"publish_burst"`
	SessionLifetime time.Duration  `toml:"session_lifetime"`
	Operators       []Operator     `toml:"operators"`
	// PrivateTopics are topic patterns whose events only subscribers with
	// a token granting them see.
	PrivateTopics []string `toml:"private_topics"`
	// SubscriberKeys verify subscriber tokens (see token.ParseKeys).
	SubscriberKeys []string `toml:"subscriber_keys"`
	// SubscriberAudience, if set, is what subscriber tokens must name in
	// "aud".
	SubscriberAudience string `toml:"subscriber_audience"`
	// MaxTokenLifetime is how far ahead a subscriber token's "exp" may
	// be: a stream lives as long as its token, so one that never expires
	// would never end.
	MaxTokenLifetime time.Duration `toml:"max_token_lifetime"`
}

// PublishToken is an entry of auth.publish_tokens: a bearer token, and the
// topic patterns it may publish to (none: any topic). In the file, a
// string is a token for any topic and a table {token = "...", topics =
// [...]} a token for those topics only.
type PublishToken struct {
	Token  string   `toml:"token"`
	Topics []string `toml:"topics"`
	// MaxTopics bounds the topics Topics match (0: only feed.max_topics
	// does): a partner's token cannot take the server's every topic.
	MaxTopics int `toml:"max_topics"`
}

// UnmarshalTOML reads a string or a {token, topics} table.
func (p *PublishToken) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*p = PublishToken{Token: v}
		return nil
	case map[string]any:
		*p = PublishToken{}
		for k, x := range v {
			switch k {
			case "token":
				s, ok := x.(string)
				if !ok {
					return errors.New("a publish token's token must be a string")
				}
				p.Token = s
			case "topics":
				list, ok := x.([]any)
				if !ok {
					return errors.New("a publish token's topics must be an array of topic patterns")
				}
				for _, t := range list {
					s, ok := t.(string)
					if !ok {
						return errors.New("a publish token's topics must be an array of topic patterns")
					}
					p.Topics = append(p.Topics, s)
				}
				if len(p.Topics) == 0 {
					return errors.New("a publish token's topics must not be empty: leave the key out for a token that may publish anywhere")
				}
			case "max_topics":
				n, ok := x.(int64)
				if !ok {
					return errors.New("a publish token's max_topics must be a whole number")
				}
				p.MaxTopics = int(max(min(n, math.MaxInt32), math.MinInt32)) // out of range either way: Validate names it
			default:
				return fmt.Errorf("unknown key %q in a publish token: the keys are token, topics and max_topics", k)
			}
		}
		return nil
	}
	return errors.New("an entry of publish_tokens must be a string or a table {token = \"...\", topics = [\"partner/*\"]}")
}

// Tokens returns the tokens of entries, for code that needs no scope.
func Tokens(entries []PublishToken) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Token
	}
	return out
}

// Operator is an account of the admin console. The password is kept only
// as a bcrypt hash (print one with "livefeed hash-password").
type Operator struct {
	Name         string `toml:"name"`
	PasswordHash string `toml:"password_hash"`
}

// Cluster configures cluster mode on NATS JetStream; no NATSURLs is a
// single node.
type Cluster struct {
	NATSURLs    []string      `toml:"nats_urls"`
	Stream      string        `toml:"stream"`
	Subjects    string        `toml:"subjects"`
	Replicas    int           `toml:"replicas"`
	Node        string        `toml:"node"`
	Credentials string        `toml:"credentials"`
	Token       string        `toml:"token"`
	CAFile      string        `toml:"ca_file"`
	MaxAge      time.Duration `toml:"max_age"`
	MaxBytes    int64         `toml:"max_bytes"`
	CatchUpWait time.Duration `toml:"catch_up_wait"`
}

// CORS lists the web origins allowed to read the feed from a browser.
type CORS struct {
	AllowedOrigins []string `toml:"allowed_origins"`
}

// Environment variables that override secrets in the file.
const (
	// EnvPublishTokens: comma-separated entries, each a token, or a token
	// then spaces and the topic patterns it may publish to.
	EnvPublishTokens  = "LIVEFEED_PUBLISH_TOKENS"
	EnvOperators      = "LIVEFEED_OPERATORS"         // comma-separated name:password_hash
	EnvSubscriberKeys = "LIVEFEED_SUBSCRIBER_KEYS"   // comma-separated entries of auth.subscriber_keys
	EnvNATSURLs       = "LIVEFEED_CLUSTER_NATS_URLS" // comma-separated
	EnvNATSToken      = "LIVEFEED_CLUSTER_TOKEN"
	EnvOpsToken       = "LIVEFEED_OPS_TOKEN"
)

// SampleToken is the publish token of the sample config.toml: fine on
// one's own machine, refused on a network address.
const SampleToken = "dev-publish-token-change-me"

// MinTokenLen is the shortest publish token accepted: shorter ones can be
// guessed. On a network address a token must have MinNetworkTokenLen
// characters.
const (
	MinTokenLen        = 16
	MinNetworkTokenLen = 32
)

// The sample operator of config.toml: fine on one's own machine, refused
// on a network address, as is any other hash of SamplePassword.
const (
	SampleOperatorName = "admin"
	SamplePassword     = "admin-change-me"
	SamplePasswordHash = "$2a$12$dyCzBjyc3cVN4DHHrJhMm..qRBozTIeSFDeRuD7ultv362jo3rv7K"
)

// Operator passwords: the shortest accepted by "livefeed hash-password",
// the bcrypt cost it uses, and the costs accepted in the configuration:
// at least OWASP's minimum for bcrypt, at most what checks a sign-in in
// about a second (each step doubles the time).
const (
	MinPasswordLen  = 12
	PasswordCost    = 12
	MinPasswordCost = 10
	MaxPasswordCost = 14
)

// DefaultMaxTopics is how many topics a server holds by default: each
// costs it about a kilobyte of memory for as long as it runs (its latest
// event, kept encoded for the snapshot of new subscribers, and its entry
// in the topic index), so 100,000 take about 100 MB.
const DefaultMaxTopics = 100_000

// DefaultFinalLinger is how long a final game stays in the live views by
// default: the evening of the game, for viewers who come late.
const DefaultFinalLinger = 3 * time.Hour

// Default returns the built-in configuration, used for every key the file
// does not set.
func Default() Config {
	return Config{
		Server: Server{
			Address:           "127.0.0.1:8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   10 * time.Second,
			MaxBodyBytes:      1 << 20,
		},
		Store: Store{
			Path:              "data/livefeed.db",
			Synchronous:       "normal",
			IdempotencyWindow: store.DefaultIdempotencyWindow,
		},
		Feed: Feed{
			Heartbeat:                 fanout.DefaultHeartbeat,
			Retry:                     2 * time.Second,
			Window:                    fanout.DefaultWindow,
			WindowBytes:               fanout.DefaultWindowBytes,
			WriteTimeout:              fanout.DefaultWriteTimeout,
			MaxEventBytes:             feed.MaxDataBytes,
			MaxSubscribersPerIP:       500,
			BusyRetry:                 handlers.DefaultBusyRetry,
			MaxPublishStreams:         handlers.DefaultMaxPublishStreams,
			MaxPublishStreamsPerToken: handlers.DefaultMaxPublishStreamsPerToken,
			MaxTopics:                 DefaultMaxTopics,
			FinalLinger:               DefaultFinalLinger,
			Viewers:                   handlers.ViewersOperators,
			ViewersMin:                10,
		},
		Auth: Auth{
			SessionLifetime:  handlers.DefaultSessionLifetime,
			MaxTokenLifetime: token.DefaultMaxLifetime,
		},
		Log: Log{Format: "text", Level: "info"},
		Cluster: Cluster{
			Stream:      cluster.DefaultStream,
			Subjects:    cluster.DefaultSubjects,
			Replicas:    1,
			CatchUpWait: cluster.DefaultCatchUpWait,
		},
	}
}

// Load reads the file at path over the defaults, applies the environment
// and validates. A missing file is an error only if required is set (the
// user named it with -config); otherwise the defaults stand. Errors name
// the file and the key, or the environment variable that set the key.
func Load(path string, required bool, getenv func(string) string) (Config, error) {
	cfg, _, err := LoadGiven(path, required, getenv)
	return cfg, err
}

// Given are the keys ("auth.publish_tokens") that the file or the
// environment gives a value, as opposed to those left at their defaults:
// a list written empty ("publish_tokens = []") is given, one left out is
// not. A reload tells a file that removes credentials on purpose from one
// that was cut short.
type Given map[string]bool

// LoadGiven is Load that also returns the keys the file and the
// environment give.
func LoadGiven(path string, required bool, getenv func(string) string) (Config, Given, error) {
	cfg := Default()
	given := Given{}
	inFile := path
	text, err := os.ReadFile(path)
	switch {
	case err == nil:
		var md toml.MetaData
		if cfg, md, err = parse(string(text)); err != nil {
			return Config{}, nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, k := range md.Keys() {
			given[k.String()] = true
		}
	case errors.Is(err, os.ErrNotExist) && !required:
		inFile = "" // the built-in defaults
	default:
		return Config{}, nil, err
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return Config{}, nil, err
	}
	for key := range cfg.env {
		given[key] = true
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, sourced(inFile, err)
	}
	return cfg, given, nil
}

// sourced prefixes each problem of err with the file it is in, unless it
// came from the environment (its message then starts with the variable).
func sourced(file string, err error) error {
	var errs []error
	for _, e := range unjoin(err) {
		var p *problem
		if file == "" || errors.As(e, &p) && p.env != "" {
			errs = append(errs, e)
		} else {
			errs = append(errs, fmt.Errorf("%s: %w", file, e))
		}
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// problem is a bad value: its key, and the environment variable that set
// it, if one did.
type problem struct {
	env, key, msg string
}

func (p *problem) Error() string {
	if p.env != "" {
		return p.env + ": " + p.key + ": " + p.msg
	}
	return p.key + ": " + p.msg
}

// Parse reads TOML text over the defaults. Unknown keys are an error: a
// misspelt key would otherwise be silently ignored. So is a duration
// written as a bare number: TOML would take 30 for 30 nanoseconds.
func Parse(text string) (Config, error) {
	cfg, _, err := parse(text)
	return cfg, err
}

// parse is Parse, also returning what the file holds.
func parse(text string) (Config, toml.MetaData, error) {
	cfg := Default()
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		return Config{}, md, err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return Config{}, md, fmt.Errorf("unknown key %q (see config.toml for the keys livefeed reads)", keys[0])
	}
	for _, key := range durationKeys() {
		if md.IsDefined(key...) && md.Type(key...) != "String" {
			return Config{}, md, fmt.Errorf("%s: a duration needs a unit, as a string such as \"15s\" or \"500ms\" (a bare number would be nanoseconds)", strings.Join(key, "."))
		}
	}
	return cfg, md, nil
}

// durationKeys lists the keys of every duration of Config, as
// [section, key].
func durationKeys() [][]string {
	var keys [][]string
	sections := reflect.TypeFor[Config]()
	for i := range sections.NumField() {
		section := sections.Field(i)
		if !section.IsExported() {
			continue
		}
		for j := range section.Type.NumField() {
			if f := section.Type.Field(j); f.Type == reflect.TypeFor[time.Duration]() {
				keys = append(keys, []string{section.Tag.Get("toml"), f.Tag.Get("toml")})
			}
		}
	}
	return keys
}

func (c *Config) applyEnv(getenv func(string) string) error {
	set := func(key, env string) {
		if c.env == nil {
			c.env = make(map[string]string)
		}
		c.env[key] = env
	}
	if v := getenv(EnvPublishTokens); v != "" {
		set("auth.publish_tokens", EnvPublishTokens)
		c.Auth.PublishTokens = nil
		for _, t := range strings.Split(v, ",") {
			if fields := strings.Fields(t); len(fields) > 0 {
				entry := PublishToken{Token: fields[0]}
				if len(fields) > 1 {
					entry.Topics = fields[1:]
				}
				c.Auth.PublishTokens = append(c.Auth.PublishTokens, entry)
			}
		}
	}
	if v := getenv(EnvSubscriberKeys); v != "" {
		set("auth.subscriber_keys", EnvSubscriberKeys)
		c.Auth.SubscriberKeys = nil
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				c.Auth.SubscriberKeys = append(c.Auth.SubscriberKeys, k)
			}
		}
	}
	if v := getenv(EnvNATSURLs); v != "" {
		set("cluster.nats_urls", EnvNATSURLs)
		c.Cluster.NATSURLs = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.Cluster.NATSURLs = append(c.Cluster.NATSURLs, u)
			}
		}
	}
	if v := getenv(EnvNATSToken); v != "" {
		set("cluster.token", EnvNATSToken)
		c.Cluster.Token = v
	}
	if v := getenv(EnvOpsToken); v != "" {
		set("server.ops_token", EnvOpsToken)
		c.Server.OpsToken = v
	}
	if v := getenv(EnvOperators); v != "" {
		// bcrypt hashes hold letters, digits and "$./", never ":" or ",".
		set("auth.operators", EnvOperators)
		c.Auth.Operators = nil
		for i, entry := range strings.Split(v, ",") {
			name, hash, ok := strings.Cut(strings.TrimSpace(entry), ":")
			if !ok {
				return fmt.Errorf("%s: entry %d is not name:password_hash", EnvOperators, i+1)
			}
			c.Auth.Operators = append(c.Auth.Operators, Operator{Name: name, PasswordHash: hash})
		}
	}
	return nil
}

// checkNATSURL checks a NATS server's URL: nats://, tls://, ws:// or
// wss://, a host, an optional port.
func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: use nats://host:4222 (or tls://, ws://, wss://)", s)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("%q: a NATS URL is scheme://host[:port] and nothing more (credentials go in cluster.credentials or cluster.token)", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %s is out of range", s, p)
		}
	}
	return nil
}

// isStreamName reports whether s is a JetStream stream name livefeed
// accepts: 1 to 64 of A-Z a-z 0-9 - _.
func isStreamName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Bounds of the durations. Below them a server spins (a heartbeat of 1ns
// sent one subscriber 2.9 MB of comments in 3 s) or cuts off every
// client; above them a mistyped unit ("15h" for "15s") would go unnoticed.
const (
	minTimeout = 100 * time.Millisecond
	maxTimeout = time.Hour
	minPeriod  = time.Second // heartbeat, retry, busy_retry
)

// Validate checks every value, naming the key of each bad one (and the
// environment variable that set it, if one did).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &problem{env: c.envFor(key), key: key, msg: fmt.Sprintf(format, args...)})
	}
	if err := checkAddress(c.Server.Address); err != nil {
		bad("server.address", "%v", err)
	}
	if !slices.Contains(LogFormats, c.Log.Format) {
		bad("log.format", "%q is not a log format: use \"text\" or \"json\"", c.Log.Format)
	}
	if _, ok := LogLevels[c.Log.Level]; !ok {
		bad("log.level", "%q is not a log level: use \"debug\", \"info\", \"warn\" or \"error\"", c.Log.Level)
	}
	for _, d := range []struct {
		key      string
		value    time.Duration
		min, max time.Duration
	}{
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout, minTimeout, maxTimeout},
		{"server.read_timeout", c.Server.ReadTimeout, minTimeout, maxTimeout},
		{"server.write_timeout", c.Server.WriteTimeout, minTimeout, maxTimeout},
		{"server.idle_timeout", c.Server.IdleTimeout, minTimeout, maxTimeout},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, minTimeout, maxTimeout},
		{"feed.heartbeat", c.Feed.Heartbeat, minPeriod, maxTimeout},
		{"feed.retry", c.Feed.Retry, minPeriod, maxTimeout},
		{"feed.write_timeout", c.Feed.WriteTimeout, minTimeout, maxTimeout},
		{"feed.busy_retry", c.Feed.BusyRetry, minPeriod, maxTimeout},
		{"auth.session_lifetime", c.Auth.SessionLifetime, time.Minute, 30 * 24 * time.Hour},
		{"auth.max_token_lifetime", c.Auth.MaxTokenLifetime, time.Minute, 30 * 24 * time.Hour},
		{"store.idempotency_window", c.Store.IdempotencyWindow, time.Minute, 30 * 24 * time.Hour},
		{"cluster.catch_up_wait", c.Cluster.CatchUpWait, minTimeout, time.Minute},
	} {
		if d.value < d.min || d.value > d.max {
			bad(d.key, "%s is out of range: use a duration from %q to %q", formatDuration(d.value), formatDuration(d.min), formatDuration(d.max))
		}
	}
	if c.Feed.FinalLinger != 0 && (c.Feed.FinalLinger < time.Minute || c.Feed.FinalLinger > 30*24*time.Hour) {
		bad("feed.final_linger", "%s is out of range: use \"0s\" to keep final games in the live views until they are archived by hand, or a duration from \"1m\" to \"720h\"", formatDuration(c.Feed.FinalLinger))
	}
	if c.Store.RetentionAge != 0 && c.Store.RetentionAge < time.Minute {
		bad("store.retention_age", "%s is too short: use \"0s\" to keep events forever, or at least \"1m\" (retention is applied every minute)", formatDuration(c.Store.RetentionAge))
	}
	for _, n := range []struct {
		key           string
		value         int64
		min, max      int64
		unit, comment string
	}{
		{"server.max_body_bytes", c.Server.MaxBodyBytes, 1024, 64 << 20, "bytes", ""},
		{"store.retention_rows", c.Store.RetentionRows, 0, math.MaxInt64, "events", " (0 keeps any number)"},
		{"feed.window", int64(c.Feed.Window), 100, 10_000_000, "events", ""},
		{"feed.window_bytes", int64(c.Feed.WindowBytes), 1 << 20, 16 << 30, "bytes", ""},
		{"feed.max_event_bytes", int64(c.Feed.MaxEventBytes), 1024, feed.MaxDataBytesLimit, "bytes", ""},
		{"feed.max_subscribers", int64(c.Feed.MaxSubscribers), 0, 10_000_000, "streams", " (0 follows the open-file limit)"},
		{"feed.max_subscribers_per_ip", int64(c.Feed.MaxSubscribersPerIP), 0, 10_000_000, "streams", " (0 sets no limit)"},
		{"feed.max_publish_streams", int64(c.Feed.MaxPublishStreams), 0, 100_000, "streams", " (0 sets no limit)"},
		{"feed.max_publish_streams_per_token", int64(c.Feed.MaxPublishStreamsPerToken), 0, 100_000, "streams", " (0 sets no limit)"},
		{"feed.max_topics", int64(c.Feed.MaxTopics), 0, 100_000_000, "topics", " (0 sets no limit)"},
		{"auth.publish_burst", int64(c.Auth.PublishBurst), 0, 1_000_000, "events", " (0: as many as publish_rate)"},
	} {
		if n.value < n.min || n.value > n.max {
			bad(n.key, "%d is out of range: use %d to %d %s%s", n.value, n.min, n.max, n.unit, n.comment)
		}
	}
	if c.Auth.PublishRate < 0 || math.IsNaN(c.Auth.PublishRate) || math.IsInf(c.Auth.PublishRate, 0) {
		bad("auth.publish_rate", "must be a number of events per second, 0 for no limit")
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		bad("server.tls_cert", "tls_cert and tls_key must be set together")
	}
	if c.Store.Path == "" {
		bad("store.path", "must not be empty")
	}
	if err := store.CheckSynchronous(c.Store.Synchronous); err != nil {
		bad("store.synchronous", "%v", err)
	}
	if _, err := handlers.ParseTrusted(c.Server.TrustedProxies); err != nil {
		for _, e := range unjoin(err) {
			index, msg, _ := strings.Cut(e.Error(), ": ") // "[2]: ..."
			bad("server.trusted_proxies"+index, "%s", msg)
		}
	}
	if t := c.Server.OpsToken; t != "" && len(t) < MinTokenLen {
		bad("server.ops_token", "is shorter than %d characters", MinTokenLen)
	}
	switch h := c.Server.ClientIPHeader; {
	case h == "":
	case !isToken(h):
		bad("server.client_ip_header", "%q is not a header name", h)
	case len(c.Server.TrustedProxies) == 0:
		// Before trusted_proxies, the header was believed from anyone,
		// who could then pass for any address. Ignoring it now would
		// count every client as the proxy, without a word.
		bad("server.client_ip_header", "%q is read only from server.trusted_proxies, which lists none: add your proxy's address, such as trusted_proxies = [\"127.0.0.1\"] for one on this machine (any client could send the header itself)", h)
	}
	for i, u := range c.Cluster.NATSURLs {
		if err := checkNATSURL(u); err != nil {
			bad(fmt.Sprintf("cluster.nats_urls[%d]", i), "%v", err)
		}
	}
	if c.Cluster.Replicas < 1 || c.Cluster.Replicas > 5 {
		bad("cluster.replicas", "%d: the stream's replicas are 1 to 5 (3 keeps it through the loss of one server)", c.Cluster.Replicas)
	}
	if !isStreamName(c.Cluster.Stream) {
		bad("cluster.stream", "%q: a stream name is 1 to 64 letters, digits, - and _", c.Cluster.Stream)
	}
	if p, ok := strings.CutSuffix(c.Cluster.Subjects, ".>"); !ok || p == "" || strings.ContainsAny(p, " \t*>") || strings.Contains("."+p+".", "..") {
		bad("cluster.subjects", "%q: a subject prefix followed by \".>\", such as \"livefeed.>\"", c.Cluster.Subjects)
	}
	if c.Cluster.MaxAge < 0 || c.Cluster.MaxAge > 0 && c.Cluster.MaxAge < time.Minute {
		bad("cluster.max_age", "%s: \"0s\" keeps events as long as max_bytes allows, else at least \"1m\"", formatDuration(c.Cluster.MaxAge))
	}
	if c.Cluster.MaxBytes < 0 {
		bad("cluster.max_bytes", "%d: 0 for no limit, or a number of bytes", c.Cluster.MaxBytes)
	}
	if c.Feed.WriteTimeout <= c.Feed.Heartbeat {
		bad("feed.write_timeout", "must be longer than feed.heartbeat")
	}
	if int64(c.Feed.MaxEventBytes) > c.Server.MaxBodyBytes {
		bad("feed.max_event_bytes", "%d is more than server.max_body_bytes (%d): an event that large could never be published", c.Feed.MaxEventBytes, c.Server.MaxBodyBytes)
	}
	if c.Feed.WindowBytes < 4*c.Feed.MaxEventBytes {
		bad("feed.window_bytes", "%d holds fewer than four events of feed.max_event_bytes (%d): a subscriber would lose events of that size", c.Feed.WindowBytes, c.Feed.MaxEventBytes)
	}
	for i, t := range c.Auth.PublishTokens {
		if len(t.Token) < MinTokenLen {
			bad(fmt.Sprintf("auth.publish_tokens[%d]", i), "is shorter than %d characters", MinTokenLen)
		}
		if len(t.Topics) > 0 {
			if _, err := feed.ParseFilter(t.Topics); err != nil {
				bad(fmt.Sprintf("auth.publish_tokens[%d].topics", i), "%v", err)
			}
		}
		switch {
		case t.MaxTopics < 0 || t.MaxTopics > 100_000_000:
			bad(fmt.Sprintf("auth.publish_tokens[%d].max_topics", i), "%d: 0 (only feed.max_topics bounds its topics) to 100000000", t.MaxTopics)
		case t.MaxTopics > 0 && len(t.Topics) == 0:
			bad(fmt.Sprintf("auth.publish_tokens[%d].max_topics", i), "bounds the topics a scoped token may publish to: give its topics too (feed.max_topics bounds a token that may publish anywhere)")
		}
	}
	if len(c.Auth.PrivateTopics) > 0 {
		if _, err := feed.ParseFilter(c.Auth.PrivateTopics); err != nil {
			bad("auth.private_topics", "%v", err)
		}
	}
	for i, typ := range c.Feed.NeverMerge {
		if err := feed.ValidateType(typ); err != nil {
			bad(fmt.Sprintf("feed.never_merge[%d]", i), "%v", err)
		}
	}
	var longest time.Duration
	// tier checks a table of topic patterns and a duration of its, in
	// [lo, hi].
	tier := func(key string, topics []string, name string, d, lo, hi time.Duration) {
		if _, err := feed.ParseFilter(topics); err != nil {
			bad(key+".topics", "%v", err)
		}
		if d < lo || d > hi {
			bad(key+"."+name, "%s is out of range: use a duration from %q to %q", formatDuration(d), formatDuration(lo), formatDuration(hi))
		}
	}
	for i, d := range c.Feed.Delayed {
		tier(fmt.Sprintf("feed.delayed[%d]", i), d.Topics, "delay", d.Delay, feed.MinDelay, feed.MaxDelay)
		longest = max(longest, d.Delay)
	}
	if c.Store.RetentionAge != 0 && c.Store.RetentionAge <= longest {
		// A delayed event must still be stored when it is due: the
		// delay lines read what their window no longer holds from the
		// database, and a delayed reader's history ends a delay ago.
		bad("store.retention_age", "%s is not longer than the longest delay of feed.delayed (%s): delayed events would be removed before they are due", formatDuration(c.Store.RetentionAge), formatDuration(longest))
	}
	for i, m := range c.Feed.Conflate {
		tier(fmt.Sprintf("feed.conflate[%d]", i), m.Topics, "interval", m.Interval, feed.MinConflate, feed.MaxConflate)
	}
	if !slices.Contains(ViewersPolicies, c.Feed.Viewers) {
		bad("feed.viewers", "%q: use one of %s", c.Feed.Viewers, strings.Join(ViewersPolicies, ", "))
	}
	if c.Feed.ViewersMin < 0 || c.Feed.ViewersMin > MaxViewersMin {
		bad("feed.viewers_min", "%d is out of range: 0 (every figure exact) to %d", c.Feed.ViewersMin, MaxViewersMin)
	}
	for i, r := range c.Feed.Stale {
		tier(fmt.Sprintf("feed.stale[%d]", i), r.Topics, "after", r.After, MinStaleAfter, MaxStaleAfter)
	}
	if _, err := c.SubscriberKeys(); err != nil {
		for _, e := range unjoin(err) {
			index, msg, _ := strings.Cut(e.Error(), ": ") // "[2]: ..."
			bad("auth.subscriber_keys"+index, "%s", msg)
		}
	}
	names := make(map[string]bool)
	for i, op := range c.Auth.Operators {
		key := fmt.Sprintf("auth.operators[%d]", i)
		if !validOperatorName(op.Name) {
			bad(key+".name", "%q must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -", op.Name)
		} else if names[op.Name] {
			bad(key+".name", "%q is listed twice", op.Name)
		}
		names[op.Name] = true
		// The hash is a secret of sorts: errors never repeat it.
		if cost, err := bcrypt.Cost([]byte(op.PasswordHash)); err != nil {
			bad(key+".password_hash", "is not a bcrypt hash (print one with \"livefeed hash-password\")")
		} else if cost < MinPasswordCost || cost > MaxPasswordCost {
			bad(key+".password_hash", "has bcrypt cost %d; use %d to %d", cost, MinPasswordCost, MaxPasswordCost)
		}
	}
	for i, o := range c.CORS.AllowedOrigins {
		if err := handlers.CheckOrigin(o); err != nil {
			bad(fmt.Sprintf("cors.allowed_origins[%d]", i), "%v", err)
		}
	}
	return errors.Join(errs...)
}

// PrivateTopics returns auth.private_topics as a filter: the zero Filter
// when there are none.
func (c Config) PrivateTopics() feed.Filter {
	if len(c.Auth.PrivateTopics) == 0 {
		return feed.Filter{}
	}
	f, _ := feed.ParseFilter(c.Auth.PrivateTopics) // checked by Validate
	return f
}

// DelayedTiers returns feed.delayed as tiers (none: nothing is delayed).
func (c Config) DelayedTiers() feed.Tiers {
	var ts feed.Tiers
	for _, d := range c.Feed.Delayed {
		ts = append(ts, tier(d.Topics, d.Delay))
	}
	return ts
}

// ConflateMinimums returns feed.conflate as tiers (none: a subscriber
// gets every event unless it asks otherwise).
func (c Config) ConflateMinimums() feed.Tiers {
	var ts feed.Tiers
	for _, m := range c.Feed.Conflate {
		ts = append(ts, tier(m.Topics, m.Interval))
	}
	return ts
}

// The bounds of feed.stale's after: below a second a publisher would have
// to send heartbeats more often than a network's hiccup lasts, and the
// topic would flap; a day is longer than any feed sits quiet while alive.
const (
	MinStaleAfter = time.Second
	MaxStaleAfter = 24 * time.Hour
)

// StaleRules returns feed.stale as the hub's rules, in the file's order
// (none: no topic is watched).
func (c Config) StaleRules() []fanout.StaleRule {
	var rules []fanout.StaleRule
	for _, r := range c.Feed.Stale {
		t := tier(r.Topics, r.After)
		rules = append(rules, fanout.StaleRule{Topics: t.Topics, After: t.Duration})
	}
	return rules
}

// tier is a table of topics and a duration that Validate checked.
func tier(topics []string, d time.Duration) feed.Tier {
	f, _ := feed.ParseFilter(topics) // checked by Validate
	return feed.Tier{Topics: f, Duration: d}
}

// Proxies returns the reverse proxies of server.trusted_proxies and
// server.client_ip_header, for the handlers.
func (c Config) Proxies() handlers.Proxies {
	trusted, _ := handlers.ParseTrusted(c.Server.TrustedProxies) // checked by Validate
	return handlers.Proxies{Trusted: trusted, ClientIPHeader: c.Server.ClientIPHeader}
}

// SubscriberKeys reads auth.subscriber_keys (files included), which
// accept tokens for auth.subscriber_audience expiring within
// auth.max_token_lifetime. Each error starts with the entry's index,
// "[2]: ...".
func (c Config) SubscriberKeys() (*token.Keys, error) {
	keys, err := token.ParseKeys(c.Auth.SubscriberKeys, c.Auth.SubscriberAudience, os.ReadFile)
	if err != nil {
		return nil, err
	}
	return keys.WithMaxLifetime(c.Auth.MaxTokenLifetime), nil
}

// envFor returns the environment variable that set key, or "".
func (c Config) envFor(key string) string {
	section, _, _ := strings.Cut(key, "[")
	return c.env[section]
}

// formatDuration writes d as it would be written in the file: "1h", not
// "1h0m0s".
func formatDuration(d time.Duration) string { return feed.FormatDuration(d) }

// checkAddress accepts host:port with a port from 0 to 65535.
func checkAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (such as \"127.0.0.1:8080\" or \":8080\")", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the
// grammar of header names.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// validOperatorName reports whether name is 1 to 64 characters of
// A-Z a-z 0-9 . _ @ -: safe to show and to log.
func validOperatorName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._@-", c) >= 0) {
			return false
		}
	}
	return true
}

// CheckDeployment refuses secrets that are only safe on one's own machine
// once the server listens on a network address: publish tokens that can be
// guessed (shorter than MinNetworkTokenLen, or one character repeated, as
// a placeholder is), and operators whose password is the sample one.
// Each operator's hash is checked against the sample password, so a hash
// of it made anew is refused as well as the sample hash.
func (c Config) CheckDeployment() error { return c.CheckDeploymentAt() }

// CheckDeploymentAt is CheckDeployment for a server that is running: the
// secrets are checked if server.address or any of listening (where the
// server listens, the address it started with) is reachable from the
// network, so that a file naming another address (a reload) never
// weakens the checks.
func (c Config) CheckDeploymentAt(listening ...string) error {
	reachable := ""
	if !c.Server.Loopback() {
		reachable = fmt.Sprintf("server.address %q is reachable from the network", c.Server.Address)
	}
	for _, addr := range listening {
		if reachable == "" && !loopbackAddress(addr) {
			reachable = fmt.Sprintf("the server listens on %q, which is reachable from the network", addr)
		}
	}
	if reachable == "" {
		return nil
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &problem{env: c.envFor(key), key: key, msg: fmt.Sprintf(format, args...)})
	}
	for i, entry := range c.Auth.PublishTokens {
		t := entry.Token
		key := fmt.Sprintf("auth.publish_tokens[%d]", i)
		switch {
		case t == SampleToken:
			bad(key, "is the sample token of config.toml, and %s: set your own token (or %s)", reachable, EnvPublishTokens)
		case len(t) < MinNetworkTokenLen:
			bad(key, "is shorter than %d characters, and %s: use a long random token (such as the output of `openssl rand -hex 24`)", MinNetworkTokenLen, reachable)
		case strings.Count(t, t[:1]) == len(t):
			bad(key, "is one character repeated, and %s: use a random token", reachable)
		}
	}
	// The ops token is not looked at in errors: it is a secret.
	switch t := c.Server.OpsToken; {
	case t == "":
	case t == SampleToken:
		bad("server.ops_token", "is the sample publish token of config.toml, and %s: set your own token (or %s)", reachable, EnvOpsToken)
	case len(t) < MinNetworkTokenLen:
		bad("server.ops_token", "is shorter than %d characters, and %s: use a long random token (such as the output of `openssl rand -hex 24`)", MinNetworkTokenLen, reachable)
	case strings.Count(t, t[:1]) == len(t):
		bad("server.ops_token", "is one character repeated, and %s: use a random token", reachable)
	}
	for i, op := range c.Auth.Operators {
		if cost, err := bcrypt.Cost([]byte(op.PasswordHash)); err != nil || cost > MaxPasswordCost {
			continue // refused by Validate; checking it could take minutes
		}
		if op.PasswordHash == SamplePasswordHash || bcrypt.CompareHashAndPassword([]byte(op.PasswordHash), []byte(SamplePassword)) == nil {
			bad(fmt.Sprintf("auth.operators[%d].password_hash", i), "%q has the sample password of config.toml, and %s: set your own password (livefeed hash-password), in the file or %s", op.Name, reachable, EnvOperators)
		}
	}
	return errors.Join(errs...)
}

// Loopback reports whether the server address only accepts local
// connections.
func (s Server) Loopback() bool { return loopbackAddress(s.Address) }

// loopbackAddress reports whether the host:port addr only accepts local
// connections.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Live is a running server, and what applying a configuration to it
// needs beside the configuration.
type Live struct {
	Server *handlers.Server
	Level  *slog.LevelVar
	// Keys verify subscriber tokens: the configuration's SubscriberKeys.
	Keys *token.Keys
	// ExtraTokens are publish tokens of the process's own (the built-in
	// demo's).
	ExtraTokens []string
	// Topics is the server's log behind its topic limit.
	Topics *feed.Topics
}

// live are the settings a running server takes anew on SIGHUP, each with
// the keys it is made of: Reloadable lists their keys, and ApplyTo applies
// them all, so a key cannot be listed without being applied.
var live = []struct {
	keys  []string
	apply func(c Config, to Live)
}{
	{[]string{"cors.allowed_origins", "auth.publish_tokens", "auth.subscriber_keys", "auth.subscriber_audience", "auth.max_token_lifetime", "auth.operators"},
		func(c Config, to Live) { to.Server.SetCredentials(c.Credentials(to.Keys, to.ExtraTokens...)) }},
	{[]string{"server.client_ip_header", "server.trusted_proxies"}, func(c Config, to Live) { to.Server.SetProxies(c.Proxies()) }},
	{[]string{"server.ops_token"}, func(c Config, to Live) { to.Server.SetOpsToken(c.Server.OpsToken) }},
	{[]string{"log.level"}, func(c Config, to Live) { to.Level.Set(c.Log.SlogLevel()) }},
	{[]string{"feed.max_topics"}, func(c Config, to Live) { to.Topics.SetLimit(c.Feed.MaxTopics) }},
}

// Reloadable are the keys a running server applies on SIGHUP; a change
// of any other key needs a restart.
var Reloadable = func() []string {
	var keys []string
	for _, l := range live {
		keys = append(keys, l.keys...)
	}
	return keys
}()

// ApplyTo applies the keys of Reloadable to a running server.
func (c Config) ApplyTo(to Live) {
	for _, l := range live {
		l.apply(c, to)
	}
}

// Credentials are the credentials of c for the server, with subscriber
// keys keys and the publish tokens extraTokens of the process's own.
func (c Config) Credentials(keys *token.Keys, extraTokens ...string) handlers.Credentials {
	creds := handlers.Credentials{PublishTokens: slices.Clone(extraTokens), SubscriberKeys: keys, AllowedOrigins: c.CORS.AllowedOrigins}
	for _, op := range c.Auth.Operators {
		creds.Operators = append(creds.Operators, handlers.Operator{Name: op.Name, PasswordHash: op.PasswordHash})
	}
	for _, t := range c.Auth.PublishTokens {
		if len(t.Topics) == 0 {
			creds.PublishTokens = append(creds.PublishTokens, t.Token)
			continue
		}
		topics, _ := feed.ParseFilter(t.Topics) // checked by Validate
		creds.ScopedPublishTokens = append(creds.ScopedPublishTokens, handlers.ScopedPublishToken{Token: t.Token, Topics: topics, MaxTopics: t.MaxTopics})
	}
	return creds
}

// WithReloadable returns running with the values of the keys of
// Reloadable taken from next, and every other key as it was: the
// configuration in effect after a reload of next.
func WithReloadable(running, next Config) Config {
	out := running
	vo, vn := reflect.ValueOf(&out).Elem(), reflect.ValueOf(next)
	for i := range vo.NumField() {
		section := vo.Type().Field(i).Tag.Get("toml")
		if section == "" {
			continue // not a section of the file
		}
		for j := range vo.Field(i).NumField() {
			if slices.Contains(Reloadable, section+"."+vo.Field(i).Type().Field(j).Tag.Get("toml")) {
				vo.Field(i).Field(j).Set(vn.Field(i).Field(j))
			}
		}
	}
	return out
}

// Changed lists the keys ("section.key", in the order of Config) whose
// values differ between a and b.
func Changed(a, b Config) []string {
	var keys []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		section := va.Type().Field(i)
		name := section.Tag.Get("toml")
		if name == "" {
			continue // not a key of the file
		}
		sa, sb := va.Field(i), vb.Field(i)
		for j := range sa.NumField() {
			fa, fb := sa.Field(j), sb.Field(j)
			if fa.Kind() == reflect.Slice && fa.Len() == 0 && fb.Len() == 0 {
				continue // none, written as [] or left out
			}
			if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
				keys = append(keys, name+"."+sa.Type().Field(j).Tag.Get("toml"))
			}
		}
	}
	return keys
}
