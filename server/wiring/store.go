package wiring

import (
	"context"
	"log/slog"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// Store is an open store, as a server is built on it: the engine's
// transactional store and the parts a store implements itself. A store
// package is joined to the server by an [OpenStore] ([SQLite] for the
// embedded one); nothing else in a built server names the store's type.
type Store struct {
	Engine     shiftsync.Store
	Identities shiftsync.IdentityStore
	Audit      AuditStore
	Health     shiftsync.HealthRecorder
	// Ops counts the open alerts, conflicts, findings and unsynced phones
	// for the metrics; nil leaves those figures out.
	Ops shiftsync.OpsStore
	// Backups copies the store into a file; nil for a store backed up by
	// other means.
	Backups BackupStore
	// Close closes the store; nothing may use it afterwards.
	Close func() error
}

// OpenStore opens a store, creating and migrating it as needed, whose
// clock is now and whose log is log.
type OpenStore func(now func() time.Time, log *slog.Logger) (Store, error)

// AuditStore is a store's audit log: appending, reading the chain, keeping
// signed heads and checking it.
type AuditStore interface {
	shiftsync.AuditLog
	shiftsync.AuditChain
	// VerifyAudit checks the hash chain on its own and returns how many
	// entries it checked.
	VerifyAudit(ctx context.Context) (int, error)
	// AuditHeads returns the signed heads the store keeps, oldest first.
	AuditHeads(ctx context.Context) ([]shiftsync.AuditHead, error)
}

// BackupStore is a store that copies itself into a file
// (sqlite.DB.Backup): a copy in one step, checked, fsynced, then recorded.
type BackupStore interface {
	// Backup writes a checked copy of the store to a new file at path.
	Backup(ctx context.Context, path string) (shiftsync.Backup, error)
	// RecordBackup keeps a backup that verified, audited as by the principal.
	RecordBackup(ctx context.Context, b shiftsync.Backup, by shiftsync.Principal) error
	// LastBackup returns the newest backup recorded: false when none is.
	LastBackup(ctx context.Context) (shiftsync.Backup, bool, error)
}

// SQLite is the [OpenStore] of the SQLite database file at path, created
// and migrated if missing; its directory must exist.
func SQLite(path string) OpenStore {
	return func(now func() time.Time, log *slog.Logger) (Store, error) {
		db := sqlite.NewDB(path)
		if now != nil {
			db.Now = now
		}
		db.Logger = log
		if err := db.Open(); err != nil {
			return Store{}, err
		}
		return Store{Engine: db, Identities: sqlite.NewIdentityService(db), Audit: db, Health: db, Ops: db, Backups: db, Close: db.Close}, nil
	}
}
