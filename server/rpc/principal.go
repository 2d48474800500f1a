package rpc

import (
	"context"
	"fmt"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// principal returns the authenticated caller of a handler
// (CodeUnauthenticated without one) and refuses any of ids longer than
// [shiftsync.MaxIDBytes] (CodeInvalid).
func principal(ctx context.Context, ids ...string) (shiftsync.Principal, error) {
	p, ok := shiftsync.PrincipalFromContext(ctx)
	if !ok {
		return p, newError(shiftsync.CodeUnauthenticated, "a bearer token is required")
	}
	for _, id := range ids {
		if len(id) > shiftsync.MaxIDBytes {
			return p, newError(shiftsync.CodeInvalid, fmt.Sprintf("an id is longer than %d bytes", shiftsync.MaxIDBytes))
		}
	}
	return p, nil
}
