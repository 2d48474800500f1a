package shiftsynctest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3" // the driver of the SQLite side
)

// migrationTables are the tables of goose and SQLite themselves, which
// belong to neither store's schema.
var migrationTables = []string{"goose_db_version", "sqlite_sequence"}

// SameTables fails the test unless the SQLite store in the file at path and
// the PostgreSQL database at dsn hold the same tables with the same rows:
// every column of each SQLite table, row for row (in any order), with the
// values as copy-store converts them (a SQLite integer for a boolean, text
// or bytes alike). Columns only PostgreSQL keeps, such as a row's
// transaction id, are not compared. It returns how many rows it compared.
func SameTables(tb testing.TB, path, dsn string) int {
	tb.Helper()
	ctx := context.Background()
	lite, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer lite.Close()
	pg, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer pg.Close(ctx)

	var liteTables []string
	names, err := lite.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	defer names.Close()
	for names.Next() {
		var name string
		if err := names.Scan(&name); err != nil {
			tb.Fatal(err)
		}
		liteTables = append(liteTables, name)
	}
	if err := names.Err(); err != nil {
		tb.Fatal(err)
	}
	var pgTables []string
	rows, err := pg.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err == nil {
		pgTables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		tb.Fatal(err)
	}
	liteTables = slices.DeleteFunc(liteTables, func(t string) bool { return slices.Contains(migrationTables, t) })
	pgTables = slices.DeleteFunc(pgTables, func(t string) bool { return slices.Contains(migrationTables, t) })
	slices.Sort(pgTables)
	if !slices.Equal(liteTables, pgTables) {
		tb.Fatalf("the stores hold different tables:\nSQLite     %v\nPostgreSQL %v", liteTables, pgTables)
	}

	compared := 0
	for _, table := range liteTables {
		liteRows, columns, err := sqliteRows(ctx, lite, table)
		if err != nil {
			tb.Fatalf("%s in SQLite: %v", table, err)
		}
		pgRows, err := postgresRows(ctx, pg, table, columns)
		if err != nil {
			tb.Fatalf("%s in PostgreSQL: %v", table, err)
		}
		if missing, extra := difference(liteRows, pgRows), difference(pgRows, liteRows); len(missing)+len(extra) > 0 {
			tb.Errorf("%s (%s): %d of %d rows missing from PostgreSQL, %d there that SQLite lacks; first missing %v, first extra %v",
				table, strings.Join(columns, ", "), len(missing), len(liteRows), len(extra), first(missing, 3), first(extra, 3))
		}
		compared += len(liteRows)
	}
	return compared
}

// sqliteRows returns every row of the table in SQLite, each as one
// canonical string, and the table's columns.
func sqliteRows(ctx context.Context, db *sql.DB, table string) ([]string, []string, error) {
	rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`) // a name sqlite_master gave
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for rows.Next() {
		values := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, canonicalRow(values))
	}
	return out, columns, rows.Err()
}

// postgresRows returns the named columns of every row of the table in
// PostgreSQL, each row as one canonical string.
func postgresRows(ctx context.Context, conn *pgx.Conn, table string, columns []string) ([]string, error) {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	rows, err := conn.Query(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM `+pgx.Identifier{table}.Sanitize())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		values, err := row.Values()
		return canonicalRow(values), err
	})
}

// canonicalRow writes a row's values in one form for both stores.
func canonicalRow(values []any) string {
	parts := make([]string, len(values))
	for i, v := range values {
		switch v := v.(type) {
		case nil:
			parts[i] = "NULL"
		case bool:
			parts[i] = map[bool]string{false: "0", true: "1"}[v]
		case int64:
			parts[i] = strconv.FormatInt(v, 10)
		case int32:
			parts[i] = strconv.FormatInt(int64(v), 10)
		case float64:
			parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
		case string:
			parts[i] = strconv.Quote(v)
		case []byte:
			parts[i] = strconv.Quote(string(v))
		default:
			parts[i] = fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return strings.Join(parts, "|")
}

// difference returns the rows of a not in b, counting repeats.
func difference(a, b []string) []string {
	left := map[string]int{}
	for _, r := range b {
		left[r]++
	}
	var out []string
	for _, r := range a {
		if left[r] > 0 {
			left[r]--
			continue
		}
		out = append(out, r)
	}
	return out
}

func first(rows []string, n int) []string { return rows[:min(n, len(rows))] }
