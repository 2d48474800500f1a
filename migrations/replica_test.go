package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/shiftsync/shiftsync/migrations"
)

// TestReplica does for the device replica's migrations what TestServer does
// for the server's: up, down to 0, up again, then compares the schema with
// testdata/replica.golden.sql, the schema a mobile app keeps.
func TestReplica(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "r.db")+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.Replica)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up() error = %v", err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0) error = %v", err)
	}
	if got := schema(t, db); got != "" {
		t.Fatalf("schema left after migrating down to 0:\n%s", got)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up() after down error = %v", err)
	}

	golden := filepath.Join("testdata", "replica.golden.sql")
	got := schema(t, db)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./migrations -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("schema differs from %s (-golden +migrated); run go test ./migrations -update if intended:\n%s", golden, diff)
	}
	var violations int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil {
		t.Fatal(err)
	}
	if violations != 0 {
		t.Errorf("PRAGMA foreign_key_check reports %d violations", violations)
	}
}
