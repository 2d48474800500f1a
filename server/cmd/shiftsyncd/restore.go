package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/wiring"
)

// restoreStore runs "shiftsyncd admin restore -from BACKUP [-db FILE]": it
// installs a verified backup as the live SQLite store, keeping the files it
// replaces, and starts a new epoch, audited as by the operator. It refuses
// to run while a server (or another restore) holds the database's lock.
func restoreStore(ctx context.Context, args []string, defaultDB string, operator shiftsync.Principal, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("restore", flag.ContinueOnError)
	flags.SetOutput(stderr)
	from := flags.String("from", "", "the backup `file` to restore (from shiftsyncd admin backup or serve -backup-dir)")
	db := flags.String("db", defaultDB, "the live database `file` to replace; stop the server first")
	older := flags.Bool("older", false, "restore the backup although the live database records a newer one: what only the newer holds is lost, since phones dropped their receipts of it")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("restore: unexpected arguments %q", flags.Args())
	}
	if *from == "" {
		return errors.New("restore: -from BACKUP is required")
	}
	if wiring.IsPostgres(*db) {
		return errors.New("restore: a PostgreSQL store is restored with PostgreSQL's own tools (pg_restore, or point-in-time recovery from WAL archives), not by shiftsyncd; then run shiftsyncd admin new-epoch before starting the servers")
	}
	if err := os.MkdirAll(filepath.Dir(*db), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	lock, err := lockDB(*db, "shiftsyncd admin restore")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer lock.Release()
	started := time.Now()
	b, err := checkBackup(ctx, *from, *db)
	if err != nil {
		return err
	}
	if err := compareWithLive(ctx, *db, &b, *older, stderr); err != nil {
		return err
	}
	// Until the new epoch has started, serve refuses the database: phones
	// told the old epoch would not re-push what the backup lacks.
	if err := os.WriteFile(unfinishedRestore(*db), []byte(*from+"\n"), 0o600); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	aside, err := installBackup(*from, *db, b.AuditSeq, started)
	if err != nil {
		return err
	}
	if aside != "" {
		fmt.Fprintf(stdout, "the database it replaces is kept as %s (with its -wal, -shm and audit heads)\n", aside)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	store, err := wiring.SQLite(*db)(nil, log)
	if err != nil {
		return fmt.Errorf("restore: the backup is installed at %s, but does not open: %w", *db, err)
	}
	defer store.Close()
	sealer, err := openSealer(ctx, store.Audit, store.Engine.StoreID(), *db, shiftsync.AuditProcessAdmin, log, false)
	if err != nil {
		return err
	}
	epoch := shiftsync.NewEpoch()
	err = store.Engine.Update(ctx, func(tx shiftsync.Tx) error {
		return shiftsync.StartEpoch(ctx, tx, epoch, b, operator, time.Now())
	})
	_, sealErr := sealer.Close(context.WithoutCancel(ctx))
	if err = errors.Join(err, sealErr); err != nil {
		return fmt.Errorf("restore: the backup is installed at %s, but its new epoch did not start (run restore again): %w", *db, err)
	}
	if err := os.Remove(unfinishedRestore(*db)); err != nil {
		return fmt.Errorf("restore: the new epoch started, but: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s from %s in %s: integrity_check ok, audit log verified up to entry %d, change log up to position %d (everything committed before %s)\n",
		*db, *from, time.Since(started).Round(time.Millisecond), b.AuditSeq, b.HeadSeq, b.TakenAt.Format(time.RFC3339))
	fmt.Fprintf(stdout, "new epoch %s: devices re-push what they had acknowledged after the backup at their next sync; start the server\n", epoch)
	return nil
}

// checkBackup verifies the backup at path as a backup is verified when
// taken (integrity_check, the audit chain's links and the signed heads
// beside the live database at live that reach no further than it) and
// returns what it holds. A backup of another store than the live one is
// refused.
func checkBackup(ctx context.Context, path, live string) (shiftsync.Backup, error) {
	c, err := sqlite.OpenReadOnly(path)
	if err != nil {
		return shiftsync.Backup{}, fmt.Errorf("restore: %w", err)
	}
	defer c.Close()
	b, err := c.Describe(ctx, path)
	if err != nil {
		return b, fmt.Errorf("restore: the backup %s does not verify: %w", path, err)
	}
	if l, err := sqlite.OpenReadOnly(live); err == nil {
		id := l.StoreID()
		_ = l.Close()
		if id != b.StoreID {
			return b, fmt.Errorf("restore: %s is a backup of store %s, and %s is store %s: restore a backup of this store, or give another -db", path, b.StoreID, live, id)
		}
	}
	if err := verifyCopyAudit(ctx, live, b); err != nil {
		return b, fmt.Errorf("restore: the backup %s does not verify against the signed audit heads: %w", path, err)
	}
	return b, nil
}

// unfinishedRestore is the file that marks the database at db as being
// restored: a restore writes it before it replaces the database and
// removes it once the new epoch has started.
func unfinishedRestore(db string) string { return db + ".restore-unfinished" }

// exists reports whether a file is at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// compareWithLive refuses a backup b older than the newest backup the live
// database at live records, unless older is set: phones drop the receipts
// of what a backup holds, so what only the newer one holds would be lost.
// When the live database recorded taking b, b's TakenAt becomes the time
// it recorded.
func compareWithLive(ctx context.Context, live string, b *shiftsync.Backup, older bool, stderr io.Writer) error {
	if _, err := os.Stat(live); err != nil {
		return nil // nothing to compare with: the live database is gone
	}
	db := sqlite.NewDB(live) // opened as a server would, so that what a killed one left in its -wal counts
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		return fmt.Errorf("restore: reading the backups %s records: %w", live, err)
	}
	defer db.Close()
	recorded, ok, err := db.RecordedBackup(ctx, b.SHA256)
	if err != nil {
		return fmt.Errorf("restore: reading the backups %s records: %w", live, err)
	}
	if ok {
		b.TakenAt = recorded.TakenAt
	}
	newest, ok, err := db.LastBackup(ctx)
	if err != nil {
		return fmt.Errorf("restore: reading the backups %s records: %w", live, err)
	}
	if !ok || newest.HeadSeq <= b.HeadSeq {
		return nil
	}
	if older {
		fmt.Fprintf(stderr, "restore: -older: %s reaches position %d, this backup %d: what only the newer one holds is lost\n", newest.Path, newest.HeadSeq, b.HeadSeq)
		return nil
	}
	return fmt.Errorf("restore: %s records a newer backup, %s (taken %s, change log up to position %d), than this one (up to %d): phones have dropped their copies of what the newer one holds, so restore it instead, or pass -older to lose what only it holds",
		live, newest.Path, newest.TakenAt.Format(time.RFC3339), newest.HeadSeq, b.HeadSeq)
}

// installBackup copies the backup at from over the live database at live,
// fsynced, after moving the live files (database, -wal, -shm, audit heads)
// aside under a name of the time t, which it returns ("" when there was no
// live database). The live audit key stays, and is copied beside the kept
// database, so both verify; the new heads file holds the old one's heads
// of entries the backup has (through auditSeq), which vouch for it.
func installBackup(from, live string, auditSeq int64, t time.Time) (string, error) {
	tmp := live + ".restoring" // left by a restore that failed, if it exists: replaced
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := copySynced(from, tmp); err != nil {
		return "", fmt.Errorf("restore: copying %s: %w", from, err)
	}
	aside := ""
	if _, err := os.Stat(live); err == nil {
		aside = live + ".before-restore-" + t.UTC().Format("20060102T150405Z")
		for n := 2; exists(aside) || exists(auditfile.KeyPath(aside)); n++ { // another restore in the same second
			aside = fmt.Sprintf("%s.before-restore-%s-%d", live, t.UTC().Format("20060102T150405Z"), n)
		}
		for _, suffix := range []string{"", "-wal", "-shm", ".audit-heads"} {
			if err := os.Rename(live+suffix, aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				_ = os.Remove(tmp)
				return "", fmt.Errorf("restore: keeping %s aside: %w", live+suffix, err)
			}
		}
		if err := copySynced(auditfile.KeyPath(live), auditfile.KeyPath(aside)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return aside, fmt.Errorf("restore: %w", err)
		}
		heads, _, err := auditfile.ReadHeads(auditfile.HeadsPath(aside))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return aside, fmt.Errorf("restore: %w", err)
		}
		for _, h := range heads {
			if h.Seq > auditSeq {
				continue
			}
			if err := (auditfile.Heads{Path: auditfile.HeadsPath(live)}).WriteAuditHead(context.Background(), h); err != nil {
				return aside, fmt.Errorf("restore: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, live); err != nil {
		return aside, fmt.Errorf("restore: %w", err)
	}
	return aside, syncDir(filepath.Dir(live))
}

// copySynced copies the file at from to a new file at to (mode 0600),
// fsynced.
func copySynced(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		_ = os.Remove(to)
		return err
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		_ = os.Remove(to)
		return err
	}
	return dst.Close()
}

// syncDir fsyncs a directory, so the names just renamed in it survive a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
