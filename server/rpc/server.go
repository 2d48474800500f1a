// Package rpc is the Connect transport of shiftsync: it serves the
// shiftsync.sync.v1 services over the Connect, gRPC and gRPC-Web protocols,
// in binary protobuf or JSON, and adapts them to the domain services. It
// holds no business rules: authentication goes through a
// [shiftsync.TokenVerifier], everything else through the domain services.
package rpc

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// Transport limits and settings.
const (
	// DefaultMaxRequestBytes bounds one request message after decompression:
	// a full push of 1,000 mutations of typical size fits with room to spare.
	DefaultMaxRequestBytes = 8 << 20
	// CompressMinBytes is the smallest response that is gzipped. Small calls
	// are not compressed (on loopback gzip doubles the cost of a 1 KB call);
	// pull pages are, because a phone's bandwidth is scarcer than the
	// server's CPU.
	CompressMinBytes = 8 << 10
	// DefaultHeartbeat is how often an idle Subscribe stream gets a heartbeat,
	// and so how soon a stream ends after its access does.
	DefaultHeartbeat = 30 * time.Second
	// refusalFlushEvery is how often the refusal counts of a minute that
	// is over are looked for and written.
	refusalFlushEvery = 10 * time.Second
)

// Config holds what the transport needs. Sync, Tokens, Access, Feed and
// Audit are required; AuthService is served when Identity, Issuer and
// Admin.Store are set, AdminService when Admin.Store is, ReviewService when
// Review is.
type Config struct {
	Sync   shiftsync.SyncService
	Tokens shiftsync.TokenVerifier
	// Access decides scopes, as it does for Sync: a Subscribe stream ends
	// when its scope has no grant in force.
	Access   shiftsync.Authorizer
	Feed     shiftsync.ChangeFeed
	Audit    shiftsync.AuditLog
	Identity shiftsync.IdentityService
	Issuer   shiftsync.TokenIssuer
	Admin    shiftsync.Admin
	Review   shiftsync.ReviewService
	// Health keeps what devices report of their sync health; optional.
	Health shiftsync.HealthRecorder
	Logger *slog.Logger
	// MaxRequestBytes defaults to DefaultMaxRequestBytes.
	MaxRequestBytes int
	// Heartbeat defaults to DefaultHeartbeat.
	Heartbeat time.Duration
	// Now is the clock of scopes and refusal counts; defaults to time.Now.
	Now func() time.Time
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client (see [Edge]); none by default.
	TrustedProxies []netip.Prefix
	// Metrics, when set, count what the handlers answer and are served at
	// GET /metrics (see [Metrics.Handler]) to callers with MetricsToken, or
	// without one to loopback callers only.
	Metrics      *Metrics
	MetricsToken string
	// MaxInFlight bounds the unary calls of the sync, auth, admin and
	// review services answered at once; a call beyond it waits up to
	// MaxQueueWait for a place, then is refused unavailable with a
	// Retry-After (Subscribe streams are not counted). 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// Console, when set, is served at /console/ (the manager console,
	// server/console): it authenticates by its own session cookie.
	Console http.Handler
	// ConsoleUploads are the console's paths that take files larger than
	// a form (see [Edge.Uploads]).
	ConsoleUploads []string
}

// Handler is the server's HTTP handler (see [NewHandler]).
type Handler struct {
	http.Handler
	refusals *RefusalLog
	stop     context.CancelFunc // stops the refusal log's flushes
	stopped  chan struct{}      // closed when they have stopped
}

// Close stops the timed flushes of the refusal counts and writes those not
// yet in the audit log. Call it once, when the HTTP server has stopped,
// before the store closes.
func (h *Handler) Close() {
	h.stop()
	<-h.stopped
	h.refusals.Flush(context.Background())
}

// NewHandler returns the server's HTTP handler: the sync service, gRPC
// health checking, gRPC server reflection (so grpcurl and buf curl can list
// and call the service), a plain GET /healthz and, with Metrics, GET
// /metrics, all behind the [Edge]:
// the sync, admin and review services need a bearer token, checked before
// their bodies are read; enrolment, refresh, health and reflection do not.
// Health answers Check but not Watch (unimplemented): the status never
// changes while the server runs, so a Watch stream would only hold a
// connection open for nothing. Every error carries an ErrorInfo detail,
// size refusals included. It starts a goroutine writing each minute's
// refusal counts; [Handler.Close] stops it. Unary calls of the sync,
// auth, admin and review services beyond c.MaxInFlight at once wait at
// most MaxQueueWait, then are refused unavailable (see overload); Enrol
// calls have a bound of their own, a share of it ([EnrolShare]).
func NewHandler(c Config) *Handler {
	log := cmp.Or(c.Logger, slog.Default())
	now := c.Now
	if now == nil {
		now = time.Now
	}
	maxBytes := int64(cmp.Or(c.MaxRequestBytes, DefaultMaxRequestBytes))
	refusals := NewRefusalLog(c.Audit, log, now)
	// The Edge bounds each body before connect-go reads it, and the
	// decompressor bounds what it inflates to, both answering with
	// ErrorInfo; connect-go's own read limit is left unset because its
	// refusals carry none.
	common := []connect.HandlerOption{
		connect.WithCompressMinBytes(CompressMinBytes),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, r any) error {
			log.ErrorContext(ctx, "panic in handler", "procedure", spec.Procedure, "panic", r)
			return newError(shiftsync.CodeInternal, "internal error")
		}),
	}
	maxInFlight := c.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	bound := newOverload(maxInFlight, c.Metrics)
	enrolBound := newOverload(max(1, maxInFlight/EnrolShare), c.Metrics)
	authenticated := append([]connect.HandlerOption{
		connect.WithInterceptors(&logInterceptor{log: log, metrics: c.Metrics}, authInterceptor{}, bound),
		withGzip(maxBytes),
	}, common...)
	public := append([]connect.HandlerOption{withGzip(DefaultMaxPublicBytes)}, common...)
	mux := http.NewServeMux()
	protected := []string{"/" + syncv1connect.SyncServiceName + "/"}
	mux.Handle(syncv1connect.NewSyncServiceHandler(&SyncHandler{
		sync:      c.Sync,
		feed:      c.Feed,
		access:    c.Access,
		devices:   c.Identity,
		health:    c.Health,
		log:       log,
		heartbeat: cmp.Or(c.Heartbeat, DefaultHeartbeat),
		now:       now,
		metrics:   c.Metrics,
	}, authenticated...))
	if c.Identity != nil && c.Issuer != nil && c.Admin.Store != nil {
		// Enrol and Refresh carry their own proof (a code, a credential),
		// not an access token; Enrol judges a code's issuer by c.Admin.
		mux.Handle(authv1connect.NewAuthServiceHandler(&AuthHandler{identity: c.Identity, admin: c.Admin, tokens: c.Issuer, audit: c.Audit, refusals: refusals, log: log},
			append([]connect.HandlerOption{connect.WithInterceptors(&logInterceptor{log: log, metrics: c.Metrics},
				perProcedure{procedures: map[string]*overload{authv1connect.AuthServiceEnrolProcedure: enrolBound}, rest: bound})}, public...)...))
	}
	if c.Admin.Store != nil {
		protected = append(protected, "/"+authv1connect.AdminServiceName+"/")
		mux.Handle(authv1connect.NewAdminServiceHandler(&AdminHandler{admin: c.Admin, log: log}, authenticated...))
	}
	if c.Review != nil {
		protected = append(protected, "/"+reviewv1connect.ReviewServiceName+"/")
		mux.Handle(reviewv1connect.NewReviewServiceHandler(&ReviewHandler{review: c.Review, log: log}, authenticated...))
	}
	mux.Handle(grpchealth.NewHandler(checkOnly{grpchealth.NewStaticChecker(syncv1connect.SyncServiceName)}, public...))
	reflector := grpcreflect.NewStaticReflector(syncv1connect.SyncServiceName, authv1connect.AuthServiceName, authv1connect.AdminServiceName, reviewv1connect.ReviewServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, public...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, public...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics.Handler(c.MetricsToken))
	}
	if c.Console != nil {
		mux.Handle("/console/", c.Console)
	}
	edge := Edge{Tokens: c.Tokens, Refusals: refusals, Protected: protected, MaxBodyBytes: maxBytes, Uploads: c.ConsoleUploads, TrustedProxies: c.TrustedProxies, Logger: log}
	ctx, stop := context.WithCancel(context.Background())
	h := &Handler{Handler: edge.Wrap(mux), refusals: refusals, stop: stop, stopped: make(chan struct{})}
	go func() {
		defer close(h.stopped)
		refusals.FlushEvery(ctx, refusalFlushEvery)
	}()
	return h
}

// checkOnly is a health checker without Watch (see [NewHandler]).
type checkOnly struct{ grpchealth.Checker }

// NewServer returns the HTTP server for h, with the connection limits of
// the edge: 10 s to send the headers (64 KiB at most), connections idle
// for 2 minutes closed, HTTP/1.1 and unencrypted HTTP/2 (gRPC without TLS,
// behind a terminating proxy). The body of each request has its own
// deadline (see [Edge]); there is no whole-request timeout, since
// Subscribe streams last. shiftsyncd and the test harness both use it.
func NewServer(h http.Handler) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		Protocols:         new(http.Protocols),
	}
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(true)
	return s
}
