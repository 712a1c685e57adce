package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Backup writes a consistent copy of the database to path while the store
// is in use: SQLite's VACUUM INTO reads one snapshot, so publishing goes on
// meanwhile. The copy is written under a temporary name and renamed, so a
// failed backup never leaves a file that looks complete. path must not
// exist yet.
func (s *Store) Backup(ctx context.Context, path string) error {
	return backup(ctx, s.cdb, path)
}

// BackupFile backs up the database at src to dst without opening it for
// writing: a backup taken by another process while livefeed serves.
func BackupFile(ctx context.Context, src, dst string) error {
	db, err := openReadOnly(src)
	if err != nil {
		return err
	}
	defer db.Close()
	return backup(ctx, db, dst)
}

func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
}

func backup(ctx context.Context, db *sql.DB, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup %s: the file exists already", path)
	}
	partial := path + ".partial"
	os.Remove(partial)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, partial); err != nil {
		os.Remove(partial)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Rename(partial, path); err != nil {
		os.Remove(partial)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

// gap is a range of IDs (after, through] a database never stored.
type gap struct{ after, through int64 }

func loadGaps(ctx context.Context, db *sql.DB) ([]gap, error) {
	rows, err := db.QueryContext(ctx, `SELECT after, through FROM gaps`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gaps []gap
	for rows.Next() {
		var g gap
		if err := rows.Scan(&g.after, &g.through); err != nil {
			return nil, err
		}
		gaps = append(gaps, g)
	}
	return gaps, rows.Err()
}

// Restored describes a restore.
type Restored struct {
	BackupLastID int64  // the newest event in the backup
	NextID       int64  // the ID the next event will get
	Replaced     string // where the database that was there was moved, if any
}

// Restore replaces the database at path (livefeed must be stopped) with a
// copy of the backup. Clients may have seen events newer than the backup,
// so IDs must not start again after the backup's newest: the next ID is set
// above the newest ID of the database being replaced (read from it if it
// can be) and above minNext, and the IDs in between are recorded as a gap.
// A client positioned in the gap or beyond gets a reset. The replaced
// database is kept beside, renamed.
func Restore(ctx context.Context, backupPath, path string, minNext int64) (Restored, error) {
	var r Restored
	oldLast, err := lastIDOf(ctx, path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil && minNext == 0:
		return r, fmt.Errorf("cannot read the newest ID of %s (%v): pass the ID the next event must exceed, as seen in livefeed_last_event_id", path, err)
	}
	restoring := path + ".restoring"
	os.Remove(restoring)
	if err := copyFile(backupPath, restoring); err != nil {
		return r, err
	}
	db, err := sql.Open("sqlite", restoring+"?_txlock=immediate")
	if err != nil {
		return r, err
	}
	err = func() error {
		defer db.Close()
		if err := migrate(ctx, db); err != nil {
			return fmt.Errorf("backup %s: %w", backupPath, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT `+lastIDSQL).Scan(&r.BackupLastID); err != nil {
			return fmt.Errorf("backup %s is not a livefeed database: %w", backupPath, err)
		}
		last := max(r.BackupLastID, oldLast, minNext-1)
		r.NextID = last + 1
		if last == r.BackupLastID {
			return nil
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO gaps (after, through) VALUES (?, ?)`, r.BackupLastID, last); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'last_id'`, last); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		os.Remove(restoring)
		return r, err
	}
	if _, err := os.Stat(path); err == nil {
		r.Replaced = path + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, r.Replaced); err != nil {
			return r, err
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + suffix); err == nil {
				os.Rename(path+suffix, r.Replaced+suffix)
			}
		}
	}
	return r, os.Rename(restoring, path)
}

// lastIDOf reads the newest ID of the database at path.
func lastIDOf(ctx context.Context, path string) (int64, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var last int64
	err = db.QueryRowContext(ctx, `SELECT `+lastIDSQL).Scan(&last)
	return last, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
