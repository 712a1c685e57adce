package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Backup writes a consistent copy of the database to path while the store
// is in use: SQLite's VACUUM INTO reads one snapshot, so publishing goes on
// meanwhile. The copy is written under a temporary name and renamed, so a
// failed backup never leaves a file that looks complete. path must not
// exist yet.
func (s *Store) Backup(ctx context.Context, path string) error {
	return backup(ctx, s.cdb, s.real, path)
}

// BackupFile backs up the database at src to dst without opening it for
// writing: a backup taken by another process while livefeed serves.
func BackupFile(ctx context.Context, src, dst string) error {
	real := realOr(src)
	if err := checkFile(src, real); err != nil {
		return err
	}
	if err := checkBackupName(src, real); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	db, err := openReadOnly(src)
	if err != nil {
		return err
	}
	defer db.Close()
	return backup(ctx, db, real, dst)
}

// BackupTemp is the file a backup to path is written to until it is
// complete, and RestoreTemp the one a restore of the database at path
// copies the backup to, beside the file path leads to: what a progress
// display watches grow.
func BackupTemp(path string) string  { return path + ".partial" }
func RestoreTemp(path string) string { return realOr(path) + ".restoring" }

func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
}

// backup copies db, the database whose real path is dbPath, to path.
func backup(ctx context.Context, db *sql.DB, dbPath, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("backup %s is a directory: name the file to write, in it or elsewhere", path)
	} else if err == nil {
		return fmt.Errorf("backup %s: the file exists already", path)
	}
	sweepPartials(dbPath)
	// The copy is written to a file this backup holds a lock on, listed
	// beside the database until it is renamed: if the backup is killed,
	// the next backup or server start finds it unlocked and removes it.
	partial := BackupTemp(path)
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(dbPath); err == nil {
		mode = fi.Mode().Perm() // the copy is readable by whom the database is
		// A leftover partial file is emptied to write the copy into:
		// never the database, by its name or a hard link.
		if pfi, err := os.Stat(partial); err == nil && os.SameFile(fi, pfi) {
			return fmt.Errorf("backup to %s: its temporary file %s is the database itself: back up to another name", path, partial)
		}
	}
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	defer f.Close()
	if ok, err := flock(f); err != nil || !ok {
		return fmt.Errorf("backup to %s: another backup is writing %s", path, partial)
	}
	if err := f.Truncate(0); err != nil { // a killed backup's leftovers: VACUUM INTO needs an empty file
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	listed := listPartial(dbPath, partial)
	defer unlistPartial(dbPath, listed)
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

// The backups under way are listed, one temporary file's absolute path a
// line, in a file beside the database's real name, which every path to the
// database leads to.
func partialsList(dbPath string) string { return realOr(dbPath) + ".backups" }

// editPartials rewrites the list of backups under way with edit, under a
// lock; create makes the list if there is none. Problems are ignored: the
// list only serves to clean up after backups that were killed.
func editPartials(dbPath string, create bool, edit func(paths []string) []string) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(partialsList(dbPath), flags, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if flockWait(f) != nil {
		return
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return
	}
	paths := strings.Fields(string(b))
	kept := edit(paths)
	if len(kept) == len(paths) && slices.Equal(kept, paths) {
		return
	}
	var out []byte
	for _, p := range kept {
		out = append(out, p+"\n"...)
	}
	if f.Truncate(0) == nil {
		f.WriteAt(out, 0)
	}
}

// listPartial adds a backup's temporary file to the list and returns the
// path it was listed under.
func listPartial(dbPath, partial string) string {
	abs, err := filepath.Abs(partial)
	if err != nil {
		return ""
	}
	editPartials(dbPath, true, func(paths []string) []string { return append(paths, abs) })
	return abs
}

func unlistPartial(dbPath, abs string) {
	if abs == "" {
		return
	}
	editPartials(dbPath, false, func(paths []string) []string {
		return slices.DeleteFunc(paths, func(p string) bool { return p == abs })
	})
}

// sweepPartials removes the temporary files of listed backups that are no
// longer running: a killed backup leaves its file unlocked.
func sweepPartials(dbPath string) {
	editPartials(dbPath, false, func(paths []string) []string {
		return slices.DeleteFunc(paths, func(p string) bool {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return true // gone already (renamed, or removed)
			}
			defer f.Close()
			if ok, err := flock(f); err != nil || !ok {
				return false // its backup is running
			}
			os.Remove(p)
			return true
		})
	})
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
// database is kept beside, renamed. A path through symlinks restores the
// file they lead to.
func Restore(ctx context.Context, backupPath, path string, minNext int64) (Restored, error) {
	var r Restored
	real, err := realPath(path)
	if err != nil {
		return r, fmt.Errorf("database %s: %w", path, err)
	}
	// A server with the database open would go on writing to the file
	// moved aside, acknowledging events that the restored database then
	// never has, and giving their IDs out again after its next start.
	// Holding the lock also keeps a server from starting mid-restore.
	lock, err := lockDatabase(path, real, false)
	if err != nil {
		var locked *LockedError
		if errors.As(err, &locked) {
			return r, fmt.Errorf("%w; nothing was changed", err)
		}
		return r, err
	}
	defer lock.Close()
	if _, err := os.Stat(backupPath); err != nil {
		return r, fmt.Errorf("backup %s: %w", backupPath, err)
	}
	if err := notAFile("backup", backupPath, backupPath); err != nil {
		return r, err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(real); err == nil {
		mode = fi.Mode().Perm()
	}
	oldLast, err := lastIDOf(ctx, real)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil && minNext == 0:
		return r, fmt.Errorf("cannot read the newest ID of %s (%v): pass the ID the next event must exceed, as seen in livefeed_last_event_id", path, err)
	}
	restoring := real + ".restoring" // RestoreTemp(path)
	os.Remove(restoring)
	if err := copyFile(backupPath, restoring, mode); err != nil {
		os.Remove(restoring)
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
	if _, err := os.Stat(real); err == nil {
		r.Replaced = real + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(real, r.Replaced); err != nil {
			return r, err
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(real + suffix); err == nil {
				os.Rename(real+suffix, r.Replaced+suffix)
			}
		}
	}
	return r, os.Rename(restoring, real)
}

// LastIDOf reads the newest ID of the database at path (a backup), without
// opening it for writing.
func LastIDOf(ctx context.Context, path string) (int64, error) { return lastIDOf(ctx, path) }

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

// copyFile copies src to a new file dst with the given permissions (the
// process's umask aside: they are set explicitly).
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
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
