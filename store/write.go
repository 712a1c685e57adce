package store

import (
	"context"
	"database/sql"
	"strings"

	"livefeed/feed"
)

// rowsPerStatement is how many rows one INSERT carries. Binding a batch to
// one multi-row statement instead of executing a statement per row saves
// most of the per-row cost of database/sql and the driver; 64 rows of 6
// values stay far below SQLite's limit of 32,766 variables.
const rowsPerStatement = 64

// statements are the writer's prepared statements. They are prepared once
// on the writer's single connection: parsing SQL on every commit cost more
// than the inserts themselves.
type statements struct {
	db                                *sql.DB
	events                            map[int]*sql.Stmt // row count → INSERT INTO events
	latest                            map[int]*sql.Stmt // row count → upsert into latest
	indexInsert, indexMark, indexData *sql.Stmt         // see index
	once                              *sql.Stmt         // records an idempotency key
}

func newStatements(db *sql.DB) statements {
	return statements{db: db, events: make(map[int]*sql.Stmt), latest: make(map[int]*sql.Stmt)}
}

func (st *statements) close() {
	for _, m := range []map[int]*sql.Stmt{st.events, st.latest} {
		for _, s := range m {
			s.Close()
		}
	}
	for _, s := range []*sql.Stmt{st.indexInsert, st.indexMark, st.indexData, st.once} {
		if s != nil {
			s.Close()
		}
	}
}

const (
	insertEvents = `INSERT OR ROLLBACK INTO events (id, topic, type, time, data, operator) VALUES `
	upsertLatest = `INSERT OR ROLLBACK INTO latest (topic, id, type, time, data) VALUES `
	onConflict   = ` ON CONFLICT (topic) DO UPDATE SET id = excluded.id, type = excluded.type, time = excluded.time, data = excluded.data`
)

// prepare returns the prepared statement for n rows, preparing it on first
// use. It must not be called inside a transaction: the writer has only one
// connection, and the transaction holds it.
func (st *statements) prepare(ctx context.Context, cache map[int]*sql.Stmt, n, columns int, prefix, suffix string) (*sql.Stmt, error) {
	if stmt := cache[n]; stmt != nil {
		return stmt, nil
	}
	row := "(?" + strings.Repeat(", ?", columns-1) + ")"
	values := row + strings.Repeat(", "+row, n-1)
	stmt, err := st.db.PrepareContext(ctx, prefix+values+suffix)
	if err != nil {
		return nil, err
	}
	cache[n] = stmt
	return stmt, nil
}

// write is one statement execution of a commit.
type write struct {
	stmt *sql.Stmt
	args []any
}

// onceRow is an idempotency key to record with the events it made.
type onceRow struct {
	once    *feed.Idempotency
	first   int64
	count   int
	created int64
}

// keysOf returns the idempotency keys of the requests of a commit, with the
// IDs their events got (events holds the requests' events in order).
func keysOf(reqs []*appendRequest, events []feed.Event, now int64) []onceRow {
	var rows []onceRow
	i := 0
	for _, r := range reqs {
		if r.once != nil {
			rows = append(rows, onceRow{once: r.once, first: events[i].ID, count: len(r.updates), created: now})
		}
		i += len(r.updates)
	}
	return rows
}

// insert writes events, the latest event of each of their topics and the
// idempotency keys of their requests in one transaction.
func (st *statements) insert(events []feed.Event, keys []onceRow) error {
	ctx := context.Background()
	var writes []write
	for rest := events; len(rest) > 0; {
		chunk := rest[:min(len(rest), rowsPerStatement)]
		rest = rest[len(chunk):]
		stmt, err := st.prepare(ctx, st.events, len(chunk), 6, insertEvents, "")
		if err != nil {
			return err
		}
		args := make([]any, 0, 6*len(chunk))
		for _, e := range chunk {
			var operator any // NULL: published with a token
			if e.Operator != "" {
				operator = e.Operator
			}
			args = append(args, e.ID, e.Topic, e.Type, e.Time.UnixMilli(), []byte(e.Data), operator)
		}
		writes = append(writes, write{stmt, args})
	}
	for rest := latestPerTopic(events); len(rest) > 0; {
		chunk := rest[:min(len(rest), rowsPerStatement)]
		rest = rest[len(chunk):]
		stmt, err := st.prepare(ctx, st.latest, len(chunk), 5, upsertLatest, onConflict)
		if err != nil {
			return err
		}
		args := make([]any, 0, 5*len(chunk))
		for _, e := range chunk {
			args = append(args, e.Topic, e.ID, e.Type, e.Time.UnixMilli(), []byte(e.Data))
		}
		writes = append(writes, write{stmt, args})
	}

	for _, k := range keys {
		if st.once == nil {
			var err error
			// REPLACE: a row left over from an earlier use of the key,
			// older than the window, is not in the way.
			if st.once, err = st.db.PrepareContext(ctx, `INSERT OR REPLACE INTO idempotency (key, fingerprint, first_id, count, created) VALUES (?, ?, ?, ?, ?)`); err != nil {
				return err
			}
		}
		writes = append(writes, write{st.once, []any{k.once.Key[:], k.once.Fingerprint[:], k.first, k.count, k.created}})
	}

	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, w := range writes {
		if _, err := tx.StmtContext(ctx, w.stmt).ExecContext(ctx, w.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// latestPerTopic returns the last event of each topic among events, in ID
// order.
func latestPerTopic(events []feed.Event) []feed.Event {
	last := make(map[string]int, 8)
	for i, e := range events {
		last[e.Topic] = i
	}
	latest := make([]feed.Event, 0, len(last))
	for i, e := range events {
		if last[e.Topic] == i {
			latest = append(latest, e)
		}
	}
	return latest
}
