package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/shiftsync/shiftsync/migrations"
	"github.com/shiftsync/shiftsync/server/schema"
)

// Protocol and schema versions this replica speaks, sent in every request's
// ClientInfo (see syncproto/shiftsync/sync/v1/sync.proto).
const (
	ProtocolVersion = 1
	SchemaVersion   = schema.Version
)

// MaxPushBatch is the most mutations sent in one push, the server's limit.
const MaxPushBatch = 1000

// MinSQLiteVersion is the oldest SQLite the replica runs on: 3.7.0 to 3.51.2
// can lose committed data when a write races a WAL checkpoint.
const MinSQLiteVersion = "3.51.3"

// maxIDBytes bounds device, service and person ids, as the server does.
const maxIDBytes = 128

// Clock is the device clock a Replica reads. Implement it to control time
// in tests; the default is the system clock.
type Clock interface {
	// NowUnixMilli returns the current time in milliseconds since the Unix
	// epoch.
	NowUnixMilli() int64
}

type systemClock struct{}

func (systemClock) NowUnixMilli() int64 { return time.Now().UnixMilli() }

// Replica is one device's SQLite replica: its records, outbox and sync
// state. It is safe for concurrent use; Sync, SyncEnrolled and Enrol calls
// run one at a time, and local writes made while a sync runs are kept and
// sent by the next one.
type Replica struct {
	path  string
	write *sql.DB // one connection: SQLite has one writer
	read  *sql.DB
	http  *http.Client

	mu         sync.Mutex // guards the fields below
	deviceID   string     // as stored; changed only by Enrol
	clock      Clock
	appVersion string
	timeout    time.Duration
	pageSize   uint32
	token      accessToken // the cached access token of an enrolled device

	syncMu sync.Mutex // one Sync or Enrol at a time

	skipChecks atomic.Bool // tests only: save changes the schema refuses, to see the server refuse them
}

// Open opens (creating and migrating if needed) the replica file at path for
// the device deviceID, the device id the server knows from this device's
// token. An existing replica keeps the device id it was created with, or
// the one [Replica.Enrol] gave it: deviceID may then be empty, and any other
// value is an error (code "invalid"), since versions written under one id
// would not match the server's. A new replica needs a deviceID; one that
// will enrol may take any provisional id, which Enrol replaces.
func Open(path, deviceID string) (*Replica, error) {
	if path == "" {
		return nil, invalidf("a replica path is required")
	}
	if len(deviceID) > maxIDBytes {
		return nil, invalidf("device id is longer than %d bytes", maxIDBytes)
	}
	r := &Replica{
		path:       path,
		clock:      systemClock{},
		appVersion: "shiftsync-replica",
		timeout:    60 * time.Second,
		http: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}},
	}
	var err error
	if r.write, err = sql.Open("sqlite3", dsn(path, true)); err != nil {
		return nil, fmt.Errorf("replica: open: %w", err)
	}
	r.write.SetMaxOpenConns(1)
	r.write.SetConnMaxLifetime(0)
	if err := r.init(deviceID); err != nil {
		_ = r.write.Close()
		return nil, err
	}
	if r.read, err = sql.Open("sqlite3", dsn(path, false)); err != nil {
		_ = r.write.Close()
		return nil, fmt.Errorf("replica: open readers: %w", err)
	}
	r.read.SetMaxOpenConns(4)
	return r, nil
}

// dsn returns the connection string for one pool; the driver sets every
// pragma on each connection it opens.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")  // readers (the UI) run beside a sync writing pulled pages
	q.Set("_synchronous", "FULL")  // fsync on commit: a logged record survives power loss
	q.Set("_foreign_keys", "on")   // fields and outbox entries always belong to a record
	q.Set("_busy_timeout", "5000") // wait for a checkpoint rather than fail a write
	// Keep the statements run most on each connection prepared: a pulled
	// page runs a few multi-row statements, each costly to prepare, once
	// per page (see execRows).
	q.Set("_stmt_cache_size", "64")
	if write {
		q.Set("_txlock", "immediate") // take the write lock at BEGIN: no failure half way through
	} else {
		q.Set("_query_only", "1") // the read pool can never write
	}
	return "file:" + path + "?" + q.Encode()
}

// init checks SQLite, applies migrations, records or checks the device id
// and builds the integrity digests if a migration left them unbuilt.
func (r *Replica) init(deviceID string) error {
	ctx := context.Background()
	var v string
	if err := r.write.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v); err != nil {
		return fmt.Errorf("replica: sqlite version: %w", err)
	}
	if compareVersions(v, MinSQLiteVersion) < 0 {
		return fmt.Errorf("replica: sqlite %s is older than %s, which fixes a WAL data-loss bug", v, MinSQLiteVersion)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, r.write, migrations.Replica)
	if err != nil {
		return fmt.Errorf("replica: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("replica: migrate: %w", err)
	}
	if err := r.writeTx(ctx, func(tx *sql.Tx) error {
		var stored string
		err := tx.QueryRowContext(ctx, `SELECT device_id FROM device WHERE id = 1`).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if deviceID == "" {
				return invalidf("a new replica needs a device id")
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO device (id, device_id, created_at) VALUES (1, ?, ?)`,
				deviceID, time.Now().UnixMilli())
			r.deviceID = deviceID
			return err
		case err != nil:
			return err
		case deviceID != "" && deviceID != stored:
			return invalidf("replica %s belongs to device %q, not %q", r.path, stored, deviceID)
		}
		r.deviceID = stored
		return nil
	}); err != nil {
		return err
	}
	return r.writeTx(ctx, func(tx *sql.Tx) error {
		var built bool
		if err := tx.QueryRowContext(ctx, `SELECT digests_built FROM device WHERE id = 1`).Scan(&built); err != nil || built {
			return err
		}
		return rebuildDigests(ctx, tx)
	})
}

// Close closes the database. The replica must not be used after.
func (r *Replica) Close() error {
	r.http.CloseIdleConnections()
	var errs []error
	if r.read != nil {
		errs = append(errs, r.read.Close())
	}
	errs = append(errs, r.write.Close())
	return errors.Join(errs...)
}

// DeviceID returns the id of the device this replica belongs to: the one it
// was opened with, or the server's after [Replica.Enrol].
func (r *Replica) DeviceID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deviceID
}

// Path returns the replica's database file.
func (r *Replica) Path() string { return r.path }

// SetClock replaces the device clock; nil restores the system clock.
func (r *Replica) SetClock(c Clock) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c == nil {
		c = systemClock{}
	}
	r.clock = c
}

// SetAppVersion sets the app version sent with every request (kept with
// each mutation on the server, for diagnosis).
func (r *Replica) SetAppVersion(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appVersion = v
}

// SetTimeoutMillis sets how long one request of a sync may take before it
// is abandoned (and the sync fails with code "unavailable"); ms <= 0
// restores the default, 60 seconds.
func (r *Replica) SetTimeoutMillis(ms int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timeout = time.Duration(ms) * time.Millisecond
	if ms <= 0 {
		r.timeout = 60 * time.Second
	}
}

// SetPullPageSize sets how many changes one pull asks for; 0 (the default)
// leaves it to the server (1,000), and the server caps it at 5,000.
func (r *Replica) SetPullPageSize(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pageSize = uint32(max(0, min(n, 5000)))
}

// nowMS reads the device clock: the raw local time, used for bookkeeping
// (when a change was made, when the last sync ran).
func (r *Replica) nowMS() int64 {
	r.mu.Lock()
	c := r.clock
	r.mu.Unlock()
	return c.NowUnixMilli()
}

func (r *Replica) settings() (appVersion string, timeout time.Duration, pageSize uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.appVersion, r.timeout, r.pageSize
}

// writeTx runs fn in one write transaction, committed (and fsynced) when fn
// returns nil and rolled back otherwise.
func (r *Replica) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := r.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("replica: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replica: commit: %w", err)
	}
	return nil
}

// readTx runs fn in one read-only transaction, so it sees one snapshot.
func (r *Replica) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := r.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("replica: begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// queryer is what both *sql.Tx and *sql.DB offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// compareVersions compares dotted numeric versions.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
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
