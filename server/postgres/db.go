// Package postgres implements the shiftsync store on PostgreSQL (jackc/pgx
// v5, pgxpool), for several stateless shiftsyncd instances sharing one
// database. SQLite serialises its writers; PostgreSQL does not, so this
// store keeps the rules of DESIGN "Several writers on one PostgreSQL":
//
//   - A change log position is the writing transaction's xid8 in the high
//     bits and the version's number within the transaction in the low
//     [positionBits]: ordering by it is ordering by (xid, seq). A pull reads
//     only positions below the horizon pg_snapshot_xmin(pg_current_snapshot())
//     of its snapshot, under which no transaction still open can ever write,
//     so a cursor never passes a change that commits later. An open write
//     transaction anywhere in the cluster delays pulls (bound it with
//     idle_in_transaction_session_timeout and statement_timeout); it never
//     makes them skip. A View first waits (up to HorizonWait) for the write
//     transactions in flight as it begins, so it answers as one writer
//     would: with every change committed before it began.
//   - A push takes its device's lock first (an advisory transaction lock on
//     the device id), so retries of one device landing on two instances
//     serialise; (device_id, counter) stays unique as the backstop.
//   - A push locks each record's row before reading its field heads, so
//     merges of one record serialise, including a field's first edit.
//   - The audit log is chained under one advisory transaction lock: the
//     first step of DESIGN's one-chainer design, which serialises audited
//     transactions. Each server run opens the log with an entry naming the
//     runs still registered (a connection of each run named for it), so
//     signed heads of runs side by side verify and a killed run ends at
//     the next start ([DB.OpenAuditRun]).
//   - Governance writes of one organisation take its advisory lock.
//   - Update runs in READ COMMITTED and retries serialisation failures,
//     deadlocks and unique violations a re-run resolves (a concurrent
//     create), up to [maxAttempts]; a commit whose outcome is unknown (the
//     connection lost during COMMIT) is CodeUnavailable, and the client's
//     idempotent retry decides.
//
// View runs in a REPEATABLE READ read-only transaction: one snapshot.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/shiftsync/shiftsync/migrations"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// positionBits is the number of low bits of a change log position that
// number the versions of one transaction: a transaction writes at most
// 2^20 versions, and positions stay positive while xid8 < 2^43.
const positionBits = 20

// maxAttempts bounds how many times Update runs a transaction that
// PostgreSQL refused for a concurrent one.
const maxAttempts = 5

// Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)).
const (
	lockAudit      = 1 // the audit chain (second key 0)
	lockDevice     = 2 // a device's pushes (second key hashtext(device id))
	lockGovernance = 3 // an organisation's governance (hashtext(organisation id))
)

// DB is a shiftsync PostgreSQL store.
type DB struct {
	// DSN is the connection string (postgres://… or key=value). Set before
	// Open. Runtime parameters in it (search_path, statement_timeout…) are
	// set on every connection.
	DSN string
	// Now is the clock; tests replace it. Defaults to time.Now.
	Now func() time.Time
	// Logger receives diagnostics; defaults to slog.Default().
	Logger *slog.Logger
	// HorizonWait bounds how long a View waits, before it takes its
	// snapshot, for the write transactions in flight as it began to end, so
	// that it reads every change committed before it began, as a store
	// with one writer would. Past it, the View reads below the horizon as
	// it stands: fewer changes, never a skipped one. Defaults to
	// [DefaultHorizonWait]; 0 or less does not wait.
	HorizonWait time.Duration

	pool    *pgxpool.Pool
	storeID string
}

// DefaultHorizonWait is a DB's HorizonWait unless set.
const DefaultHorizonWait = 2 * time.Second

// NewDB returns a DB for the database at dsn. It does no I/O: call Open.
func NewDB(dsn string) *DB {
	return &DB{DSN: dsn, Now: time.Now, Logger: slog.Default(), HorizonWait: DefaultHorizonWait}
}

// config parses the DSN and sets the session parameters this store relies
// on, unless the DSN sets them.
func (db *DB) config() (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(db.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	params := cfg.ConnConfig.RuntimeParams
	// An acknowledged push must survive a crash of the server: commit waits
	// for the WAL flush (and for synchronous standbys, if configured).
	params["synchronous_commit"] = "on"
	// A session left idle inside a transaction holds the pull horizon back
	// for every instance; end it rather than stall all devices.
	if _, ok := params["idle_in_transaction_session_timeout"]; !ok {
		params["idle_in_transaction_session_timeout"] = "30000"
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "shiftsyncd"
	}
	return cfg, nil
}

// Open connects, applies pending migrations, reads the store's identity
// and builds the integrity digests if a migration left them unbuilt.
// It returns a clear error when the database is unreachable.
func (db *DB) Open() error {
	if db.DSN == "" {
		return errors.New("postgres: DSN required")
	}
	cfg, err := db.config()
	if err != nil {
		return err
	}
	ctx := context.Background()
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := ping(ctx, db.pool, cfg); err != nil {
		db.pool.Close()
		return err
	}
	applied, err := db.up(ctx)
	for _, v := range applied {
		db.Logger.Info("applied migration", "version", v)
	}
	if err != nil {
		db.pool.Close()
		return err
	}
	if err := db.pool.QueryRow(ctx, `SELECT store_id FROM store WHERE id = 1`).Scan(&db.storeID); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: read store id: %w", err)
	}
	if err := shiftsync.BuildDigests(ctx, db); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: build the integrity digests: %w", err)
	}
	return nil
}

// Close closes the pool.
func (db *DB) Close() error {
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// StoreID implements [shiftsync.Store].
func (db *DB) StoreID() string { return db.storeID }

// Migrate applies every pending migration to the database at dsn and
// returns the versions applied. It is what `shiftsyncd migrate` runs; Open
// does the same.
func Migrate(ctx context.Context, dsn string) ([]int64, error) {
	db := NewDB(dsn)
	cfg, err := db.config()
	if err != nil {
		return nil, err
	}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer db.pool.Close()
	if err := ping(ctx, db.pool, cfg); err != nil {
		return nil, err
	}
	return db.up(ctx)
}

// ping checks that the database answers, with an error naming it when it
// does not.
func ping(ctx context.Context, pool *pgxpool.Pool, cfg *pgxpool.Config) error {
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: cannot reach database %q at %s:%d: %w", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return nil
}

// up applies pending migrations under goose's session lock, so instances
// starting together migrate one at a time. It refuses a database whose
// schema is newer than this build's migrations: this build would not know
// what it holds.
func (db *DB) up(ctx context.Context) ([]int64, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.Postgres, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	var versions []int64
	for _, r := range results {
		versions = append(versions, r.Source.Version)
	}
	if err != nil {
		return versions, fmt.Errorf("postgres: migrate: %w", err)
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return versions, fmt.Errorf("postgres: schema version: %w", err)
	}
	sources := p.ListSources()
	if latest := sources[len(sources)-1].Version; current > latest {
		return versions, fmt.Errorf("postgres: the database's schema is at version %d, newer than this shiftsyncd's %d: run the shiftsyncd that migrated it, or a newer one", current, latest)
	}
	return versions, nil
}

// Tx is a transaction with the time fixed at its start.
type Tx struct {
	pgx.Tx
	db    *DB
	now   time.Time
	write bool
	// versions counts the versions appended, numbering their positions.
	versions int64
}

// Update implements [shiftsync.Store]: fn runs in a READ COMMITTED
// transaction, again on a fresh Tx when PostgreSQL refuses it for a
// concurrent one.
func (db *DB) Update(ctx context.Context, fn func(shiftsync.Tx) error) error {
	return db.update(ctx, func(tx *Tx) error { return fn(tx) })
}

// View implements [shiftsync.Store] in a REPEATABLE READ read-only
// transaction, begun once the write transactions in flight have ended (see
// HorizonWait).
func (db *DB) View(ctx context.Context, fn func(shiftsync.Tx) error) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return storageError(err)
	}
	defer conn.Release()
	if err := db.awaitHorizon(ctx, conn); err != nil {
		return storageError(err)
	}
	pgTx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return storageError(err)
	}
	tx := &Tx{Tx: pgTx, db: db, now: db.Now().UTC()}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return storageError(err)
	}
	return storageError(tx.Commit(ctx))
}

// awaitHorizon waits, up to HorizonWait, until every transaction that
// was running when it began has ended: until the horizon passes the xmax
// of its first snapshot. Nothing written before then can still appear
// below the horizon.
func (db *DB) awaitHorizon(ctx context.Context, conn *pgxpool.Conn) error {
	if db.HorizonWait <= 0 {
		return nil
	}
	var xmin, xmax uint64
	if err := conn.QueryRow(ctx, `SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint FROM pg_current_snapshot() s`).Scan(&xmin, &xmax); err != nil {
		return err
	}
	deadline := time.Now().Add(db.HorizonWait)
	for pause := time.Millisecond; xmin < xmax && time.Now().Before(deadline); pause = min(2*pause, 50*time.Millisecond) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		if err := conn.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin); err != nil {
			return err
		}
	}
	return nil
}

// update runs fn in a write transaction and commits it if fn returns nil,
// retrying as Update says.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.attempt(ctx, fn)
		if attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			return storageError(err)
		}
		db.Logger.Debug("postgres: transaction retried", "attempt", attempt, "err", err)
	}
}

// attempt runs fn once in a write transaction.
func (db *DB) attempt(ctx context.Context, fn func(tx *Tx) error) error {
	pgTx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	tx := &Tx{Tx: pgTx, db: db, now: db.Now().UTC(), write: true}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	crash(beforeCommit, tx)
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return err // the server refused the commit: rolled back
		}
		return &shiftsync.Error{Code: shiftsync.CodeUnavailable, Message: "the store may not have kept the last change; retry it", Err: err}
	}
	crash(afterCommit, tx)
	return nil
}

// retryable reports whether a transaction that failed with err may succeed
// when run again: PostgreSQL refused it for a concurrent one. An error the
// engine already classified is final.
func retryable(err error) bool {
	var e *shiftsync.Error
	if errors.As(err, &e) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01", codeUniqueViolation: // serialization_failure, deadlock_detected
		return true
	}
	return false
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	return tx.Exec(ctx, query, args...)
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	return tx.Query(ctx, query, args...)
}

func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return tx.QueryRow(ctx, query, args...)
}

// lock takes an advisory lock of the class on key until the transaction
// ends; in a read-only transaction it does nothing, as nothing is written.
func (tx *Tx) lock(ctx context.Context, class int, key string) error {
	if !tx.write {
		return nil
	}
	_, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, class, key)
	return err
}

// storageError classifies a driver error: an unreachable, overloaded or
// shutting-down server, a transaction refused for a concurrent one (after
// the retries) and a timeout are unavailable (retry later); anything else
// is internal.
func storageError(err error) error {
	if err == nil {
		return nil
	}
	var e *shiftsync.Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	unavailable := &shiftsync.Error{Code: shiftsync.CodeUnavailable, Message: "the store is busy or unreachable; retry later", Err: err}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention (shutdown, statement timeout)
			return unavailable
		case "40": // serialization failure, deadlock
			return unavailable
		case "25":
			if pgErr.Code == "25P03" { // idle_in_transaction_session_timeout
				return unavailable
			}
		}
		return &shiftsync.Error{Code: shiftsync.CodeInternal, Message: "internal error", Err: err}
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return unavailable
	}
	return &shiftsync.Error{Code: shiftsync.CodeInternal, Message: "internal error", Err: err}
}

// Constraint violations, by SQLSTATE.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeNotNullViolation    = "23502"
)

// isCode reports whether err is a PostgreSQL error of one of the codes.
func isCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}
