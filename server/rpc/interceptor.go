package rpc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// maxTokenBytes bounds the bearer token read from a request, so a huge
// header costs nothing to refuse.
const maxTokenBytes = 8 << 10

// authInterceptor authenticates every call: it reads the bearer token,
// verifies it and puts the principal in the context. Calls without a valid
// token never reach a handler.
type authInterceptor struct {
	tokens shiftsync.TokenVerifier
	audit  shiftsync.AuditLog
	log    *slog.Logger
}

// authenticate verifies the bearer token. Every refusal is written to the
// audit log: a stream of them is how an attack or a lost phone shows.
func (a *authInterceptor) authenticate(ctx context.Context, authorization string) (context.Context, error) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" || len(token) > maxTokenBytes {
		err := shiftsync.Errorf(shiftsync.CodeUnauthenticated, "a bearer token is required")
		auditRefusal(ctx, a.audit, a.log, "", err)
		return nil, toConnectError(ctx, a.log, err)
	}
	p, err := a.tokens.Verify(ctx, token)
	if err != nil {
		auditRefusal(ctx, a.audit, a.log, tokenFingerprint(token), err)
		return nil, toConnectError(ctx, a.log, err)
	}
	return shiftsync.NewContextWithPrincipal(ctx, p), nil
}

// tokenFingerprint names a refused token in the audit log without keeping
// a usable copy of it.
func tokenFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// WrapUnary implements [connect.Interceptor].
func (a *authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authenticate(ctx, req.Header().Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements [connect.Interceptor]; clients are not
// intercepted.
func (a *authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements [connect.Interceptor].
func (a *authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authenticate(ctx, conn.RequestHeader().Get("Authorization"))
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// logInterceptor logs each call's procedure, outcome and duration. It logs no
// request content: care data never reaches the application log.
type logInterceptor struct{ log *slog.Logger }

func (l *logInterceptor) done(ctx context.Context, procedure string, start time.Time, err error) {
	level, code := slog.LevelInfo, "ok"
	if err != nil {
		level, code = slog.LevelWarn, connect.CodeOf(err).String()
	}
	l.log.Log(ctx, level, "rpc", "procedure", procedure, "code", code, "duration", time.Since(start))
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
