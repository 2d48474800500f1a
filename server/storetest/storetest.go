// Package storetest is the conformance suite of shiftsync stores: every
// behaviour the engine relies on, written once against the store
// interfaces and run by each store's own tests with a [Factory], as
// litestream's replica-client suite is. A new store is done when it passes
// [Run].
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Store is what a store under test implements: the engine's transactional
// [shiftsync.Store] and the interfaces the server's other parts use.
type Store interface {
	shiftsync.Store
	// Identity returns the store's directory of organisations, users,
	// memberships, devices and signing keys.
	Identity() Identity
}

// Identity is the directory part of a store: what the admin engine reads
// and writes ([shiftsync.AdminStore]), enrolment and devices
// ([shiftsync.IdentityService]), the signing keys ([shiftsync.KeyStore])
// and the grants access is decided from ([shiftsync.Authorizer]).
type Identity interface {
	shiftsync.IdentityService
	shiftsync.AdminStore
	shiftsync.KeyStore
	shiftsync.Authorizer
	// CreateOrganisation, CreateService, CreatePerson and CreateUser add
	// to the directory, audited as actor's: CodeAlreadyExists for an id
	// in use, CodeInvalid for an empty id or one that refers to nothing.
	CreateOrganisation(ctx context.Context, actor shiftsync.Principal, id, name string) error
	CreateService(ctx context.Context, actor shiftsync.Principal, id, organisationID, name string) error
	CreatePerson(ctx context.Context, actor shiftsync.Principal, id, serviceID, name string) error
	CreateUser(ctx context.Context, actor shiftsync.Principal, id, organisationID, name, agency string) error
	// RotateKey makes a new active signing key; the one it replaces keeps
	// verifying, and older ones are retired.
	RotateKey(ctx context.Context, actor shiftsync.Principal) (shiftsync.SigningKey, error)
}

// Factory opens a new, empty, migrated store whose clock is now, and
// closes it when the test ends (t.Cleanup).
type Factory func(t *testing.T, now func() time.Time) Store

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Factory) {
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Sync", func(t *testing.T) { testSync(t, open) })
	t.Run("Review", func(t *testing.T) { testReview(t, open) })
	t.Run("Identity", func(t *testing.T) { testIdentity(t, open) })
	t.Run("Findings", func(t *testing.T) { testFindings(t, open) })
	t.Run("Engine", func(t *testing.T) { testEngine(t, open) })
	t.Run("Health", func(t *testing.T) { testHealth(t, open) })
}
