package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// pullAll pulls from cursor until the end and returns the records seen and
// the purges of the last page.
func pullAll(t *testing.T, s *shiftsynctest.Server, token, cursor string) (map[string]string, []*syncv1.Purge, string, error) {
	t.Helper()
	changes, last, err := shiftsynctest.PullFrom(context.Background(), s.Client(token), cursor)
	if err != nil {
		return nil, nil, cursor, err
	}
	records := map[string]string{}
	for _, c := range changes {
		records[c.GetRecordId()] = c.GetServiceId()
	}
	return records, last.GetPurges(), last.GetNextCursor(), nil
}

// TestMoveBetweenServices moves a support worker from service A to B: the
// next pull tells the device to start again (its access grew), the full pull
// brings B's records and tells it to purge A, and an incident written
// offline for A before the move is accepted and flagged for review.
func TestMoveBetweenServices(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	manager := shiftsync.Principal{UserID: "manager"}
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	colleague := s.EnrolDevice(t, "ben", shiftsync.RoleSupportWorker, "house-b")
	inB := shiftsynctest.RecordID(t)
	push := func(token string, m *syncv1.Mutation) *syncv1.MutationResult {
		t.Helper()
		res, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetResults()[0]
	}
	push(colleague.Token, shiftsynctest.Incident(1, inB, "house-b", "person-b-lou", s.Clock.Now(), "in B before Ana arrives"))
	inA := shiftsynctest.RecordID(t)
	push(worker.Token, shiftsynctest.Incident(1, inA, "house-a", "sam", s.Clock.Now(), "in A"))
	seen, purges, cursor, err := pullAll(t, s, worker.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{inA: "house-a"}, seen); diff != "" || len(purges) != 0 {
		t.Fatalf("before the move: records (-want +got)\n%s purges %v", diff, purges)
	}

	// Offline, Ana logs an incident in A. Then she is moved.
	s.Clock.Advance(time.Minute)
	offline := shiftsynctest.Incident(2, shiftsynctest.RecordID(t), "house-a", "sam", s.Clock.Now(), "written offline before the move")
	s.Clock.Advance(time.Minute)
	ms, err := s.Identity.Memberships(ctx, "ana")
	if err != nil || len(ms) != 1 {
		t.Fatalf("memberships = %v, %v", ms, err)
	}
	if err := s.Identity.EndMembership(ctx, manager, ms[0].ID, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.AddMembership(ctx, manager, shiftsync.Membership{UserID: "ana", ServiceID: "house-b", Role: shiftsync.RoleSupportWorker, Start: s.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Minute)
	token, _, err := s.Issuer.Issue(ctx, "ana", worker.DeviceID)
	if err != nil {
		t.Fatal(err)
	}

	// The device syncs: push first (the contract), then pull.
	if r := push(token, offline); r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
		t.Errorf("offline incident for A: %v %s, want accepted", r.GetStatus(), r.GetReason())
	}
	if _, _, _, err := pullAll(t, s, token, cursor); shiftsynctest.ErrorCode(err) != string(shiftsync.CodeResyncRequired) {
		t.Fatalf("pull from the old cursor after gaining B: %v, want resync_required", err)
	}
	seen, purges, _, err = pullAll(t, s, token, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := seen[inB]; !ok {
		t.Errorf("B's incident did not arrive: %v", seen)
	}
	for id, service := range seen {
		if service != "house-b" {
			t.Errorf("record %s of %s sent after the move", id, service)
		}
	}
	want := []*syncv1.Purge{{ServiceId: "house-a"}}
	if diff := cmp.Diff(want, purges, cmp.Comparer(func(a, b *syncv1.Purge) bool {
		return a.GetServiceId() == b.GetServiceId() && a.GetPersonId() == b.GetPersonId() && cmp.Equal(a.GetKeepPersonIds(), b.GetKeepPersonIds())
	})); diff != "" {
		t.Errorf("purges (-want +got)\n%s", diff)
	}

	// A's manager finds the offline incident among A's flagged writes, and
	// nothing else of Ana's there.
	mia := s.EnrolDevice(t, "mia", shiftsync.RoleManager, "house-a")
	flaggedWrites, err := reviewClient(s, mia.Token).ListFlaggedWrites(ctx, &reviewv1.ListFlaggedWritesRequest{ServiceId: "house-a"})
	if err != nil {
		t.Fatal(err)
	}
	if w := flaggedWrites.GetWrites(); len(w) != 1 || w[0].GetRecordId() != offline.GetRecordId() || w[0].GetDeviceId() != worker.DeviceID || w[0].GetCounter() != 2 ||
		w[0].GetUserId() != "ana" || w[0].GetFlag() != string(shiftsync.FlagAccessEnded) || w[0].GetWrittenAt().AsTime().UnixMilli() != offline.GetHlc().GetWallMs() {
		t.Errorf("house-a's flagged writes = %v, want the offline incident (device %s, counter 2) flagged %s", w, worker.DeviceID, shiftsync.FlagAccessEnded)
	}

	// Written after the move, a record for A is refused, and kept in
	// quarantine, not lost.
	late := shiftsynctest.Incident(3, shiftsynctest.RecordID(t), "house-a", "sam", s.Clock.Now(), "written after the move")
	if r := push(token, late); r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED || r.GetReasonCode() != string(shiftsync.ReasonPermissionDenied) {
		t.Errorf("incident for A after the move: %v %s, want quarantined permission_denied", r.GetStatus(), r.GetReasonCode())
	}
}
