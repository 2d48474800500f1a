// Command shiftsyncd is the shiftsync sync server.
//
// Usage:
//
//	shiftsyncd serve   [-db FILE|DSN] [-state DIR] [-addr HOST:PORT] [-issuer ISS] [-audience AUD] [-tokens FILE] [-trusted-proxies CIDR,...] [-dev] ...
//	shiftsyncd migrate [-db FILE|DSN]
//	shiftsyncd admin   [-db FILE|DSN] [-state DIR] <command> [flags]
//	shiftsyncd help
//
// Every flag of serve, migrate and admin can also be set by the
// environment variable SHIFTSYNC_ and its name in upper snake case
// (-trusted-proxies: SHIFTSYNC_TRUSTED_PROXIES); a flag given on the
// command line wins over its variable, which wins over the default. The
// flags of one admin command are its arguments, from the command line only.
// -h prints a command's flags and exits 0; a wrong command or flag exits 2.
//
// serve applies pending migrations, then serves the sync, auth and admin
// APIs (Connect, gRPC and gRPC-Web) until SIGINT or SIGTERM, finishing
// in-flight requests before it exits; it logs what it serves and where its
// data is on start, and that it stopped cleanly. migrate only applies the
// migrations. admin manages organisations, services, people, users,
// memberships, enrolment codes, devices and signing keys, and verifies the
// audit log. serve and every admin command that writes sign the audit log's
// head with the audit key <db>.audit-key (created on first use) and append
// the heads to <db>.audit-heads; serve logs them too.
//
// -db is a SQLite database file, or a PostgreSQL database when it starts
// with postgres:// or postgresql:// (several serve processes may share
// one). With PostgreSQL the audit key and heads are kept in the -state
// directory, as <state>/postgres.audit-key and <state>/postgres.audit-heads.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/bearer"
	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/rpc"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/wiring"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		os.Exit(2) // run has printed the error and the usage
	default:
		fmt.Fprintln(os.Stderr, "shiftsyncd:", err)
		os.Exit(1)
	}
}

const usage = `usage: shiftsyncd <command> [flags]

commands:
  serve     migrate the database and serve the sync API
  migrate   apply pending migrations and exit
  admin     manage users, memberships, devices and keys; back up the
            database; verify the audit log
  help      print this help

run "shiftsyncd <command> -h" for a command's flags and their environment
variables (SHIFTSYNC_<FLAG>: a flag given wins over its variable, which wins
over the default)`

const serveUsage = `usage: shiftsyncd serve [flags]

Apply pending migrations to the database, then serve the sync, auth, admin
and review APIs (Connect, gRPC and gRPC-Web) until SIGINT or SIGTERM,
finishing in-flight requests before exiting.`

const migrateUsage = `usage: shiftsyncd migrate [flags]

Apply pending migrations to the database and exit.`

// run runs the shiftsyncd command of args. A [usageError] it returns has
// been printed with the usage on stderr; [flag.ErrHelp] means help was
// asked for and printed on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError{errors.New("no command given")}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "serve":
		m := NewMain(stdout, stderr)
		if err := parseConfig(m.FlagSet(), serveUsage, args[1:], stdout, stderr); err != nil {
			return err
		}
		if err := m.Open(ctx); err != nil {
			_ = m.Close()
			return err
		}
		<-ctx.Done()
		m.log.Info("stopping: finishing the requests in flight", "timeout", m.ShutdownTimeout)
		if err := m.Close(); err != nil {
			m.log.Error("stopped, not cleanly", "error", err)
			return err
		}
		m.log.Info("stopped cleanly", "database", m.DBPath)
		return nil
	case "migrate":
		fs, path := migrateFlags()
		if err := parseConfig(fs, migrateUsage, args[1:], stdout, stderr); err != nil {
			return err
		}
		var (
			applied []int64
			err     error
		)
		if wiring.IsPostgres(*path) {
			applied, err = postgres.Migrate(ctx, *path)
		} else {
			if err := os.MkdirAll(filepath.Dir(*path), 0o700); err != nil {
				return err
			}
			applied, err = sqlite.Migrate(ctx, *path)
		}
		fmt.Fprintf(stdout, "applied %d migrations to %s\n", len(applied), displayDB(*path))
		return err
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "shiftsyncd: unknown command %q\n%s\n", args[0], usage)
		return usageError{fmt.Errorf("unknown command %q", args[0])}
	}
}

// migrateFlags returns migrate's flags.
func migrateFlags() (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	return fs, fs.String("db", "./data/shiftsync.db", dbUsage)
}

// dbUsage is the -db flag's usage.
const dbUsage = "SQLite database `file`, or PostgreSQL database as postgres://user@host:port/name (created and migrated if missing)"

// stateUsage is the -state flag's usage.
const stateUsage = "`directory` of the audit key and heads file when -db is a PostgreSQL database"

// openStore returns the store a -db value names, and the path whose
// .audit-key and .audit-heads files are its audit key and heads: the
// SQLite file itself, or <state>/postgres.
func openStore(db, state string) (wiring.OpenStore, string) {
	if wiring.IsPostgres(db) {
		return wiring.Postgres(db), filepath.Join(state, "postgres")
	}
	return wiring.SQLite(db), db
}

// storeKind names the store a -db value opens, for the log.
func storeKind(db string) string {
	if wiring.IsPostgres(db) {
		return "postgres"
	}
	return "sqlite"
}

// displayDB returns a -db value fit for output: a DSN without its password.
func displayDB(db string) string {
	if !wiring.IsPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "a PostgreSQL database (unparsable DSN)"
	}
	return u.Redacted()
}

// Main is the running server: its configuration, its store and its HTTP
// server.
type Main struct {
	DBPath     string // a SQLite file or a PostgreSQL DSN
	StateDir   string // the audit key and heads' directory with PostgreSQL
	Addr       string
	TokensPath string
	Issuer     string // the access tokens' iss claim
	Audience   string // the access tokens' aud claim
	Dev        bool   // seed a demo service and print how to enrol and sync
	// EvaluateEvery is how often the governance rules are evaluated for
	// every service (0: only when a reviewer lists findings).
	EvaluateEvery time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client, for the per-source limits (see [rpc.Edge]).
	TrustedProxies []netip.Prefix
	// BackupDir is where serve writes its backups, every BackupEvery (0:
	// none), keeping the newest BackupKeep (0: all).
	BackupDir   string
	BackupEvery time.Duration
	BackupKeep  int
	// MetricsToken is the bearer token GET /metrics asks for; without one
	// it answers loopback callers only.
	MetricsToken string
	// MaxInFlight bounds the calls answered at once; beyond it a call is
	// refused unavailable within half a second, with a retry delay.
	MaxInFlight int
	// Roster is how long around their shifts a support worker's phone
	// holds the people the shifts cover.
	Roster shiftsync.RosterWindow
	// ShutdownTimeout is how long Close waits for in-flight requests
	// before it closes their connections, and then again for their
	// handlers to return.
	ShutdownTimeout time.Duration

	stdout   io.Writer
	log      *slog.Logger
	srv      *wiring.Server // the store, services and handler
	server   *http.Server
	running  requests // the requests in the server's handlers
	ln       net.Listener
	served   chan error
	stop     context.CancelFunc // stops the governance and audit loops
	done     chan struct{}      // closed when the governance loop has stopped
	backedUp chan struct{}      // closed when the backup loop has stopped
	sealer   *shiftsync.AuditSealer
	sealed   chan struct{} // closed when the audit loop has stopped
	lock     *dbLock       // held on a SQLite database until Close
}

// NewMain returns a Main with default configuration, writing its start-up
// banner to stdout and logs to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{
		DBPath:          "./data/shiftsync.db",
		StateDir:        "./data",
		Addr:            "127.0.0.1:8080",
		Issuer:          "shiftsync",
		Audience:        "shiftsync",
		EvaluateEvery:   5 * time.Minute,
		ShutdownTimeout: 10 * time.Second,
		MaxInFlight:     rpc.DefaultMaxInFlight,
		Roster:          shiftsync.DefaultRosterWindow,
		stdout:          stdout,
		log:             slog.New(slog.NewTextHandler(stderr, nil)),
	}
}

// ParseFlags reads serve's flags from args, and from their environment
// variables (see [parseConfig]); it prints nothing.
func (m *Main) ParseFlags(args []string) error {
	return parseConfig(m.FlagSet(), serveUsage, args, io.Discard, io.Discard)
}

// FlagSet returns serve's flags, set into m.
func (m *Main) FlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&m.DBPath, "db", m.DBPath, dbUsage)
	fs.StringVar(&m.StateDir, "state", m.StateDir, stateUsage)
	fs.StringVar(&m.Addr, "addr", m.Addr, "`address` to listen on (port 0 picks a free port)")
	fs.StringVar(&m.TokensPath, "tokens", "", "JSON `file` of static test tokens: [{token, user_id, device_id, services}]; enrolled devices need none")
	fs.StringVar(&m.Issuer, "issuer", m.Issuer, "issuer (iss) of the access tokens, e.g. the server's public URL")
	fs.StringVar(&m.Audience, "audience", m.Audience, "audience (aud) of the access tokens")
	fs.BoolVar(&m.Dev, "dev", false, "seed a demo service with a support worker and print how to enrol a device and sync")
	fs.DurationVar(&m.EvaluateEvery, "evaluate-every", m.EvaluateEvery, "how often to evaluate the governance rules of every service (0: only when findings are listed)")
	fs.StringVar(&m.BackupDir, "backup-dir", "", "`directory` for the backups -backup-every takes (created if missing)")
	fs.DurationVar(&m.BackupEvery, "backup-every", 0, "how often to take a backup into -backup-dir (0: never; see admin backup)")
	fs.IntVar(&m.BackupKeep, "backup-keep", 0, "how many of the newest backups in -backup-dir to keep; older ones are removed (0: all)")
	fs.StringVar(&m.MetricsToken, "metrics-token", "", "bearer `token` GET /metrics asks for (default none: metrics are served to loopback callers only); prefer $SHIFTSYNC_METRICS_TOKEN, as arguments are visible to every user of the host")
	fs.IntVar(&m.MaxInFlight, "max-in-flight", m.MaxInFlight, "calls answered at once; a call beyond it waits at most half a second for a place, then is refused unavailable with Retry-After, rather than queued past its deadline (Subscribe streams are not counted)")
	fs.DurationVar(&m.Roster.Before, "roster-before", m.Roster.Before, "how long before a rostered shift starts a support worker's phone receives the people it covers, in a service that keeps a rota")
	fs.DurationVar(&m.Roster.After, "roster-after", m.Roster.After, "how long after a rostered shift ends its people stay on the phone; then they are purged once its outbox for them is pushed")
	fs.DurationVar(&m.Roster.KeepWrites, "roster-keep-writes", m.Roster.KeepWrites, "how long after a shift's window a write stamped inside it is still accepted (flagged for review); later it is quarantined")
	fs.DurationVar(&m.ShutdownTimeout, "shutdown-timeout", m.ShutdownTimeout, "how long to wait for in-flight requests on SIGINT or SIGTERM")
	fs.Var((*prefixList)(&m.TrustedProxies), "trusted-proxies", "comma-separated `CIDRs` of reverse proxies whose X-Forwarded-For names the client (default none: the peer's address is the source)")
	return fs
}

// Open opens the store and starts serving. It returns once the server is
// listening. When it fails, Close releases what it had taken (the store,
// the database's lock).
func (m *Main) Open(ctx context.Context) error {
	if !wiring.IsPostgres(m.DBPath) {
		if err := os.MkdirAll(filepath.Dir(m.DBPath), 0o700); err != nil {
			return err
		}
		var err error
		if m.lock, err = lockDB(m.DBPath, "shiftsyncd serve"); err != nil {
			return err
		}
	}
	if from, err := os.ReadFile(unfinishedRestore(m.DBPath)); err == nil {
		return fmt.Errorf("a restore of %s from %s did not finish, so its new epoch has not started and phones would not re-push what the backup lacks: run shiftsyncd admin restore again", m.DBPath, strings.TrimSpace(string(from)))
	}
	store, auditPath := openStore(m.DBPath, m.StateDir)
	if err := os.MkdirAll(filepath.Dir(auditPath), 0o700); err != nil {
		return err
	}
	if m.BackupEvery > 0 {
		if wiring.IsPostgres(m.DBPath) {
			return errors.New("-backup-every backs up a SQLite store: back PostgreSQL up with its own tools (pg_basebackup, WAL archiving)")
		}
		if m.BackupDir == "" {
			return errors.New("-backup-every needs -backup-dir")
		}
		if err := os.MkdirAll(m.BackupDir, 0o700); err != nil {
			return err
		}
	}
	tokens := &bearer.Tokens{}
	var err error
	if m.TokensPath != "" {
		if tokens, err = bearer.Load(m.TokensPath); err != nil {
			return err
		}
	}
	if m.srv, err = wiring.Open(wiring.Config{
		Store: store, Logger: m.log, Issuer: m.Issuer, Audience: m.Audience,
		Tokens: tokens, TrustedProxies: m.TrustedProxies, MetricsToken: m.MetricsToken, MaxInFlight: m.MaxInFlight,
		Roster: m.Roster,
	}); err != nil {
		return err
	}
	if m.sealer, err = openSealer(ctx, m.srv.Store.Audit, m.srv.Store.Engine.StoreID(), auditPath, shiftsync.AuditProcessServe, m.log, true); err != nil {
		return err
	}
	var demo *devSetup
	if m.Dev {
		if demo, err = seedDev(ctx, m.srv.Identity, m.srv.Admin, m.srv.Sync); err != nil {
			return err
		}
	}

	m.server = rpc.NewServer(m.srv.Handler)
	m.server.Handler = m.running.track(m.server.Handler)
	m.server.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	m.server.RegisterOnShutdown(m.srv.Feed.Close) // end Subscribe streams so shutdown need not wait for them
	if m.ln, err = net.Listen("tcp", m.Addr); err != nil {
		return err
	}
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(m.ln) }()

	loop, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop, m.done, m.sealed, m.backedUp = stop, make(chan struct{}), make(chan struct{}), make(chan struct{})
	go m.evaluateGovernance(loop)
	go m.backupLoop(loop)
	go func() {
		defer close(m.sealed)
		sealAudit(loop, m.sealer, time.Second, m.log)
	}()

	url := "http://" + m.ln.Addr().String()
	metrics := "loopback callers only"
	if m.MetricsToken != "" {
		metrics = "callers with the metrics token"
	}
	m.log.Info("serving", "address", m.ln.Addr().String(), "store", storeKind(m.DBPath), "database", displayDB(m.DBPath),
		"audit_key", auditfile.KeyPath(auditPath), "audit_heads", auditfile.HeadsPath(auditPath), "metrics", url+"/metrics", "metrics_to", metrics)
	switch {
	case m.BackupEvery > 0:
		m.log.Info("backups scheduled", "dir", m.BackupDir, "every", m.BackupEvery, "keep", m.BackupKeep)
	case m.BackupDir != "":
		m.log.Warn("-backup-dir is set and -backup-every is not: no backups are scheduled", "dir", m.BackupDir)
	}
	m.logLastBackup(ctx)
	fmt.Fprintf(m.stdout, "shiftsyncd listening on %s (database %s)\n", url, displayDB(m.DBPath))
	if demo != nil {
		demo.print(m.stdout, url)
	}
	return nil
}

// evaluateGovernance evaluates every service's governance rules every
// EvaluateEvery until ctx ends, logging what it did; an error is logged and
// the next round tries again.
func (m *Main) evaluateGovernance(ctx context.Context) {
	defer close(m.done)
	every(ctx, m.EvaluateEvery, func() {
		started := time.Now()
		n, err := m.srv.Governance.EvaluateAll(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "governance evaluation failed", "services", n, "error", err)
			return
		}
		m.log.InfoContext(ctx, "governance evaluated", "services", n, "duration", time.Since(started).Round(time.Millisecond))
	})
}

// every runs fn each period d until ctx ends, the first time d from now;
// never when d is not positive.
func every(ctx context.Context, d time.Duration, fn func()) {
	if d <= 0 {
		return
	}
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// URL returns the base URL the server listens on.
func (m *Main) URL() string { return "http://" + m.ln.Addr().String() }

// Close stops accepting requests, waits up to ShutdownTimeout for in-flight
// ones (Subscribe streams are cut), then closes their connections and
// waits as long again for their handlers to return; it signs the final
// audit head only once no handler can write an audit entry after it, and
// closes the store. Handlers that do not return leave the run without a
// final head (verify-audit reports its tail as uncovered, not forged).
func (m *Main) Close() error {
	var errs []error
	if m.stop != nil {
		m.stop()
		<-m.done
		<-m.backedUp
		<-m.sealed
	}
	quiet := true
	if m.served != nil { // serving: Open got as far as the listener
		ctx, cancel := context.WithTimeout(context.Background(), m.ShutdownTimeout)
		defer cancel()
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, m.server.Close())
		}
		if err := <-m.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		if quiet = m.running.wait(m.ShutdownTimeout); !quiet {
			err := errors.New("requests still running after shutdown: the final audit head is not signed, and verify-audit reports this run's last entries as uncovered")
			m.log.Error(err.Error())
			errs = append(errs, err)
		}
	}
	if m.srv != nil {
		m.srv.CloseHandler()
	}
	if m.sealer != nil && quiet {
		_, err := m.sealer.Close(context.Background())
		errs = append(errs, err)
	}
	if m.srv != nil {
		errs = append(errs, m.srv.Close())
	}
	errs = append(errs, m.lock.Release())
	return errors.Join(errs...)
}

// requests counts the requests in a handler, so that Close can wait for
// them to return: a request that commits after the final audit head would
// read as entries forged while no server ran.
type requests struct {
	mu     sync.Mutex
	closed bool // no request enters after wait begins
	wg     sync.WaitGroup
}

// track returns h, counted; once wait has begun it answers 503.
func (r *requests) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		r.wg.Add(1)
		r.mu.Unlock()
		defer r.wg.Done()
		h.ServeHTTP(w, req)
	})
}

// wait waits up to timeout for every tracked request to return, and
// reports whether they did.
func (r *requests) wait(timeout time.Duration) bool {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
