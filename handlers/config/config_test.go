package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"livefeed/handlers/config"
)

func noEnv(string) string { return "" }

// TestShippedFileMatchesDefaults keeps config.toml honest: it documents the
// built-in defaults, so loading it must give exactly them (apart from the
// sample publish token it ships with).
func TestShippedFileMatchesDefaults(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "config.toml"), true, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.Auth.PublishTokens = []config.PublishToken{{Token: config.SampleToken}}
	want.Auth.Operators = []config.Operator{{Name: config.SampleOperatorName, PasswordHash: config.SamplePasswordHash}}
	want.CORS.AllowedOrigins = []string{}
	want.Cluster.NATSURLs = []string{}
	want.Auth.PrivateTopics, want.Auth.SubscriberKeys = []string{}, []string{}
	want.Server.TrustedProxies = []string{}
	want.Feed.NeverMerge = []string{}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.toml differs from the defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		err  string // substring, "" for valid
	}{
		{"OKEmpty", ``, ""},
		{"OKDurations", "[feed]\nheartbeat = \"5s\"\nretry = \"250ms\"", ""},
		{"ErrUnknownKey", "[server]\nadress = \"x\"", `unknown key "server.adress"`},
		{"ErrUnknownSection", "[servre]\naddress = \"x\"", `unknown key "servre`},
		{"ErrBadDuration", "[feed]\nheartbeat = \"15 parsecs\"", "feed.heartbeat"},
		{"ErrWrongType", "[feed]\nwindow = \"big\"", "feed.window"},
		{"ErrDuplicate", "[feed]\nwindow = 1\nwindow = 2", "already been defined"},
		{"ErrSyntax", "[feed\n", "toml"},
		// A bare number would be nanoseconds: heartbeat = 1 sent a
		// subscriber megabytes of heartbeats a second.
		{"ErrBareHeartbeat", "[feed]\nheartbeat = 1", `feed.heartbeat: a duration needs a unit, as a string such as "15s"`},
		{"ErrBareReadTimeout", "[server]\nread_timeout = 30", "server.read_timeout: a duration needs a unit"},
		{"ErrBareSession", "[auth]\nsession_lifetime = 3600", "auth.session_lifetime: a duration needs a unit"},
		{"ErrBareMaxTokenLifetime", "[auth]\nmax_token_lifetime = 86400", "auth.max_token_lifetime: a duration needs a unit"},
		{"ErrBareRetention", "[store]\nretention_age = 0", "store.retention_age: a duration needs a unit"},
		{"ErrBareDotted", "feed.busy_retry = 10", "feed.busy_retry: a duration needs a unit"},
		{"ErrFloatDuration", "[feed]\nretry = 1.5", "feed.retry"},
		{"OKDelayedTables", "[[feed.delayed]]\ntopics = [\"stocks/*\"]\ndelay = \"15m\"\n[[feed.delayed]]\ntopics = [\"fx/*\"]\ndelay = \"1h\"\n[[feed.conflate]]\ntopics = [\"*\"]\ninterval = \"500ms\"", ""},
		{"ErrDelayedUnknownKey", "[[feed.delayed]]\ntopics = [\"stocks/*\"]\ndelay = \"15m\"\nrealtime = true", `unknown key "realtime"`},
		{"ErrDelayedBareNumber", "[[feed.delayed]]\ntopics = [\"stocks/*\"]\ndelay = 900", "delay: a duration needs a unit"},
		{"ErrDelayedBadDuration", "[[feed.delayed]]\ntopics = [\"stocks/*\"]\ndelay = \"15 minutes\"", `delay: "15 minutes" is not a duration`},
		{"ErrDelayedTopicsString", "[[feed.delayed]]\ntopics = \"stocks/*\"\ndelay = \"15m\"", "topics must be an array"},
		{"ErrDelayedTopicNumber", "[[feed.delayed]]\ntopics = [\"stocks/*\", 5]\ndelay = \"15m\"", "topics must be an array"},
		{"ErrConflateBareNumber", "[[feed.conflate]]\ntopics = [\"stocks/*\"]\ninterval = 1", "interval: a duration needs a unit"},
		{"ErrDelayedNotTable", "[feed]\ndelayed = \"15m\"", "feed.delayed"},
		{"OKStaleTables", "[[feed.stale]]\ntopics = [\"stocks/*\"]\nafter = \"10s\"\n[[feed.stale]]\ntopics = [\"nba/*\", \"nfl/x\"]\nafter = \"1m\"", ""},
		{"ErrStaleUnknownKey", "[[feed.stale]]\ntopics = [\"stocks/*\"]\nafter = \"10s\"\ndelay = \"1m\"", `unknown key "delay"`},
		{"ErrStaleBareNumber", "[[feed.stale]]\ntopics = [\"stocks/*\"]\nafter = 10", "after: a duration needs a unit"},
		{"ErrStaleBadDuration", "[[feed.stale]]\ntopics = [\"stocks/*\"]\nafter = \"10 s\"", `after: "10 s" is not a duration`},
		{"ErrStaleTopicsString", "[[feed.stale]]\ntopics = \"stocks/*\"\nafter = \"10s\"", "topics must be an array"},
		{"ErrStaleNotTable", "[feed]\nstale = \"10s\"", "feed.stale"},
		{"OKZeroRetention", "[store]\nretention_age = \"0s\"", ""},
		{"OKLog", "[log]\nformat = \"json\"\nlevel = \"debug\"\naccess = true", ""},
		{"ErrLogLevelNumber", "[log]\nlevel = 4", "log.level"},
		{"ErrLogAccessString", "[log]\naccess = \"yes\"", "log.access"},
		{"ErrLogUnknownKey", "[log]\nfile = \"/var/log/livefeed\"", `unknown key "log.file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(tc.toml)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Parse = %v, want error containing %q", err, tc.err)
			}
		})
	}
}

// TestLogConfig: the values of [log], read from a file and validated.
func TestLogConfig(t *testing.T) {
	for _, tc := range []struct {
		name, toml, err string // err: substring, "" for valid
	}{
		{"OKDefaults", "", ""},
		{"OKJSONDebug", "[log]\nformat = \"json\"\nlevel = \"debug\"", ""},
		{"OKError", "[log]\nlevel = \"error\"", ""},
		{"ErrFormat", "[log]\nformat = \"xml\"", `log.format: "xml" is not a log format: use "text" or "json"`},
		{"ErrFormatCase", "[log]\nformat = \"JSON\"", "log.format"},
		{"ErrFormatEmpty", "[log]\nformat = \"\"", "log.format"},
		{"ErrLevel", "[log]\nlevel = \"verbose\"", `log.level: "verbose" is not a log level: use "debug", "info", "warn" or "error"`},
		{"ErrLevelEmpty", "[log]\nlevel = \"\"", "log.level"},
		{"ErrLevelCase", "[log]\nlevel = \"INFO\"", "log.level"},
		{"ErrLevelWarning", "[log]\nlevel = \"warning\"", "log.level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse(tc.toml)
			if err == nil {
				err = cfg.Validate()
			}
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		key    string // the key the error must name, "" for valid
	}{
		{"OK", func(*config.Config) {}, ""},
		{"ErrAddress", func(c *config.Config) { c.Server.Address = "8080" }, "server.address"},
		{"ErrLogFormat", func(c *config.Config) { c.Log.Format = "" }, "log.format"},
		{"ErrLogLevel", func(c *config.Config) { c.Log.Level = "trace" }, "log.level"},
		{"OKLogWarn", func(c *config.Config) { c.Log.Level = "warn" }, ""},
		{"ErrTimeout", func(c *config.Config) { c.Server.ReadHeaderTimeout = 0 }, "server.read_header_timeout"},
		{"ErrBody", func(c *config.Config) { c.Server.MaxBodyBytes = 10 }, "server.max_body_bytes"},
		{"ErrTLSHalf", func(c *config.Config) { c.Server.TLSCert = "cert.pem" }, "server.tls_cert"},
		{"ErrPath", func(c *config.Config) { c.Store.Path = "" }, "store.path"},
		{"ErrSynchronous", func(c *config.Config) { c.Store.Synchronous = "sometimes" }, "store.synchronous"},
		{"ErrWindow", func(c *config.Config) { c.Feed.Window = 5 }, "feed.window"},
		{"ErrWindowBytes", func(c *config.Config) { c.Feed.WindowBytes = 10 }, "feed.window_bytes"},
		{"ErrRetry", func(c *config.Config) { c.Feed.Retry = -time.Second }, "feed.retry"},
		{"ErrWriteTimeout", func(c *config.Config) { c.Feed.WriteTimeout = c.Feed.Heartbeat }, "feed.write_timeout"},
		{"ErrShortToken", func(c *config.Config) { c.Auth.PublishTokens = []config.PublishToken{{Token: "short"}} }, "auth.publish_tokens[0]"},
		{"ErrOriginPath", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example/page"} }, "cors.allowed_origins[0]"},
		{"ErrOriginScheme", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"ftp://a.example"} }, "cors.allowed_origins[0]"},
		{"ErrOriginCase", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://A.example"} }, "cors.allowed_origins[0]"},
		{"OKOriginPort", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"http://localhost:3000"} }, ""},
		{"OKOriginWildcard", func(c *config.Config) {
			c.CORS.AllowedOrigins = []string{"https://*.example.com", "http://*.example.com:8080"}
		}, ""},
		{"ErrOriginWildcardTLD", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*.com"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardAll", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"*"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardMiddle", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.*.example.com"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardPartial", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*example.com"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardTwice", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*.*.example.com"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardIP", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*.10.0.0.1"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardPath", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*.example.com/x"} }, "cors.allowed_origins[0]"},
		{"ErrOriginWildcardCase", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*.Example.com"} }, "cors.allowed_origins[0]"},
		{"OKOperators", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{operator("ann"), operator("bob.smith@pitch-2")}
		}, ""},
		{"ErrOperatorName", func(c *config.Config) { c.Auth.Operators = []config.Operator{operator("ann smith")} }, "auth.operators[0].name"},
		{"ErrOperatorNameEmpty", func(c *config.Config) { c.Auth.Operators = []config.Operator{operator("ann"), operator("")} }, "auth.operators[1].name"},
		{"ErrOperatorTwice", func(c *config.Config) { c.Auth.Operators = []config.Operator{operator("ann"), operator("ann")} }, "auth.operators[1].name"},
		{"ErrOperatorHash", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: "admin-change-me"}}
		}, "auth.operators[0].password_hash"},
		{"ErrOperatorCost", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: cheapHash}}
		}, "auth.operators[0].password_hash"},
		{"ErrOperatorCostHigh", func(c *config.Config) {
			c.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: "$2a$31$/2P1IkEvNRNyWicSA.bGNuey6SKWoXs8BUTDJA8OecDKMySDHXeRe"}}
		}, "auth.operators[0].password_hash"},
		{"ErrSessionLifetime", func(c *config.Config) { c.Auth.SessionLifetime = time.Second }, "auth.session_lifetime"},
		{"ErrSessionLifetimeLong", func(c *config.Config) { c.Auth.SessionLifetime = 1000 * time.Hour }, "auth.session_lifetime"},
		{"OKMaxTokenLifetime", func(c *config.Config) { c.Auth.MaxTokenLifetime = 72 * time.Hour }, ""},
		{"ErrMaxTokenLifetimeShort", func(c *config.Config) { c.Auth.MaxTokenLifetime = time.Second }, "auth.max_token_lifetime"},
		{"ErrMaxTokenLifetimeLong", func(c *config.Config) { c.Auth.MaxTokenLifetime = 1000 * time.Hour }, "auth.max_token_lifetime"},
		{"ErrHeartbeatShort", func(c *config.Config) { c.Feed.Heartbeat = 999 * time.Millisecond }, "feed.heartbeat"},
		{"ErrHeartbeatNanos", func(c *config.Config) { c.Feed.Heartbeat = 1 }, "feed.heartbeat"},
		{"ErrHeartbeatLong", func(c *config.Config) { c.Feed.Heartbeat, c.Feed.WriteTimeout = 2*time.Hour, 3*time.Hour }, "feed.heartbeat"},
		{"ErrRetryShort", func(c *config.Config) { c.Feed.Retry = 500 * time.Millisecond }, "feed.retry"},
		{"ErrRetryLong", func(c *config.Config) { c.Feed.Retry = 2 * time.Hour }, "feed.retry"},
		{"ErrBusyRetryShort", func(c *config.Config) { c.Feed.BusyRetry = time.Millisecond }, "feed.busy_retry"},
		{"OKTokenMaxTopics", func(c *config.Config) {
			c.Auth.PublishTokens = []config.PublishToken{{Token: "partner-token-0123456789", Topics: []string{"p/*"}, MaxTopics: 10}}
		}, ""},
		{"ErrTokenMaxTopicsNegative", func(c *config.Config) {
			c.Auth.PublishTokens = []config.PublishToken{{Token: "partner-token-0123456789", Topics: []string{"p/*"}, MaxTopics: -1}}
		}, "auth.publish_tokens[0].max_topics"},
		{"ErrTokenMaxTopicsHuge", func(c *config.Config) {
			c.Auth.PublishTokens = []config.PublishToken{{Token: "partner-token-0123456789", Topics: []string{"p/*"}, MaxTopics: 100_000_001}}
		}, "auth.publish_tokens[0].max_topics"},
		{"ErrTokenMaxTopicsUnscoped", func(c *config.Config) {
			c.Auth.PublishTokens = []config.PublishToken{{Token: "partner-token-0123456789", MaxTopics: 10}}
		}, "auth.publish_tokens[0].max_topics"},
		{"OKMaxTopicsNone", func(c *config.Config) { c.Feed.MaxTopics = 0 }, ""},
		{"OKMaxTopicsMost", func(c *config.Config) { c.Feed.MaxTopics = 100_000_000 }, ""},
		{"ErrMaxTopicsNegative", func(c *config.Config) { c.Feed.MaxTopics = -1 }, "feed.max_topics"},
		{"ErrMaxTopicsHuge", func(c *config.Config) { c.Feed.MaxTopics = 100_000_001 }, "feed.max_topics"},
		{"OKFinalLingerNever", func(c *config.Config) { c.Feed.FinalLinger = 0 }, ""},
		{"OKFinalLinger", func(c *config.Config) { c.Feed.FinalLinger = 90 * time.Minute }, ""},
		{"ErrFinalLingerShort", func(c *config.Config) { c.Feed.FinalLinger = time.Second }, "feed.final_linger"},
		{"ErrFinalLingerLong", func(c *config.Config) { c.Feed.FinalLinger = 1000 * time.Hour }, "feed.final_linger"},
		{"ErrReadTimeoutShort", func(c *config.Config) { c.Server.ReadTimeout = 30 }, "server.read_timeout"},
		{"OKReadTimeoutMin", func(c *config.Config) { c.Server.ReadTimeout = 100 * time.Millisecond }, ""},
		{"ErrIdleTimeoutLong", func(c *config.Config) { c.Server.IdleTimeout = 48 * time.Hour }, "server.idle_timeout"},
		{"ErrShutdownTimeout", func(c *config.Config) { c.Server.ShutdownTimeout = 50 * time.Millisecond }, "server.shutdown_timeout"},
		{"ErrFeedWriteTimeout", func(c *config.Config) { c.Feed.WriteTimeout = 2 * time.Hour }, "feed.write_timeout"},
		{"ErrRetentionAge", func(c *config.Config) { c.Store.RetentionAge = time.Second }, "store.retention_age"},
		{"OKRetentionAge", func(c *config.Config) { c.Store.RetentionAge = 24 * time.Hour }, ""},
		{"ErrRetentionRows", func(c *config.Config) { c.Store.RetentionRows = -1 }, "store.retention_rows"},
		{"ErrWindowHuge", func(c *config.Config) { c.Feed.Window = 1 << 30 }, "feed.window"},
		{"ErrWindowBytesHuge", func(c *config.Config) { c.Feed.WindowBytes = 1 << 40 }, "feed.window_bytes"},
		{"ErrBodyHuge", func(c *config.Config) { c.Server.MaxBodyBytes = 1 << 30 }, "server.max_body_bytes"},
		{"ErrPublishRate", func(c *config.Config) { c.Auth.PublishRate = -1 }, "auth.publish_rate"},
		{"ErrPort", func(c *config.Config) { c.Server.Address = "127.0.0.1:99999" }, "server.address"},
		{"ErrOriginPortRange", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example:70000"} }, "cors.allowed_origins[0]"},
		{"ErrOriginPortZero", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example:0"} }, "cors.allowed_origins[0]"},
		{"ErrOriginEmptyPort", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example:"} }, "cors.allowed_origins[0]"},
		{"ErrOriginTrailingSlash", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example/"} }, "cors.allowed_origins[0]"},
		{"ErrOriginNoHost", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://"} }, "cors.allowed_origins[0]"},
		{"ErrOriginBadHost", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a_b.example"} }, "cors.allowed_origins[0]"},
		{"ErrOriginUnicodeHost", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://bücher.example"} }, "cors.allowed_origins[0]"},
		{"ErrOriginOpaque", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https:a.example"} }, "cors.allowed_origins[0]"},
		{"ErrOriginQuery", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example?"} }, "cors.allowed_origins[0]"},
		{"ErrOriginStar", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"*"} }, "cors.allowed_origins[0]"},
		{"ErrOriginUser", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://u@a.example"} }, "cors.allowed_origins[0]"},
		{"OKOriginIPv6", func(c *config.Config) {
			c.CORS.AllowedOrigins = []string{"http://[::1]:8080", "https://xn--bcher-kva.example"}
		}, ""},
		{"ErrOriginSecond", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://ok.example", "http://a.example/x"} }, "cors.allowed_origins[1]"},
		{"OKDelayed", func(c *config.Config) {
			c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"stocks/*"}, Delay: 15 * time.Minute}, {Topics: []string{"nba/*", "nfl/x"}, Delay: 24 * time.Hour}}
		}, ""},
		{"ErrDelayedShort", func(c *config.Config) {
			c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"stocks/*"}, Delay: time.Minute}, {Topics: []string{"x"}, Delay: 999 * time.Millisecond}}
		}, "feed.delayed[1].delay"},
		{"ErrDelayedLong", func(c *config.Config) {
			c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"x"}, Delay: 25 * time.Hour}}
		}, "feed.delayed[0].delay"},
		{"ErrDelayedNoTopics", func(c *config.Config) { c.Feed.Delayed = []config.DelayedTier{{Delay: time.Minute}} }, "feed.delayed[0].topics"},
		{"ErrDelayedBadTopic", func(c *config.Config) {
			c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"a/*/b"}, Delay: time.Minute}}
		}, "feed.delayed[0].topics"},
		{"ErrDelayedBeyondRetention", func(c *config.Config) {
			c.Store.RetentionAge = 10 * time.Minute
			c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"x"}, Delay: 15 * time.Minute}}
		}, "store.retention_age"},
		{"OKDelayedWithinRetention", func(c *config.Config) {
			c.Store.RetentionAge = 16 * time.Minute
			c.Feed.Delayed = []config.DelayedTier{{Topics: []string{"x"}, Delay: 15 * time.Minute}}
		}, ""},
		{"OKConflate", func(c *config.Config) {
			c.Feed.Conflate = []config.ConflateMinimum{{Topics: []string{"stocks/*"}, Interval: time.Second}}
		}, ""},
		{"ErrConflateShort", func(c *config.Config) {
			c.Feed.Conflate = []config.ConflateMinimum{{Topics: []string{"stocks/*"}, Interval: 50 * time.Millisecond}}
		}, "feed.conflate[0].interval"},
		{"ErrConflateLong", func(c *config.Config) {
			c.Feed.Conflate = []config.ConflateMinimum{{Topics: []string{"stocks/*"}, Interval: 2 * time.Hour}}
		}, "feed.conflate[0].interval"},
		{"OKStale", func(c *config.Config) {
			c.Feed.Stale = []config.StaleRule{{Topics: []string{"stocks/*"}, After: time.Second}, {Topics: []string{"nba/*", "nfl/x"}, After: 24 * time.Hour}}
		}, ""},
		{"ErrStaleShort", func(c *config.Config) {
			c.Feed.Stale = []config.StaleRule{{Topics: []string{"stocks/*"}, After: time.Minute}, {Topics: []string{"x"}, After: 999 * time.Millisecond}}
		}, "feed.stale[1].after"},
		{"ErrStaleLong", func(c *config.Config) {
			c.Feed.Stale = []config.StaleRule{{Topics: []string{"x"}, After: 24*time.Hour + time.Second}}
		}, "feed.stale[0].after"},
		{"ErrStaleNoTopics", func(c *config.Config) { c.Feed.Stale = []config.StaleRule{{After: time.Minute}} }, "feed.stale[0].topics"},
		{"ErrStaleBadTopic", func(c *config.Config) {
			c.Feed.Stale = []config.StaleRule{{Topics: []string{"a/*/b"}, After: time.Minute}}
		}, "feed.stale[0].topics"},
		{"ErrConflateNoTopics", func(c *config.Config) { c.Feed.Conflate = []config.ConflateMinimum{{Interval: time.Second}} }, "feed.conflate[0].topics"},
		{"OKNeverMerge", func(c *config.Config) { c.Feed.NeverMerge = []string{"goal", "trade"} }, ""},
		{"ErrNeverMergeType", func(c *config.Config) { c.Feed.NeverMerge = []string{"goal", "Goal!"} }, "feed.never_merge[1]"},
		{"OKViewersOff", func(c *config.Config) { c.Feed.Viewers = "off" }, ""},
		{"OKViewersPublicExact", func(c *config.Config) { c.Feed.Viewers, c.Feed.ViewersMin = "public", 0 }, ""},
		{"OKViewersMinMax", func(c *config.Config) { c.Feed.ViewersMin = config.MaxViewersMin }, ""},
		{"ErrViewersEmpty", func(c *config.Config) { c.Feed.Viewers = "" }, "feed.viewers"},
		{"ErrViewersCase", func(c *config.Config) { c.Feed.Viewers = "Public" }, "feed.viewers"},
		{"ErrViewersUnknown", func(c *config.Config) { c.Feed.Viewers = "everyone" }, "feed.viewers"},
		{"ErrViewersMinNegative", func(c *config.Config) { c.Feed.ViewersMin = -1 }, "feed.viewers_min"},
		{"ErrViewersMinHuge", func(c *config.Config) { c.Feed.ViewersMin = config.MaxViewersMin + 1 }, "feed.viewers_min"},
		{"ErrNeverMergeReserved", func(c *config.Config) { c.Feed.NeverMerge = []string{"reset"} }, "feed.never_merge[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.key)
			}
		})
	}
}

// cheapHash is a bcrypt hash of cost 4, below what the configuration
// accepts.
const cheapHash = "$2a$04$/2P1IkEvNRNyWicSA.bGNuey6SKWoXs8BUTDJA8OecDKMySDHXeRe"

func operator(name string) config.Operator {
	return config.Operator{Name: name, PasswordHash: config.SamplePasswordHash}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("OKMissingDefaultFile", func(t *testing.T) {
		cfg, err := config.Load(filepath.Join(dir, "absent.toml"), false, noEnv)
		if err != nil || !reflect.DeepEqual(cfg, config.Default()) {
			t.Fatalf("Load = %+v, %v", cfg, err)
		}
	})
	t.Run("ErrMissingNamedFile", func(t *testing.T) {
		if _, err := config.Load(filepath.Join(dir, "absent.toml"), true, noEnv); err == nil {
			t.Fatal("a named file that is missing was accepted")
		}
	})
	t.Run("ErrNamesFile", func(t *testing.T) {
		path := filepath.Join(dir, "bad.toml")
		os.WriteFile(path, []byte("[feed]\nwindow = 1\n"), 0o600)
		_, err := config.Load(path, true, noEnv)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "feed.window") {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("OKEnvTokens", func(t *testing.T) {
		path := filepath.Join(dir, "tokens.toml")
		os.WriteFile(path, []byte("[auth]\npublish_tokens = [\"from-the-file-0123456789\"]\n"), 0o600)
		env := map[string]string{config.EnvPublishTokens: " env-token-one-0123456789 , env-token-two-0123456789,"}
		cfg, err := config.Load(path, true, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(config.Tokens(cfg.Auth.PublishTokens), []string{"env-token-one-0123456789", "env-token-two-0123456789"}) {
			t.Fatalf("tokens = %+v", cfg.Auth.PublishTokens)
		}
	})
	t.Run("OKEnvOperators", func(t *testing.T) {
		env := map[string]string{config.EnvOperators: "ann:" + config.SamplePasswordHash + ", bob:" + config.SamplePasswordHash}
		cfg, err := config.Load(filepath.Join("..", "..", "config.toml"), true, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Auth.Operators, []config.Operator{operator("ann"), operator("bob")}) {
			t.Fatalf("operators = %q", cfg.Auth.Operators)
		}
	})
	t.Run("ErrNamesEnvironment", func(t *testing.T) {
		path := filepath.Join(dir, "good.toml")
		os.WriteFile(path, []byte("[feed]\nheartbeat = \"5s\"\n"), 0o600)
		env := map[string]string{config.EnvPublishTokens: "long-enough-token-0123456789,short", config.EnvOperators: "ann:not-a-hash"}
		_, err := config.Load(path, true, func(k string) string { return env[k] })
		if err == nil {
			t.Fatal("bad values from the environment were accepted")
		}
		for _, want := range []string{
			config.EnvPublishTokens + ": auth.publish_tokens[1]: is shorter than 16 characters",
			config.EnvOperators + ": auth.operators[0].password_hash: is not a bcrypt hash",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Load = %v, want %q", err, want)
			}
		}
		if strings.Contains(err.Error(), path) {
			t.Errorf("Load = %v: blames %s for the environment's values", err, path)
		}
	})
	t.Run("ErrNamesFileAndEnvironment", func(t *testing.T) {
		path := filepath.Join(dir, "bad-window.toml")
		os.WriteFile(path, []byte("[feed]\nwindow = 5\n"), 0o600)
		env := map[string]string{config.EnvPublishTokens: "short"}
		_, err := config.Load(path, true, func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), path+": feed.window") || !strings.Contains(err.Error(), config.EnvPublishTokens+": auth.publish_tokens[0]") {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("ErrEnvOperators", func(t *testing.T) {
		for _, v := range []string{"ann", "ann:" + config.SamplePasswordHash + ",bob", "ann:not-a-hash"} {
			env := map[string]string{config.EnvOperators: v}
			_, err := config.Load(filepath.Join(dir, "absent.toml"), false, func(k string) string { return env[k] })
			if err == nil || strings.Contains(err.Error(), config.SamplePasswordHash) {
				t.Errorf("%s = %q: Load = %v", config.EnvOperators, v, err)
			}
		}
	})
}

func TestCheckDeployment(t *testing.T) {
	// A new hash of the sample password: not the sample hash, but the
	// same password.
	otherSampleHash, err := bcrypt.GenerateFromPassword([]byte(config.SamplePassword), config.MinPasswordCost)
	if err != nil {
		t.Fatal(err)
	}
	const good = "c0ffee4b1d2a9e8f7c6b5a4d3e2f1a0b9c8d7e6f"
	for _, tc := range []struct {
		name    string
		address string
		tokens  []string
		ops     []config.Operator
		err     string // substring, "" for accepted
	}{
		{"OKLoopbackSample", "127.0.0.1:8080", []string{config.SampleToken}, []config.Operator{operator("admin")}, ""},
		{"OKLoopbackIPv6", "[::1]:8080", []string{"short-but-loopback-1"}, []config.Operator{operator("admin")}, ""},
		{"OKLocalhost", "localhost:8080", []string{config.SampleToken}, nil, ""},
		{"OKNetwork", ":8080", []string{good}, []config.Operator{{Name: "ann", PasswordHash: cheapNonSampleHash}}, ""},
		{"ErrSampleToken", ":8080", []string{config.SampleToken}, nil, "auth.publish_tokens[0]: is the sample token"},
		{"ErrShortToken", "0.0.0.0:8080", []string{good, "a-real-secret-0123456789"}, nil, "auth.publish_tokens[1]: is shorter than 32 characters"},
		{"ErrRepeatedToken", "192.0.2.1:8080", []string{strings.Repeat("x", 40)}, nil, "auth.publish_tokens[0]: is one character repeated"},
		{"ErrSampleHash", ":8080", []string{good}, []config.Operator{operator("admin")}, `auth.operators[0].password_hash: "admin" has the sample password`},
		{"ErrSamplePasswordNewHash", ":8080", []string{good}, []config.Operator{{Name: "ann", PasswordHash: cheapNonSampleHash}, {Name: "bob", PasswordHash: string(otherSampleHash)}}, `auth.operators[1].password_hash: "bob" has the sample password`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Server.Address, cfg.Auth.Operators = tc.address, tc.ops
			for _, tok := range tc.tokens {
				cfg.Auth.PublishTokens = append(cfg.Auth.PublishTokens, config.PublishToken{Token: tok})
			}
			err := cfg.CheckDeployment()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("CheckDeployment = %v, want %q", err, tc.err)
			}
		})
	}
	t.Run("ErrNamesEnvironment", func(t *testing.T) {
		env := map[string]string{config.EnvPublishTokens: "too-short-for-a-network-1234", config.EnvOperators: "admin:" + string(otherSampleHash)}
		cfg, err := config.Load(filepath.Join(t.TempDir(), "absent.toml"), false, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		cfg.Server.Address = ":8080"
		err = cfg.CheckDeployment()
		if err == nil || !strings.Contains(err.Error(), config.EnvPublishTokens+": auth.publish_tokens[0]: is shorter") ||
			!strings.Contains(err.Error(), config.EnvOperators+": auth.operators[0].password_hash") {
			t.Fatalf("CheckDeployment = %v, want errors naming %s and %s", err, config.EnvPublishTokens, config.EnvOperators)
		}
	})
}

// cheapNonSampleHash is a bcrypt hash (cost 10) of a password that is not
// the sample one.
var cheapNonSampleHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("not-the-sample-password"), config.MinPasswordCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// FuzzParse checks that any text either parses into a configuration whose
// validation can run, or fails with an error; it never panics.
func FuzzParse(f *testing.F) {
	f.Add("[server]\naddress = \"127.0.0.1:8080\"\n")
	f.Add("[feed]\nheartbeat = \"1h\"\nwindow = 100\n")
	f.Add("[auth]\npublish_tokens = [\"a\", \"b\"]\n[cors]\nallowed_origins = [\"http://x\"]\n")
	f.Add("[[server]]\n")
	f.Add("[auth]\nsession_lifetime = \"1h\"\n[[auth.operators]]\nname = \"a\"\npassword_hash = \"$2a$10$x\"\n")
	f.Add("a = 1\n")
	f.Add("[feed]\nheartbeat = 1\n")
	f.Add("[feed]\nmax_topics = -1\nmax_topics = 1e9\n")
	f.Add("[auth]\npublish_tokens = [{ token = \"t\", topics = [\"a/*\"], max_topics = 3 }, { max_topics = 1e99 }]\n")
	f.Add("feed.retry = \"1ns\"\n[server]\nread_timeout = 30\n")
	f.Add("[cors]\nallowed_origins = [\"https://a.example:99999\", \"https://\", \"http://[::1]\"]\n")
	f.Add("[log]\nformat = \"json\"\nlevel = \"warn\"\naccess = true\n")
	f.Add("[log]\nformat = \"\"\nlevel = 3\n")
	f.Add("[[feed.stale]]\ntopics = [\"stocks/*\"]\nafter = \"10s\"\n")
	f.Add("[[feed.stale]]\ntopics = [\"*\", 1]\nafter = 5\nx = 1\n")
	f.Add("[server]\naddress = \":8080\"\n[auth]\npublish_tokens = [\"\", \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := config.Parse(text)
		if err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.CheckDeployment()
	})
}

// TestChanged: the keys whose values differ, named as in the file.
func TestChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   []string
	}{
		{"None", func(*config.Config) {}, nil},
		{"EmptyIsNone", func(c *config.Config) { c.CORS.AllowedOrigins = []string{} }, nil},
		{"Origins", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example"} }, []string{"cors.allowed_origins"}},
		{"LevelAndAddress", func(c *config.Config) { c.Log.Level = "debug"; c.Server.Address = "127.0.0.1:9" }, []string{"server.address", "log.level"}},
		{"Tokens", func(c *config.Config) { c.Auth.PublishTokens = []config.PublishToken{{Token: "x"}} }, []string{"auth.publish_tokens"}},
		{"Window", func(c *config.Config) { c.Feed.Window = 7 }, []string{"feed.window"}},
		{"Stale", func(c *config.Config) {
			c.Feed.Stale = []config.StaleRule{{Topics: []string{"stocks/*"}, After: 10 * time.Second}}
		}, []string{"feed.stale"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := config.Default(), config.Default()
			tc.change(&b)
			if got := config.Changed(a, b); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Changed = %q, want %q", got, tc.want)
			}
		})
	}
}
