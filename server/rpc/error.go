package rpc

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// codes maps every domain error code to its Connect code. It is the one
// mapping table of this transport; TestCodes fails if a code is missing.
var codes = map[shiftsync.Code]connect.Code{
	shiftsync.CodeInvalid:            connect.CodeInvalidArgument,
	shiftsync.CodeUnauthenticated:    connect.CodeUnauthenticated,
	shiftsync.CodeTokenExpired:       connect.CodeUnauthenticated, // detail says: refresh the token
	shiftsync.CodeDeviceRevoked:      connect.CodeUnauthenticated, // detail says: wipe the replica
	shiftsync.CodePermissionDenied:   connect.CodePermissionDenied,
	shiftsync.CodeNotFound:           connect.CodeNotFound,
	shiftsync.CodeAlreadyExists:      connect.CodeAlreadyExists,
	shiftsync.CodeConflict:           connect.CodeAborted,            // "concurrency issue such as a sequencer check failure"
	shiftsync.CodeResyncRequired:     connect.CodeFailedPrecondition, // detail says which precondition
	shiftsync.CodeUnsupportedVersion: connect.CodeFailedPrecondition,
	shiftsync.CodeResourceExhausted:  connect.CodeResourceExhausted,
	shiftsync.CodeUnavailable:        connect.CodeUnavailable,
	shiftsync.CodeInternal:           connect.CodeInternal,
}

// toConnectError turns a domain error into the error sent to the client:
// the Connect code from the table, the public message only, and an ErrorInfo
// detail carrying the stable domain code. Internal causes are logged, never
// sent. Cancellations pass through, since Connect codes them itself.
func toConnectError(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code := shiftsync.ErrorCode(err)
	if code == shiftsync.CodeInternal || code == shiftsync.CodeUnavailable {
		log.ErrorContext(ctx, "request failed", "code", code, "err", err)
	}
	return newError(code, shiftsync.ErrorMessage(err))
}

// newError builds a Connect error with the domain code attached as detail.
func newError(code shiftsync.Code, msg string) *connect.Error {
	cc, ok := codes[code]
	if !ok {
		cc = connect.CodeInternal
	}
	ce := connect.NewError(cc, errors.New(msg))
	if detail, err := connect.NewErrorDetail(&syncv1.ErrorInfo{Code: string(code)}); err == nil {
		ce.AddDetail(detail)
	}
	return ce
}
