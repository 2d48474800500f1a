package replica

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// Error codes of this package's own errors, returned by [ErrorCode]. The
// server's codes (mobile-contract/README.md, "Request errors") pass through
// unchanged.
const (
	// CodeInvalid: the call's arguments are wrong (bad fields JSON, missing
	// record type); do not retry as is.
	CodeInvalid = "invalid"
	// CodeNotFound: no record with that id on this device.
	CodeNotFound = "not_found"
	// CodeUnavailable: the server could not be reached or did not answer in
	// time; nothing was lost, sync again later.
	CodeUnavailable = "unavailable"
	// CodeStalled: the server answered but would not take the outbox (for
	// example it expects a counter this device no longer holds); the outbox
	// is kept. Report it: it needs a person.
	CodeStalled = "stalled"
	// CodeInternal: anything else, such as a local storage failure.
	CodeInternal = "internal"
)

// codedError is an error of this package with a stable code (one of the
// Code constants). It is not exported: a struct named Error would shadow
// java.lang.Error in the Java bindings. Callers read the code with
// [ErrorCode].
type codedError struct {
	Code    string
	Message string
	// Fields lists every problem of a change refused before saving (see
	// [FieldErrorsJSON]), the first being Code; nil for other errors.
	Fields []fieldError
}

func (e *codedError) Error() string { return "replica: " + e.Code + ": " + e.Message }

func invalidf(format string, args ...any) error {
	return &codedError{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the stable code of err, for deciding what to do about a
// failed call: a server's ErrorInfo code such as "unauthenticated" or
// "resync_required" (mobile-contract/README.md lists them with retry
// advice), [CodeUnavailable] when the server could not be reached, for a
// change refused before saving the reason code the server would have
// quarantined it with (the first problem's, such as "invalid_value" or
// "missing_required_field"; see [FieldErrorsJSON] for all of them), one of
// this package's codes, or "" for a nil err.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *codedError
	if errors.As(err, &e) {
		return e.Code
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Details() {
			if msg, derr := d.Value(); derr == nil {
				if info, ok := msg.(*syncv1.ErrorInfo); ok && info.GetCode() != "" {
					return info.GetCode()
				}
			}
		}
		switch ce.Code() {
		case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled:
			return CodeUnavailable
		case connect.CodeUnauthenticated:
			return "unauthenticated"
		}
		return CodeInternal
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return CodeUnavailable
	}
	return CodeInternal
}
