package postgres_test

import (
	"log/slog"
	"testing"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// MustOpenDB opens a store on a new schema, with its clock at
// shiftsynctest.Epoch, and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*postgres.DB, *shiftsynctest.Clock) {
	tb.Helper()
	clock := shiftsynctest.NewClock(shiftsynctest.Epoch)
	db := postgres.NewDB(shiftsynctest.PostgresDSN(tb))
	db.Now = clock.Now
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open() error = %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db, clock
}
