package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/wiring"
)

// takeBackup writes a backup of the store, whose database file is at
// livePath, to the new file dest (see [sqlite.DB.Backup]: one step,
// integrity_check, fsynced), checks the copy's audit log against the
// signed heads that reach no further than it, and records it as done by
// the principal. A copy that does not verify is removed and not recorded.
func takeBackup(ctx context.Context, store wiring.BackupStore, livePath, dest string, by shiftsync.Principal) (shiftsync.Backup, error) {
	b, err := store.Backup(ctx, dest)
	if err != nil {
		return b, err
	}
	if err := verifyCopyAudit(ctx, livePath, b); err != nil {
		_ = os.Remove(dest)
		return b, fmt.Errorf("backup: the copy %s does not verify against the signed audit heads, and was removed: %w", dest, err)
	}
	return b, store.RecordBackup(ctx, b, by)
}

// verifyCopyAudit checks the audit log of the backup b, of the database at
// livePath, as verify-audit does, against the heads of the heads file
// beside the database and the copy's own, signed by the database's audit
// key: those of entries the copy holds (a head signed after the copy was
// taken covers entries it cannot have).
func verifyCopyAudit(ctx context.Context, livePath string, b shiftsync.Backup) error {
	c, err := sqlite.OpenReadOnly(b.Path)
	if err != nil {
		return err
	}
	defer c.Close()
	pub, err := auditPublicKey(livePath, "")
	if err != nil {
		return err
	}
	heads, _, err := auditfile.ReadHeads(auditfile.HeadsPath(livePath))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	own, err := c.AuditHeads(ctx)
	if err != nil {
		return err
	}
	var valid []shiftsync.AuditHead
	for _, h := range append(heads, own...) {
		if h.Seq > b.AuditSeq {
			continue
		}
		if pub == nil {
			pub = h.PublicKey // a store with no key file: every head must name the same key
		}
		if err := h.Verify(pub); err != nil {
			return fmt.Errorf("a signed head of entry %d: %w", h.Seq, err)
		}
		valid = append(valid, h)
	}
	if pub != nil && len(valid) == 0 {
		return errors.New("the database has an audit key, and no signed head covers the copy")
	}
	_, err = c.CheckAudit(ctx, valid)
	return err
}

// scheduledBackup matches the names of the backups serve takes, which
// sort by time: only these are ever removed to keep -backup-keep.
var scheduledBackup = regexp.MustCompile(`^shiftsync-\d{8}T\d{6}\.\d{3}Z\.db$`)

// backupName is the file name of a backup serve takes at t.
func backupName(t time.Time) string {
	return "shiftsync-" + t.UTC().Format("20060102T150405.000Z") + ".db"
}

// pruneBackups removes the oldest of serve's backups in dir beyond the
// newest keep (0: keeps all), and returns the paths removed.
func pruneBackups(dir string, keep int) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && scheduledBackup.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var removed []string
	for _, name := range names[:max(0, len(names)-keep)] {
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			return removed, err
		}
		removed = append(removed, path)
	}
	return removed, nil
}

// backupPrincipal is who the audit log says took serve's backups.
var backupPrincipal = shiftsync.Principal{UserID: "shiftsyncd:serve"}

// backupLoop takes a backup into BackupDir every BackupEvery until ctx
// ends, keeping the newest BackupKeep, logging each; a failure is logged as an ERROR and the next
// round tries again.
func (m *Main) backupLoop(ctx context.Context) {
	defer close(m.backedUp)
	every(ctx, m.BackupEvery, func() {
		if _, err := m.Backup(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "backup failed: the last good backup is older than -backup-every", "dir", m.BackupDir, "error", err)
		}
	})
}

// Backup takes one backup into BackupDir now, as the schedule does, and
// removes the oldest beyond BackupKeep.
func (m *Main) Backup(ctx context.Context) (shiftsync.Backup, error) {
	started := time.Now()
	b, err := takeBackup(ctx, m.srv.Store.Backups, m.DBPath, filepath.Join(m.BackupDir, backupName(started)), backupPrincipal)
	if err != nil {
		return b, err
	}
	m.log.InfoContext(ctx, "backup taken", "path", b.Path, "head_seq", b.HeadSeq, "audit_seq", b.AuditSeq, "bytes", b.Bytes,
		"duration", time.Since(started).Round(time.Millisecond))
	removed, err := pruneBackups(m.BackupDir, m.BackupKeep)
	for _, path := range removed {
		m.log.InfoContext(ctx, "old backup removed", "path", path, "keep", m.BackupKeep)
	}
	if err != nil {
		m.log.WarnContext(ctx, "removing old backups failed", "dir", m.BackupDir, "error", err)
	}
	return b, nil
}

// logLastBackup logs the last backup the store records, by any process.
func (m *Main) logLastBackup(ctx context.Context) {
	if m.srv.Store.Backups == nil {
		return
	}
	b, ok, err := m.srv.Store.Backups.LastBackup(ctx)
	switch {
	case err != nil:
		m.log.WarnContext(ctx, "reading the last backup failed", "error", err)
	case !ok:
		m.log.InfoContext(ctx, "no backup of this database has been recorded", "backup_dir", m.BackupDir)
	default:
		m.log.InfoContext(ctx, "last backup", "path", b.Path, "taken_at", b.TakenAt.Format(time.RFC3339), "head_seq", b.HeadSeq,
			slog.Duration("age", time.Since(b.TakenAt).Round(time.Second)))
	}
}
