package rpc_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// packRecord returns the fixed id of the scenario's n-th record.
func packRecord(n int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }

// packScenario records a fortnight of Sam's support with fixed ids and
// times, and returns the manager's token at export time.
func packScenario(t *testing.T, s *shiftsynctest.Server) string {
	t.Helper()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	lead := s.EnrolDevice(t, "priya", shiftsync.RolePBSLead, "house-a")
	s.AddPerson(t, "house-a", "other-person")
	day := func(d, hh, mm int) time.Time {
		return shiftsynctest.Epoch.Add(time.Duration(d*24+hh-7)*time.Hour + time.Duration(mm)*time.Minute)
	}
	record := func(device shiftsynctest.Enrolment, counter uint64, n int, recordType, person string, at time.Time, edits ...*syncv1.FieldEdit) {
		t.Helper()
		if d := at.Sub(s.Clock.Now()); d > 0 {
			s.Clock.Advance(d)
		}
		r := pushOne(t, s, mustToken(t, s, device), &syncv1.Mutation{Counter: counter, RecordId: packRecord(n), RecordType: recordType,
			ServiceId: "house-a", PersonId: person, Hlc: shiftsynctest.HLC(at, 0), Fields: edits})
		if r.GetStatus() != accepted {
			t.Fatalf("record %d (%s): %s %s", n, recordType, r.GetReasonCode(), r.GetReason())
		}
	}
	set, str, ts, enum, num, list := shiftsynctest.Set, shiftsynctest.String, shiftsynctest.Time, shiftsynctest.Enum, shiftsynctest.Int, shiftsynctest.List
	record(worker, 1, 1, "incident", "sam", day(0, 8, 25), set("started_at", ts(day(0, 7, 40))), set("ended_at", ts(day(0, 7, 55))),
		set("baseline_regained_at", ts(day(0, 8, 20))), set("setting_events", list("SETTING_EVENT_TRANSITION")),
		set("behaviour_description", str("Hit the door frame when the minibus was late")), set("intensity_property", num(2)), set("intensity_others", num(1)))
	record(worker, 2, 2, "restrictive_intervention", "sam", day(0, 8, 30), set("incident_id", str(packRecord(1))),
		set("type_code", enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING")), set("reason_code", enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS")),
		set("started_at", ts(day(0, 7, 45))), set("ended_at", ts(day(0, 7, 51))), set("in_care_plan", shiftsynctest.Bool(true)))
	record(lead, 1, 8, "incident", "other-person", day(1, 9, 0), set("started_at", ts(day(1, 8, 0))), set("behaviour_description", str("Not about Sam")))
	record(lead, 2, 5, "debrief", "sam", day(1, 14, 0), set("kind", enum("DEBRIEF_KIND_POST_INCIDENT_REVIEW")), set("held_at", ts(day(1, 13, 0))),
		set("restrictive_intervention_ids", list(packRecord(2))), set("learning_points", str("Confirm the minibus time the night before")))
	record(lead, 3, 6, "shift_brief", "sam", day(1, 15, 0), set("version", num(4)), set("published_at", ts(day(1, 15, 0))),
		set("changes_summary", str("Minibus time on Sam's board by 20:00")))
	record(lead, 4, 7, "action", "sam", day(1, 15, 0), set("action_text", str("Clinical assessment of changed needs")),
		set("definition_of_done", str("Report shared")), set("agency", str("community_ld_team")), set("owner_role", str("Community LD nurse")),
		set("deputy_role", str("Team manager")), set("created_at", ts(day(1, 15, 0))), set("deadline", ts(day(5, 17, 0))), set("status", enum("ACTION_STATUS_NOT_STARTED")))
	record(worker, 3, 3, "early_warning_sign", "sam", day(2, 7, 50), set("observed_at", ts(day(2, 7, 30))), set("sign", str("pacing by the front door")),
		set("outcome", enum("EARLY_WARNING_OUTCOME_SETTLED")), set("settled_at", ts(day(2, 7, 45))))
	record(worker, 4, 4, "prn_administration", "sam", day(3, 19, 0), set("given_at", ts(day(3, 18, 45))), set("medicine", str("Lorazepam")),
		set("dose", str("0.5 mg")), set("protocol_id", str("PRN-SAM-1")), set("non_drug_strategies_tried", str("quiet room, weighted blanket")))
	record(worker, 5, 9, "safeguarding_concern", "sam", day(3, 20, 0), set("raised_at", ts(day(3, 20, 0))),
		set("category", enum("ABUSE_CATEGORY_PHYSICAL")), set("description", str("Bruise on Sam's arm after the home visit")))
	s.Clock.Advance(7 * 24 * time.Hour) // day 10: the action is overdue
	return s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a").Token
}

// mustToken returns a fresh access token for an enrolled device.
func mustToken(t *testing.T, s *shiftsynctest.Server, d shiftsynctest.Enrolment) string {
	t.Helper()
	token, _, err := s.Issuer.Issue(context.Background(), d.UserID, d.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestEvidencePack exports the pack of a fixed scenario over HTTP: the HTML
// and CSV match the reviewed goldens, the manifest verifies and keeps
// verifying after the records change. That it stops verifying when a
// stored version or the manifest is altered behind the server's back is
// store-specific: server/sqlite's TestEvidencePack_Tampered alters the file.
func TestEvidencePack(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	token := packScenario(t, s)
	review := reviewClient(s, token)
	res, err := review.ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(shiftsynctest.Epoch.Add(-24 * time.Hour)), To: timestamppb.New(shiftsynctest.Epoch.Add(14 * 24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetRecords() != 7 || len(res.GetManifestSha256()) != 64 || res.GetPackId() == "" {
		t.Errorf("pack: %d records, hash %q, id %q; want Sam's 7", res.GetRecords(), res.GetManifestSha256(), res.GetPackId())
	}
	// The pack id is a new UUIDv7 at each export.
	golden(t, "testdata/evidence-pack.html", bytes.ReplaceAll(res.GetHtml(), []byte(res.GetPackId()), []byte("PACK-ID")))
	golden(t, "testdata/evidence-pack.csv", bytes.ReplaceAll(res.GetCsv(), []byte(res.GetPackId()), []byte("PACK-ID")))
	if n := s.AuditCount(t, shiftsync.AuditEvidenceExport); n != 1 {
		t.Errorf("%d exports audited, want 1", n)
	}

	verify := func() *reviewv1.VerifyEvidencePackResponse {
		t.Helper()
		v, err := review.VerifyEvidencePack(ctx, &reviewv1.VerifyEvidencePackRequest{PackId: res.GetPackId()})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(); !v.GetOk() || v.GetRecordsChecked() != 7 {
		t.Fatalf("fresh pack: %v", v)
	}

	// A later correction does not change what was shared.
	worker := s.EnrolDevice(t, "ana-2", shiftsync.RoleSupportWorker, "house-a")
	fix := &syncv1.Mutation{Counter: 1, RecordId: packRecord(1), RecordType: "incident", ServiceId: "house-a", PersonId: "sam",
		Hlc: shiftsynctest.HLC(s.Clock.Now(), 0), Fields: []*syncv1.FieldEdit{shiftsynctest.Set("place", shiftsynctest.String("front door"))}}
	wantResult(t, "later correction", pushOne(t, s, worker.Token, fix), accepted, "")
	if v := verify(); !v.GetOk() {
		t.Errorf("after a later correction: %v, want the pack to still verify", v)
	}

	// A pack lists only what its exporter may review, and never a
	// safeguarding concern's details.
	if strings.Contains(string(res.GetHtml())+string(res.GetCsv()), "Bruise") || !strings.Contains(string(res.GetHtml()), "<p>1 raised in the period.") {
		t.Errorf("the manager's pack lists the safeguarding concern or does not count it")
	}
	safeguarding := s.EnrolDevice(t, "sara", shiftsync.RoleSafeguardingLead, "house-a")
	theirs, err := reviewClient(s, safeguarding.Token).ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(shiftsynctest.Epoch.Add(-24 * time.Hour)), To: timestamppb.New(shiftsynctest.Epoch.Add(14 * 24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if theirs.GetRecords() != 6 || strings.Contains(string(theirs.GetCsv()), packRecord(6)) {
		t.Errorf("the safeguarding lead's pack: %d records; want 6, without the shift brief they may not review", theirs.GetRecords())
	}

	quality := s.EnrolDevice(t, "quinn", shiftsync.RoleQualityLead, "house-a")
	counted, err := reviewClient(s, quality.Token).ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(shiftsynctest.Epoch.Add(-24 * time.Hour)), To: timestamppb.New(shiftsynctest.Epoch.Add(14 * 24 * time.Hour))})
	if err != nil || !strings.Contains(string(counted.GetHtml()), "<p>1 raised in the period.") {
		t.Errorf("a quality lead's pack, who may not read safeguarding concerns, does not count them: %v", err)
	}

	// Only those who may review Sam's restrictions export or verify.
	outsider := s.EnrolDevice(t, "other-manager", shiftsync.RoleManager, "house-b")
	if _, err := reviewClient(s, outsider.Token).VerifyEvidencePack(ctx, &reviewv1.VerifyEvidencePackRequest{PackId: res.GetPackId()}); shiftsynctest.ErrorCode(err) != "permission_denied" {
		t.Errorf("another service's manager verifying: %v, want permission_denied", err)
	}
	_, err = review.ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(shiftsynctest.Epoch), To: timestamppb.New(shiftsynctest.Epoch.Add(-time.Hour))})
	if shiftsynctest.ErrorCode(err) != "invalid" {
		t.Errorf("a period ending before it starts: %v, want invalid", err)
	}
}

// golden compares got with a golden file, rewriting it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); run with -update if intended:\n%s", path, diff)
	}
}

// TestEvidencePack_File hands an exported pack's HTML and CSV back to
// VerifyEvidencePack: untouched, each verifies; with one byte of a row's
// summary changed, that row is named and the manifest no longer matches;
// with the row's hash and the root recomputed to hide the change (the
// offline check passes), the server still names the row. Another
// service's manager handing the file back learns nothing of it.
func TestEvidencePack_File(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	review := reviewClient(s, packScenario(t, s))
	res, err := review.ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(shiftsynctest.Epoch.Add(-24 * time.Hour)), To: timestamppb.New(shiftsynctest.Epoch.Add(14 * 24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(file []byte) *reviewv1.VerifyEvidencePackResponse {
		t.Helper()
		v, err := review.VerifyEvidencePack(ctx, &reviewv1.VerifyEvidencePackRequest{Pack: file})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, file := range map[string][]byte{"html": res.GetHtml(), "csv": res.GetCsv()} {
		if v := verify(file); !v.GetOk() || !v.GetFileChecked() || v.GetRowsChecked() != 7 || !v.GetFileManifestMatches() || len(v.GetChangedRows()) != 0 {
			t.Errorf("untouched %s: %v", name, v)
		}
	}

	changed := bytes.Replace(res.GetCsv(), []byte("Lorazepam"), []byte("Lorazepan"), 1)
	v := verify(changed)
	want := []*reviewv1.ChangedRow{{Line: 8, RecordId: packRecord(4), Reason: shiftsync.RowChanged}}
	if v.GetOk() || v.GetFileManifestMatches() || !cmp.Equal(v.GetChangedRows(), want, protocmp.Transform()) {
		t.Errorf("CSV with the PRN's summary changed: %v, want its row named", v)
	}

	// The row's hash and the root recomputed: consistent offline, not the pack exported.
	f, err := evidence.ReadPack(changed)
	if err != nil {
		t.Fatal(err)
	}
	forged := f.Rows[6].Row.Hash()
	hashes := make([]string, len(f.Rows))
	for i, r := range f.Rows {
		hashes[i] = r.Row.Hash()
	}
	old := f.Rows[6].SHA256
	changed = bytes.Replace(bytes.Replace(changed, []byte(old), []byte(forged), 1), []byte(f.Root), []byte(shiftsync.PackRoot(hashes)), 1)
	if f, err := evidence.ReadPack(changed); err != nil || !f.Check().OK() {
		t.Fatalf("forged CSV does not pass the offline check: %v %+v", err, f.Check())
	}
	if v := verify(changed); v.GetOk() || v.GetFileManifestMatches() || !cmp.Equal(v.GetChangedRows(), want, protocmp.Transform()) {
		t.Errorf("forged CSV: %v, want the PRN's row named", v)
	}

	// A row's hash column altered, its cells intact; a row dropped.
	lines := strings.Split(string(res.GetCsv()), "\n")
	first := strings.Split(lines[1], ",")
	altered := strings.Replace(string(res.GetCsv()), first[7], strings.Repeat("0", 64), 1)
	if v := verify([]byte(altered)); v.GetOk() || !v.GetFileManifestMatches() ||
		!cmp.Equal(v.GetChangedRows(), []*reviewv1.ChangedRow{{Line: 2, RecordId: packRecord(1), Reason: shiftsync.RowHashAltered}}, protocmp.Transform()) {
		t.Errorf("CSV with a row's hash altered: %v, want that row named and the root still matching", v)
	}
	dropped := strings.Join(append(slices.Clone(lines[:1]), lines[2:]...), "\n")
	if v := verify([]byte(dropped)); v.GetOk() || v.GetFileManifestMatches() ||
		!cmp.Equal(v.GetChangedRows(), []*reviewv1.ChangedRow{{RecordId: packRecord(1), Reason: shiftsync.RowMissing}}, protocmp.Transform()) {
		t.Errorf("CSV with its first row dropped: %v, want that row named missing", v)
	}

	outsider := s.EnrolDevice(t, "other-manager", shiftsync.RoleManager, "house-b")
	if _, err := reviewClient(s, outsider.Token).VerifyEvidencePack(ctx, &reviewv1.VerifyEvidencePackRequest{Pack: res.GetCsv()}); shiftsynctest.ErrorCode(err) != "permission_denied" {
		t.Errorf("another service's manager handing the file back: %v, want permission_denied", err)
	}
	for name, req := range map[string]*reviewv1.VerifyEvidencePackRequest{
		"not a pack":      {Pack: []byte("name,age\n")},
		"too large":       {Pack: bytes.Repeat([]byte("a"), shiftsync.MaxPackFileBytes+1)},
		"another pack id": {PackId: "0190a000-0000-7000-8000-000000000000", Pack: res.GetCsv()},
	} {
		if _, err := review.VerifyEvidencePack(ctx, req); shiftsynctest.ErrorCode(err) != "invalid" {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}
