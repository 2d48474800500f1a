package sqlite_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/storetest"
)

var dump = flag.Bool("dump", false, "print the path of each test database")

// MustOpenDB opens a store on a new file in tb.TempDir(), with its clock at
// shiftsynctest.Epoch, and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*sqlite.DB, *shiftsynctest.Clock) {
	tb.Helper()
	return MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "shiftsync.db"))
}

// MustOpenDBAt opens a store on the file at path.
func MustOpenDBAt(tb testing.TB, path string) (*sqlite.DB, *shiftsynctest.Clock) {
	tb.Helper()
	if *dump {
		tb.Logf("database: %s", path)
	}
	clock := shiftsynctest.NewClock(shiftsynctest.Epoch)
	db := sqlite.NewDB(path)
	db.Now = clock.Now
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open() error = %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close() error = %v", err)
		}
	})
	return db, clock
}

// MustSyncService returns a SyncService on db validating against the real
// record schema, granting principals the services on their tokens.
func MustSyncService(tb testing.TB, db *sqlite.DB) *shiftsync.Sync {
	tb.Helper()
	records, err := schema.Records()
	if err != nil {
		tb.Fatal(err)
	}
	addPeople(tb, db)
	return &shiftsync.Sync{Store: db, Schema: records, Access: shiftsync.TokenScope{}, Now: db.Now}
}

// addPeople adds the people [incident] writes about to the directory, with
// their services, keeping any already there.
func addPeople(tb testing.TB, db *sqlite.DB) {
	tb.Helper()
	id, ctx := sqlite.NewIdentityService(db), context.Background()
	keep := func(err error) {
		tb.Helper()
		if err != nil && shiftsync.ErrorCode(err) != shiftsync.CodeAlreadyExists {
			tb.Fatal(err)
		}
	}
	keep(id.CreateOrganisation(ctx, admin, "org-1", "Oak Care"))
	for _, service := range []string{"house-a", "house-b"} {
		keep(id.CreateService(ctx, admin, service, "org-1", service))
		keep(id.CreatePerson(ctx, admin, personIn(service), service, personIn(service)))
	}
}

// personIn returns the person [incident] writes about in the service.
func personIn(service string) string {
	if service == "house-b" {
		return "person-b-lou"
	}
	return "person-ada"
}

// newID returns a fresh UUIDv7.
func newID(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

// incident returns a mutation creating an incident at hlc with its required
// fields.
func incident(counter uint64, recordID, service string, hlc shiftsync.HLC, description string) shiftsync.Mutation {
	return shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: service, PersonID: personIn(service)},
		Counter:   counter,
		HLC:       hlc,
		Fields: []shiftsync.FieldEdit{
			{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: hlc.Time().Add(-time.Minute)}},
			{Field: "behaviour_description", Value: shiftsync.Value{Kind: shiftsync.KindString, String: description}},
		},
	}
}

// edit returns a mutation setting string field place (or another string
// field) of an existing incident, on top of base.
func edit(counter uint64, recordID, service string, hlc shiftsync.HLC, field, value string, base shiftsync.Version) shiftsync.Mutation {
	return shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: service, PersonID: personIn(service)},
		Counter:   counter,
		HLC:       hlc,
		Fields:    []shiftsync.FieldEdit{{Field: field, Value: shiftsync.Value{Kind: shiftsync.KindString, String: value}, Base: base}},
	}
}

// at returns the HLC d after the epoch.
func at(d time.Duration) shiftsync.HLC {
	return shiftsync.HLC{WallMS: shiftsynctest.Epoch.Add(d).UnixMilli()}
}

// mustPush pushes and fails the test on a request-level error.
func mustPush(tb testing.TB, s *shiftsync.Sync, p shiftsync.Principal, ms ...shiftsync.Mutation) shiftsync.PushResult {
	tb.Helper()
	res, err := s.Push(context.Background(), p, ms)
	if err != nil {
		tb.Fatalf("Push() error = %v", err)
	}
	return res
}

// current returns "record.field=value@version" for every current field, sorted:
// the state replicas must converge on.
func current(tb testing.TB, s *shiftsync.Sync, services ...string) []string {
	tb.Helper()
	changes, _ := storetest.PullAll(tb, s, shiftsync.Principal{UserID: "reader", DeviceID: "reader", Services: services}, shiftsync.Cursor{}, 1000)
	var out []string
	for _, c := range changes {
		v, err := shiftsync.MarshalValue(c.Value)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s.%s=%s@%d.%d/%s", c.RecordID, c.Field, v, c.Version.HLC.WallMS, c.Version.HLC.Logical, c.Version.DeviceID))
	}
	sort.Strings(out)
	return out
}

// dumpTables returns every row of the sync tables as text, to compare whole
// store states.
func dumpTables(tb testing.TB, path string) map[string][]string {
	tb.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	out := map[string][]string{}
	for _, table := range []string{"records", "field_versions", "fields", "mutations", "conflicts", "quarantine"} {
		rows, err := conn.Query(`SELECT * FROM ` + table + ` ORDER BY 1, 2`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = fmt.Sprintf("%v", v)
			}
			out[table] = append(out[table], strings.Join(parts, "|"))
		}
		rows.Close()
	}
	return out
}

// rawDB opens a read-only connection to the store's file, closed when the
// test ends, for assertions on tables the API does not expose.
func rawDB(tb testing.TB, db *sqlite.DB) *sql.DB {
	tb.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db.Path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}
