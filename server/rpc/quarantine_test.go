package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestQuarantine_KeptUnderThePushersScope: a device of organisation 2 that
// pushes junk claiming organisation 1's service, or no service at all,
// writes nothing into organisation 1's quarantine; its own managers list
// it. A worker of two services who pushes junk for one has it listed to
// that service's managers, not the other's.
func TestQuarantine_KeptUnderThePushersScope(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	secondOrganisation(t, s, "zed", "zara")
	now := s.Clock.Now()
	zed := &pusher{t: t, s: s, token: s.EnrolDevice(t, "zed", shiftsync.RoleSupportWorker, "org2-house").Token}
	zara := s.EnrolDevice(t, "zara", shiftsync.RoleManager, "org2-house")
	meera := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	bo := s.EnrolDevice(t, "bo", shiftsync.RoleManager, "house-b")
	dee := &pusher{t: t, s: s, token: s.EnrolDevice(t, "dee", shiftsync.RoleSupportWorker, "house-a", "house-b").Token}

	intoOrg1 := shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "house-a", "sam", now, strings.Repeat("junk for organisation 1 ", 100))
	wantResult(t, "org 2's incident claiming house-a", zed.push(intoOrg1), quarantined, shiftsync.ReasonPermissionDenied)
	noService := shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "", "sam", now, "no service")
	wantResult(t, "org 2's incident naming no service", zed.push(noService), quarantined, shiftsync.ReasonMissingService)
	bad := shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "house-a", "sam", now, "dee's <junk> & more")
	bad.Fields = append(bad.Fields, shiftsynctest.Set("mood", shiftsynctest.String("low")))
	wantResult(t, "dee's incident with an unknown field", dee.push(bad), quarantined, shiftsync.ReasonUnknownField)

	for _, c := range []struct {
		who, token, service string
		want                []string
	}{
		{"organisation 1's manager", meera.Token, "house-a", []string{bad.GetRecordId()}},
		{"house-b's manager", bo.Token, "house-b", nil},
		{"organisation 2's manager", zara.Token, "org2-house", []string{intoOrg1.GetRecordId(), noService.GetRecordId()}},
	} {
		listed, _ := quarantineOf(t, s, c.token, c.service)
		var got []string
		for _, id := range []string{intoOrg1.GetRecordId(), noService.GetRecordId(), bad.GetRecordId()} {
			if listed[id] != nil {
				got = append(got, id)
			}
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s lists of %s's quarantine (-want +got):\n%s", c.who, c.service, diff)
		}
	}
	// The payload is the protobuf JSON of the mutation as sent, '<' and '&'
	// as they are: the generated types read it back whole.
	listed, _ := quarantineOf(t, s, meera.Token, "house-a")
	c := listed[bad.GetRecordId()]
	var sent syncv1.Mutation
	if c == nil || !strings.Contains(c.GetPayloadJson(), "dee's <junk> & more") || protojson.Unmarshal([]byte(c.GetPayloadJson()), &sent) != nil || !proto.Equal(&sent, bad) {
		t.Errorf("dee's quarantined incident listed as %v; want its text unescaped and its payload the protojson of %v", c, bad)
	}
	// Organisation 1's manager may not look into organisation 2's.
	if _, err := reviewClient(s, meera.Token).ListQuarantine(ctx, &reviewv1.ListQuarantineRequest{ServiceId: "org2-house"}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodePermissionDenied) {
		t.Errorf("ListQuarantine(org2-house) by organisation 1's manager: %v, want permission_denied", err)
	}
}

// TestQuarantine_Bounded: a change too large to keep (a 7 MB field) is
// refused, not quarantined and not acknowledged, with the changes after it;
// sent again it is refused again, and the refusals are counted for the
// device's manager. A device's quarantine holds at most
// MaxQuarantineDayBytes a UTC day:
// beyond it changes are refused the same way, and kept the next day.
func TestQuarantine_Bounded(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	now := s.Clock.Now()
	ana := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	meera := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	const notProcessed = syncv1.MutationStatus_MUTATION_STATUS_NOT_PROCESSED

	huge := shiftsynctest.Incident(2, shiftsynctest.RecordID(t), "house-a", "sam", now, strings.Repeat("x", 7_000_000))
	batch := []*syncv1.Mutation{
		shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "sam", now, "before"),
		huge,
		shiftsynctest.Incident(3, shiftsynctest.RecordID(t), "house-a", "sam", now, "after"),
	}
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := s.Client(ana.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch})
		if err != nil {
			t.Fatal(err)
		}
		got := res.GetResults()[len(res.GetResults())-2:] // the 7 MB change and the one after
		if res.GetAcknowledgedCounter() != 1 || got[0].GetStatus() != notProcessed || got[0].GetReasonCode() != string(shiftsync.ReasonTooLargeToQuarantine) ||
			got[1].GetStatus() != notProcessed {
			t.Fatalf("push %d: acknowledged %d, results %v; want 1, the 7 MB change and the one after not processed (too_large_to_quarantine)",
				attempt, res.GetAcknowledgedCounter(), got)
		}
		batch = batch[1:] // the device resends what was not acknowledged
	}
	listed, res := quarantineOf(t, s, meera.Token, "house-a")
	if len(listed) != 0 {
		t.Errorf("quarantine holds %d changes, want none", len(listed))
	}
	over := res.GetOverflows()
	if len(over) != 1 || over[0].GetDeviceId() != ana.DeviceID || over[0].GetReasonCode() != string(shiftsync.ReasonTooLargeToQuarantine) ||
		over[0].GetRefused() != 2 || over[0].GetRefusedBytes() < 14_000_000 || over[0].GetLastCounter() != 2 {
		t.Errorf("overflow = %v, want ana's device refused twice, 7 MB each, counter 2", over)
	}

	// A day's worth of junk from another device, 1/32 of the day's bound a
	// change.
	const junkBytes = shiftsync.MaxQuarantineDayBytes / 32
	dee := s.EnrolDevice(t, "dee", shiftsync.RoleSupportWorker, "house-a")
	junk := func(counter uint64) *syncv1.Mutation {
		return shiftsynctest.Incident(counter, shiftsynctest.RecordID(t), "house-a", "sam", now, strings.Repeat("y", junkBytes))
	}
	var (
		counter uint64
		refused *syncv1.Mutation
	)
	for refused == nil && counter < 100 {
		var batch []*syncv1.Mutation
		for range 5 {
			batch = append(batch, junk(counter+uint64(len(batch))+1))
		}
		res, err := s.Client(dee.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.GetResults() {
			if r.GetStatus() == notProcessed && refused == nil {
				if r.GetReasonCode() != string(shiftsync.ReasonQuarantineFull) {
					t.Fatalf("counter %d: %s %q, want quarantine_full", r.GetCounter(), r.GetReasonCode(), r.GetReason())
				}
				refused = batch[i]
			}
		}
		counter = res.GetAcknowledgedCounter()
	}
	if refused == nil {
		t.Fatalf("%d changes of %d bytes quarantined in a day, want at most %d bytes of them", counter, junkBytes, shiftsync.MaxQuarantineDayBytes)
	}
	listed, res = quarantineOf(t, s, meera.Token, "house-a")
	var kept int
	for _, c := range listed {
		if c.GetDeviceId() == dee.DeviceID {
			kept += len(c.GetPayloadJson())
		}
	}
	if size := len(listed[refused.GetRecordId()].GetPayloadJson()); size != 0 || kept > shiftsync.MaxQuarantineDayBytes || kept+junkBytes <= shiftsync.MaxQuarantineDayBytes {
		t.Errorf("kept %d bytes of dee's junk in the day (the refused one: %d); want the most that fits in %d", kept, size, shiftsync.MaxQuarantineDayBytes)
	}
	var dees []*reviewv1.QuarantineOverflow
	for _, o := range res.GetOverflows() {
		if o.GetDeviceId() == dee.DeviceID {
			dees = append(dees, o)
		}
	}
	if len(res.GetOverflows()) != 2 || len(dees) != 1 || dees[0].GetReasonCode() != string(shiftsync.ReasonQuarantineFull) ||
		dees[0].GetRefused() != 1 || dees[0].GetLastCounter() != refused.GetCounter() {
		t.Errorf("overflows = %v, want dee's quarantine_full beside ana's", res.GetOverflows())
	}

	// The next UTC day it is kept, and the device's changes flow again.
	s.Clock.Advance(24 * time.Hour)
	token, _, err := s.Issuer.Issue(ctx, "dee", dee.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	wantResult(t, "the refused change the next day", pushOne(t, s, token, refused), quarantined, shiftsync.ReasonInvalidValue)
}
