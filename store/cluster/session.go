package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
)

// The console's sessions live in a JetStream key-value bucket beside the
// stream, not in each node's SQLite: an operator signed in through one
// node is signed in on every node, so a load balancer needs no stickiness.
const (
	// sessionsSuffix names the bucket after the stream ("LIVEFEED" keeps
	// its sessions in "LIVEFEED_sessions").
	sessionsSuffix = "_sessions"
	// sessionsTTL is how long the bucket keeps a session at most: the
	// longest auth.session_lifetime. A session's own expiry is checked
	// when it is read.
	sessionsTTL = 30 * 24 * time.Hour
	// sessionsBytes bounds the bucket; past it the oldest sessions go.
	sessionsBytes = 64 << 20
)

// sessionRecord is a session's value in the bucket.
type sessionRecord struct {
	Operator string `json:"operator"`
	CSRF     string `json:"csrf"`
	Expires  int64  `json:"expires"` // Unix milliseconds
}

// openSessions opens the sessions bucket, creating it if it is missing.
func (n *Node) openSessions(ctx context.Context) error {
	bucket := n.opts.Stream + sessionsSuffix
	kv, err := n.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = n.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Description: "livefeed: the console's sessions",
			TTL: sessionsTTL, MaxBytes: sessionsBytes, Storage: jetstream.FileStorage, Replicas: n.opts.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = n.js.KeyValue(ctx, bucket) // another node created it meanwhile
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: the sessions bucket %s: %w", bucket, err)
	}
	n.sessions = kv
	return nil
}

// CreateSession stores the session of an operator signed in to the
// console, for every node, until expires.
func (n *Node) CreateSession(ctx context.Context, key [sha256.Size]byte, operator, csrf string, expires time.Time) error {
	v, err := json.Marshal(sessionRecord{Operator: operator, CSRF: csrf, Expires: expires.UnixMilli()})
	if err != nil {
		return err
	}
	if !n.nc.IsConnected() {
		return n.sessionError("store the session", nats.ErrDisconnected)
	}
	if _, err := n.sessions.Put(ctx, sessionKey(key), v); err != nil {
		return n.sessionError("store the session", err)
	}
	return nil
}

// Session returns the operator and CSRF token of a live session, stored
// by any node.
func (n *Node) Session(ctx context.Context, key [sha256.Size]byte) (operator, csrf string, found bool, err error) {
	if !n.nc.IsConnected() {
		return "", "", false, n.sessionError("read the session", nats.ErrDisconnected)
	}
	e, err := n.sessions.Get(ctx, sessionKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, n.sessionError("read the session", err)
	}
	var rec sessionRecord
	if json.Unmarshal(e.Value(), &rec) != nil || rec.Expires <= time.Now().UnixMilli() {
		return "", "", false, nil
	}
	return rec.Operator, rec.CSRF, true, nil
}

// EndSession deletes a session on every node.
func (n *Node) EndSession(ctx context.Context, key [sha256.Size]byte) error {
	if !n.nc.IsConnected() {
		return n.sessionError("end the session", nats.ErrDisconnected)
	}
	if err := n.sessions.Purge(ctx, sessionKey(key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return n.sessionError("end the session", err)
	}
	return nil
}

// sessionKey is the bucket's key of a session: the hex of the SHA-256 of
// its ID (the ID itself is never stored).
func sessionKey(key [sha256.Size]byte) string { return hex.EncodeToString(key[:]) }

// sessionError is a failure of the sessions bucket, for the console.
func (n *Node) sessionError(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	n.log.Warn("the sessions bucket failed", "op", op, "err", err)
	return feed.Errorf(feed.ErrUnavailable, "the console's sign-ins are kept in the cluster's NATS, which this node cannot reach now (%s): try again shortly", op)
}
