package rpc_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// pushOne pushes one mutation and returns its result.
func pushOne(t *testing.T, s *shiftsynctest.Server, token string, m *syncv1.Mutation) *syncv1.MutationResult {
	t.Helper()
	res, err := s.Client(token).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}})
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	return res.GetResults()[0]
}

func wantResult(t *testing.T, what string, r *syncv1.MutationResult, status syncv1.MutationStatus, reason shiftsync.Reason) {
	t.Helper()
	if r.GetStatus() != status || r.GetReasonCode() != string(reason) {
		t.Errorf("%s: %s %q (%s), want %s %q", what, r.GetStatus(), r.GetReasonCode(), r.GetReason(), status, reason)
	}
}

const (
	accepted    = syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED
	quarantined = syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED
)

// TestRecord_VoidLockAddenda: a record is never deleted. A manager voids
// it with a reason, or locks it, after which corrections are addenda; the
// record's history shows every earlier version with its author, and the
// void reason and the addendum beside it.
func TestRecord_VoidLockAddenda(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a", "house-b")
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	now := s.Clock.Now()
	edit := func(counter uint64, id string, logical uint32, edits ...*syncv1.FieldEdit) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: id, RecordType: "incident", ServiceId: "house-a", PersonId: "sam",
			Hlc: shiftsynctest.HLC(now, logical), Fields: edits}
	}

	incident := shiftsynctest.RecordID(t)
	create := shiftsynctest.Incident(1, incident, "house-a", "sam", now, "Threw a cup")
	create.Fields = append(create.Fields, shiftsynctest.Set("place", shiftsynctest.String("front door")))
	wantResult(t, "create", pushOne(t, s, worker.Token, create), accepted, "")
	wantResult(t, "correction", pushOne(t, s, worker.Token, edit(2, incident, 1, shiftsynctest.Set("place", shiftsynctest.String("kitchen")))), accepted, "")
	wantResult(t, "worker voids", pushOne(t, s, worker.Token,
		edit(3, incident, 2, shiftsynctest.Set(shiftsync.VoidReasonField, shiftsynctest.String("wrong person")))), quarantined, shiftsync.ReasonPermissionDenied)

	// The manager locks it; the worker's next edit is refused, an addendum
	// is accepted.
	review := reviewClient(s, manager.Token)
	locked, err := review.LockRecord(ctx, &reviewv1.LockRecordRequest{RecordId: incident})
	if err != nil || locked.GetRecord().GetLockedBy() != "meera" || locked.GetRecord().GetLockedAt() == nil {
		t.Fatalf("LockRecord() = %v, %v", locked, err)
	}
	wantResult(t, "edit after lock", pushOne(t, s, worker.Token, edit(4, incident, 3, shiftsynctest.Set("place", shiftsynctest.String("lounge")))),
		quarantined, shiftsync.ReasonRecordLocked)
	addendum := shiftsynctest.RecordID(t)
	addendumOf := func(counter uint64, id, target, service, person string) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: id, RecordType: "addendum", ServiceId: service, PersonId: person,
			Hlc: shiftsynctest.HLC(now, 4), Fields: []*syncv1.FieldEdit{
				shiftsynctest.Set("record_id", shiftsynctest.String(target)),
				shiftsynctest.Set("written_at", shiftsynctest.Time(now)),
				shiftsynctest.Set("field", shiftsynctest.String("place")),
				shiftsynctest.Set("corrected_value", shiftsynctest.String("lounge")),
				shiftsynctest.Set("reason", shiftsynctest.String("I wrote the wrong room")),
			}}
	}
	wantResult(t, "addendum", pushOne(t, s, worker.Token, addendumOf(5, addendum, incident, "house-a", "sam")), accepted, "")
	wantResult(t, "addendum naming a missing record", pushOne(t, s, worker.Token, addendumOf(6, shiftsynctest.RecordID(t), shiftsynctest.RecordID(t), "house-a", "sam")),
		quarantined, shiftsync.ReasonInvalidReference)
	wantResult(t, "addendum in another service", pushOne(t, s, worker.Token, addendumOf(7, shiftsynctest.RecordID(t), incident, "house-b", "person-b-lou")),
		quarantined, shiftsync.ReasonInvalidReference)

	// The manager voids the locked record with a reason.
	s.Clock.Advance(time.Minute)
	void := &syncv1.Mutation{Counter: 1, RecordId: incident, RecordType: "incident", ServiceId: "house-a", PersonId: "sam",
		Hlc: shiftsynctest.HLC(s.Clock.Now(), 0), Fields: []*syncv1.FieldEdit{shiftsynctest.Set(shiftsync.VoidReasonField, shiftsynctest.String("entered for the wrong person"))}}
	wantResult(t, "manager voids", pushOne(t, s, manager.Token, void), accepted, "")

	got, err := review.GetRecord(ctx, &reviewv1.GetRecordRequest{RecordId: incident})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRecord().GetVoidReason() != "entered for the wrong person" {
		t.Errorf("void reason = %q", got.GetRecord().GetVoidReason())
	}
	var history []string
	for _, v := range got.GetVersions() {
		history = append(history, v.GetField()+"="+valueText(v.GetValue())+" by "+v.GetAuthorUserId()+current(v.GetCurrent()))
	}
	want := []string{
		"behaviour_description=Threw a cup by ana (current)",
		"place=front door by ana",
		"place=kitchen by ana (current)",
		"started_at=" + now.Add(-5*time.Minute).UTC().Format(time.RFC3339) + " by ana (current)",
		"void_reason=entered for the wrong person by meera (current)",
	}
	if strings.Join(history, "\n") != strings.Join(want, "\n") {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(history, "\n"), strings.Join(want, "\n"))
	}
	if len(got.GetAddenda()) != 1 || got.GetAddenda()[0].GetRecordId() != addendum || got.GetAddenda()[0].GetCreatedBy() != "ana" {
		t.Errorf("addenda = %v, want ana's", got.GetAddenda())
	}

	// A voided record leaves lists unless asked for, and is kept.
	list, err := review.ListRecords(ctx, &reviewv1.ListRecordsRequest{ServiceId: "house-a", RecordType: "incident"})
	if err != nil || len(list.GetRecords()) != 0 {
		t.Errorf("ListRecords() = %v, %v; want the voided incident left out", list.GetRecords(), err)
	}
	list, err = review.ListRecords(ctx, &reviewv1.ListRecordsRequest{ServiceId: "house-a", RecordType: "incident", IncludeVoided: true})
	if err != nil || len(list.GetRecords()) != 1 {
		t.Errorf("ListRecords(include voided) = %v, %v; want it", list.GetRecords(), err)
	}
	if n := s.AuditCount(t, shiftsync.AuditRecordLock); n != 1 {
		t.Errorf("%d locks audited, want 1", n)
	}
}

func valueText(v *syncv1.Value) string {
	switch k := v.GetKind().(type) {
	case *syncv1.Value_StringValue:
		return k.StringValue
	case *syncv1.Value_IntValue:
		return strconv.FormatInt(k.IntValue, 10)
	case *syncv1.Value_TimestampValue:
		return k.TimestampValue.AsTime().UTC().Format(time.RFC3339)
	}
	return v.String()
}

func current(c bool) string {
	if c {
		return " (current)"
	}
	return ""
}

// TestValidation_QuarantinesWithReasons: a wrong MHSDS code, an end before
// its start, an action without an owner or a deadline are quarantined with
// a clear reason, and the manager sees them.
func TestValidation_QuarantinesWithReasons(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	lead := s.EnrolDevice(t, "priya", shiftsync.RolePBSLead, "house-a")
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	now := s.Clock.Now()

	wrongCode := shiftsynctest.ProneRestraint(1, shiftsynctest.RecordID(t), "house-a", "sam", now)
	wrongCode.Fields[1] = shiftsynctest.Set("type_code", shiftsynctest.Enum("RESTRICTIVE_INTERVENTION_TYPE_02"))
	wantResult(t, "unknown MHSDS code", pushOne(t, s, worker.Token, wrongCode), quarantined, shiftsync.ReasonInvalidValue)

	backwards := shiftsynctest.ProneRestraint(2, shiftsynctest.RecordID(t), "house-a", "sam", now)
	backwards.Fields[3] = shiftsynctest.Set("started_at", shiftsynctest.Time(now.Add(-5*time.Minute)))
	backwards.Fields[4] = shiftsynctest.Set("ended_at", shiftsynctest.Time(now.Add(-9*time.Minute)))
	r := pushOne(t, s, worker.Token, backwards)
	wantResult(t, "end before start", r, quarantined, shiftsync.ReasonOutOfOrder)
	if !strings.Contains(r.GetReason(), "ended_at") || !strings.Contains(r.GetReason(), "before started_at") {
		t.Errorf("reason %q does not say which fields", r.GetReason())
	}

	// An edit that would leave the end before the start is held to it too.
	ok := shiftsynctest.ProneRestraint(3, shiftsynctest.RecordID(t), "house-a", "sam", now)
	wantResult(t, "valid restriction", pushOne(t, s, worker.Token, ok), accepted, "")
	later := &syncv1.Mutation{Counter: 4, RecordId: ok.GetRecordId(), RecordType: ok.GetRecordType(), ServiceId: "house-a", PersonId: "sam",
		Hlc: shiftsynctest.HLC(now, 1), Fields: []*syncv1.FieldEdit{shiftsynctest.Set("started_at", shiftsynctest.Time(now))}}
	wantResult(t, "start moved after the end", pushOne(t, s, worker.Token, later), quarantined, shiftsync.ReasonOutOfOrder)

	noOwner := shiftsynctest.Action(1, shiftsynctest.RecordID(t), "house-a", "sam", now.Add(-time.Hour), "housing", now.Add(72*time.Hour))
	noOwner.Fields = append(noOwner.Fields[:3], noOwner.Fields[4:]...) // drop owner_role
	wantResult(t, "action without owner", pushOne(t, s, lead.Token, noOwner), quarantined, shiftsync.ReasonMissingRequired)
	noDeadline := shiftsynctest.Action(2, shiftsynctest.RecordID(t), "house-a", "sam", now.Add(-time.Hour), "housing", now.Add(72*time.Hour))
	noDeadline.Fields = noDeadline.Fields[:6] // drop deadline and status
	wantResult(t, "action without deadline", pushOne(t, s, lead.Token, noDeadline), quarantined, shiftsync.ReasonMissingRequired)
	blankOwner := shiftsynctest.Action(3, shiftsynctest.RecordID(t), "house-a", "sam", now.Add(-time.Hour), "housing", now.Add(72*time.Hour))
	blankOwner.Fields[3] = shiftsynctest.Set("owner_role", shiftsynctest.String("  "))
	wantResult(t, "action with a blank owner", pushOne(t, s, lead.Token, blankOwner), quarantined, shiftsync.ReasonMissingRequired)

	q, err := reviewClient(s, manager.Token).ListQuarantine(ctx, &reviewv1.ListQuarantineRequest{ServiceId: "house-a"})
	if err != nil || len(q.GetChanges()) != 6 {
		t.Fatalf("quarantine = %v, %v; want the 6 refused changes", q.GetChanges(), err)
	}
	for _, c := range q.GetChanges() {
		if c.GetReason() == "" || c.GetPayloadJson() == "" {
			t.Errorf("quarantined %s without a reason or its payload: %v", c.GetRecordType(), c)
		}
	}

	// A PBS lead whose access is Sam's caseload sees the refused changes
	// about Sam, and one of another caseload sees none.
	for _, c := range []struct {
		user, person string
		want         int
	}{{"pia", "sam", 6}, {"pat", "ben", 0}} {
		caseload := s.EnrolDevice(t, c.user, shiftsync.RolePBSLead)
		if _, err := s.Identity.AddMembership(ctx, shiftsync.Principal{UserID: "test"}, shiftsync.Membership{UserID: c.user, ServiceID: "house-a",
			PersonID: c.person, Role: shiftsync.RolePBSLead, Start: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		q, err := reviewClient(s, caseload.Token).ListQuarantine(ctx, &reviewv1.ListQuarantineRequest{ServiceId: "house-a"})
		if err != nil || len(q.GetChanges()) != c.want {
			t.Errorf("quarantine seen by %s's caseload lead: %d, %v; want %d", c.person, len(q.GetChanges()), err, c.want)
		}
	}
}

// TestPartnerAgency_UpdatesItsOwnActions: a community team's user updates
// progress and evidence on the actions assigned to the team, and nothing
// else: not another agency's action, not the deadline, and never verifies
// its own action as complete.
func TestPartnerAgency_UpdatesItsOwnActions(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	lead := s.EnrolDevice(t, "priya", shiftsync.RolePBSLead, "house-a")
	admin := shiftsync.Principal{UserID: "test"}
	if err := s.Identity.CreateUser(ctx, admin, "nurse", "org-test", "Community nurse", "community_ld_team"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.AddMembership(ctx, admin, shiftsync.Membership{UserID: "nurse", ServiceID: "house-a", PersonID: "sam",
		Role: shiftsync.RolePartner, Start: s.Clock.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	nurse := s.EnrolDevice(t, "nurse", shiftsync.RolePartner)
	now := s.Clock.Now()
	ours, theirs := shiftsynctest.RecordID(t), shiftsynctest.RecordID(t)
	wantResult(t, "our action", pushOne(t, s, lead.Token, shiftsynctest.Action(1, ours, "house-a", "sam", now.Add(-time.Hour), "community_ld_team", now.Add(72*time.Hour))), accepted, "")
	wantResult(t, "housing's action", pushOne(t, s, lead.Token, shiftsynctest.Action(2, theirs, "house-a", "sam", now.Add(-time.Hour), "housing", now.Add(72*time.Hour))), accepted, "")

	edit := func(counter uint64, id string, e *syncv1.FieldEdit) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: id, RecordType: "action", ServiceId: "house-a", PersonId: "sam",
			Hlc: shiftsynctest.HLC(now, uint32(counter)), Fields: []*syncv1.FieldEdit{e}}
	}
	wantResult(t, "progress on our action", pushOne(t, s, nurse.Token, edit(1, ours, shiftsynctest.Set("status", shiftsynctest.Enum("ACTION_STATUS_DONE_PENDING_EVIDENCE")))), accepted, "")
	wantResult(t, "evidence on our action", pushOne(t, s, nurse.Token, edit(2, ours, shiftsynctest.Set("evidence_received", shiftsynctest.List("assessment report")))), accepted, "")
	// Housing's action is, to the nurse, a record that does not exist: a
	// change naming it without a base would create a record under a taken
	// id, one with a base edits a record the nurse has no access to.
	wantResult(t, "housing's action", pushOne(t, s, nurse.Token, edit(3, theirs, shiftsynctest.Set("status", shiftsynctest.Enum("ACTION_STATUS_ON_TRACK")))), quarantined, shiftsync.ReasonRecordIDTaken)
	wantResult(t, "moving our deadline", pushOne(t, s, nurse.Token, edit(4, ours, shiftsynctest.Set("deadline", shiftsynctest.Time(now.Add(30*24*time.Hour))))), quarantined, shiftsync.ReasonPermissionDenied)
	wantResult(t, "verifying our own action", pushOne(t, s, nurse.Token, edit(5, ours, shiftsynctest.Set("status", shiftsynctest.Enum("ACTION_STATUS_VERIFIED_COMPLETE")))), quarantined, shiftsync.ReasonPermissionDenied)
	seen := &syncv1.Version{Hlc: shiftsynctest.HLC(now.Add(-time.Hour), 0), DeviceId: "lead's phone"}
	wantResult(t, "reassigning it", pushOne(t, s, nurse.Token, edit(6, theirs, shiftsynctest.Edit("agency", shiftsynctest.String("community_ld_team"), seen))), quarantined, shiftsync.ReasonUnknownRecord)
	wantResult(t, "creating an action", pushOne(t, s, nurse.Token, shiftsynctest.Action(7, shiftsynctest.RecordID(t), "house-a", "sam", now.Add(-time.Hour), "community_ld_team", now.Add(time.Hour))), quarantined, shiftsync.ReasonPermissionDenied)

	// The provider verifies it. An action's agency decides who sees it, so
	// it is fixed: the provider voids it and creates one for another agency.
	wantResult(t, "provider verifies", pushOne(t, s, lead.Token, edit(3, ours, shiftsynctest.Set("status", shiftsynctest.Enum("ACTION_STATUS_VERIFIED_COMPLETE")))), accepted, "")
	wantResult(t, "provider reassigns", pushOne(t, s, lead.Token, edit(4, theirs, shiftsynctest.Set("agency", shiftsynctest.String("community_ld_team")))), quarantined, shiftsync.ReasonEnvelopeMismatch)

	// The nurse sees the team's action, never housing's: not on the
	// device, not in the tracker, not by asking for it.
	pulled, _, _, err := pullAll(t, s, nurse.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pulled[ours]; !ok || len(pulled) != 1 {
		t.Errorf("the nurse pulled %v, want only the team's action %s", pulled, ours)
	}
	review := reviewClient(s, nurse.Token)
	tracker, err := review.ListActions(ctx, &reviewv1.ListActionsRequest{ServiceId: "house-a", PersonId: "sam"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tracker.GetActions(); len(got) != 1 || got[0].GetAction().GetRecordId() != ours {
		t.Errorf("the nurse's tracker lists %v, want only %s", got, ours)
	}
	if _, err := review.GetRecord(ctx, &reviewv1.GetRecordRequest{RecordId: theirs}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("GetRecord(housing's action) by the nurse: %v, want PermissionDenied", err)
	}
	// An addendum the lead writes to the team's action is the provider's:
	// the lead reads it beside the action, the nurse does not.
	wantResult(t, "lead's addendum", pushOne(t, s, lead.Token, &syncv1.Mutation{Counter: 5, RecordId: shiftsynctest.RecordID(t), RecordType: "addendum",
		ServiceId: "house-a", PersonId: "sam", Hlc: shiftsynctest.HLC(now, 5), Fields: []*syncv1.FieldEdit{
			shiftsynctest.Set("record_id", shiftsynctest.String(ours)), shiftsynctest.Set("written_at", shiftsynctest.Time(now)),
			shiftsynctest.Set("reason", shiftsynctest.String("Nurse rang: report delayed by sickness")),
		}}), accepted, "")
	for _, c := range []struct {
		who   string
		token string
		want  int
	}{{"nurse", nurse.Token, 0}, {"lead", lead.Token, 1}} {
		h, err := reviewClient(s, c.token).GetRecord(ctx, &reviewv1.GetRecordRequest{RecordId: ours})
		if err != nil || len(h.GetAddenda()) != c.want {
			t.Errorf("GetRecord(team's action) by the %s: %d addenda, %v; want %d", c.who, len(h.GetAddenda()), err, c.want)
		}
	}
	// The provider's lead still sees both.
	if all, err := reviewClient(s, lead.Token).ListActions(ctx, &reviewv1.ListActionsRequest{ServiceId: "house-a"}); err != nil || len(all.GetActions()) != 2 {
		t.Errorf("the lead's tracker: %d actions, %v; want 2", len(all.GetActions()), err)
	}
}

// TestPush_ReplaysActions: a push of an action resent after its answer was
// lost is answered as the first time, not quarantined: what the server
// derives from the action (its agency) is not part of what is compared.
func TestPush_ReplaysActions(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	lead := s.EnrolDevice(t, "priya", shiftsync.RolePBSLead, "house-a")
	now := s.Clock.Now()
	id := shiftsynctest.RecordID(t)
	batch := []*syncv1.Mutation{
		shiftsynctest.Action(1, id, "house-a", "sam", now.Add(-time.Hour), "housing", now.Add(72*time.Hour)),
		{Counter: 2, RecordId: id, RecordType: "action", ServiceId: "house-a", PersonId: "sam", Hlc: shiftsynctest.HLC(now, 1),
			Fields: []*syncv1.FieldEdit{shiftsynctest.Set("status", shiftsynctest.Enum("ACTION_STATUS_ON_TRACK"))}},
	}
	for _, attempt := range []string{"first", "resent"} {
		res, err := s.Client(lead.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.GetResults() {
			if r.GetStatus() != accepted {
				t.Errorf("%s push, counter %d: %s %s %q, want accepted", attempt, r.GetCounter(), r.GetStatus(), r.GetReasonCode(), r.GetReason())
			}
		}
	}
}
