package wiring

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// Store is an open store, as a server is built on it: the engine's
// transactional store and the parts a store implements itself. A store
// package is joined to the server by an [OpenStore] ([SQLite] for the
// embedded one, [Postgres] for several instances on one database); nothing else in a built server names the store's type.
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
	// Relay, if set, relays the server's change feed to the other
	// instances on the same store and back: it returns the feed the server
	// publishes to and subscribes from, over local (whose subscribers
	// wakeAll wakes), and a stop function, called before Close.
	Relay func(local shiftsync.ChangeFeed, wakeAll func()) (shiftsync.ChangeFeed, func())
	// Commits, if set, counts the write transactions the store has
	// committed (each an fsync), for shiftsync_store_commits_total.
	Commits func() int64
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
	// CheckAudit checks the whole chain against signed heads whose
	// signatures the caller has verified.
	CheckAudit(ctx context.Context, heads []shiftsync.AuditHead) (shiftsync.AuditReport, error)
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
		return Store{Engine: db, Identities: sqlite.NewIdentityService(db), Audit: db, Health: db, Ops: db, Backups: db, Commits: db.Commits, Close: db.Close}, nil
	}
}

// Postgres is the [OpenStore] of the PostgreSQL database at dsn
// (postgres://…), migrated if behind. Open fails with a message naming the
// server when it cannot be reached.
func Postgres(dsn string) OpenStore {
	return func(now func() time.Time, log *slog.Logger) (Store, error) {
		db := postgres.NewDB(dsn)
		if now != nil {
			db.Now = now
		}
		db.Logger = log
		if err := db.Open(); err != nil {
			return Store{}, err
		}
		relay := func(local shiftsync.ChangeFeed, wakeAll func()) (shiftsync.ChangeFeed, func()) {
			f := db.NewFeed(local, wakeAll)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); f.Run(ctx) }()
			return f, func() { cancel(); <-done }
		}
		return Store{Engine: db, Identities: postgres.NewIdentityService(db), Audit: db, Health: db, Ops: db, Relay: relay, Close: db.Close}, nil
	}
}

// IsPostgres reports whether a -db value names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}
