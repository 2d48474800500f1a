// Command shiftsyncd is the shiftsync sync server.
//
// Usage:
//
//	shiftsyncd serve   [-db FILE|DSN] [-state DIR] [-addr HOST:PORT] [-issuer ISS] [-audience AUD] [-tokens FILE] [-trusted-proxies CIDR,...] [-dev]
//	shiftsyncd migrate [-db FILE|DSN]
//	shiftsyncd admin   [-db FILE|DSN] [-state DIR] <command> [flags]
//
// serve applies pending migrations, then serves the sync, auth and admin
// APIs (Connect, gRPC and gRPC-Web) until SIGINT or SIGTERM, finishing
// in-flight requests before it exits. migrate only applies the migrations.
// admin manages organisations, services, people, users, memberships,
// enrolment codes, devices and signing keys, and verifies the audit log.
// serve and every admin command that writes sign the audit log's head with
// the audit key <db>.audit-key (created on first use) and append the heads
// to <db>.audit-heads; serve logs them too.
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
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shiftsyncd:", err)
		os.Exit(1)
	}
}

const usage = `usage: shiftsyncd <command> [flags]

commands:
  serve     migrate the database and serve the sync API
  migrate   apply pending migrations and exit
  admin     manage users, memberships, devices and keys; verify the audit log

run "shiftsyncd <command> -h" for a command's flags`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "serve":
		m := NewMain(stdout, stderr)
		if err := m.ParseFlags(args[1:]); err != nil {
			return err
		}
		if err := m.Open(ctx); err != nil {
			_ = m.Close()
			return err
		}
		<-ctx.Done()
		return m.Close()
	case "migrate":
		fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("db", "./data/shiftsync.db", dbUsage)
		if err := fs.Parse(args[1:]); err != nil {
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
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

// dbUsage is the -db flag's usage.
const dbUsage = "SQLite database file, or PostgreSQL database as postgres://user@host:port/name (created and migrated if missing)"

// stateUsage is the -state flag's usage.
const stateUsage = "directory of the audit key and heads file when -db is a PostgreSQL database"

// openStore returns the store a -db value names, and the path whose
// .audit-key and .audit-heads files are its audit key and heads: the
// SQLite file itself, or <state>/postgres.
func openStore(db, state string) (wiring.OpenStore, string) {
	if wiring.IsPostgres(db) {
		return wiring.Postgres(db), filepath.Join(state, "postgres")
	}
	return wiring.SQLite(db), db
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
	// ShutdownTimeout is how long Close waits for in-flight requests
	// before it closes their connections, and then again for their
	// handlers to return.
	ShutdownTimeout time.Duration

	stdout  io.Writer
	log     *slog.Logger
	srv     *wiring.Server // the store, services and handler
	server  *http.Server
	running requests // the requests in the server's handlers
	ln      net.Listener
	served  chan error
	stop    context.CancelFunc // stops the governance and audit loops
	done    chan struct{}      // closed when the governance loop has stopped
	sealer  *shiftsync.AuditSealer
	sealed  chan struct{} // closed when the audit loop has stopped
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
		stdout:          stdout,
		log:             slog.New(slog.NewTextHandler(stderr, nil)),
	}
}

// ParseFlags reads serve's flags.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&m.DBPath, "db", m.DBPath, dbUsage)
	fs.StringVar(&m.StateDir, "state", m.StateDir, stateUsage)
	fs.StringVar(&m.Addr, "addr", m.Addr, "address to listen on (port 0 picks a free port)")
	fs.StringVar(&m.TokensPath, "tokens", "", "JSON file of static test tokens: [{token, user_id, device_id, services}]; enrolled devices need none")
	fs.StringVar(&m.Issuer, "issuer", m.Issuer, "issuer (iss) of the access tokens, e.g. the server's public URL")
	fs.StringVar(&m.Audience, "audience", m.Audience, "audience (aud) of the access tokens")
	fs.BoolVar(&m.Dev, "dev", false, "seed a demo service with a support worker and print how to enrol a device and sync")
	fs.DurationVar(&m.EvaluateEvery, "evaluate-every", m.EvaluateEvery, "how often to evaluate the governance rules of every service (0: only when findings are listed)")
	fs.Func("trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client (default none: the peer's address is the source)", func(v string) error {
		m.TrustedProxies = nil
		for cidr := range strings.SplitSeq(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
			if err != nil {
				return err
			}
			m.TrustedProxies = append(m.TrustedProxies, p.Masked())
		}
		return nil
	})
	return fs.Parse(args)
}

// Open opens the store and starts serving. It returns once the server is
// listening.
func (m *Main) Open(ctx context.Context) error {
	store, auditPath := openStore(m.DBPath, m.StateDir)
	if err := os.MkdirAll(filepath.Dir(auditPath), 0o700); err != nil {
		return err
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
		Tokens: tokens, TrustedProxies: m.TrustedProxies,
	}); err != nil {
		return err
	}
	if m.sealer, err = openSealer(ctx, m.srv.Store.Audit, m.srv.Store.Engine.StoreID(), auditPath, shiftsync.AuditProcessServe, m.log, true); err != nil {
		return err
	}
	var demo *devSetup
	if m.Dev {
		if demo, err = seedDev(ctx, m.srv.Identity); err != nil {
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
	m.stop, m.done, m.sealed = stop, make(chan struct{}), make(chan struct{})
	go m.evaluateGovernance(loop)
	go func() {
		defer close(m.sealed)
		sealAudit(loop, m.sealer, time.Second, m.log)
	}()

	url := "http://" + m.ln.Addr().String()
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
	if m.EvaluateEvery <= 0 {
		return
	}
	tick := time.NewTicker(m.EvaluateEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		started := time.Now()
		n, err := m.srv.Governance.EvaluateAll(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "governance evaluation failed", "services", n, "error", err)
			continue
		}
		m.log.InfoContext(ctx, "governance evaluated", "services", n, "duration", time.Since(started).Round(time.Millisecond))
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
