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

// Config holds what the transport needs. Sync, Tokens and Feed are required.
type Config struct {
	Sync   shiftsync.SyncService
	Tokens shiftsync.TokenVerifier
	Feed   shiftsync.ChangeFeed
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
	opts := []connect.HandlerOption{
		connect.WithInterceptors(&logInterceptor{log: log}, &authInterceptor{tokens: c.Tokens, log: log}),
		connect.WithReadMaxBytes(cmp.Or(c.MaxRequestBytes, DefaultMaxRequestBytes)),
		connect.WithCompressMinBytes(CompressMinBytes),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, r any) error {
			log.ErrorContext(ctx, "panic in handler", "procedure", spec.Procedure, "panic", r)
			return newError(shiftsync.CodeInternal, "internal error")
		}),
	}
	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(&SyncHandler{
		sync:      c.Sync,
		feed:      c.Feed,
		log:       log,
		heartbeat: cmp.Or(c.Heartbeat, DefaultHeartbeat),
	}, opts...))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(syncv1connect.SyncServiceName)))
	reflector := grpcreflect.NewStaticReflector(syncv1connect.SyncServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
