package replica_test

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
)

// TestVerify_RepairsACorruptedField: two phones sync records; each sync
// that caught up verifies and matches, and keeps the server's signed
// checkpoint. Then one field value in a replica's file is changed behind
// the library's back (a raw UPDATE, as a corrupt flash page or a bug
// would): the next sync's Verify finds that record's unit and bucket, and
// only it, differing, pulls the bucket again, writes the server's value
// back and verifies (match). A change to the server-side copy the phone
// cannot repair (a field the server does not hold) is reported as a
// mismatch naming the bucket, once, and kept as the checkpoint.
func TestVerify_RepairsACorruptedField(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRepair(t, shiftsynctest.NewServer(t)) })
	t.Run("PostgreSQL", func(t *testing.T) {
		testRepair(t, shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(shiftsynctest.PostgresDSN(t)))))
	})
}

func testRepair(t *testing.T, s *shiftsynctest.Server) {
	a, b := newDevice(t, s, "phone-a"), newDevice(t, s, "phone-b")
	var ids []string
	for _, d := range []string{"one", "two", "three"} {
		ids = append(ids, a.logIncident(d, ""))
	}
	if rep := a.sync(); rep.Verify != replica.VerifyMatch || rep.Repaired != 0 {
		t.Fatalf("first sync: Verify %q (%s), Repaired %d", rep.Verify, rep.VerifyError, rep.Repaired)
	}
	if rep := b.sync(); rep.Verify != replica.VerifyMatch {
		t.Fatalf("phone-b sync: Verify %q (%s)", rep.Verify, rep.VerifyError)
	}
	var checkpoint struct {
		VerifiedAtMs int64
		Cursor       string
		KeyID        string
		Signature    []byte
		Mismatch     json.RawMessage
	}
	v, err := b.Verification()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(v), &checkpoint); err != nil || checkpoint.VerifiedAtMs == 0 || checkpoint.Cursor == "" || len(checkpoint.Signature) == 0 || string(checkpoint.Mismatch) != "null" {
		t.Fatalf("checkpoint after a match = %s (%v)", v, err)
	}

	corrupt := func(query string, args ...any) {
		t.Helper()
		db, err := sql.Open("sqlite3", "file:"+b.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(query, args...); err != nil {
			t.Fatal(err)
		}
	}
	corrupt(`UPDATE fields SET value = '{"stringValue":"tampered"}' WHERE record_id = ? AND field = 'behaviour_description'`, ids[1])
	rep := b.sync()
	want := `[{"serviceId":"house-a","personId":"person-ada","recordType":"incident","bucket":` + itoa(shiftsync.DigestBucket(ids[1])) + `}]`
	if rep.Repaired != 1 || rep.RepairedJSON != want || rep.Verify != replica.VerifyMatch || rep.MismatchJSON != "[]" {
		t.Fatalf("sync after a corrupted field: Repaired %d %s, Verify %q (%s), mismatch %s; want the bucket %s repaired, then a match",
			rep.Repaired, rep.RepairedJSON, rep.Verify, rep.VerifyError, rep.MismatchJSON, want)
	}
	got, err := b.RecordJSON(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `"two"`) || strings.Contains(got, "tampered") {
		t.Errorf("record after the repair = %s, want the server's value back", got)
	}

	// A field the server never held: the repair cannot remove it (it
	// deletes nothing), so the sync reports the mismatch once.
	corrupt(`INSERT INTO fields (record_id, field, value, wall_ms, logical, device_id) VALUES (?, 'place', '{"stringValue":"nowhere"}', 1, 0, 'phone-x')`, ids[2])
	rep = b.sync()
	want = `[{"serviceId":"house-a","personId":"person-ada","recordType":"incident","bucket":` + itoa(shiftsync.DigestBucket(ids[2])) + `}]`
	if rep.Repaired != 1 || rep.Verify != replica.VerifyMismatch || rep.MismatchJSON != want {
		t.Fatalf("sync with a field the server lacks: Repaired %d, Verify %q (%s), mismatch %s; want %s", rep.Repaired, rep.Verify, rep.VerifyError, rep.MismatchJSON, want)
	}
	if v, _ := b.Verification(); !strings.Contains(v, `"mismatch":`+want) {
		t.Errorf("checkpoint after a mismatch = %s", v)
	}
}

// TestVerify_SkippedWithAnOutbox: a sync whose outbox is not empty when it
// ends (a change quarantined, kept rejected) does not verify.
func TestVerify_SkippedWithAnOutbox(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	a := newDevice(t, s, "phone-a")
	a.logIncident("fine", "")
	if _, err := a.Create("incident", "house-b", "person-ada", `{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"not my service"}}`); err != nil {
		t.Fatal(err)
	}
	if rep := a.sync(); rep.Verify != replica.VerifySkipped || rep.Quarantined != 1 {
		t.Errorf("sync with a rejected change: Verify %q, quarantined %d; want skipped, 1", rep.Verify, rep.Quarantined)
	}
	if v, err := a.Verification(); err != nil || v != "{}" {
		t.Errorf("Verification() = %s, %v; want never verified", v, err)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
