// Package wiring builds a shiftsync server from a [Config]: it opens the
// store ([SQLite], or another store's [OpenStore]), builds the engine over it (shiftsync.Sync…) and joins the
// adapters (sqlite, jwt, bearer, inmem, rpc) into the services and the
// HTTP handler they serve. It is the one place
// that does so: shiftsyncd serve and the shiftsynctest harness both call
// [Open], so tests run the server that production runs.
//
// What belongs to a process stays with it: the listener and http.Server,
// the audit sealer, the governance loop, signals, flags.
package wiring

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/bearer"
	"github.com/shiftsync/shiftsync/server/console"
	"github.com/shiftsync/shiftsync/server/inmem"
	"github.com/shiftsync/shiftsync/server/jwt"
	"github.com/shiftsync/shiftsync/server/rpc"
	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Config is what a server is built from. Only Store is required.
type Config struct {
	// Store opens the store the server is built on: [SQLite] for the
	// embedded one.
	Store OpenStore
	// Now is the clock of the store, the access tokens and the handler;
	// defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Issuer and Audience are the iss and aud claims of the signed access
	// tokens.
	Issuer, Audience string
	// Tokens are the static test tokens, checked before the signed ones;
	// Open sets their Next. Nil means none (an empty table is made).
	Tokens *bearer.Tokens
	// Heartbeat is the Subscribe streams' heartbeat; defaults to
	// rpc.DefaultHeartbeat.
	Heartbeat time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client (see [rpc.Edge]).
	TrustedProxies []netip.Prefix
	// MetricsToken is the bearer token GET /metrics asks for; without one
	// it answers loopback callers only (see [rpc.Metrics.Handler]).
	MetricsToken string
	// MaxInFlight bounds the calls answered at once (see
	// [rpc.Config.MaxInFlight]); 0 means rpc.DefaultMaxInFlight.
	MaxInFlight int
	// Roster is how long around their shifts a rostered support worker's
	// phone holds the people the shifts cover (see
	// [shiftsync.Scope.Rostered]); zero means
	// [shiftsync.DefaultRosterWindow].
	Roster shiftsync.RosterWindow
}

// Server is a built server: its open store, its services and its handler.
type Server struct {
	Store    Store
	Schema   *shiftsync.Schema
	Identity shiftsync.IdentityStore
	Issuer   *jwt.Tokens    // the signed access tokens
	Tokens   *bearer.Tokens // the static tokens, then Issuer: what the handler verifies
	Feed     *inmem.Feed
	Sync     *shiftsync.Sync
	Review   *shiftsync.Review
	// Governance evaluates the governance rules, one evaluation at a time.
	Governance *shiftsync.Governance
	Admin      shiftsync.Admin
	// Console signs reviewers in to the manager console at /console/.
	Console shiftsync.Console
	// Metrics are what GET /metrics serves; the process adds to them what
	// it does itself (backups).
	Metrics *rpc.Metrics
	Handler *rpc.Handler

	handlerOnce   sync.Once
	stopRelay     func()
	identityCache *shiftsync.IdentityCache
	rosterScope   *shiftsync.RosterScope
}

// Open opens the store with c.Store and builds the services and the
// handler over it. The caller serves Handler (rpc.NewServer) and calls
// Close when the HTTP server has stopped.
//
// Access is decided the same way everywhere: sync, review and the
// Subscribe streams accept a static token's services ([shiftsync.TokenScope]),
// while administration takes its authority from memberships only
// (the identity service), so a static test token never administers.
func Open(c Config) (*Server, error) {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	st, err := c.Store(now, log)
	if err != nil {
		return nil, err
	}
	s := &Server{Store: st, Identity: st.Identities, Tokens: c.Tokens, Feed: &inmem.Feed{}, stopRelay: func() {}}
	var stats rpc.StatsSource
	if st.Ops != nil {
		stats = &shiftsync.Monitor{Store: st.Ops, Now: now}
	}
	s.Metrics = rpc.NewMetrics(stats)
	if st.Commits != nil {
		s.Metrics.CountCommits(st.Commits)
	}
	st.Engine = timedStore{st.Engine, s.Metrics}
	s.Store = st
	var feed shiftsync.ChangeFeed = s.Feed
	if st.Relay != nil {
		feed, s.stopRelay = st.Relay(s.Feed, s.Feed.WakeAll)
	}
	// Tokens and scopes are checked on every call: from memory, dropped
	// at once on every change made here or published by another instance.
	cache := shiftsync.NewIdentityCache(st.Identities, feed, 0)
	s.Identity, s.identityCache = cache, cache
	if s.Schema, err = schema.Records(); err != nil {
		cache.Close()
		_ = st.Close()
		return nil, err
	}
	s.Issuer = jwt.New(jwt.Config{Issuer: c.Issuer, Audience: c.Audience, Keys: s.Identity, Devices: s.Identity, Now: c.Now})
	if s.Tokens == nil {
		s.Tokens = &bearer.Tokens{}
	}
	s.Tokens.Next = s.Issuer
	window := c.Roster
	if window == (shiftsync.RosterWindow{}) {
		window = shiftsync.DefaultRosterWindow
	}
	s.rosterScope = shiftsync.NewRosterScope(s.Identity, st.Engine, feed, window, now, 0)
	scoped := shiftsync.TokenScope{Next: s.rosterScope}
	s.Sync = &shiftsync.Sync{Store: st.Engine, Schema: s.Schema, Access: scoped, Now: now, Feed: feed, Keys: s.Identity}
	s.Governance = &shiftsync.Governance{Store: st.Engine, Now: now}
	s.Review = &shiftsync.Review{Store: st.Engine, Schema: s.Schema, Access: scoped, Now: now, Governance: s.Governance}
	s.Admin = shiftsync.Admin{Store: s.Identity, Access: s.Identity, Audit: st.Audit, Now: now}
	s.Console = shiftsync.Console{Store: st.Engine, Access: s.Identity, Redeems: s.Admin.RedeemsEnrolmentCode, Schema: s.Schema, Now: now,
		NewDeviceID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	s.Handler = rpc.NewHandler(rpc.Config{
		Sync: s.Sync, Tokens: s.Tokens, Access: scoped, Feed: feed, Audit: st.Audit,
		Identity: s.Identity, Issuer: s.Issuer,
		Admin:  s.Admin,
		Review: s.Review, Health: st.Health,
		Heartbeat: c.Heartbeat, Now: c.Now, Logger: log, TrustedProxies: c.TrustedProxies,
		Metrics: s.Metrics, MetricsToken: c.MetricsToken, MaxInFlight: c.MaxInFlight,
		Console:        console.New(console.Config{Review: s.Review, Console: s.Console, Admin: s.Admin, Logger: log}),
		ConsoleUploads: []string{console.VerifyPath},
	})
	return s, nil
}

// CloseHandler stops the handler's timed writes and writes what they hold
// (see [rpc.Handler.Close]); after it only a request still in a handler
// writes to the store. Call it once the HTTP server has stopped; a process
// that signs the audit head after the last write calls it, signs, then
// calls Close. Later calls do nothing.
func (s *Server) CloseHandler() {
	s.handlerOnce.Do(s.Handler.Close)
}

// Close closes the handler, if CloseHandler has not, stops the change
// feed's relay and closes the store.
func (s *Server) Close() error {
	s.CloseHandler()
	s.identityCache.Close()
	s.rosterScope.Close()
	s.stopRelay()
	return s.Store.Close()
}

// timedStore is a store whose transactions are timed into the metrics.
type timedStore struct {
	shiftsync.Store
	metrics *rpc.Metrics
}

func (s timedStore) Update(ctx context.Context, fn func(shiftsync.Tx) error) error {
	start := time.Now()
	err := s.Store.Update(ctx, fn)
	s.metrics.ObserveTransaction("update", time.Since(start))
	return err
}

func (s timedStore) View(ctx context.Context, fn func(shiftsync.Tx) error) error {
	start := time.Now()
	err := s.Store.View(ctx, fn)
	s.metrics.ObserveTransaction("view", time.Since(start))
	return err
}
