package shiftsync

import (
	"context"
	"slices"
	"time"
)

// ConsoleIdleTimeout is how long a console session lasts without a
// request: after it the browser signs in again, with a new code.
const ConsoleIdleTimeout = 30 * time.Minute

// consoleTouchEvery is how stale a session's last-seen time may grow before
// a request writes it again: requests closer together cost no write.
const consoleTouchEvery = time.Minute

// ConsoleSession is a browser's sign-in to the manager console, kept by
// the hash of its token ([HashSecret]).
type ConsoleSession struct {
	DeviceID, UserID string
	CreatedAt        time.Time
	LastSeenAt       time.Time
	EndedAt          time.Time // zero while not signed out
	// DeviceRevokedAt is when the session's browser was revoked, as a
	// device is: zero while it is not.
	DeviceRevokedAt time.Time
}

// ConsoleTx is the console's part of a [Tx]: its sessions, by token hash.
type ConsoleTx interface {
	// InsertConsoleSession keeps a new session under the hash.
	InsertConsoleSession(ctx context.Context, hash []byte, s ConsoleSession) error
	// ConsoleSession returns the session under the hash, with its device's
	// revocation: nil when there is none.
	ConsoleSession(ctx context.Context, hash []byte) (*ConsoleSession, error)
	// TouchConsoleSession sets the session's last-seen time.
	TouchConsoleSession(ctx context.Context, hash []byte, at time.Time) error
	// EndConsoleSession ends the session at at, if it has not ended.
	EndConsoleSession(ctx context.Context, hash []byte, at time.Time) error
}

// Console signs reviewers in to the manager console and authenticates
// their browsers. A browser signs in with a one-time enrolment code, the
// same codes phones enrol with ([Enrolment]), and becomes a device of
// [KindBrowser] of the code's user, listed and revoked as their phones are
// (AdminService ListDevices, RevokeDevice); each sign-in is a session of
// it, whose token only the browser holds (the store keeps its hash). A
// session ends at sign-out, after [ConsoleIdleTimeout] without a request,
// or when its browser is revoked.
//
// Only reviewers sign in: a user whose grants, as the Authorizer decides
// them, let them review records of some type in some service (a manager,
// shift, PBS, quality or safeguarding lead; a partner agency's user for
// its share). A support worker's code is refused the console and left
// unspent, for their phone.
type Console struct {
	Store  Store
	Access Authorizer
	// Redeems judges the code's issuer as it is redeemed
	// ([Admin.RedeemsEnrolmentCode]).
	Redeems RedemptionCheck
	Schema  *Schema
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// NewDeviceID returns the id of a new browser device: a UUIDv7.
	NewDeviceID func() string
}

func (c Console) now() time.Time {
	if c.Now == nil {
		return time.Now().UTC()
	}
	return c.Now().UTC()
}

// Services returns the services in which p may use the console at now:
// those they manage or review records of some type in, sorted.
func (c Console) Services(ctx context.Context, p Principal) ([]string, error) {
	scope, err := c.Access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	return consoleServices(scope, c.Schema.TypeNames(), c.now()), nil
}

// ManagedServices returns the services p manages at now, sorted: those
// whose people and devices p may administer, by the AdminService's rules.
func (c Console) ManagedServices(ctx context.Context, p Principal) ([]string, error) {
	scope, err := c.Access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	now := c.now()
	return slices.DeleteFunc(scope.Services(now), func(service string) bool { return !scope.Manages(service, now) }), nil
}

func consoleServices(scope Scope, types []string, now time.Time) []string {
	return slices.DeleteFunc(scope.Services(now), func(service string) bool {
		return !scope.Manages(service, now) && !slices.ContainsFunc(types, func(t string) bool { return scope.ReviewsIn(service, t, now) })
	})
}

// errNotReviewer is the answer to a sign-in by a user who reviews nothing.
func errNotReviewer() error {
	return refuse("no reviewing role", "the console is for managers and shift, PBS, quality and safeguarding leads; this code is for your phone")
}

// SignIn exchanges an enrolment code for a new browser device of its user
// and a session of it, and returns the session's token (returned once;
// only its hash is kept) and the principal it stands for. label names the
// browser in the user's device list. Returns what [Enrolment.Enrol]
// returns for a code that does not enrol, and CodePermissionDenied, the
// code unspent, for a user who may review nothing.
func (c Console) SignIn(ctx context.Context, code, label string) (string, Principal, error) {
	codeHash := HashSecret(NormaliseEnrolmentCode(code))
	// A valid code of a user who reviews nothing is refused before it is
	// spent; the same check runs again as it is redeemed, on the facts of
	// that moment.
	var pending *EnrolmentCode
	err := c.Store.View(ctx, func(tx Tx) (err error) {
		pending, err = tx.PendingEnrolmentCode(ctx, codeHash, c.now())
		return err
	})
	if err != nil {
		return "", Principal{}, err
	}
	if pending != nil {
		if err := c.reviews(ctx, pending.UserID); err != nil {
			return "", Principal{}, err
		}
	}
	enrol := Enrolment{Store: c.Store, Now: c.Now, NewDeviceID: c.NewDeviceID, Kind: KindBrowser}
	d, _, err := enrol.Enrol(ctx, code, label, func(ctx context.Context, userID, issuedBy string) error {
		if err := c.Redeems(ctx, userID, issuedBy); err != nil {
			return err
		}
		return c.reviews(ctx, userID)
	})
	if err != nil {
		return "", Principal{}, err
	}
	// The device's own credential is never handed out: the session is
	// the browser's only way in, so it cannot obtain access tokens.
	token := newSecret()
	at := c.now()
	err = c.Store.Update(ctx, func(tx Tx) error {
		return tx.InsertConsoleSession(ctx, HashSecret(token), ConsoleSession{DeviceID: d.ID, UserID: d.UserID, CreatedAt: at, LastSeenAt: at})
	})
	if err != nil {
		return "", Principal{}, err
	}
	return token, Principal{UserID: d.UserID, DeviceID: d.ID, Kind: KindBrowser}, nil
}

// reviews returns nil if the user may review records in some service now,
// or [errNotReviewer].
func (c Console) reviews(ctx context.Context, userID string) error {
	services, err := c.Services(ctx, Principal{UserID: userID})
	if err != nil {
		return err
	}
	if len(services) == 0 {
		return errNotReviewer()
	}
	return nil
}

// Authenticate returns the principal of a session token: CodeUnauthenticated
// for an unknown, signed-out or idle-expired session, CodeDeviceRevoked for
// a revoked browser. It keeps the session alive.
func (c Console) Authenticate(ctx context.Context, token string) (Principal, error) {
	hash := HashSecret(token)
	var s *ConsoleSession
	err := c.Store.View(ctx, func(tx Tx) (err error) {
		s, err = tx.ConsoleSession(ctx, hash)
		return err
	})
	if err != nil {
		return Principal{}, err
	}
	now := c.now()
	switch {
	case s == nil || token == "":
		return Principal{}, Errorf(CodeUnauthenticated, "not signed in")
	case !s.EndedAt.IsZero():
		return Principal{}, Errorf(CodeUnauthenticated, "this session was signed out; sign in again")
	case !s.DeviceRevokedAt.IsZero():
		return Principal{}, Errorf(CodeDeviceRevoked, "this browser was revoked; sign in again with a new code")
	case now.Sub(s.LastSeenAt) >= ConsoleIdleTimeout:
		return Principal{}, Errorf(CodeUnauthenticated, "the session expired after %s without use; sign in again", ConsoleIdleTimeout)
	}
	if now.Sub(s.LastSeenAt) >= consoleTouchEvery {
		if err := c.Store.Update(ctx, func(tx Tx) error { return tx.TouchConsoleSession(ctx, hash, now) }); err != nil {
			return Principal{}, err
		}
	}
	return Principal{UserID: s.UserID, DeviceID: s.DeviceID, Kind: KindBrowser}, nil
}

// SignOut ends the session of the token, audited as its principal's; a
// token that stands for no live session ends nothing and is not an error.
func (c Console) SignOut(ctx context.Context, token string) error {
	hash := HashSecret(token)
	return c.Store.Update(ctx, func(tx Tx) error {
		s, err := tx.ConsoleSession(ctx, hash)
		if err != nil || s == nil || !s.EndedAt.IsZero() || token == "" {
			return err
		}
		now := c.now()
		if err := tx.EndConsoleSession(ctx, hash, now); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, now, AuditEvent{Actor: Principal{UserID: s.UserID, DeviceID: s.DeviceID, Kind: KindBrowser},
			Action: AuditConsoleSignOut, Subject: s.DeviceID})
	})
}
