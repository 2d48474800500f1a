// Package sqlite implements the shiftsync services on an embedded SQLite
// database (mattn/go-sqlite3). It holds one write connection, because SQLite
// has one writer and serialising in the pool avoids busy errors, a pool of
// read connections, which WAL lets run beside the writer, and one read
// connection for the device check of every request.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/shiftsync/shiftsync/migrations"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// MinSQLiteVersion is the oldest SQLite this store runs on: 3.7.0 to 3.51.2
// can lose committed data when a write races a WAL checkpoint.
const MinSQLiteVersion = "3.51.3"

// DB is a shiftsync SQLite store.
type DB struct {
	// Path is the database file. Set before Open.
	Path string
	// Now is the clock; tests replace it. Defaults to time.Now.
	Now func() time.Time
	// Logger receives diagnostics; defaults to slog.Default().
	Logger *slog.Logger

	write *sql.DB
	read  *sql.DB
	// devices is a read connection of its own for the device check every
	// request makes ([IdentityService.CheckDevice]): it never waits behind
	// the read pool's pull transactions, and it reads the devices table as
	// committed, by this process or another, so a revocation refuses the
	// next call.
	devices *sql.DB
	storeID string
	commits atomic.Int64
}

// NewDB returns a DB for the file at path. It does no I/O: call Open.
func NewDB(path string) *DB {
	return &DB{Path: path, Now: time.Now, Logger: slog.Default()}
}

// dsn returns the connection string for one pool. Every pragma is set per
// connection by the driver.
func (db *DB) dsn(write bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")  // readers run beside the writer
	q.Set("_synchronous", "FULL")  // fsync the WAL on commit: an acknowledged push survives power loss
	q.Set("_foreign_keys", "on")   // the schema's references are checked
	q.Set("_busy_timeout", "5000") // wait for checkpoints rather than fail
	if write {
		q.Set("_txlock", "immediate") // take the write lock at BEGIN, so a transaction never fails half way on upgrade
	} else {
		q.Set("_query_only", "1") // the read pool can never write
	}
	return "file:" + db.Path + "?" + q.Encode()
}

// Open opens the database, checks the SQLite version, applies pending
// migrations and builds the integrity digests if a migration left them
// unbuilt.
func (db *DB) Open() error {
	if db.Path == "" {
		return errors.New("sqlite: path required")
	}
	var err error
	if db.write, err = sql.Open("sqlite3", db.dsn(true)); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxLifetime(0)
	ctx := context.Background()
	if err := checkVersion(ctx, db.write); err != nil {
		_ = db.write.Close()
		return err
	}
	if err := db.migrate(ctx); err != nil {
		_ = db.write.Close()
		return err
	}
	if db.read, err = sql.Open("sqlite3", db.dsn(false)); err != nil {
		_ = db.write.Close()
		return fmt.Errorf("sqlite: open readers: %w", err)
	}
	db.read.SetMaxOpenConns(8)
	if db.devices, err = sql.Open("sqlite3", db.dsn(false)); err != nil {
		_ = db.Close()
		return fmt.Errorf("sqlite: open the device check: %w", err)
	}
	db.devices.SetMaxOpenConns(1)
	db.devices.SetMaxIdleConns(1)
	db.devices.SetConnMaxLifetime(0)
	if err := db.write.QueryRowContext(ctx, `SELECT store_id FROM store WHERE id = 1`).Scan(&db.storeID); err != nil {
		_ = db.Close()
		return fmt.Errorf("sqlite: read store id: %w", err)
	}
	if err := shiftsync.BuildDigests(ctx, db); err != nil {
		_ = db.Close()
		return fmt.Errorf("sqlite: build the integrity digests: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.devices != nil {
		errs = append(errs, db.devices.Close())
	}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// StoreID implements [shiftsync.Store].
func (db *DB) StoreID() string { return db.storeID }

// Migrate applies every pending migration to the database at path and returns
// the versions applied. It is what `shiftsyncd migrate` runs; Open does the
// same.
func Migrate(ctx context.Context, path string) ([]int64, error) {
	db := NewDB(path)
	var err error
	if db.write, err = sql.Open("sqlite3", db.dsn(true)); err != nil {
		return nil, err
	}
	defer db.write.Close()
	db.write.SetMaxOpenConns(1)
	if err := checkVersion(ctx, db.write); err != nil {
		return nil, err
	}
	return db.up(ctx)
}

func (db *DB) migrate(ctx context.Context) error {
	applied, err := db.up(ctx)
	for _, v := range applied {
		db.Logger.Info("applied migration", "version", v)
	}
	return err
}

func (db *DB) up(ctx context.Context) ([]int64, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, migrations.Server)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	var versions []int64
	for _, r := range results {
		versions = append(versions, r.Source.Version)
	}
	if err != nil {
		return versions, fmt.Errorf("sqlite: migrate: %w", err)
	}
	return versions, nil
}

// checkVersion refuses SQLite builds older than MinSQLiteVersion.
func checkVersion(ctx context.Context, db *sql.DB) error {
	var v string
	if err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: version: %w", err)
	}
	if compareVersions(v, MinSQLiteVersion) < 0 {
		return fmt.Errorf("sqlite: version %s is older than %s, which fixes a WAL data-loss bug", v, MinSQLiteVersion)
	}
	return nil
}

// compareVersions compares dotted numeric versions.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Tx is a write transaction with the time fixed at its start. Its exec,
// query and queryRow prepare each statement once per transaction, so a push
// of many mutations does not re-parse the same SQL for each.
type Tx struct {
	*sql.Tx
	db    *DB
	now   time.Time
	stmts map[string]*sql.Stmt
}

// Update implements [shiftsync.Store]. SQLite has one writer, serialised
// in the write pool, so fn runs once.
func (db *DB) Update(ctx context.Context, fn func(shiftsync.Tx) error) error {
	return db.update(ctx, func(tx *Tx) error { return fn(tx) })
}

// View implements [shiftsync.Store] on the read pool, whose connections
// cannot write.
func (db *DB) View(ctx context.Context, fn func(shiftsync.Tx) error) error {
	sqlTx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storageError(err)
	}
	tx := &Tx{Tx: sqlTx, db: db, now: db.Now().UTC(), stmts: map[string]*sql.Stmt{}}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return storageError(err)
	}
	return storageError(tx.Commit())
}

// update runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return storageError(err)
	}
	if err := tx.Commit(); err != nil {
		return storageError(err)
	}
	db.commits.Add(1)
	return nil
}

// Commits returns how many write transactions the store has committed
// since it opened: each is one fsync of the write-ahead log (one that
// changed nothing writes nothing, and may not).
func (db *DB) Commits() int64 { return db.commits.Load() }

// beginAttempts bounds how many times beginTx asks for the write lock,
// each waiting up to the busy timeout.
const beginAttempts = 4

// beginTx starts a write transaction. The write lock is taken at BEGIN
// (_txlock=immediate), so a busy answer there means nothing was done: when
// another process holds the lock through a whole busy timeout (an admin
// command beside a busy server, which SQLite's busy handler does not queue
// fairly), it asks again, up to beginAttempts times while ctx allows.
func (db *DB) beginTx(ctx context.Context) (*Tx, error) {
	var err error
	for range beginAttempts {
		var tx *sql.Tx
		if tx, err = db.write.BeginTx(ctx, nil); err == nil {
			return &Tx{Tx: tx, db: db, now: db.Now().UTC(), stmts: map[string]*sql.Stmt{}}, nil
		}
		if err = storageError(err); shiftsync.ErrorCode(err) != shiftsync.CodeUnavailable || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// stmt returns the transaction's prepared statement for query. Statements
// are closed with the transaction.
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := tx.stmts[query]; ok {
		return s, nil
	}
	s, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	tx.stmts[query] = s
	return s, nil
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// queryRow is QueryRowContext on the prepared statement; a preparation
// error surfaces from Scan.
func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := tx.stmt(ctx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...) // reports the same error on Scan
	}
	return s.QueryRowContext(ctx, args...)
}

// storageError classifies a driver error: busy and locked databases are
// unavailable (retry later), anything else is internal.
func storageError(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked || se.Code == sqlite3.ErrFull) {
		return &shiftsync.Error{Code: shiftsync.CodeUnavailable, Message: "the store is busy; retry later", Err: err}
	}
	var e *shiftsync.Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &shiftsync.Error{Code: shiftsync.CodeInternal, Message: "internal error", Err: err}
}

// isConstraint reports whether err is a SQLite constraint failure of one of
// the given extended codes.
func isConstraint(err error, codes ...sqlite3.ErrNoExtended) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && slices.Contains(codes, se.ExtendedCode)
}
