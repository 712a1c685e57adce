package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrations are the schema changes, applied in the order of their number,
// each in its own transaction, and recorded in schema_migrations.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationSteps are the parts of migrations SQL cannot express, run after
// the file of the same version, in its transaction.
var migrationSteps = map[int]func(context.Context, *sql.Tx) error{
	6: runsFromIndex,
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	var applied int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	known := 0
	for _, name := range names {
		version, err := migrationVersion(name)
		if err != nil {
			return err
		}
		known = version
		if version <= applied {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := applyMigration(ctx, db, version, name, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	if applied > known {
		return fmt.Errorf("the database has schema version %d but this livefeed knows only up to %d: it was written by a newer livefeed", applied, known)
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if step := migrationSteps[version]; step != nil {
		if err := step(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, strings.TrimPrefix(name, "migrations/"), time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// migrationVersion reads the number in front of "0001_events.sql".
func migrationVersion(name string) (int, error) {
	base := strings.TrimPrefix(name, "migrations/")
	num, _, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("migration file %q must be named NNNN_description.sql", base)
	}
	return v, nil
}

// runsFromIndex carries topic_index (a row per event) over into topic_runs
// (runs of at most maxRun IDs of a topic) and drops it. Entries at or below
// the floor, left by a prune that stopped before sweeping them, are not
// carried over: reads never look below the floor. It reads the index in
// pages, in its order, so memory holds one page.
func runsFromIndex(ctx context.Context, tx *sql.Tx) error {
	var floor int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'floor'`).Scan(&floor); err != nil {
		return err
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO topic_runs (topic, last, first, ids) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insert.Close()
	const page = 64 << 10
	var cur run // the topic being read, its IDs not yet written
	afterTopic, afterID := "", int64(0)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT topic, id FROM topic_index
			WHERE (topic, id) > (?, ?) AND id > ? ORDER BY topic, id LIMIT ?`, afterTopic, afterID, floor, page)
		if err != nil {
			return err
		}
		n := 0
		var done []run
		for rows.Next() {
			var t string
			var id int64
			if err := rows.Scan(&t, &id); err != nil {
				rows.Close()
				return err
			}
			n++
			if t != cur.topic && len(cur.ids) > 0 {
				done = append(done, cur)
				cur = run{}
			}
			cur.topic, cur.ids = t, append(cur.ids, id)
			afterTopic, afterID = t, id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n < page && len(cur.ids) > 0 {
			done, cur = append(done, cur), run{}
		} else if whole := len(cur.ids) / maxRun * maxRun; whole > 0 {
			// A topic with more entries than a page: its whole runs
			// go now.
			done = append(done, run{topic: cur.topic, ids: cur.ids[:whole]})
			cur.ids = slices.Clone(cur.ids[whole:])
		}
		if err := writeRuns(ctx, insert, nil, done, nil); err != nil {
			return err
		}
		if n < page {
			break
		}
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE topic_index`)
	return err
}
