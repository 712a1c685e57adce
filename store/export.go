package store

import (
	"context"
	"database/sql"
	"io"
	"sync"

	"livefeed/feed"
)

// exportWindow is how many events one read of an export returns. It bounds
// the events held between a read and the write to the client.
const exportWindow = 4096

// flushBytes is how much of an export is gathered before it is written.
const flushBytes = 128 << 10

// Export writes the events of r to w as CSV: the header record, then one
// record per event in ID order (see AppendCSV), its operator column empty
// unless r.Audit is set. It returns the number of events written.
//
// The events are read in pages, each read short and on its own,
// and written to w only once its read has ended: memory stays the same
// however large the export, and a client reading slowly never holds a read
// transaction open (which would keep SQLite from recycling its write-ahead
// log). Reading the next window overlaps encoding the last one, so an
// export runs on two cores. The export is a snapshot: it ends at the newest
// event when it started.
func (s *Store) Export(ctx context.Context, w io.Writer, r feed.Range) (int64, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, readError(err)
	}
	after, before, err := bounds(ctx, tx, r)
	tx.Rollback()
	if err != nil {
		return 0, readError(err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var reader sync.WaitGroup
	defer reader.Wait()
	defer cancel() // runs first: stops the reader if the encoder gives up
	// Three windows circulate: one being read, one being encoded, one
	// ready in between.
	free, full := make(chan *window, 3), make(chan *window, 3)
	for range cap(free) {
		free <- new(window)
	}
	reader.Go(func() { s.readWindows(ctx, r.Visible(), after, before, free, full) })

	buf := feed.AppendCSVHeader(make([]byte, 0, flushBytes+64<<10))
	var enc feed.CSVEncoder
	var n int64
	for win := range full {
		if win.err != nil {
			return n, win.err
		}
		for _, e := range win.events {
			if !r.Audit {
				e.Operator = ""
			}
			buf = enc.Append(buf, e)
			if len(buf) >= flushBytes {
				if _, err := w.Write(buf); err != nil {
					return n, err
				}
				buf = buf[:0]
			}
			n++
		}
		free <- win
	}
	if err := ctx.Err(); err != nil {
		return n, err // the reader stopped early
	}
	if _, err := w.Write(buf); err != nil {
		return n, err
	}
	return n, nil
}

// window holds the events of one read of an export.
type window struct {
	events []feed.Event
	buf    eventBuf
	err    error
}

// readWindows reads the events of f with after < id < before, a page of
// exportWindow events at a time, each page in a short read transaction of
// its own, taking empty windows from free and passing them filled to full,
// which it closes at the end or when ctx ends.
func (s *Store) readWindows(ctx context.Context, f feed.Visible, after, before int64, free <-chan *window, full chan<- *window) {
	defer close(full)
	for after+1 < before {
		var win *window
		select {
		case win = <-free:
		case <-ctx.Done():
			return
		}
		win.buf.reset()
		win.events, win.err = s.readPage(ctx, f, after, before, win)
		select {
		case full <- win:
		case <-ctx.Done():
			return
		}
		if win.err != nil || len(win.events) < exportWindow {
			return
		}
		after = win.events[len(win.events)-1].ID
	}
}

// readPage reads the next page of an export into win.
func (s *Store) readPage(ctx context.Context, f feed.Visible, after, before int64, win *window) ([]feed.Event, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, readError(err)
	}
	defer tx.Rollback()
	events, err := s.readRange(ctx, tx, f, after, before, exportWindow, false, &win.buf, win.events[:0])
	return events, readError(err)
}
