package postgres_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/storetest"
)

// TestConformance runs the store suite against PostgreSQL, a schema per
// store.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		db := postgres.NewDB(shiftsynctest.PostgresDSN(t))
		db.Now = now
		db.Logger = slog.New(slog.DiscardHandler)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return conformance{db}
	})
}

// conformance is a DB as the suite sees it, with its identity service.
type conformance struct{ *postgres.DB }

func (c conformance) Identity() storetest.Identity { return postgres.NewIdentityService(c.DB) }
