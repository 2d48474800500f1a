package migrations_test

import (
	"context"
	"database/sql"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/shiftsync/shiftsync/migrations"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.sql from the migrated schemas")

// TestMigrations migrates a new database up, all the way down and up again
// (so every Down works), then compares the schema with the golden file,
// which shows reviewers the whole resulting schema in every change: for the
// server's migrations, and for the device replica's (the schema a mobile
// app keeps).
func TestMigrations(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fsys   fs.FS
		golden string
	}{
		{"server", migrations.Server, "server.golden.sql"},
		{"replica", migrations.Replica, "replica.golden.sql"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_foreign_keys=on")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			db.SetMaxOpenConns(1)
			p, err := goose.NewProvider(goose.DialectSQLite3, db, tt.fsys)
			if err != nil {
				t.Fatal(err)
			}
			checkHistory(t, p, func() string { return schema(t, db) }, tt.golden)
			var violations int
			if err := db.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil {
				t.Fatal(err)
			}
			if violations != 0 {
				t.Errorf("PRAGMA foreign_key_check reports %d violations", violations)
			}
		})
	}
}

// checkHistory migrates up, all the way down (every Down must leave no
// schema) and up again, then compares the schema with testdata/golden,
// which -update rewrites.
func checkHistory(t *testing.T, p *goose.Provider, schema func() string, golden string) {
	t.Helper()
	ctx := context.Background()
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up() error = %v", err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0) error = %v", err)
	}
	if got := schema(); got != "" {
		t.Fatalf("schema left after migrating down to 0:\n%s", got)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up() after down error = %v", err)
	}
	golden = filepath.Join("testdata", golden)
	got := schema()
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
}

// schema dumps the database's tables, indexes and triggers, goose's own
// bookkeeping table excepted.
func schema(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, sql FROM sqlite_master
		WHERE name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' AND sql IS NOT NULL
		ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		b.WriteString("-- " + typ + " " + name + "\n" + text + ";\n\n")
	}
	return b.String()
}

// TestServer_MembershipsRecorded checks how 00008 dates the memberships
// that exist before it: when the audit log says they were added, and by
// whom, or else at their start.
func TestServer_MembershipsRecorded(t *testing.T) {
	db, p := serverAt(t, 7)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO organisations VALUES ('oak', 'Oak Care', 0)`,
		`INSERT INTO services VALUES ('house-a', 'oak', 'House A', 0)`,
		`INSERT INTO users VALUES ('ana', 'oak', 'Ana', '', 0)`,
		`INSERT INTO memberships (id, user_id, service_id, role, starts_at, ends_at) VALUES (1, 'ana', 'house-a', 'support_worker', 1000, 2000)`,
		`INSERT INTO memberships (id, user_id, service_id, role, starts_at) VALUES (2, 'ana', 'house-a', 'manager', 3000)`,
		`INSERT INTO audit_log (at, actor_user, actor_device, action, subject, detail, prev_hash, hash)
			VALUES (5000, 'meera', 'tablet', 'membership.add', 'ana', '{"membership":1,"role":"support_worker"}', x'00', x'00')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT id, created_at, created_by FROM memberships ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type recorded struct {
		id, at int64
		by     string
	}
	var got []recorded
	for rows.Next() {
		var r recorded
		if err := rows.Scan(&r.id, &r.at, &r.by); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	// Membership 1 was added (at 5000) after it ended (at 2000): back-dated.
	want := []recorded{{1, 5000, "meera"}, {2, 3000, ""}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(recorded{})); diff != "" {
		t.Errorf("memberships after 00008 (-want +got):\n%s", diff)
	}
}

// TestServer_QuarantineScope migrates a store holding quarantined changes
// from before they were kept under their pusher's scope: organisation 2's
// junk claiming organisation 1's service is kept under organisation 2's
// service, a change of a pusher's own service under that service, and each
// device's daily totals are counted.
func TestServer_QuarantineScope(t *testing.T) {
	db, p := serverAt(t, 7)
	ctx := context.Background()
	const midnight = "1772409600000" // 2026-03-02T00:00:00Z, Unix ms
	for _, q := range []string{
		`INSERT INTO organisations (id, name, created_at) VALUES ('org-1', 'One', 0), ('org-2', 'Two', 0)`,
		`INSERT INTO services (id, organisation_id, name, created_at) VALUES ('house-a', 'org-1', 'A', 0), ('house-z', 'org-2', 'Z', 0)`,
		`INSERT INTO users (id, organisation_id, name, created_at) VALUES ('ana', 'org-1', 'Ana', 0), ('zed', 'org-2', 'Zed', 0)`,
		`INSERT INTO memberships (user_id, service_id, role, starts_at) VALUES ('ana', 'house-a', 'support_worker', 0), ('zed', 'house-z', 'support_worker', 0)`,
		`INSERT INTO quarantine (device_id, user_id, counter, record_id, record_type, service_id, reason, message, payload, received_at) VALUES
			('phone-a', 'ana', 1, 'r1', 'incident', 'house-a', 'unknown_field', 'm', '{"x":"é"}', ` + midnight + ` + 1000),
			('phone-z', 'zed', 1, 'r2', 'incident', 'house-a', 'permission_denied', 'm', '{}', ` + midnight + ` + 2000),
			('phone-z', 'zed', 2, 'r3', 'incident', '', 'missing_service', 'm', '{}', ` + midnight + ` + 86400000)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got := func(query string) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var a, b, c string
			if err := rows.Scan(&a, &b, &c); err != nil {
				t.Fatal(err)
			}
			out = append(out, a+" "+b+" "+c)
		}
		return out
	}
	scope := got(`SELECT q.record_id, s.service_id, '' FROM quarantine_services s JOIN quarantine q ON q.id = s.quarantine_id ORDER BY 1`)
	if diff := cmp.Diff([]string{"r1 house-a ", "r2 house-z ", "r3 house-z "}, scope); diff != "" {
		t.Errorf("quarantine_services (-want +got):\n%s", diff)
	}
	days := got(`SELECT device_id, day - ` + midnight + `, entries || ':' || bytes FROM quarantine_days ORDER BY 1, 2`)
	if diff := cmp.Diff([]string{"phone-a 0 1:10", "phone-z 0 1:2", "phone-z 86400000 1:2"}, days); diff != "" {
		t.Errorf("quarantine_days (-want +got):\n%s", diff)
	}
}

// serverAt returns a server store in t.TempDir() migrated up to version,
// and the provider that migrates it further: a migration's test fills the
// tables as they were before it, then moves on.
func serverAt(t *testing.T, version int64) (*sql.DB, *goose.Provider) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "s.db")+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.Server)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return db, p
}
