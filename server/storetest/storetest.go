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

// Identity is the directory part of a store: [shiftsync.IdentityStore].
type Identity = shiftsync.IdentityStore

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

// must stops the test at once on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeRecord stores m's edits as their fields' winners, creating the
// record first when create is set, and returns their change log positions.
func writeRecord(ctx context.Context, tx shiftsync.Tx, m *shiftsync.Mutation, at time.Time, create bool) ([]int64, error) {
	if create {
		if err := tx.CreateRecord(ctx, m, at); err != nil {
			return nil, err
		}
	}
	var seqs []int64
	for _, e := range m.Fields {
		seq, err := tx.AppendVersion(ctx, m, e, at)
		if err != nil {
			return nil, err
		}
		if err := tx.SetFieldHead(ctx, m, e.Field, seq, shiftsync.Digest{}); err != nil {
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}
