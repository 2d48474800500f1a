package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/storetest"
)

// TestConformance runs the store suite against SQLite files in t.TempDir().
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "conformance.db"))
		db.Now = now
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return conformance{db}
	})
}

// conformance is a DB as the suite sees it, with its identity service.
type conformance struct{ *sqlite.DB }

func (c conformance) Identity() storetest.Identity { return sqlite.NewIdentityService(c.DB) }
