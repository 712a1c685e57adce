package handlers

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"livefeed/feed"
)

// Exports waiting for a turn: at most maxExportQueue of them, each for at
// most exportWait; past either, a client gets 429 and comes back later.
const (
	maxExportQueue = 16
	exportWait     = 30 * time.Second
)

// exportTurns hands out the export slots fairly: each client address runs
// at most one export at a time (or waits for one), and when every slot is
// taken, exports wait their turn first come, first served. A client that
// loops over exports goes to the back of the line each time, so it cannot
// keep a slot from the others.
type exportTurns struct {
	slots int

	mu      sync.Mutex
	running int
	clients map[string]bool // running or waiting
	line    []*exportTurn
}

type exportTurn struct {
	client string
	ready  chan struct{} // closed when the turn has its slot
}

func newExportTurns(slots int) *exportTurns {
	return &exportTurns{slots: slots, clients: make(map[string]bool)}
}

// wait returns once client's export may run, and the function to call
// when it is done, or an feed.ErrRateLimited error.
func (q *exportTurns) wait(ctx context.Context, client string) (done func(), err error) {
	q.mu.Lock()
	if q.clients[client] {
		q.mu.Unlock()
		return nil, feed.Errorf(feed.ErrRateLimited, "an export from your address is already running: one at a time")
	}
	if q.running < q.slots && len(q.line) == 0 {
		q.running++
		q.clients[client] = true
		q.mu.Unlock()
		return func() { q.done(client) }, nil
	}
	if len(q.line) >= maxExportQueue {
		q.mu.Unlock()
		return nil, feed.Errorf(feed.ErrRateLimited, "%d exports are running and %d waiting; try again in a minute", q.slots, len(q.line))
	}
	turn := &exportTurn{client: client, ready: make(chan struct{})}
	q.line = append(q.line, turn)
	q.clients[client] = true
	q.mu.Unlock()

	timer := time.NewTimer(exportWait)
	defer timer.Stop()
	select {
	case <-turn.ready:
		return func() { q.done(client) }, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = feed.Errorf(feed.ErrRateLimited, "every export slot stayed busy for %s; try again in a minute", exportWait)
	}
	q.mu.Lock()
	i := slices.Index(q.line, turn)
	if i >= 0 {
		q.line = slices.Delete(q.line, i, i+1)
		delete(q.clients, client)
	}
	q.mu.Unlock()
	if i < 0 {
		q.done(client) // the turn came as we gave up: pass the slot on
	}
	return nil, err
}

// done ends client's export and gives its slot to the first in line.
func (q *exportTurns) done(client string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.clients, client)
	if len(q.line) > 0 {
		next := q.line[0]
		q.line = q.line[1:]
		close(next.ready) // the slot passes on: running stays the same
		return
	}
	q.running--
}

// exportPiece is how much of an export is written per write deadline: a
// client must take this much within the write timeout, however slowly it
// reads the rest.
const exportPiece = 16 << 10

// exportWriter writes an export to the client in pieces, renewing the
// write deadline before each: an export to a client that keeps reading,
// however slowly, is never cut off by the write timeout; one to a client
// that stops reading is.
type exportWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
	bom     []byte // written before the first bytes, if set
}

func (e *exportWriter) Write(p []byte) (int, error) {
	e.started = true
	if e.bom != nil {
		p, e.bom = append(e.bom, p...), nil
		n, err := e.write(p)
		return max(n-len(utf8BOM), 0), err
	}
	return e.write(p)
}

func (e *exportWriter) write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		piece := p[n:min(len(p), n+exportPiece)]
		if e.timeout > 0 {
			e.rc.SetWriteDeadline(time.Now().Add(e.timeout)) // unsupported by a recorder: then none is needed
		}
		m, err := e.w.Write(piece)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
