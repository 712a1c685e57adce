package store

import (
	"context"
	"database/sql"
	"io"
	"sync"
	"time"
)

// exportWindow is how many IDs one read of an export covers. It bounds the
// events held between a read and the write to the client, and the rows
// SQLite sorts when it merges several topics' index ranges.
const exportWindow = 4096

// flushBytes is how much of an export is gathered before it is written.
const flushBytes = 128 << 10

// Export writes the events of r to w as CSV: the header record, then one
// record per event in ID order (see AppendCSV). It returns the number of
// events written.
//
// The events are read in windows of IDs, each read short and on its own,
// and written to w only once its read has ended: memory stays the same
// however large the export, and a client reading slowly never holds a read
// transaction open (which would keep SQLite from recycling its write-ahead
// log). Reading the next window overlaps encoding the last one, so an
// export runs on two cores. The export is a snapshot: it ends at the newest
// event when it started.
func (s *Store) Export(ctx context.Context, w io.Writer, r Range) (int64, error) {
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
	reader.Go(func() { s.readWindows(ctx, r.filter(), after, before, free, full) })

	buf := AppendCSVHeader(make([]byte, 0, flushBytes+64<<10))
	var enc csvEncoder
	var n int64
	for win := range full {
		if win.err != nil {
			return n, win.err
		}
		for _, e := range win.events {
			buf = enc.append(buf, e)
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
	events []Event
	data   []byte // the events' data, back to back
	ends   []int  // where each event's data ends in data
	err    error
}

// readWindows reads the events of f with after < id < before, a window of
// IDs at a time, taking empty windows from free and passing them filled to
// full, which it closes at the end or when ctx ends.
func (s *Store) readWindows(ctx context.Context, f Filter, after, before int64, free <-chan *window, full chan<- *window) {
	defer close(full)
	query, args := windowQuery(f)
	for lo := after; lo+1 < before; lo += exportWindow {
		var win *window
		select {
		case win = <-free:
		case <-ctx.Done():
			return
		}
		args[0], args[1] = lo, min(lo+exportWindow+1, before)
		win.err = win.read(ctx, s.rdb, query, args)
		select {
		case full <- win:
		case <-ctx.Done():
			return
		}
		if win.err != nil {
			return
		}
	}
}

// windowQuery returns the query reading the events of f with
// after < id < before in ID order, and its arguments, the first two being
// after and before.
func windowQuery(f Filter) (string, []any) {
	where, args := f.where()
	return `SELECT id, topic, type, time, data FROM events` + f.index() + ` WHERE id > ? AND id < ?` + where + ` ORDER BY id`,
		append([]any{int64(0), int64(0)}, args...)
}

// read runs the query of one window.
func (win *window) read(ctx context.Context, db *sql.DB, query string, args []any) error {
	win.events, win.data, win.ends = win.events[:0], win.data[:0], win.ends[:0]
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return readError(err)
	}
	defer rows.Close()
	var e Event
	var ms int64
	var data sql.RawBytes // valid until the next row: copied into win.data
	for rows.Next() {
		if err := rows.Scan(&e.ID, &e.Topic, &e.Type, &ms, &data); err != nil {
			return readError(err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		win.events = append(win.events, e)
		win.data = append(win.data, data...)
		win.ends = append(win.ends, len(win.data))
	}
	// Slice the data only now: appending may have moved win.data.
	start := 0
	for i, end := range win.ends {
		win.events[i].Data = win.data[start:end:end]
		start = end
	}
	return readError(rows.Err())
}
