// Package storetest is the conformance suite of shiftsync stores: every
// behaviour the engine relies on, written once against the store
// interfaces and run by each store's own tests with a [Factory], as
// litestream's replica-client suite is. A new store is done when it passes
// [Run].
package storetest

import (
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Store is what a store under test implements: the engine's transactional
// [shiftsync.Store] and the interfaces the server's other parts use.
type Store interface {
	shiftsync.Store
}

// Factory opens a new, empty, migrated store whose clock is now, and
// closes it when the test ends (t.Cleanup).
type Factory func(t *testing.T, now func() time.Time) Store

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Factory) {
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Sync", func(t *testing.T) { testSync(t, open) })
	t.Run("Review", func(t *testing.T) { testReview(t, open) })
	t.Run("Engine", func(t *testing.T) { testEngine(t, open) })
}
