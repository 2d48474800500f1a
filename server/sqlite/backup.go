package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Backup copies the database into a new file at path in one step (VACUUM
// INTO: one read snapshot, which does not block writers, where the online
// backup API in small steps restarts at every write) into a file it
// creates with mode 0600 (a copy of every record), checks the copy with
// PRAGMA integrity_check and the links of its audit chain, fsyncs the file
// and its directory, and returns what the copy holds. It refuses a path
// that exists, and removes a copy that fails a check. It records nothing:
// the caller checks the copy's audit log against the signed heads
// ([OpenReadOnly]), then calls [DB.RecordBackup].
func (db *DB) Backup(ctx context.Context, path string) (shiftsync.Backup, error) {
	b := shiftsync.Backup{Path: path, StoreID: db.storeID}
	// Created empty here, exclusively, so an existing file is never touched
	// (VACUUM INTO writes into an empty file) and the copy removed on a
	// failure is always this one.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return b, fmt.Errorf("backup: %s exists: a backup never overwrites a file", path)
	}
	if err != nil {
		return b, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return b, fmt.Errorf("backup: %w", err)
	}
	// A connection of its own: the read pool's cannot run VACUUM, and the
	// writer must stay free for pushes while the copy is written.
	src, err := sql.Open("sqlite3", "file:"+db.Path+"?_busy_timeout=5000")
	if err != nil {
		_ = os.Remove(path)
		return b, fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	b.TakenAt = db.Now().UTC().Truncate(time.Millisecond)
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		_ = os.Remove(path)
		return b, fmt.Errorf("backup: copying into %s: %w", path, err)
	}
	if err := db.checkCopy(ctx, &b); err != nil {
		_ = os.Remove(path)
		return b, fmt.Errorf("backup: the copy %s does not verify, and was removed: %w", path, err)
	}
	if err := syncFile(&b); err != nil {
		_ = os.Remove(path)
		return b, fmt.Errorf("backup: %w", err)
	}
	return b, nil
}

// checkCopy runs integrity_check and the audit chain's link check on the
// copy at b.Path and fills in how far it reaches.
func (db *DB) checkCopy(ctx context.Context, b *shiftsync.Backup) error {
	c, err := OpenReadOnly(b.Path)
	if err != nil {
		return err
	}
	defer c.Close()
	if c.storeID != db.storeID {
		return fmt.Errorf("the copy is store %q, not %q", c.storeID, db.storeID)
	}
	return c.check(ctx, b)
}

// Describe checks a database opened with [OpenReadOnly], such as a backup
// about to be restored, as a backup is checked when taken (PRAGMA
// integrity_check and the links of its audit chain), and returns what it
// holds, as a Backup at path with the file's size and SHA-256. The copy
// does not record when it was taken, so TakenAt is the time of its newest
// audit entry: everything committed before then is in it (a store that
// recorded the backup knows the exact time: [DB.RecordedBackup]). Its
// audit log is still to be checked against the signed heads.
func (db *DB) Describe(ctx context.Context, path string) (shiftsync.Backup, error) {
	b := shiftsync.Backup{Path: path, StoreID: db.storeID}
	if err := hashFile(&b); err != nil {
		return b, err
	}
	if err := db.check(ctx, &b); err != nil {
		return b, err
	}
	var at sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT max(at) FROM audit_log`).Scan(&at); err != nil {
		return b, storageError(err)
	}
	b.TakenAt = time.UnixMilli(at.Int64).UTC()
	return b, nil
}

// hashFile sets b's Bytes and SHA256 from the file at b.Path.
func hashFile(b *shiftsync.Backup) error {
	f, err := os.Open(b.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return hashInto(b, f)
}

// hashInto sets b's Bytes and SHA256 from what f holds from its start.
func hashInto(b *shiftsync.Backup, f *os.File) error {
	h := sha256.New()
	var err error
	if b.Bytes, err = io.Copy(h, f); err != nil {
		return err
	}
	b.SHA256 = h.Sum(nil)
	return nil
}

// check fills in b from the database, checking it.
func (db *DB) check(ctx context.Context, b *shiftsync.Backup) error {
	if err := db.IntegrityCheck(ctx); err != nil {
		return err
	}
	err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM field_versions`).Scan(&b.HeadSeq)
	if err != nil {
		return err
	}
	if b.AuditSeq, _, err = db.AuditTip(ctx); err != nil {
		return err
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		return err
	}
	if err := db.read.QueryRowContext(ctx, `SELECT epoch FROM store WHERE id = 1`).Scan(&b.Epoch); err != nil {
		return err
	}
	b.Acknowledged, err = db.acknowledgedCounters(ctx)
	return err
}

// syncFile fsyncs the file at b.Path, and its directory so the file's name
// survives a crash too, hashing the file into b as it reads it once.
func syncFile(b *shiftsync.Backup) error {
	f, err := os.Open(b.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := hashInto(b, f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", b.Path, err)
	}
	dir, err := os.Open(filepath.Dir(b.Path))
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", filepath.Dir(b.Path), err)
	}
	return nil
}

// OpenReadOnly opens a database file that nothing writes, such as a
// backup, to read and check it: no migration, no write, no journal file.
// Only its reads (the audit chain and heads, IntegrityCheck) may be used.
func OpenReadOnly(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db := NewDB(path)
	var err error
	// immutable: the file does not change while it is open, so SQLite takes
	// no lock and writes no -wal or -shm beside it.
	if db.read, err = sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1"); err != nil {
		return nil, err
	}
	if err := db.read.QueryRow(`SELECT store_id FROM store WHERE id = 1`).Scan(&db.storeID); err != nil {
		_ = db.read.Close()
		return nil, fmt.Errorf("sqlite: %s: read store id: %w", path, err)
	}
	return db, nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error listing
// what it found unless it found nothing wrong.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.read.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity_check: %s", strings.Join(problems, "; "))
	}
	return nil
}

// RecordBackup keeps a backup that verified, and logs it to the audit log
// as done by the principal, in one transaction.
func (db *DB) RecordBackup(ctx context.Context, b shiftsync.Backup, by shiftsync.Principal) error {
	detail, err := json.Marshal(map[string]any{"head_seq": b.HeadSeq, "audit_seq": b.AuditSeq, "bytes": b.Bytes, "sha256": hex.EncodeToString(b.SHA256)})
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO backups (path, store_id, taken_at, head_seq, audit_seq, bytes, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.Path, b.StoreID, b.TakenAt.UnixMilli(), b.HeadSeq, b.AuditSeq, b.Bytes, b.SHA256); err != nil {
			return err
		}
		if err := shiftsync.NoteBackup(ctx, tx, b); err != nil {
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: by, Action: shiftsync.AuditBackup, Subject: b.Path, Detail: string(detail)})
	})
}

// acknowledgedCounters returns every device's acknowledged counter, read
// outside a transaction from a database nothing writes (a backup).
func (db *DB) acknowledgedCounters(ctx context.Context) (map[string]uint64, error) {
	return scanCounters(db.read.QueryContext(ctx, `SELECT device_id, acknowledged FROM device_counters`))
}

// LastBackup returns the newest backup recorded: false when there is none.
func (db *DB) LastBackup(ctx context.Context) (shiftsync.Backup, bool, error) {
	return db.recordedBackup(ctx, `ORDER BY id DESC LIMIT 1`)
}

// RecordedBackup returns the newest backup recorded whose file had the
// SHA-256 sum: false when none had.
func (db *DB) RecordedBackup(ctx context.Context, sum []byte) (shiftsync.Backup, bool, error) {
	return db.recordedBackup(ctx, `WHERE sha256 = ? ORDER BY id DESC LIMIT 1`, sum)
}

// recordedBackup returns the backup the query's tail (after FROM backups)
// selects first: false when it selects none.
func (db *DB) recordedBackup(ctx context.Context, tail string, args ...any) (shiftsync.Backup, bool, error) {
	var (
		b       shiftsync.Backup
		takenAt int64
	)
	err := db.read.QueryRowContext(ctx, `SELECT path, store_id, taken_at, head_seq, audit_seq, bytes, sha256 FROM backups `+tail, args...).
		Scan(&b.Path, &b.StoreID, &takenAt, &b.HeadSeq, &b.AuditSeq, &b.Bytes, &b.SHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	b.TakenAt = time.UnixMilli(takenAt).UTC()
	return b, err == nil, storageError(err)
}
