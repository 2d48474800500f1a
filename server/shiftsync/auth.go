package shiftsync

import (
	"context"
	"time"
)

// Principal is the authenticated caller of a request: a user on one of their
// enrolled devices.
type Principal struct {
	UserID   string
	DeviceID string
	// Services a static development or test token grants, used by
	// [TokenScope]; empty for enrolled devices, whose access comes from
	// their user's memberships.
	Services []string
	// Kind is what the token was given to, set by the verifier:
	// [KindTool] for a static bearer token, [KindPhone] for a signed
	// access token, [KindBrowser] for a console session ([Console]).
	Kind DeviceKind
}

// TokenVerifier turns a bearer token into a principal.
type TokenVerifier interface {
	// Verify returns the principal the token stands for, or an error with
	// CodeUnauthenticated.
	Verify(ctx context.Context, token string) (Principal, error)
}

// TokenIssuer issues access tokens.
type TokenIssuer interface {
	// Issue returns a signed access token for a user on a device and when it
	// expires.
	Issue(ctx context.Context, userID, deviceID string) (token string, expires time.Time, err error)
}

// Authorizer is the one place that decides what a principal may read and
// write: stores ask it at the start of every push and pull and check each
// record against the scope it returns.
type Authorizer interface {
	// Scope returns what p may read and write now.
	Scope(ctx context.Context, p Principal) (Scope, error)
}

// TokenScope is the [Authorizer] of static development and test tokens: it
// grants exactly the services listed on the principal by its token. The
// principals of enrolled devices list none; Next, if set, decides for them
// from their memberships.
type TokenScope struct {
	Next Authorizer
}

// Scope implements [Authorizer]: a manager's open-ended grant for each
// service on the token, or Next's answer for a principal that lists none.
func (t TokenScope) Scope(ctx context.Context, p Principal) (Scope, error) {
	if len(p.Services) == 0 && t.Next != nil {
		return t.Next.Scope(ctx, p)
	}
	var s Scope
	for _, id := range p.Services {
		s.Grants = append(s.Grants, Grant{ServiceID: id, Role: RoleManager})
	}
	return s, nil
}

type principalKey struct{}

// NewContextWithPrincipal returns a copy of ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal stored in ctx, if any.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
