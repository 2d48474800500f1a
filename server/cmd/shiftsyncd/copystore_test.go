package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestAdmin_CopyStore moves a SQLite store that phones synced with into
// PostgreSQL: every table holds the same rows, the audit chain verifies,
// and a phone enrolled before the move pulls on from its cursor (no
// resync) and pushes on from its counter.
func TestAdmin_CopyStore(t *testing.T) {
	ctx := context.Background()
	path, dsn := filepath.Join(t.TempDir(), "shiftsync.db"), shiftsynctest.PostgresDSN(t)

	before := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	phone := before.EnrolDevice(t, "worker-1", shiftsync.RoleSupportWorker, "house-a")
	client := before.Client(phone.Token)
	id := shiftsynctest.RecordID(t)
	at := before.Clock.Now()
	bad := shiftsynctest.Incident(2, shiftsynctest.RecordID(t), "house-a", "p1", at, "")
	bad.Fields = bad.Fields[:1] // missing required fields: quarantined
	if _, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.Incident(1, id, "house-a", "p1", at, "before the move"), bad}}); err != nil {
		t.Fatal(err)
	}
	_, page, err := shiftsynctest.PullFrom(ctx, client, "")
	if err != nil {
		t.Fatal(err)
	}
	cursor := page.GetNextCursor()
	before.Close()

	state := t.TempDir()
	var out strings.Builder
	if err := run(ctx, []string{"admin", "-state", state, "copy-store", "-from", path, "-to", dsn}, &out, io.Discard); err != nil {
		t.Fatalf("copy-store: %v", err)
	}
	if err := run(ctx, []string{"admin", "-state", state, "copy-store", "-from", path, "-to", dsn}, io.Discard, io.Discard); err == nil {
		t.Error("a second copy-store into the same database succeeded; want it refused")
	}

	shiftsynctest.SameTables(t, path, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var quarantined int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM quarantine`).Scan(&quarantined); err != nil || quarantined != 1 {
		t.Errorf("quarantine holds %d changes, %v; want the one refused before the move", quarantined, err)
	}

	after := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(dsn)))
	defer after.Close()
	n, err := after.Store.Audit.VerifyAudit(ctx)
	if err != nil || n == 0 {
		t.Fatalf("VerifyAudit after the move = %d, %v", n, err)
	}
	client = after.Client(phone.Token) // its access token was signed by a key the move kept
	changes, _, err := shiftsynctest.PullFrom(ctx, client, cursor)
	if err != nil || len(changes) != 0 {
		t.Fatalf("pull from the cursor of before the move = %d changes, %v; want none and no resync", len(changes), err)
	}
	res, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.Incident(3, shiftsynctest.RecordID(t), "house-a", "p1", at, "after the move")}})
	if err != nil || res.GetAcknowledgedCounter() != 3 {
		t.Fatalf("push after the move = %v, %v; want counter 3 acknowledged", res, err)
	}
	if changes, _, err = shiftsynctest.PullFrom(ctx, client, cursor); err != nil || len(changes) == 0 {
		t.Fatalf("pull from the old cursor after a push = %d changes, %v; want the new record", len(changes), err)
	}
}

// TestAdmin_CopyStoreRefusesWhileServing: a push acknowledged after the copy
// read its table would be on no store once the phones move, so copy-store
// refuses a database a server holds.
func TestAdmin_CopyStoreRefusesWhileServing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shiftsync.db")
	m := NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir, m.Addr = db, dir, "127.0.0.1:0"
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err := run(t.Context(), []string{"admin", "-state", t.TempDir(), "copy-store", "-from", db, "-to", "postgres://127.0.0.1:1/never"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in use by shiftsyncd serve") {
		t.Fatalf("copy-store of a served database = %v, want it refused naming the server", err)
	}
}
