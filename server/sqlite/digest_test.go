package sqlite_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestDigests_BuiltOnOpen checks the back-fill of migration 00019: a store
// holding records whose digests were never built (as one migrated from
// before 00019 is) builds them when opened, equal to a rebuild.
func TestDigests_BuiltOnOpen(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := MustSyncService(t, db)
	p := shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}}
	if _, err := s.Push(ctx, p, []shiftsync.Mutation{incident(1, newID(t), "house-a", shiftsync.HLC{WallMS: s.Now().UnixMilli()}, "before 00019")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx shiftsync.Tx) error { return tx.ReplaceDigests(ctx, nil) }); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+db.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `UPDATE store SET digests_built = 0`); err != nil {
		t.Fatal(err)
	}
	if diffs, err := shiftsync.VerifyDigests(ctx, db); err != nil || len(diffs) == 0 {
		t.Fatalf("VerifyDigests of the emptied digests = %v, %v; want differences", diffs, err)
	}
	path := db.Path
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, _ = MustOpenDBAt(t, path)
	if diffs, err := shiftsync.VerifyDigests(ctx, db); err != nil || len(diffs) != 0 {
		t.Fatalf("VerifyDigests after reopening = %v, %v; want none", diffs, err)
	}
}
