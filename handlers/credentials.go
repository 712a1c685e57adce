package handlers

import (
	"context"
	"crypto/sha256"

	"livefeed/feed"
	"livefeed/handlers/token"
)

// Credentials are the settings a server takes anew while it serves
// (SIGHUP): who may publish, subscribe to private topics, read the feed
// from a browser, and sign in to the console. Streams and sessions stay
// open across a change, but for what it removes: a session of an operator
// no longer configured ends at its next request, and the event streams
// opened with a subscriber key no longer configured, or with the console
// token of an operator no longer configured, end at once.
type Credentials struct {
	// PublishTokens are accepted for any topic, ScopedPublishTokens for
	// their topics only.
	PublishTokens       []string
	ScopedPublishTokens []ScopedPublishToken
	// SubscriberKeys verify subscriber tokens (nil: none are accepted).
	SubscriberKeys *token.Keys
	// AllowedOrigins may read the feed from a browser (CORS).
	AllowedOrigins []string
	// Operators may sign in to the admin console.
	Operators []Operator
}

// credentials are Credentials made ready for checking requests. A Server
// holds them behind an atomic pointer, swapped whole: a request sees the
// old set or the new one, never a mix.
type credentials struct {
	tokens    []publishToken
	keys      *token.Keys
	origins   *Origins
	operators map[string]string // name → bcrypt hash
	// quotas bound the topics of the scoped publish tokens with a
	// max_topics, by digest.
	quotas map[[sha256.Size]byte]*feed.Quota
}

// withQuota returns ctx carrying the topic quota of the publish token
// whose digest is publisher, if it has one.
func (c *credentials) withQuota(ctx context.Context, publisher [sha256.Size]byte) context.Context {
	return feed.WithQuota(ctx, c.quotas[publisher])
}

// SetCredentials replaces the server's credentials; requests under way
// finish with the ones they started with, and the event streams whose
// credential it removes end (see fanout.Hub.Revoke).
func (s *Server) SetCredentials(c Credentials) {
	next := &credentials{keys: c.SubscriberKeys, origins: NewOrigins(c.AllowedOrigins), operators: make(map[string]string)}
	for _, t := range c.PublishTokens {
		next.tokens = append(next.tokens, publishToken{digest: sha256.Sum256([]byte(t))})
	}
	var specs []feed.QuotaSpec
	var limited [][sha256.Size]byte
	for _, t := range c.ScopedPublishTokens {
		digest := sha256.Sum256([]byte(t.Token))
		next.tokens = append(next.tokens, publishToken{digest: digest, topics: t.Topics})
		if t.MaxTopics > 0 {
			specs = append(specs, feed.QuotaSpec{Topics: t.Topics, Limit: t.MaxTopics})
			limited = append(limited, digest)
		}
	}
	if s.topicCount != nil {
		next.quotas = make(map[[sha256.Size]byte]*feed.Quota, len(specs))
		for i, q := range s.topicCount.SetQuotas(specs) {
			next.quotas[limited[i]] = q
		}
	}
	for _, op := range c.Operators {
		next.operators[op.Name] = op.PasswordHash
	}
	s.creds.Store(next)
	if s.hub != nil {
		if n := s.hub.Revoke(); n > 0 {
			s.log.Info("event streams ended: the credentials they were opened with were removed", "streams", n)
		}
	}
}
