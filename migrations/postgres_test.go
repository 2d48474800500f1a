package migrations_test

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/shiftsync/shiftsync/migrations"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// TestMigrations_Postgres migrates a new PostgreSQL schema up, all the way
// down and up again, then compares the schema (columns, constraints,
// indexes, triggers) with testdata/postgres.golden.txt, as TestMigrations
// does for the SQLite ones.
func TestMigrations_Postgres(t *testing.T) {
	db, err := sql.Open("pgx", shiftsynctest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, p, func() string { return postgresSchema(t, db) }, "postgres.golden.txt")
}

// postgresSchema describes the current schema's tables (goose's excepted):
// each column with its type, nullability and default, then every
// constraint, index and trigger, with the schema's own name left out.
func postgresSchema(t *testing.T, db *sql.DB) string {
	t.Helper()
	var current string
	if err := db.QueryRow(`SELECT current_schema()`).Scan(&current); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, q := range []string{
		`SELECT 'column ' || table_name || '.' || column_name, data_type || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END ||
			coalesce(' DEFAULT ' || column_default, '') || CASE WHEN is_identity = 'YES' THEN ' IDENTITY' ELSE '' END
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'
			ORDER BY table_name, ordinal_position`,
		`SELECT 'constraint ' || c.conrelid::regclass::text || '.' || c.conname, pg_get_constraintdef(c.oid)
			FROM pg_constraint c WHERE c.connamespace = current_schema()::regnamespace AND c.conrelid::regclass::text <> 'goose_db_version'
			ORDER BY 1`,
		`SELECT 'index ' || indexname, indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename <> 'goose_db_version' ORDER BY indexname`,
		`SELECT 'trigger ' || t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
			WHERE r.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal ORDER BY 1`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				t.Fatal(err)
			}
			b.WriteString(name + ": " + strings.ReplaceAll(def, current+".", "") + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}
