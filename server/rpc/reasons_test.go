package rpc_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestPush_ListsEveryProblem: over HTTP, a restrictive intervention missing
// three of its required fields is answered with all three in
// field_errors (the first being reason_code and reason, for older apps),
// replayed with the same list, and listed with all three to the manager
// in ListQuarantine.
func TestPush_ListsEveryProblem(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	worker := &pusher{t: t, s: s, token: s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a").Token}
	meera := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	now := s.Clock.Now()
	m := &syncv1.Mutation{RecordId: shiftsynctest.RecordID(t), RecordType: "restrictive_intervention", ServiceId: "house-a", PersonId: "sam",
		Hlc: shiftsynctest.HLC(now, 0), Fields: []*syncv1.FieldEdit{
			shiftsynctest.Set("started_at", shiftsynctest.Time(now.Add(-20*time.Minute))),
			shiftsynctest.Set("in_care_plan", shiftsynctest.Bool(true)),
		}}
	r := worker.push(m)
	wantResult(t, "an intervention missing three fields", r, quarantined, shiftsync.ReasonMissingRequired)
	var fields []string
	for _, fe := range r.GetFieldErrors() {
		if fe.GetReasonCode() != string(shiftsync.ReasonMissingRequired) || fe.GetReason() == "" {
			t.Errorf("field error %v, want missing_required_field with a reason", fe)
		}
		fields = append(fields, fe.GetField())
	}
	if diff := cmp.Diff([]string{"incident_id", "reason_code", "type_code"}, fields); diff != "" {
		t.Errorf("field_errors' fields (-want +got):\n%s", diff)
	}
	if first := r.GetFieldErrors()[0]; first.GetReasonCode() != r.GetReasonCode() || first.GetReason() != r.GetReason() {
		t.Errorf("first field error %v, want reason_code %q and reason %q", first, r.GetReasonCode(), r.GetReason())
	}

	// The device retries the push it never saw answered.
	replay := pushOne(t, s, worker.token, m)
	if !replay.GetReplayed() || !cmp.Equal(r.GetFieldErrors(), replay.GetFieldErrors(), protocmp.Transform()) {
		t.Errorf("replay = %v, want replayed with the same field errors %v", replay, r.GetFieldErrors())
	}

	listed, _ := quarantineOf(t, s, meera.Token, "house-a")
	c := listed[m.GetRecordId()]
	if c == nil {
		t.Fatalf("the intervention is not in house-a's quarantine")
	}
	if diff := cmp.Diff(r.GetFieldErrors(), c.GetFieldErrors(), protocmp.Transform()); diff != "" {
		t.Errorf("ListQuarantine's field errors differ from the push's (-push +listed):\n%s", diff)
	}
}

// TestPush_ImplausibleTime: over HTTP, an incident dated a month ahead of
// the server's clock is quarantined implausible_time naming started_at;
// one a minute ahead, within the allowed skew, and one written offline
// hours ago are accepted.
func TestPush_ImplausibleTime(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	worker := &pusher{t: t, s: s, token: s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a").Token}
	now := s.Clock.Now()
	incident := func(started time.Time) *syncv1.Mutation {
		m := shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "house-a", "sam", now, "Threw a cup")
		for _, f := range m.GetFields() {
			if f.GetField() == "started_at" {
				f.Value = shiftsynctest.Time(started)
			}
		}
		return m
	}
	r := worker.push(incident(now.AddDate(0, 1, 0)))
	wantResult(t, "an incident a month ahead", r, quarantined, shiftsync.ReasonImplausibleTime)
	if fe := r.GetFieldErrors(); len(fe) != 1 || fe[0].GetField() != "started_at" || fe[0].GetReasonCode() != string(shiftsync.ReasonImplausibleTime) {
		t.Errorf("field errors %v, want implausible_time naming started_at", fe)
	}
	wantResult(t, "an incident a minute ahead", worker.push(incident(now.Add(time.Minute))), accepted, "")
	wantResult(t, "an incident written offline hours ago", worker.push(incident(now.Add(-6*time.Hour))), accepted, "")
}
