package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// serverDSN is the PostgreSQL the tests use: SHIFTSYNC_TEST_POSTGRES, or
// the machine's (trust auth).
func serverDSN() string {
	if dsn := os.Getenv("SHIFTSYNC_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// testDatabase is the database this package's tests make their schemas
// in, created once.
const testDatabase = "pg_postgres_test"

var (
	databaseOnce sync.Once
	databaseDSN  string
	databaseErr  error
)

// MustDSN returns the DSN of a new, empty schema of the package's test
// database, dropped when the test ends. With no PostgreSQL answering it
// skips the test, or fails it when CI=true.
func MustDSN(tb testing.TB) string {
	tb.Helper()
	databaseOnce.Do(func() { databaseDSN, databaseErr = createDatabase() })
	if databaseErr != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at %s: %v", serverDSN(), databaseErr)
		}
		tb.Skipf("no PostgreSQL at %s (%v): start it, or set SHIFTSYNC_TEST_POSTGRES; under CI=true this fails", serverDSN(), databaseErr)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseDSN)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "pgtest_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, databaseDSN)
		if err != nil {
			tb.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Error(err)
		}
	})
	return withParam(databaseDSN, "search_path", schema)
}

// createDatabase makes the package's test database if it is missing and
// returns its DSN.
func createDatabase() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverDSN())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var pgErr *pgconn.PgError
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+testDatabase); err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") {
		return "", err
	}
	cfg := conn.Config()
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: cfg.Host + ":" + strconv.Itoa(int(cfg.Port)), Path: "/" + testDatabase, RawQuery: "sslmode=disable"}
	return u.String(), nil
}

// withParam adds a runtime parameter to a URL DSN.
func withParam(dsn, key, value string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}

// MustOpenDB opens a store on a new schema, with its clock at
// shiftsynctest.Epoch, and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*postgres.DB, *shiftsynctest.Clock) {
	tb.Helper()
	clock := shiftsynctest.NewClock(shiftsynctest.Epoch)
	db := postgres.NewDB(MustDSN(tb))
	db.Now = clock.Now
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open() error = %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db, clock
}
