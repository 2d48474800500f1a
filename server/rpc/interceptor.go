package rpc

import (
	"context"
	"log/slog"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// authInterceptor admits a call only with the principal the [Edge] put in
// its context: calls that did not pass the edge never reach a handler.
type authInterceptor struct{}

// authenticated returns an error unless ctx carries a principal.
func (authInterceptor) authenticated(ctx context.Context) error {
	if _, ok := shiftsync.PrincipalFromContext(ctx); !ok {
		return newError(shiftsync.CodeUnauthenticated, "a bearer token is required")
	}
	return nil
}

// WrapUnary implements [connect.Interceptor].
func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := a.authenticated(ctx); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements [connect.Interceptor]; clients are not
// intercepted.
func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements [connect.Interceptor].
func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := a.authenticated(ctx); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// logInterceptor logs each call's procedure, outcome and duration, and
// counts them in metrics (optional). It logs no request content: care data
// never reaches the application log.
type logInterceptor struct {
	log     *slog.Logger
	metrics *Metrics
}

func (l *logInterceptor) done(ctx context.Context, procedure string, start time.Time, err error) {
	level, code := slog.LevelInfo, "ok"
	if err != nil {
		level, code = slog.LevelWarn, connect.CodeOf(err).String()
	}
	d := time.Since(start)
	l.log.Log(ctx, level, "rpc", "procedure", procedure, "code", code, "duration", d)
	l.metrics.rpc(procedure, err, d)
}

// WrapUnary implements [connect.Interceptor].
func (l *logInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		l.done(ctx, req.Spec().Procedure, start, err)
		return res, err
	}
}

// WrapStreamingClient implements [connect.Interceptor].
func (l *logInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements [connect.Interceptor].
func (l *logInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		l.done(ctx, conn.Spec().Procedure, start, err)
		return err
	}
}
