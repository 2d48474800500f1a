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
	// DefaultHeartbeat is how often an idle Subscribe stream gets a heartbeat.
	DefaultHeartbeat = 30 * time.Second
)

// Config holds what the transport needs. Sync, Tokens, Feed and Audit are
// required; AuthService is served when Identity and Issuer are set, and
// AdminService when Admin.Store is, ReviewService when Review is.
type Config struct {
	Sync     shiftsync.SyncService
	Tokens   shiftsync.TokenVerifier
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
}

// NewHandler returns the server's HTTP handler: the sync service, gRPC
// health checking, gRPC server reflection (so grpcurl and buf curl can list
// and call the service) and a plain GET /healthz.
func NewHandler(c Config) http.Handler {
	log := cmp.Or(c.Logger, slog.Default())
	common := []connect.HandlerOption{
		connect.WithReadMaxBytes(cmp.Or(c.MaxRequestBytes, DefaultMaxRequestBytes)),
		connect.WithCompressMinBytes(CompressMinBytes),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, r any) error {
			log.ErrorContext(ctx, "panic in handler", "procedure", spec.Procedure, "panic", r)
			return newError(shiftsync.CodeInternal, "internal error")
		}),
	}
	authenticated := append([]connect.HandlerOption{
		connect.WithInterceptors(&logInterceptor{log: log}, &authInterceptor{tokens: c.Tokens, audit: c.Audit, log: log}),
	}, common...)
	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(&SyncHandler{
		sync:      c.Sync,
		feed:      c.Feed,
		health:    c.Health,
		log:       log,
		heartbeat: cmp.Or(c.Heartbeat, DefaultHeartbeat),
	}, authenticated...))
	if c.Identity != nil && c.Issuer != nil {
		// Enrol and Refresh carry their own proof (a code, a credential),
		// not an access token.
		mux.Handle(authv1connect.NewAuthServiceHandler(&AuthHandler{identity: c.Identity, tokens: c.Issuer, audit: c.Audit, log: log},
			append([]connect.HandlerOption{connect.WithInterceptors(&logInterceptor{log: log})}, common...)...))
	}
	if c.Admin.Store != nil {
		mux.Handle(authv1connect.NewAdminServiceHandler(&AdminHandler{admin: c.Admin, log: log}, authenticated...))
	}
	if c.Review != nil {
		mux.Handle(reviewv1connect.NewReviewServiceHandler(&ReviewHandler{review: c.Review, log: log}, authenticated...))
	}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(syncv1connect.SyncServiceName)))
	reflector := grpcreflect.NewStaticReflector(syncv1connect.SyncServiceName, authv1connect.AuthServiceName, authv1connect.AdminServiceName, reviewv1connect.ReviewServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
