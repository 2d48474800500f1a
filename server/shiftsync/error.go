package shiftsync

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers and transports. Codes are part of the
// wire contract with mobile clients (sent in shiftsync.sync.v1.ErrorInfo):
// never rename or reuse one.
type Code string

// The error codes. mobile-contract/README.md lists each with retry advice.
const (
	CodeInvalid            Code = "invalid"             // request is malformed; do not retry as is
	CodeUnauthenticated    Code = "unauthenticated"     // missing or unknown token; refresh then retry once
	CodeTokenExpired       Code = "token_expired"       // the access token is past its expiry; refresh with the device credential, retry
	CodeDeviceRevoked      Code = "device_revoked"      // the device was revoked: wipe the replica
	CodePermissionDenied   Code = "permission_denied"   // the principal may not do this
	CodeNotFound           Code = "not_found"           // the named thing does not exist
	CodeAlreadyExists      Code = "already_exists"      // same client id, different payload
	CodeConflict           Code = "conflict"            // concurrent change; pull, then retry
	CodeResyncRequired     Code = "resync_required"     // cursor unknown to this store; pull again from an empty cursor
	CodeUnsupportedVersion Code = "unsupported_version" // client protocol or schema version not supported; keep the outbox, update the app
	CodeResourceExhausted  Code = "resource_exhausted"  // request too large; split it
	CodeUnavailable        Code = "unavailable"         // e.g. database busy; retry with backoff
	CodeInternal           Code = "internal"            // everything unclassified; details only in server logs
)

// Codes lists every Code, so transports can check that their mapping tables
// are complete.
var Codes = []Code{
	CodeInvalid, CodeUnauthenticated, CodeTokenExpired, CodeDeviceRevoked, CodePermissionDenied, CodeNotFound,
	CodeAlreadyExists, CodeConflict, CodeResyncRequired, CodeUnsupportedVersion,
	CodeResourceExhausted, CodeUnavailable, CodeInternal,
}

// Error is an error whose Code and Message are safe to show to clients.
// Err, if set, is the internal cause: it is logged but never sent.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("shiftsync error: code=%s message=%s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("shiftsync error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an [*Error] with the given code and a formatted public message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first [*Error] in err's chain, or
// [CodeInternal] when there is none. It returns "" for a nil error.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return CodeInternal
	}
}

// ErrorMessage returns the public message of the first [*Error] in err's
// chain, or "internal error" when there is none. It returns "" for a nil
// error.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}
