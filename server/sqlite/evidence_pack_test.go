package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestEvidencePack_Tampered exports a pack of Sam's incident and PRN
// administration from a server on a SQLite file, then alters the file
// behind the server's back: a stored version first, so verifying reports
// that record and not the manifest, then the stored manifest, so verifying
// reports it altered. (server/rpc's TestEvidencePack covers the export and
// a pack that keeps verifying after a later correction.)
func TestEvidencePack_Tampered(t *testing.T) {
	const (
		incident = "01900000-0000-7000-8000-000000000001"
		prn      = "01900000-0000-7000-8000-000000000004"
	)
	path := filepath.Join(t.TempDir(), "shiftsync.db")
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	ctx := context.Background()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	at := func(hh, mm int) time.Time {
		return shiftsynctest.Epoch.Add(time.Duration(hh-7)*time.Hour + time.Duration(mm)*time.Minute)
	}
	set, str, ts, list, num := shiftsynctest.Set, shiftsynctest.String, shiftsynctest.Time, shiftsynctest.List, shiftsynctest.Int
	push := func(counter uint64, id, recordType string, when time.Time, edits ...*syncv1.FieldEdit) {
		t.Helper()
		if d := when.Sub(s.Clock.Now()); d > 0 {
			s.Clock.Advance(d)
		}
		token, _, err := s.Issuer.Issue(ctx, worker.UserID, worker.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{{
			Counter: counter, RecordId: id, RecordType: recordType, ServiceId: "house-a", PersonId: "sam", Hlc: shiftsynctest.HLC(when, 0), Fields: edits}}})
		if err != nil {
			t.Fatal(err)
		}
		if r := res.GetResults()[0]; r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
			t.Fatalf("%s: %s %s", recordType, r.GetReasonCode(), r.GetReason())
		}
	}
	push(1, incident, "incident", at(8, 25), set("started_at", ts(at(7, 40))), set("ended_at", ts(at(7, 55))),
		set("baseline_regained_at", ts(at(8, 20))), set("setting_events", list("SETTING_EVENT_TRANSITION")),
		set("behaviour_description", str("Hit the door frame when the minibus was late")), set("intensity_property", num(2)), set("intensity_others", num(1)))
	push(2, prn, "prn_administration", at(19, 0), set("given_at", ts(at(18, 45))), set("medicine", str("Lorazepam")),
		set("dose", str("0.5 mg")), set("protocol_id", str("PRN-SAM-1")), set("non_drug_strategies_tried", str("quiet room, weighted blanket")))
	s.Clock.Advance(24 * time.Hour)
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	review := reviewv1connect.NewReviewServiceClient(shiftsynctest.HTTPClient(), s.URL, shiftsynctest.WithToken(manager.Token))
	res, err := review.ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(shiftsynctest.Epoch.Add(-24 * time.Hour)), To: timestamppb.New(shiftsynctest.Epoch.Add(14 * 24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	verify := func() *reviewv1.VerifyEvidencePackResponse {
		t.Helper()
		v, err := review.VerifyEvidencePack(ctx, &reviewv1.VerifyEvidencePackRequest{PackId: res.GetPackId()})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(); !v.GetOk() || v.GetRecordsChecked() != 2 {
		t.Fatalf("fresh pack: %v, want both records checked", v)
	}

	// Someone edits a stored version, then the stored manifest, directly.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE field_versions SET value = '{"s":"Lorazepam 2 mg"}' WHERE record_id = ? AND field = 'medicine'`, prn); err != nil {
		t.Fatal(err)
	}
	if v := verify(); v.GetOk() || !slices.Equal(v.GetMismatchedRecordIds(), []string{prn}) || v.GetManifestAltered() {
		t.Errorf("after altering a version: %v, want the PRN administration reported", v)
	}
	if _, err := raw.Exec(`UPDATE evidence_packs SET manifest = replace(manifest, '"exported_by":"meera"', '"exported_by":"someone"')`); err != nil {
		t.Fatal(err)
	}
	if v := verify(); !v.GetManifestAltered() {
		t.Errorf("after altering the manifest: %v, want it reported", v)
	}
}
