// Package cluster runs livefeed as one node of several on NATS JetStream.
//
// One JetStream stream is the ordered, replicated log of every event: its
// sequence is the event's ID, on every node. A node publishes what its
// clients publish into the stream, and mirrors the whole stream into its
// own SQLite history (store.Apply), from which it serves streams, history
// and exports like a single node does; a client can reconnect to any node
// with its Last-Event-ID. A publish is answered once the stream stored it
// and this node applied it, so a client reads its own writes.
//
// Node implements feed.Log (publishing) and handlers' History (reading, from the
// node's store) and SessionStore (the console's sessions, in a key-value
// bucket every node shares), as handlers/node asserts, and passes
// feed/logtest's conformance test. It has none of its store's writes
// (node_test.go).
//
// This package is the cluster's side of a node and nothing else: it
// imports feed and store, never handlers; serving a node's history, and
// wiring a node to a hub and a server, are the handlers' floor's.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
	"livefeed/feed/fanout"
	"livefeed/store"
)

// Options configure a Node.
type Options struct {
	// URLs are the NATS servers (nats://host:4222, tls://...).
	URLs []string
	// Stream is the JetStream stream, created if missing (default
	// DefaultStream); Subjects its subjects, a prefix and ".>" (default
	// DefaultSubjects); Replicas its replication (default 1).
	Stream, Subjects string
	Replicas         int
	// MaxAge and MaxBytes bound what the stream keeps (0: no limit). They
	// are apart from each node's own retention: a node started after the
	// stream dropped events it never applied refuses to serve a history
	// with a hole.
	MaxAge   time.Duration
	MaxBytes int64
	// Node names this node in logs and metrics.
	Node string
	// Credentials is a NATS credentials file, Token a NATS token, CAFile
	// the CA of NATS servers that speak TLS; any may be empty.
	Credentials, Token, CAFile string
	// CatchUpWait bounds how long a request waits for this node to apply
	// what the stream already holds: a publish for its own event, a
	// client resuming from an ID the node has not applied yet (default
	// DefaultCatchUpWait).
	CatchUpWait time.Duration
	// MaxDataBytes bounds the data of one event (default feed.MaxDataBytes).
	MaxDataBytes int
	Logger       *slog.Logger
	// Heartbeats, if set, takes the heartbeats the other nodes were sent
	// (see heartbeat.go), each with its sender's time, capped at this
	// node's now.
	Heartbeats func(f feed.Filter, at time.Time)
	// Audience, if set, returns this node's own audience (Hub.Audience),
	// which the node shares with the others every AudienceEvery; it
	// keeps theirs, for Node.Audience to sum (see audience.go). Unset,
	// or AudienceEvery 0: nothing of the audience is sent or kept.
	Audience      func() *fanout.Audience
	AudienceEvery time.Duration
}

// The defaults of Options (config.Default uses these).
const (
	DefaultStream      = "LIVEFEED"
	DefaultSubjects    = "livefeed.>"
	DefaultCatchUpWait = 5 * time.Second
)

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Subjects == "" {
		o.Subjects = DefaultSubjects
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.CatchUpWait <= 0 {
		o.CatchUpWait = DefaultCatchUpWait
	}
	if o.MaxDataBytes <= 0 {
		o.MaxDataBytes = feed.MaxDataBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// What identifies the stream this node's history mirrors, in the store's
// meta table: a stream deleted and created again restarts its sequence at
// 1, and its events must never be mixed with the old stream's.
const (
	metaStream  = "cluster.stream"
	metaCreated = "cluster.stream_created"
	metaID      = "cluster.stream_id"
	// streamIDKey is the key of the stream's metadata that livefeed writes
	// when it creates the stream.
	streamIDKey = "livefeed_stream_id"
)

// Node is one livefeed node of a cluster: it publishes into the stream and
// mirrors the stream into its store. Its reads are the store's (read.go),
// its publishes go through the stream (publish.go), its sessions live in
// a bucket every node shares (session.go); it has none of the store's
// writes.
type Node struct {
	// store is this node's history: written only by the mirror (Apply)
	// and by Open (which stream it mirrors, SetMeta), read through the
	// methods of read.go. It is a named field, not an
	// embedded one, so that none of its write methods (Append, Apply,
	// SetMeta, Prune, Backup...) is promoted onto the node, where it
	// would pass for the node's log while bypassing the stream.
	store  *store.Store
	opts   Options
	log    *slog.Logger
	prefix string

	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	id     streamID // of the stream this node mirrors
	// sessions holds the console's sessions, for every node.
	sessions jetstream.KeyValue

	// applied is the newest sequence applied to the store; streamLast the
	// stream's newest, as last seen. Waiters of applied wait on progress,
	// a channel closed and replaced at every advance.
	mu         sync.Mutex
	applied    int64
	progress   chan struct{}
	streamLast atomic.Int64
	recent     recent        // the newest events applied, for publishes to answer with
	ready      atomic.Bool   // caught up with the stream once since start
	problem    atomic.Value  // string: why the node stopped mirroring, if it did
	applyErrs  atomic.Uint64 // failed applies, retried
	// self tells this node's heartbeats from the others' on the subject:
	// an instance's own, so that two nodes given one name do not drop
	// each other's.
	self       string
	badBeats   atomic.Uint64 // malformed heartbeats heard, dropped
	badBeatLog feed.Rarely   // when one was last logged
	beatsDone  chan struct{} // closed once the heartbeats' last callback returned
	// aud are the other nodes' audience counts; every is 0 where the
	// node shares none.
	aud            audiences
	badAudience    atomic.Uint64 // audience counts heard, dropped
	badAudienceLog feed.Rarely   // when one was last logged
	natsErrs       atomic.Uint64 // NATS's asynchronous errors
	natsErrLog     feed.Rarely   // when one was last logged
	stop           chan struct{} // closed by Close
	checkEvery     time.Duration // how often the stream is checked while following it
	// lose is, for a test, the stream sequence of a message whose
	// delivery to this node is lost once on its way (0: none).
	lose atomic.Int64

	connMu sync.Mutex
	down   chan struct{}  // closed when the connection to NATS drops
	closed chan struct{}  // closed once the connection is closed and its callbacks have run
	done   sync.WaitGroup // the mirroring goroutine
}

// streamID identifies one instance of a stream.
type streamID struct {
	name, created, uuid string
}

// Open connects to NATS, creates the stream if it does not exist, checks
// that st mirrors this stream (or is empty and starts to), and starts
// mirroring it from st's newest ID. It returns before the node has caught
// up: Ready reports when it has.
func Open(ctx context.Context, st *store.Store, opts Options) (*Node, error) {
	opts.setDefaults()
	prefix, err := prefixOf(opts.Subjects)
	if err != nil {
		return nil, err
	}
	n := &Node{store: st, opts: opts, log: opts.Logger.With("node", opts.Node), prefix: prefix,
		progress: make(chan struct{}), stop: make(chan struct{}), down: make(chan struct{}), closed: make(chan struct{}),
		checkEvery: checkEvery, self: rand.Text()}
	n.problem.Store("")
	n.applied = st.LastID()
	if err := n.connect(); err != nil {
		return nil, err
	}
	if err := n.openStream(ctx); err != nil {
		n.closeConn()
		return nil, err
	}
	if err := n.openSessions(ctx); err != nil {
		n.closeConn()
		return nil, err
	}
	if opts.Heartbeats != nil {
		n.beatsDone = make(chan struct{})
		if err := n.subscribeHeartbeats(); err != nil {
			n.closeConn()
			return nil, err
		}
	}
	if opts.Audience != nil && opts.AudienceEvery > 0 {
		n.aud = audiences{every: opts.AudienceEvery, others: make(map[string]*fanout.Audience)}
		if err := n.subscribeAudience(); err != nil {
			n.closeConn()
			return nil, err
		}
	}
	if opts.Heartbeats != nil || n.aud.every > 0 {
		// A subscription is only sent to NATS with the connection's next
		// write: until NATS answers a round trip, a heartbeat another
		// node sends now may reach NATS first and be lost to this one.
		if err := n.nc.FlushTimeout(publishWait); err != nil {
			n.closeConn()
			return nil, fmt.Errorf("cluster: NATS did not confirm this node's subscriptions to the heartbeats and audience counts: %w", err)
		}
	}
	if n.aud.every > 0 {
		n.done.Go(n.shareAudience)
	}
	n.done.Go(n.mirror)
	return n, nil
}

func (n *Node) connect() error {
	opts := []nats.Option{
		nats.Name("livefeed " + n.opts.Node),
		// Reconnect forever: the node keeps serving its streams while
		// NATS is away, and goes on by itself when it is back.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// No buffering while disconnected: a publish then fails at once
		// (503) instead of being stored later, after its client was told
		// it failed.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			switch {
			case err != nil:
				n.log.Warn("NATS unreachable: publishing is refused until it is back", "err", err)
			case c.IsClosed():
				// Closed by this node (Close, or Open failing): nothing
				// is unreachable, and there is no error to tell.
			default:
				n.log.Warn("NATS connection dropped: publishing is refused until it is back")
			}
			n.connMu.Lock()
			select {
			case <-n.down:
			default:
				close(n.down) // publishes waiting for an answer give up now
			}
			n.connMu.Unlock()
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.log.Info("NATS reachable again", "server", c.ConnectedUrlRedacted())
			n.connMu.Lock()
			n.down = make(chan struct{})
			n.connMu.Unlock()
		}),
		// The last callback of a connection: closeConn waits for it, so
		// that nothing is logged after Close returns.
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) { n.natsError(sub, err) }),
	}
	if n.opts.Credentials != "" {
		opts = append(opts, nats.UserCredentials(n.opts.Credentials))
	}
	if n.opts.Token != "" {
		opts = append(opts, nats.Token(n.opts.Token))
	}
	if n.opts.CAFile != "" {
		opts = append(opts, nats.RootCAs(n.opts.CAFile))
	}
	urls := ""
	for i, u := range n.opts.URLs {
		if i > 0 {
			urls += ","
		}
		urls += u
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return fmt.Errorf("cluster: connect to NATS (%s): %w", urls, err)
	}
	n.nc = nc
	// Streaming publishes' lines are published asynchronously (see
	// AppendEach): the groups of several connections may be in flight at
	// once, and a publish waits for room beyond that. Every one is
	// answered within publishWait, or fails.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(asyncPending), jetstream.WithPublishAsyncTimeout(publishWait))
	if err != nil {
		n.closeConn()
		return err
	}
	n.js = js
	return nil
}

// streamConfig is the configuration this node creates the stream with.
func (n *Node) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               n.opts.Stream,
		Subjects:           []string{n.opts.Subjects},
		Storage:            jetstream.FileStorage,
		Replicas:           n.opts.Replicas,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardOld,
		MaxAge:             n.opts.MaxAge,
		MaxBytes:           max(n.opts.MaxBytes, -1),
		MaxMsgSize:         int32(n.opts.MaxDataBytes + 64<<10),
		Duplicates:         2 * time.Minute,
		AllowAtomicPublish: true, // a batch is stored all or nothing, with consecutive sequences
		// A first sequence above the newest ID of the store, should
		// a stream be created anew for an existing history (see
		// web/docs/cluster.md, "Backups"): no ID is ever given out twice.
		FirstSeq: uint64(n.applied) + 1,
		Metadata: map[string]string{streamIDKey: rand.Text()},
	}
}

// asyncPending bounds the lines of streaming publishes in flight on a
// node's connection: four groups of 4,096 (the handlers' group).
const asyncPending = 4 * 4096

// createTries bounds the attempts to find or create the stream.
const createTries = 10

// openStream creates the stream if it is missing (with the settings of
// opts; an existing one keeps its own, see compareConfig) and checks it
// against the store. Nodes started together on a JetStream without the
// stream all find it missing and create it: one does, and the others,
// refused (each asks with an ID of its own, so their configurations
// differ), find the one it created.
func (n *Node) openStream(ctx context.Context) error {
	want := n.streamConfig()
	var (
		stream  jetstream.Stream
		created bool
		err     error
	)
	for try := 1; ; try++ {
		stream, err = n.js.Stream(ctx, n.opts.Stream)
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			break
		}
		stream, err = n.js.CreateStream(ctx, want)
		if err == nil {
			created = true
			n.log.Info("created the stream", "stream", n.opts.Stream, "subjects", n.opts.Subjects, "replicas", n.opts.Replicas)
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || try == createTries {
			break
		}
		// Created meanwhile, by another node: found at the next try,
		// unless a clustered JetStream is still spreading the news.
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: stream %s: %w", n.opts.Stream, ctx.Err())
		case <-time.After(time.Duration(try-1) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", n.opts.Stream, err)
	}
	n.stream = stream
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", n.opts.Stream, err)
	}
	if !info.Config.AllowAtomicPublish {
		return fmt.Errorf("cluster: stream %s does not allow atomic batches (allow_atomic): livefeed needs them for all-or-nothing publishes", n.opts.Stream)
	}
	if !created {
		if err := n.compareConfig(info.Config, want); err != nil {
			return err
		}
	}
	n.id = streamID{name: n.opts.Stream, created: info.Created.UTC().Format(time.RFC3339Nano), uuid: info.Config.Metadata[streamIDKey]}
	n.streamLast.Store(int64(info.State.LastSeq))
	return n.adopt(ctx, info, created)
}

// compareConfig says what the configuration of the stream found, have,
// holds other than this node's, want. A stream livefeed cannot work with is
// refused: one that does not take this node's subjects (its publishes would
// go nowhere) or whose retention deletes events once consumed. Other
// settings the stream keeps as they are, with a warning naming each.
func (n *Node) compareConfig(have, want jetstream.StreamConfig) error {
	var wrong, other []string
	differ := func(list *[]string, setting, have, want string) {
		if have != want {
			*list = append(*list, fmt.Sprintf("%s %s (this node's: %s)", setting, have, want))
		}
	}
	subjects := strings.Join(have.Subjects, ", ")
	if slices.Contains(have.Subjects, n.opts.Subjects) {
		differ(&other, "subjects", subjects, n.opts.Subjects)
	} else {
		differ(&wrong, "subjects", subjects, n.opts.Subjects)
	}
	differ(&wrong, "retention", strings.ToLower(have.Retention.String()), strings.ToLower(want.Retention.String()))
	differ(&other, "replicas", strconv.Itoa(max(have.Replicas, 1)), strconv.Itoa(want.Replicas))
	differ(&other, "storage", strings.ToLower(have.Storage.String()), strings.ToLower(want.Storage.String()))
	differ(&other, "discard", discardName(have.Discard), discardName(want.Discard))
	differ(&other, "max_age", limit(int64(have.MaxAge), have.MaxAge.String()), limit(int64(want.MaxAge), want.MaxAge.String()))
	differ(&other, "max_bytes", limit(have.MaxBytes, strconv.FormatInt(have.MaxBytes, 10)), limit(want.MaxBytes, strconv.FormatInt(want.MaxBytes, 10)))
	differ(&other, "max_msg_size", limit(int64(have.MaxMsgSize), strconv.Itoa(int(have.MaxMsgSize))), limit(int64(want.MaxMsgSize), strconv.Itoa(int(want.MaxMsgSize))))
	differ(&other, "duplicates", have.Duplicates.String(), want.Duplicates.String())
	if len(wrong) > 0 {
		return fmt.Errorf("cluster: stream %s exists with a configuration livefeed cannot use: %s; give another cluster.stream, or change the stream", n.opts.Stream, strings.Join(wrong, "; "))
	}
	if len(other) > 0 {
		n.log.Warn("the stream exists with another configuration than this node's; it keeps its own", "stream", n.opts.Stream, "differences", strings.Join(other, "; "))
	}
	return nil
}

// limit is a limit of a stream's configuration as text: "none" for 0 or
// less.
func limit(v int64, text string) string {
	if v <= 0 {
		return "none"
	}
	return text
}

func discardName(d jetstream.DiscardPolicy) string {
	return strings.ToLower(strings.TrimPrefix(d.String(), "Discard"))
}

// adopt checks that the store mirrors the stream of info, or records that
// it does from now on: if it is empty, or if this node has just created
// the stream anew, the old one being gone, to start after the store's
// newest ID (so that no ID is given out twice).
func (n *Node) adopt(ctx context.Context, info *jetstream.StreamInfo, created bool) error {
	name, known, err := n.store.Meta(ctx, metaStream)
	if err != nil {
		return err
	}
	if known && created {
		n.log.Warn("the stream this node mirrored is gone: created it anew, to go on after this node's newest event", "stream", n.opts.Stream, "first", n.appliedID()+1)
		known = false
	}
	if !known && created && n.applied > 0 {
		return n.record(ctx, info)
	}
	if !known {
		if n.applied > 0 && info.State.FirstSeq > 1 && uint64(n.applied)+1 < info.State.FirstSeq {
			return fmt.Errorf("cluster: this database holds events up to %d and mirrors no stream, and stream %s starts at %d: start the node on an empty database or a backup of another node", n.applied, n.opts.Stream, info.State.FirstSeq)
		}
		if n.applied > 0 {
			return fmt.Errorf("cluster: this database holds %d events of a single node: a cluster node starts on an empty database, or on a backup of another node of the cluster", n.applied)
		}
		return n.record(ctx, info)
	}
	was, _, _ := n.store.Meta(ctx, metaCreated)
	uuid, _, _ := n.store.Meta(ctx, metaID)
	if name != n.id.name || was != n.id.created || uuid != n.id.uuid {
		return fmt.Errorf("cluster: this database mirrors stream %s created %s, but stream %s was created %s: it was deleted and created anew, and its IDs start again; this node refuses to mix the two histories (start it on a backup of a node of the new stream, or on an empty database)",
			name, was, n.id.name, n.id.created)
	}
	return n.checkState(info)
}

// record writes down that the store mirrors this stream from now on.
func (n *Node) record(ctx context.Context, info *jetstream.StreamInfo) error {
	for _, kv := range [][2]string{{metaStream, n.id.name}, {metaCreated, n.id.created}, {metaID, n.id.uuid}} {
		if err := n.store.SetMeta(ctx, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return n.checkState(info)
}

// checkState refuses a stream that lost events this node applied, or one
// whose oldest event is newer than what this node still needs; the node
// is not mirroring yet.
func (n *Node) checkState(info *jetstream.StreamInfo) error {
	if err := n.checkKept(info, n.appliedID()); err != nil {
		return err
	}
	if last, first := int64(info.State.LastSeq), int64(info.State.FirstSeq); last > n.appliedID() && first > n.appliedID()+1 {
		return fmt.Errorf("cluster: this node applied events up to %d, and stream %s keeps events from %d on only (its retention dropped the ones between): this node's history would have a hole; start it on a backup of another node", n.appliedID(), n.opts.Stream, first)
	}
	return nil
}

// checkKept refuses a stream that lost events this node applied: applied
// is what the node had applied before info was asked for (while the node
// mirrors, it applies events the stream took after it answered).
func (n *Node) checkKept(info *jetstream.StreamInfo, applied int64) error {
	if last := int64(info.State.LastSeq); last < applied {
		return fmt.Errorf("cluster: stream %s ends at %d, but this node applied events up to %d: the stream lost events (an R1 stream after a crash within its sync interval?); restore it, or start this node on a backup of a node of the stream", n.opts.Stream, last, applied)
	}
	return nil
}

// Close stops mirroring, tells the other nodes to stop counting this
// node's audience, and closes the connection; the store stays open.
func (n *Node) Close() error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	n.done.Wait()
	n.sayGoodbye()
	n.closeConn()
	return nil
}

// closeConn closes the connection to NATS and waits (a moment at most)
// for its callbacks to have run, the heartbeats' included.
func (n *Node) closeConn() {
	n.nc.Close()
	wait := time.After(5 * time.Second)
	select {
	case <-n.closed:
	case <-wait:
	}
	if n.beatsDone != nil {
		select {
		case <-n.beatsDone:
		case <-wait:
		}
	}
}

// natsError logs NATS's asynchronous errors (a subscription too slow for
// what arrives on it, a permission refused), at most one a second with
// the count so far: a flood on a subject must not flood the log.
func (n *Node) natsError(sub *nats.Subscription, err error) {
	errs := n.natsErrs.Add(1)
	if _, due := n.natsErrLog.Due(time.Second); !due {
		return
	}
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	n.log.Warn("NATS reported an error", "subject", subject, "err", err, "errors", errs)
}

// whileConnected returns a context that ends with ctx or when the
// connection to NATS drops: a publish then is answered at once, not when
// its wait runs out.
func (n *Node) whileConnected(ctx context.Context) (context.Context, context.CancelFunc) {
	n.connMu.Lock()
	select {
	case <-n.down:
		if n.nc.IsConnected() {
			// Reconnected, and the reconnect handler (called on its
			// own goroutine) has not run yet.
			n.down = make(chan struct{})
		}
	default:
	}
	down := n.down
	n.connMu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-down:
			cancel(errDisconnected)
		case <-stop:
		}
	}()
	return ctx, func() { close(stop); cancel(nil) }
}

var errDisconnected = errors.New("cluster: the connection to NATS dropped")

func (n *Node) appliedID() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applied
}

// advance records that the store applied up to id and wakes the waiters.
func (n *Node) advance(id int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id > n.applied {
		n.applied = id
		close(n.progress)
		n.progress = make(chan struct{})
	}
}

// waitApplied waits until the store has applied id, ctx ends or the wait
// bound passes.
func (n *Node) waitApplied(ctx context.Context, id int64, bound time.Duration) error {
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		n.mu.Lock()
		applied, progress := n.applied, n.progress
		n.mu.Unlock()
		if applied >= id {
			return nil
		}
		if p := n.Problem(); p != "" {
			return feed.Errorf(feed.ErrUnavailable, "this node stopped following the cluster's log: %s", p)
		}
		notYet := func() error {
			return feed.Errorf(feed.ErrUnavailable, "this node has not applied event %d yet (it is at %d): try again shortly", id, applied)
		}
		select {
		case <-progress:
		case <-ctx.Done():
			// A publish's own bound (publishWait) ran out first: the
			// log holds the event, and its client is told so, not given
			// a bare deadline.
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return notYet()
			}
			return ctx.Err()
		case <-timer.C:
			return notYet()
		}
	}
}

// Status is what a node reports of itself (/healthz, /metrics).
type Status struct {
	Node       string
	Applied    int64  // the newest event applied to this node's history
	StreamLast int64  // the stream's newest event, as last seen
	Connected  bool   // to NATS
	Ready      bool   // caught up with the stream since the start
	Problem    string // why the node stopped following the stream, if it did
	ApplyErrs  uint64 // applies that failed and were tried again
	// BadHeartbeats are the malformed heartbeats heard on the cluster's
	// heartbeat subject, dropped.
	BadHeartbeats uint64
	// BadAudience are the audience counts heard on the cluster's
	// audience subject and dropped: malformed, or from more nodes than
	// are kept.
	BadAudience uint64
	// AudienceUnshared are the watched topics this node left out of its
	// latest audience count, for its size (see encodeAudience).
	AudienceUnshared int
}

// Status returns the node's figures.
func (n *Node) Status() Status {
	return Status{
		Node: n.opts.Node, Applied: n.appliedID(), StreamLast: n.streamLast.Load(),
		Connected: n.nc.IsConnected(), Ready: n.ready.Load(), Problem: n.Problem(), ApplyErrs: n.applyErrs.Load(),
		BadHeartbeats: n.badBeats.Load(), BadAudience: n.badAudience.Load(), AudienceUnshared: n.aud.unsharedNow(),
	}
}

// Problem says why the node stopped following the stream, "" if it did
// not.
func (n *Node) Problem() string { return n.problem.Load().(string) }

// seqHeader formats a sequence for a header.
func seqHeader(n int64) string { return strconv.FormatInt(n, 10) }
