// Package store keeps livefeed's events in SQLite: it validates and appends
// updates (assigning their IDs), keeps the latest event of every topic, and
// reads history back by ID. It is the second floor: it imports feed, never
// handlers; a cluster's log on NATS JetStream is store/cluster. HTTP,
// configuration files and the wiring of a node do not belong here.
//
// One goroutine writes. Concurrent Append calls are grouped into a single
// transaction (group commit), and every call returns only after its
// transaction committed. The writer is also the one place where IDs are
// assigned, so committed events leave the store in ID order through the
// Committed hook.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"livefeed/feed"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "normal" (the default:
	// a commit survives a crash of the process, the last ones may be lost
	// on power loss) or "full" (every commit is synced to disk).
	Synchronous string
	// Committed, if set, is called after each commit with the committed
	// events in ID order, once the Append calls that submitted them have
	// been answered. It is called from a goroutine of its own, so that the
	// writer goes on to the next commit meanwhile; calls never overlap,
	// and the last has returned when Close returns. It must not block for
	// long: commits wait once committedQueue batches wait for it.
	Committed func([]feed.Event)
	// Logger receives problems the store handles by itself.
	Logger *slog.Logger
	// Readers is the number of read connections (default 4).
	Readers int
	// BusyTimeout is how long a write waits for a lock another process
	// holds on the database before failing with ErrUnavailable (default
	// 5 s).
	BusyTimeout time.Duration
	// WALRestartPages is the size of the write-ahead log, in pages, past
	// which the checkpointer starts it over (default 4096: 16 MiB).
	WALRestartPages int
	// Retention, if it sets a limit, is applied every PruneEvery (default
	// one minute) by Prune.
	Retention  Retention
	PruneEvery time.Duration
	// MaxDataBytes bounds the data of one event (default MaxDataBytes, at
	// most MaxDataBytesLimit): it is what one event can cost in the hub's
	// window and in every subscriber's socket.
	MaxDataBytes int
	// IdempotencyWindow is how long an Idempotency-Key is remembered
	// (default DefaultIdempotencyWindow); older keys are removed at the
	// same interval.
	IdempotencyWindow time.Duration

	catchUpChunk int // catchUpChunk unless set: a test's smaller chunks
	stashCap     int // stashCap unless set: a test's smaller stash
}

// writerCacheKiB is the writer connection's page cache, in KiB (SQLite's
// default is 2,000).
const writerCacheKiB = 32 << 10

// defaultReaders is Options.Readers' default.
const defaultReaders = 4

// maxCommit bounds the events of one transaction, so one commit cannot hold
// the write lock for long however many publishers are waiting.
const maxCommit = 4096

// Store is an open livefeed database.
type Store struct {
	path string
	real string  // path with every symlink followed: what SQLite opens
	lock *dbLock // held while open: see lockDatabase
	db   *sql.DB // the single writer connection
	rdb  *sql.DB // read connections (query_only)
	stmt statements
	opts Options
	log  *slog.Logger
	bad  badData // tells of damaged rows of topic_data that reads found

	mu     sync.RWMutex // guards closed and sending on reqs
	closed bool
	reqs   chan *appendRequest
	tasks  chan *task
	done   chan struct{} // closed when the writer has stopped

	committed chan []feed.Event // commits on their way to Committed, in ID order

	cdb            *sql.DB        // the checkpointer's connection
	stopCheckpoint chan struct{}  // closed by Close
	background     sync.WaitGroup // the checkpointer, the retention schedule and notify

	lastID         atomic.Int64 // highest committed ID
	floor          atomic.Int64 // highest ID removed by retention
	swept          atomic.Int64 // topic_runs holds no row wholly at or below this ID
	indexedThrough atomic.Int64 // topic_runs holds every event up to this ID (the writer moves it)
	retainedAt     atomic.Int64 // Unix nanoseconds: the retention policy was last met then (see retain)
	recent         *recent      // the IDs committed since the last indexing pass
	stash          stash        // their events, until a pass writes them (the writer's)

	commits       atomic.Uint64      // transactions committed by Append
	events        atomic.Uint64      // events they held
	busy          atomic.Int64       // nanoseconds the writer spent committing them
	inflight      atomic.Int64       // Append calls under way
	walFrames     atomic.Int64       // pages in the write-ahead log at the last checkpoint
	lookNow       chan struct{}      // asks the checkpointer to look now (see rest)
	looked        signal             // the checkpointer looked
	syncedAhead   atomic.Int64       // syncs of the database file before the writer's checkpoints (see syncAhead)
	finishedAgain atomic.Int64       // finishes after a finish that did not start the log over (see checkpoint)
	pauses        [len(works)]pauses // the writer's work between commits, by kind (see works)
	gaps          []gap              // ranges of IDs never stored (restores); fixed once open

	// Owned by the writer goroutine.
	lastTime     int64         // Unix ms of the last commit; event times never go back
	needResync   bool          // a commit failed in a way that may have reached the disk
	lastIndexed  time.Time     // when the last indexing pass began
	indexEvery   time.Duration // indexEvery; a test holding passes back lengthens it
	catchUpChunk int           // catchUpChunk; a test shortens it
	stashCap     int           // stashCap; a test lowers it
	passing      *passing      // the indexing pass under way, if any
	unfinished   bool          // topic_runs may hold rows of an abandoned pass
	peers        int           // the most Append calls seen under way at once (see gather)
	peersSince   time.Time
}

// appendRequest is a publish waiting for the writer.
type appendRequest struct {
	ctx      context.Context
	updates  []feed.Update
	once     *feed.Idempotency // set for a publish that may be a retry
	ifLatest *int64            // set: only if the topic's latest ID is this (AppendIf)
	events   []feed.Event
	err      error
	done     chan struct{}

	// A retry is answered with the events of the publish it repeats: one
	// earlier in the same commit, or one stored before.
	replayed    bool
	replayOf    *appendRequest
	replayFirst int64
	replayCount int
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and starts the writer.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Readers <= 0 {
		opts.Readers = defaultReaders
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.WALRestartPages <= 0 {
		opts.WALRestartPages = walRestartPages
	}
	if opts.MaxDataBytes <= 0 {
		opts.MaxDataBytes = feed.MaxDataBytes
	}
	if opts.MaxDataBytes > feed.MaxDataBytesLimit {
		return nil, fmt.Errorf("feed.MaxDataBytes %d: the limit is %d", opts.MaxDataBytes, feed.MaxDataBytesLimit)
	}
	if opts.IdempotencyWindow <= 0 {
		opts.IdempotencyWindow = DefaultIdempotencyWindow
	}
	syncMode, err := synchronousPragma(opts.Synchronous)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("database path %q: the characters ? and # are not supported", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	real, err := realPath(path)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if strings.ContainsAny(real, "?#") {
		return nil, fmt.Errorf("database path %q (%s): the characters ? and # are not supported", real, path)
	}
	// One livefeed at a time: a second server, or a restore, on the same
	// file would each assign IDs the other does not know about.
	lock, err := lockDatabase(path, real, true)
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:  path,
		real:  real,
		lock:  lock,
		opts:  opts,
		log:   opts.Logger,
		bad:   badData{log: opts.Logger, every: time.Minute},
		reqs:  make(chan *appendRequest, 1024),
		tasks: make(chan *task),
		done:  make(chan struct{}),

		indexEvery:   indexEvery,
		catchUpChunk: cmp.Or(opts.catchUpChunk, catchUpChunk),
		stashCap:     cmp.Or(opts.stashCap, stashCap),

		committed: make(chan []feed.Event, committedQueue),

		stopCheckpoint: make(chan struct{}),
		lookNow:        make(chan struct{}, 1),
	}
	if pageCache.err != nil {
		s.log.Warn("SQLite's pages are allocated one by one, not in the page cache's buffer: reads beside a busy writer slow its commits", "err", pageCache.err)
	}
	sweepPartials(real)
	if err := s.open(syncMode); err != nil {
		if s.db != nil {
			s.db.Close()
		}
		if s.rdb != nil {
			s.rdb.Close()
		}
		if s.cdb != nil {
			s.cdb.Close()
		}
		lock.Close() // after the database, as in Close
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	go s.write()
	s.background.Go(s.notify)
	s.background.Go(s.checkpoint)
	if opts.Retention != (Retention{}) {
		s.retainedAt.Store(time.Now().UnixNano()) // until the first prune
	}
	s.background.Go(s.retain)
	return s, nil
}

// CheckSynchronous reports whether v is a value of Options.Synchronous.
func CheckSynchronous(v string) error {
	_, err := synchronousPragma(v)
	return err
}

func synchronousPragma(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "normal":
		return "NORMAL", nil
	case "full":
		return "FULL", nil
	}
	return "", fmt.Errorf("synchronous %q: must be \"normal\" or \"full\"", v)
}

func (s *Store) open(syncMode string) error {
	ctx := context.Background()
	var err error
	busy := "_pragma=busy_timeout(" + strconv.FormatInt(s.opts.BusyTimeout.Milliseconds(), 10) + ")"
	s.db, err = sql.Open("sqlite", s.real+"?_txlock=immediate&"+busy+
		"&_pragma=journal_mode(wal)&_pragma=foreign_keys(1)"+
		"&_pragma=synchronous("+syncMode+")"+
		// Multi-row inserts keep a statement journal; in memory, not
		// in a temporary file written on every commit.
		"&_pragma=temp_store(memory)"+
		// A commit to a few thousand topics changes a page of the
		// latest table and of the topic index per topic: with the
		// default 2 MiB cache they spilled into the write-ahead log in
		// the middle of the transaction, and were read back and
		// written again at its end.
		"&_pragma=cache_size("+strconv.Itoa(-writerCacheKiB)+")"+
		// Checkpoints run beside the writer (see checkpoint), not
		// inside a commit.
		"&_pragma=wal_autocheckpoint(0)"+
		"&_pragma=journal_size_limit("+strconv.Itoa(walSizeLimit)+")")
	if err != nil {
		return err
	}
	s.db.SetMaxOpenConns(1)
	s.db.SetMaxIdleConns(1)
	s.db.SetConnMaxLifetime(0)
	s.db.SetConnMaxIdleTime(0)

	// WAL lets readers (replays, exports) run while the writer commits;
	// without it every replay would stall publishing. It silently stays in
	// another mode on some file systems, so check that it took.
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, not WAL (is the file on a network file system?)", mode)
	}
	if err := migrate(ctx, s.db); err != nil {
		return err
	}
	var last, floor, indexed int64
	if err := s.db.QueryRowContext(ctx, `SELECT `+lastIDSQL+`,
		(SELECT value FROM counters WHERE name = 'floor'),
		(SELECT value FROM counters WHERE name = 'indexed_through')`).Scan(&last, &floor, &indexed); err != nil {
		return err
	}
	s.lastID.Store(last)
	s.floor.Store(floor)
	s.indexedThrough.Store(indexed)
	if s.gaps, err = loadGaps(ctx, s.db); err != nil {
		return err
	}
	s.stmt = newStatements(s.db)
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(time), 0) FROM events WHERE id = ?`, last).Scan(&s.lastTime); err != nil {
		return err
	}

	s.rdb, err = sql.Open("sqlite", s.real+"?"+busy+"&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	s.rdb.SetMaxOpenConns(s.opts.Readers)
	s.rdb.SetMaxIdleConns(s.opts.Readers)
	if err := s.rdb.PingContext(ctx); err != nil {
		return err
	}
	s.cdb, err = sql.Open("sqlite", s.real+"?_pragma=busy_timeout("+strconv.FormatInt(checkpointWait.Milliseconds(), 10)+")")
	if err != nil {
		return err
	}
	s.cdb.SetMaxOpenConns(1)
	return s.cdb.PingContext(ctx)
}

// Path returns the database file name.
func (s *Store) Path() string { return s.path }

// Advertise writes in the database's lock file, beside this process's ID,
// the URL a server that has the database open serves at, as a user on
// this machine reaches it: livefeed's commands find a local server by it
// (HolderOf) whatever address it was told to listen on. The lock file is
// emptied when the store is closed.
func (s *Store) Advertise(url string) error {
	if strings.ContainsFunc(url, unicode.IsControl) {
		return fmt.Errorf("advertise %q: not a URL", url)
	}
	if err := s.lock.write(LockHolder{PID: os.Getpid(), URL: url}); err != nil {
		return fmt.Errorf("database %s: write where the server serves in its lock file: %w", s.path, err)
	}
	return nil
}

// LastID returns the highest committed ID (0 for an empty database).
func (s *Store) LastID() int64 { return s.lastID.Load() }

// Floor returns the highest ID removed by retention (0 if none was). A
// client positioned below it has missed events that no longer exist.
func (s *Store) Floor() int64 { return s.floor.Load() }

// Stats describe the writer's work, for monitoring.
type Stats struct {
	Commits uint64        // transactions committed by Append
	Events  uint64        // events they held: Events/Commits is the group-commit size
	Busy    time.Duration // time the writer spent committing: near the elapsed time, it is the limit
	// WALFrames is the pages in the write-ahead log since it last started
	// over, at the last checkpoint: a second or two of writes when healthy.
	WALFrames int64
	// Unindexed is the events committed that the topic index does not
	// hold yet: at most a pass or two of them when it keeps up (see
	// indexTopics).
	Unindexed int64
	// RetainedAt is when the retention policy was last met: the end of
	// the last prune that removed all the policy asked for, or the
	// store's opening until one has. A minute or two ago while retention
	// keeps up; zero without a policy.
	RetainedAt time.Time
	// Pauses are the times the writer took up other work between two
	// commits, while publishes waited, one for each kind of work
	// (WorkCheckpoint, WorkPrune, WorkIndex, WorkOther).
	Pauses []Pauses
}

// Stats returns the writer's figures since Open.
func (s *Store) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), Events: s.events.Load(), Busy: time.Duration(s.busy.Load()), WALFrames: s.walFrames.Load(),
		Unindexed: max(s.lastID.Load()-s.indexedThrough.Load(), 0)}
	if at := s.retainedAt.Load(); at != 0 {
		st.RetainedAt = time.Unix(0, at)
	}
	for i, w := range works {
		st.Pauses = append(st.Pauses, s.pauses[i].snapshot(w))
	}
	return st
}

// Resumable reports whether a client that has seen every event up to ID
// after can be given exactly the events it missed: feed.ErrPruned if retention
// removed some, ErrAhead if the position is an ID this database never stored
// (it was restored from an older backup).
func (s *Store) Resumable(after int64) error {
	if after < s.Floor() {
		return feed.ErrPruned
	}
	for _, g := range s.gaps {
		if after > g.after && after <= g.through {
			return feed.ErrAhead
		}
	}
	return nil
}

// Close waits for pending appends to finish, stops the writer and closes the
// database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	close(s.stopCheckpoint)
	s.background.Wait()
	s.stmt.close()
	err := errors.Join(s.cdb.Close(), s.rdb.Close(), s.db.Close())
	s.lock.Close() // after the database: no moment without the lock while it is open
	return err
}

// Append validates updates and stores them in one transaction, all or
// nothing. It returns the stored events, with their IDs and times, after the
// transaction committed. Invalid input returns an ErrInvalid error; a
// database fault returns ErrUnavailable. In both cases nothing was written.
func (s *Store) Append(ctx context.Context, updates []feed.Update) ([]feed.Event, error) {
	valid, err := feed.ValidateBatchUpTo(updates, s.opts.MaxDataBytes)
	if err != nil {
		return nil, err
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	req := &appendRequest{ctx: ctx, updates: valid, done: make(chan struct{})}
	if err := s.submit(req); err != nil {
		return nil, err
	}
	return req.events, req.err
}

// task is work that must run on the writer's connection, between commits:
// pruning, sessions, applying events that already have IDs.
type task struct {
	ctx  context.Context
	work int // the kind of work, an index of works or workCommit
	run  func() error
	err  error
	done chan struct{}
}

// runTask runs fn on the writer goroutine, between commits, and returns
// its error.
func (s *Store) runTask(ctx context.Context, fn func() error) error {
	return s.runWork(ctx, workOther, fn)
}

// runWork is runTask for a task of the kind of work w (an index of works,
// timed as such in Stats.Pauses, or workCommit).
func (s *Store) runWork(ctx context.Context, w int, fn func() error) error {
	t := &task{ctx: ctx, work: w, run: fn, done: make(chan struct{})}
	if err := handOver(s, ctx, s.tasks, t, t.done); err != nil {
		return err
	}
	return t.err
}

// submit hands req to the writer and waits for its answer.
func (s *Store) submit(req *appendRequest) error {
	return handOver(s, req.ctx, s.reqs, req, req.done)
}

// handOver sends v to the writer on ch and waits until done is closed.
func handOver[T any](s *Store, ctx context.Context, ch chan<- T, v T, done <-chan struct{}) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return feed.ErrClosed
	}
	select {
	case ch <- v:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once handed over it is answered whatever happens to ctx: it may
	// already be part of a commit.
	<-done
	return nil
}

// write is the writer goroutine: it takes whatever requests are waiting,
// commits them in one transaction and answers them. Between commits it
// brings topic_runs up to date (see indexTopics).
func (s *Store) write() {
	defer close(s.done)
	defer close(s.committed)
	idle := time.NewTimer(indexEvery)
	defer idle.Stop()
	var batch []*appendRequest
	for {
		var req *appendRequest
		var t *task
		ok := true
		// Publishes come before tasks, so that a long series of tasks
		// (the chunks of a prune) does not hold acknowledgements back;
		// but a task waits for one commit at most (below).
		select {
		case req, ok = <-s.reqs:
		default:
			if _, wait := s.indexDue(); s.indexedThrough.Load() < s.lastID.Load() {
				idle.Reset(max(wait, 0))
				select {
				case req, ok = <-s.reqs:
				case t = <-s.tasks:
				case <-idle.C:
					s.timed(workIndex, func() { s.indexTopics(0) })
					continue
				}
			} else {
				select {
				case req, ok = <-s.reqs:
				case t = <-s.tasks:
				}
			}
		}
		if !ok {
			// Closed: every task handed over before is in the channel.
			for {
				select {
				case t := <-s.tasks:
					s.doTask(t)
				default:
					s.indexAll()
					return
				}
			}
		}
		if t != nil {
			s.doTask(t)
			continue
		}
		batch = s.gather(append(batch[:0], req), idle)
		committed := 0
		for _, r := range batch {
			committed += len(r.updates)
		}
		start := time.Now()
		s.commit(batch)
		s.busy.Add(int64(time.Since(start)))
		clear(batch)
		if due, _ := s.indexDue(); due {
			s.timed(workIndex, func() { s.indexTopics(committed) })
		}
		// Streaming ingest keeps publishes waiting without a pause: a
		// task that waited for none to be left waited as long as the
		// ingest went on. The checkpoint's finish waited 9 s so while the
		// log grew to 360 MB, and then held publishes for a second to copy
		// it; a prune, a console sign-in, a meta write never ran.
		select {
		case t := <-s.tasks:
			s.doTask(t)
		default:
		}
	}
}

// groupWait is the longest the writer holds a commit open for publishers
// it expects. Committing the two or three requests that happen to be
// waiting, when a dozen publishers are active, spends the fixed cost of a
// commit (locks, write-ahead log frames) on each few events; waiting a
// fraction of a millisecond for the others lets one commit carry them all,
// which on a busy server cut the CPU per publish by a third and raised
// throughput by a quarter.
const groupWait = 500 * time.Microsecond

// gather adds to batch the requests to commit with it: all that are waiting
// and, when more publishers have recently been publishing at once than the
// batch holds, those that arrive within groupWait. A lone publisher never
// waits. Tasks wait for the commit.
func (s *Store) gather(batch []*appendRequest, timer *time.Timer) []*appendRequest {
	// peers is the most publishers seen in Append at once since it was
	// last renewed; renewing it each second lets it fall when they leave.
	now := time.Now()
	if cur := int(s.inflight.Load()); cur > s.peers || now.Sub(s.peersSince) > time.Second {
		s.peers, s.peersSince = cur, now
	}
	n := len(batch[0].updates)
	waiting := false
	for n < maxCommit {
		var r *appendRequest
		ok := true
		select {
		case r, ok = <-s.reqs:
		default:
			if len(batch) >= s.peers {
				return batch
			}
			if !waiting {
				waiting = true
				timer.Reset(groupWait)
			}
			select {
			case r, ok = <-s.reqs:
			case <-timer.C:
				return batch
			}
		}
		if !ok {
			break
		}
		batch = append(batch, r)
		n += len(r.updates)
	}
	return batch
}

func (s *Store) doTask(t *task) {
	if t.err = t.ctx.Err(); t.err == nil {
		if t.work == workCommit {
			start := time.Now()
			t.err = t.run()
			s.busy.Add(int64(time.Since(start)))
		} else {
			s.timed(t.work, func() { t.err = t.run() })
		}
	}
	close(t.done)
}

func (s *Store) commit(batch []*appendRequest) {
	// Requests whose publisher gave up before the commit are not written.
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	live, replays := s.dedupe(live)
	defer s.answerReplays(replays) // after the requests they repeat are answered
	if len(live) == 0 {
		return
	}
	fail := func(err error) {
		for _, r := range live {
			r.err = err
			close(r.done)
		}
	}
	if s.needResync {
		if err := s.resync(); err != nil {
			fail(unavailable("recover after failed commit", err))
			return
		}
	}

	now := max(time.Now().UnixMilli(), s.lastTime)
	t := time.UnixMilli(now).UTC()
	id := s.lastID.Load()
	n := 0
	for _, r := range live {
		n += len(r.updates)
	}
	events := make([]feed.Event, 0, n)
	var newest map[string]int64 // the topics' IDs in this commit, for AppendIf
	kept := live[:0:0]
	for _, r := range live {
		if r.ifLatest != nil {
			if newest == nil {
				newest = latestIDs(events)
			}
			if err := s.checkLatest(r, newest); err != nil {
				r.err = err
				close(r.done)
				continue
			}
		}
		kept = append(kept, r)
		for _, u := range r.updates {
			id++
			events = append(events, feed.Event{ID: id, Topic: u.Topic, Type: u.Type, Time: t, Data: u.Data, Operator: u.Operator})
			if newest != nil {
				newest[u.Topic] = id
			}
		}
	}
	live = kept
	if len(live) == 0 {
		return
	}
	if err := s.stmt.insert(events, keysOf(live, events, now)); err != nil {
		// The commit may have failed after reaching the disk (an I/O error
		// at the end of a commit): re-read the high-water mark before the
		// next commit so no ID is ever given out twice.
		s.needResync = true
		s.log.Error("commit failed", "events", len(events), "err", err)
		fail(unavailable("commit", err))
		return
	}
	s.stashEvents(events)
	s.lastID.Store(id)
	s.lastTime = now
	s.commits.Add(1)
	s.events.Add(uint64(len(events)))
	// Publishers hear first: the events are durable now. The hub gets
	// them right after, handed on from this goroutine and so in ID order.
	rest := events
	for _, r := range live {
		r.events, rest = rest[:len(r.updates):len(r.updates)], rest[len(r.updates):]
		close(r.done)
	}
	s.hand(events)
}

// committedQueue is how many commits may wait for Committed before the
// writer waits for it.
const committedQueue = 64

// hand passes committed events to Committed, through notify: handing them
// to the hub (encoding their frames, waking subscribers) took a sixth of
// the writer's time under a streaming publish. It runs on the writer
// goroutine, so events leave in ID order.
func (s *Store) hand(events []feed.Event) {
	if s.opts.Committed != nil {
		s.committed <- events
	}
}

// notify calls Committed for each commit the writer hands over, in order,
// until the writer has stopped.
func (s *Store) notify() {
	for events := range s.committed {
		s.opts.Committed(events)
	}
}

// lastIDSQL is the newest ID ever given out. Commits do not update the
// counter (it would cost a page write in every commit); the newest event
// holds the ID instead, and the counter is brought up to date by the
// indexer, before a prune deletes anything, and by a restore, so that the
// newest ID survives the deletion of every event.
const lastIDSQL = `MAX((SELECT value FROM counters WHERE name = 'last_id'), COALESCE((SELECT MAX(id) FROM events), 0))`

// resync re-reads the high-water mark after a failed commit. Events that
// reached the disk although their commit reported an error are handed to
// Committed, so subscribers see every stored event.
func (s *Store) resync() error {
	ctx := context.Background()
	var last int64
	if err := s.db.QueryRowContext(ctx, `SELECT `+lastIDSQL).Scan(&last); err != nil {
		return err
	}
	known := s.lastID.Load()
	if last > known {
		events, err := s.queryEvents(ctx, s.db, `SELECT id, topic, type, time, data, operator FROM events WHERE id > ? ORDER BY id`, known)
		if err != nil {
			return err
		}
		s.log.Warn("a commit reported as failed had reached the disk", "from", known+1, "to", last)
		s.stashEvents(events)
		s.lastID.Store(last)
		if n := len(events); n > 0 {
			s.lastTime = max(s.lastTime, events[n-1].Time.UnixMilli())
			s.hand(events)
		}
	}
	s.needResync = false
	return nil
}

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryEvents runs a query selecting (id, topic, type, time, data,
// operator).
func (s *Store) queryEvents(ctx context.Context, q queryer, query string, args ...any) ([]feed.Event, error) {
	return scanEvents(ctx, q, new(eventBuf), nil, query, args...)
}

// scanEvents runs a query selecting (id, topic, type, time, data,
// operator) and
// appends its events to dst, keeping their data and names in buf.
func scanEvents(ctx context.Context, q queryer, buf *eventBuf, dst []feed.Event, query string, args ...any) ([]feed.Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return dst, err
	}
	defer rows.Close()
	var e feed.Event
	var ms int64
	var topic, typ, data, operator sql.RawBytes // valid until the next row
	for rows.Next() {
		if err := rows.Scan(&e.ID, &topic, &typ, &ms, &data, &operator); err != nil {
			return dst, err
		}
		e.Topic, e.Type = buf.name(topic), buf.name(typ)
		e.Operator = ""
		if len(operator) > 0 {
			e.Operator = buf.name(operator)
		}
		e.Time = time.UnixMilli(ms).UTC()
		e.Data = buf.bytes(data)
		dst = append(dst, e)
	}
	return dst, rows.Err()
}

// eventBuf holds what reads return: event data in a few large slabs, and
// topics and types shared between rows, so that reading a thousand events
// allocates a few times instead of three times per row. An export reuses
// one from page to page.
type eventBuf struct {
	slabs [][]byte
	slab  int               // the slab being filled
	names map[string]string // topics and types seen
}

const slabSize = 64 << 10

// bytes returns a copy of b in the buffer.
func (buf *eventBuf) bytes(b []byte) []byte {
	for buf.slab < len(buf.slabs) && cap(buf.slabs[buf.slab])-len(buf.slabs[buf.slab]) < len(b) {
		buf.slab++
	}
	if buf.slab == len(buf.slabs) {
		buf.slabs = append(buf.slabs, make([]byte, 0, max(slabSize, len(b))))
	}
	s := buf.slabs[buf.slab]
	start := len(s)
	s = append(s, b...)
	buf.slabs[buf.slab] = s
	return s[start:len(s):len(s)]
}

// name returns b as a string, the same string for the same bytes.
func (buf *eventBuf) name(b []byte) string {
	if s, ok := buf.names[string(b)]; ok {
		return s
	}
	if buf.names == nil || len(buf.names) > 4096 {
		buf.names = make(map[string]string)
	}
	s := string(b)
	buf.names[s] = s
	return s
}

// reset empties the buffer for reuse; events read before must no longer
// be used.
func (buf *eventBuf) reset() {
	for i := range buf.slabs {
		buf.slabs[i] = buf.slabs[i][:0]
	}
	buf.slab = 0
}

var _ feed.Log = (*Store)(nil)
