package main

import (
	"context"
	"database/sql"
	"fmt"
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

// TestAdmin_VerifyDigests pushes records (an edit among them), checks that
// verify-digests finds the stored digests equal to a rebuild, then changes
// one field row behind the server's back (a raw UPDATE, as a bad restore
// or a corrupt page would): verify-digests exits non-zero naming the unit
// and bucket of that record, and no other. On SQLite and PostgreSQL.
func TestAdmin_VerifyDigests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		db      func(tb testing.TB) string
		open    func(db string) wiring.OpenStore
		corrupt func(t *testing.T, db, recordID string)
	}{
		{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "s.db") }, wiring.SQLite,
			func(t *testing.T, db, recordID string) {
				conn, err := sql.Open("sqlite3", "file:"+db)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.Exec(`UPDATE fields SET hlc = hlc + 1 WHERE record_id = ? AND field = 'behaviour_description'`, recordID); err != nil {
					t.Fatal(err)
				}
			}},
		{"postgres", shiftsynctest.PostgresDSN, wiring.Postgres,
			func(t *testing.T, db, recordID string) {
				ctx := context.Background()
				conn, err := pgx.Connect(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if _, err := conn.Exec(ctx, `UPDATE fields SET hlc = hlc + 1 WHERE record_id = $1 AND field = 'behaviour_description'`, recordID); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := tc.db(t)
			srv := shiftsynctest.NewServer(t, shiftsynctest.WithStore(tc.open(db)))
			phone := srv.EnrolDevice(t, "worker-1", shiftsync.RoleSupportWorker, "house-a")
			client := srv.Client(phone.Token)
			at := srv.Clock.Now()
			a, b := shiftsynctest.RecordID(t), shiftsynctest.RecordID(t)
			edit := shiftsynctest.Incident(3, a, "house-a", "p1", at.Add(1), "edited")
			edit.Fields = edit.Fields[1:]
			edit.Fields[0].Base = &syncv1.Version{Hlc: shiftsynctest.HLC(at, 0), DeviceId: phone.DeviceID}
			res, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
				shiftsynctest.Incident(1, a, "house-a", "p1", at, "first"),
				shiftsynctest.Incident(2, b, "house-a", "p2", at, "other"),
				edit,
			}})
			if err != nil || res.GetAcknowledgedCounter() != 3 {
				t.Fatalf("Push() = %v, %v", res, err)
			}
			srv.Close()

			var out strings.Builder
			if err := run(ctx, []string{"admin", "-db", db, "verify-digests"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "digests match") {
				t.Fatalf("verify-digests on a sound store: %v\n%s", err, out.String())
			}
			tc.corrupt(t, db, a)
			out.Reset()
			err = run(ctx, []string{"admin", "-db", db, "verify-digests"}, &out, io.Discard)
			if err == nil {
				t.Fatalf("verify-digests after a corrupt row succeeded:\n%s", out.String())
			}
			want := fmt.Sprintf(`service "house-a" person "p1" record type "incident" agency "" bucket %d:`, shiftsync.DigestBucket(a))
			if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], want) {
				t.Errorf("verify-digests printed\n%s\nwant one line with %s", out.String(), want)
			}
		})
	}
}
