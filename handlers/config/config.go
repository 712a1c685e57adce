// Package config reads livefeed's config.toml: defaults, the file, then
// secrets from the environment, and validates the result before the server
// starts, naming the key of any bad value.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/bcrypt"
)

// Config is the whole configuration. The TOML keys are the snake_case field
// tags; config.toml at the top of the repository documents each one.
type Config struct {
	Server Server `toml:"server"`
	Store  Store  `toml:"store"`
	Feed   Feed   `toml:"feed"`
	Auth   Auth   `toml:"auth"`
	CORS   CORS   `toml:"cors"`
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
}

// Store configures the SQLite database.
type Store struct {
	Path          string        `toml:"path"`
	Synchronous   string        `toml:"synchronous"`
	RetentionAge  time.Duration `toml:"retention_age"`
	RetentionRows int64         `toml:"retention_rows"`
}

// Feed configures event streams.
type Feed struct {
	Heartbeat    time.Duration `toml:"heartbeat"`
	Retry        time.Duration `toml:"retry"`
	Window       int           `toml:"window"`
	WindowBytes  int           `toml:"window_bytes"`
	WriteTimeout time.Duration `toml:"write_timeout"`
	// MaxSubscribers 0 means as many as the process's open-file limit
	// allows, less a reserve.
	MaxSubscribers      int           `toml:"max_subscribers"`
	MaxSubscribersPerIP int           `toml:"max_subscribers_per_ip"`
	BusyRetry           time.Duration `toml:"busy_retry"`
}

// Auth holds credentials.
type Auth struct {
	PublishTokens   []string      `toml:"publish_tokens"`
	PublishRate     float64       `toml:"publish_rate"`
	PublishBurst    int           `toml:"publish_burst"`
	SessionLifetime time.Duration `toml:"session_lifetime"`
	Operators       []Operator    `toml:"operators"`
}

// Operator is an account of the admin console. The password is kept only
// as a bcrypt hash (print one with "livefeed hash-password").
type Operator struct {
	Name         string `toml:"name"`
	PasswordHash string `toml:"password_hash"`
}

// CORS lists the web origins allowed to read the feed from a browser.
type CORS struct {
	AllowedOrigins []string `toml:"allowed_origins"`
}

// Environment variables that override secrets in the file.
const (
	EnvPublishTokens = "LIVEFEED_PUBLISH_TOKENS" // comma-separated
	EnvOperators     = "LIVEFEED_OPERATORS"      // comma-separated name:password_hash
)

// SampleToken is the publish token of the sample config.toml: fine on
// one's own machine, refused on a network address.
const SampleToken = "dev-publish-token-change-me"

// MinTokenLen is the shortest publish token accepted: shorter ones can be
// guessed.
const MinTokenLen = 16

// The sample operator of config.toml, password "admin-change-me": fine on
// one's own machine, refused on a network address.
const (
	SampleOperatorName = "admin"
	SamplePasswordHash = "$2a$12$dyCzBjyc3cVN4DHHrJhMm..qRBozTIeSFDeRuD7ultv362jo3rv7K"
)

// Operator passwords: the shortest accepted by "livefeed hash-password",
// the bcrypt cost it uses, and the lowest cost accepted in the
// configuration (OWASP's minimum for bcrypt).
const (
	MinPasswordLen  = 12
	PasswordCost    = 12
	MinPasswordCost = 10
)

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
			Path:        "data/livefeed.db",
			Synchronous: "normal",
		},
		Feed: Feed{
			Heartbeat:           15 * time.Second,
			Retry:               2 * time.Second,
			Window:              50_000,
			WindowBytes:         64 << 20,
			WriteTimeout:        30 * time.Second,
			MaxSubscribersPerIP: 500,
			BusyRetry:           10 * time.Second,
		},
		Auth: Auth{
			SessionLifetime: 12 * time.Hour,
		},
	}
}

// Load reads the file at path over the defaults, applies the environment
// and validates. A missing file is an error only if required is set (the
// user named it with -config); otherwise the defaults stand.
func Load(path string, required bool, getenv func(string) string) (Config, error) {
	cfg := Default()
	text, err := os.ReadFile(path)
	switch {
	case err == nil:
		if cfg, err = Parse(string(text)); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist) && !required:
	default:
		return Config{}, err
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads TOML text over the defaults. Unknown keys are an error: a
// misspelt key would otherwise be silently ignored.
func Parse(text string) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		return Config{}, err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("unknown key %q (see config.toml for the keys livefeed reads)", keys[0])
	}
	return cfg, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv(EnvPublishTokens); v != "" {
		c.Auth.PublishTokens = nil
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.Auth.PublishTokens = append(c.Auth.PublishTokens, t)
			}
		}
	}
	if v := getenv(EnvOperators); v != "" {
		// bcrypt hashes hold letters, digits and "$./", never ":" or ",".
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

// Validate checks every value, naming the key of the first bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Server.Address); err != nil {
		bad("server.address", "%q is not host:port", c.Server.Address)
	}
	for _, d := range []struct {
		key   string
		value time.Duration
	}{
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout},
		{"server.read_timeout", c.Server.ReadTimeout},
		{"server.write_timeout", c.Server.WriteTimeout},
		{"server.idle_timeout", c.Server.IdleTimeout},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout},
		{"feed.heartbeat", c.Feed.Heartbeat},
		{"feed.retry", c.Feed.Retry},
		{"feed.write_timeout", c.Feed.WriteTimeout},
		{"feed.busy_retry", c.Feed.BusyRetry},
	} {
		if d.value <= 0 {
			bad(d.key, "must be a positive duration such as \"15s\"")
		}
	}
	if c.Server.MaxBodyBytes < 1024 {
		bad("server.max_body_bytes", "must be at least 1024")
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		bad("server.tls_cert", "tls_cert and tls_key must be set together")
	}
	if c.Store.Path == "" {
		bad("store.path", "must not be empty")
	}
	if s := strings.ToLower(c.Store.Synchronous); s != "normal" && s != "full" {
		bad("store.synchronous", "%q: must be \"normal\" or \"full\"", c.Store.Synchronous)
	}
	if c.Store.RetentionAge < 0 {
		bad("store.retention_age", "must not be negative (0 keeps events forever)")
	}
	if c.Store.RetentionRows < 0 {
		bad("store.retention_rows", "must not be negative (0 keeps any number)")
	}
	if c.Feed.MaxSubscribers < 0 {
		bad("feed.max_subscribers", "must not be negative (0 follows the open-file limit)")
	}
	if c.Feed.MaxSubscribersPerIP < 0 {
		bad("feed.max_subscribers_per_ip", "must not be negative (0 sets no limit)")
	}
	if c.Auth.PublishRate < 0 || c.Auth.PublishBurst < 0 {
		bad("auth.publish_rate", "publish_rate and publish_burst must not be negative (0 sets no limit)")
	}
	if c.Server.ClientIPHeader != "" && !isToken(c.Server.ClientIPHeader) {
		bad("server.client_ip_header", "%q is not a header name", c.Server.ClientIPHeader)
	}
	if c.Feed.Window < 100 {
		bad("feed.window", "must be at least 100 events")
	}
	if c.Feed.WindowBytes < 1<<20 {
		bad("feed.window_bytes", "must be at least 1048576")
	}
	if c.Feed.Heartbeat > 0 && c.Feed.WriteTimeout > 0 && c.Feed.WriteTimeout <= c.Feed.Heartbeat {
		bad("feed.write_timeout", "must be longer than feed.heartbeat")
	}
	for i, t := range c.Auth.PublishTokens {
		if len(t) < MinTokenLen {
			bad(fmt.Sprintf("auth.publish_tokens[%d]", i), "is shorter than %d characters", MinTokenLen)
		}
	}
	if c.Auth.SessionLifetime < time.Minute {
		bad("auth.session_lifetime", "must be at least a minute")
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
		} else if cost < MinPasswordCost {
			bad(key+".password_hash", "has bcrypt cost %d; use at least %d", cost, MinPasswordCost)
		}
	}
	for i, o := range c.CORS.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			bad(fmt.Sprintf("cors.allowed_origins[%d]", i), "%v", err)
		}
	}
	return errors.Join(errs...)
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

// checkOrigin accepts a web origin as browsers send it: scheme://host[:port],
// nothing after.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin such as \"https://example.com\"", o)
	}
	if o != strings.ToLower(o) {
		return fmt.Errorf("%q must be lower case, as browsers send it", o)
	}
	return nil
}

// CheckDeployment refuses settings that are only safe on one's own machine
// once the server listens on a network address: the sample publish token
// and the sample operator's password.
func (c Config) CheckDeployment() error {
	if c.Server.Loopback() {
		return nil
	}
	for _, t := range c.Auth.PublishTokens {
		if t == SampleToken {
			return fmt.Errorf("auth.publish_tokens holds the sample token of config.toml, and server.address %q is reachable from the network: set your own token (or %s)", c.Server.Address, EnvPublishTokens)
		}
	}
	for _, op := range c.Auth.Operators {
		if op.PasswordHash == SamplePasswordHash {
			return fmt.Errorf("auth.operators: %q has the sample password of config.toml, and server.address %q is reachable from the network: set your own operators (or %s)", op.Name, c.Server.Address, EnvOperators)
		}
	}
	return nil
}

// Loopback reports whether the server address only accepts local
// connections.
func (s Server) Loopback() bool {
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
