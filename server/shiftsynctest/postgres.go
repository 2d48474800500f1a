package shiftsynctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresServer is the PostgreSQL the tests use: SHIFTSYNC_TEST_POSTGRES,
// or the machine's (127.0.0.1:5432, trust auth).
func PostgresServer() string {
	if dsn := os.Getenv("SHIFTSYNC_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	databaseOnce sync.Once
	databaseDSN  string
	databaseErr  error
)

// PostgresDSN returns the DSN of a new, empty schema, dropped when the test
// ends, in the test binary's own database (pg_<package>_test, created once),
// so tests of several packages and agents running at once do not meet.
// With no PostgreSQL answering it skips the test, or fails it when CI=true.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	databaseOnce.Do(func() { databaseDSN, databaseErr = createDatabase() })
	if databaseErr != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at %s: %v", PostgresServer(), databaseErr)
		}
		tb.Skipf("no PostgreSQL at %s (%v): start it, or name one in SHIFTSYNC_TEST_POSTGRES; under CI=true this fails", PostgresServer(), databaseErr)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b) // pg_ prefixes are reserved for system schemas
	if err := execPostgres(databaseDSN, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := execPostgres(databaseDSN, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Error(err)
		}
	})
	return databaseDSN + "&search_path=" + schema
}

// createDatabase makes the test binary's database if it is missing and
// returns its DSN.
func createDatabase() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, PostgresServer())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := "pg_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(filepath.Base(os.Args[0])))
	var pgErr *pgconn.PgError
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
		return "", err
	}
	cfg := conn.Config()
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: cfg.Host + ":" + strconv.Itoa(int(cfg.Port)), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String(), nil
}

// execPostgres runs one statement on its own connection.
func execPostgres(dsn, statement string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, statement)
	return err
}
