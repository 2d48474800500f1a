package rpc_test

import (
	"context"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
)

// TestReview_FlaggedWrites: a restraint naming an incident the server has
// not received yet (still on a colleague's phone) is accepted and listed
// to the manager as reference_pending, apart from the leavers' late writes;
// the flag filter keeps one kind.
func TestReview_FlaggedWrites(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	restraint := shiftsynctest.ProneRestraint(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now())
	wantResult(t, "restraint naming an incident not received yet", pushOne(t, s, worker.Token, restraint), accepted, "")
	flaggedWrite(t, s)

	review := reviewClient(s, manager.Token)
	if _, err := review.ListFlaggedWrites(ctx, &reviewv1.ListFlaggedWritesRequest{ServiceId: "house-a", Flag: "reference-pending"}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodeInvalid) {
		t.Errorf("ListFlaggedWrites with a misspelt flag: %v, want invalid (not an empty list)", err)
	}
	for _, tt := range []struct {
		flag string
		want []string
	}{
		{"", []string{string(shiftsync.FlagAccessEnded), string(shiftsync.FlagReferencePending)}},
		{string(shiftsync.FlagReferencePending), []string{string(shiftsync.FlagReferencePending)}},
		{string(shiftsync.FlagAccessEnded), []string{string(shiftsync.FlagAccessEnded)}},
	} {
		res, err := review.ListFlaggedWrites(ctx, &reviewv1.ListFlaggedWritesRequest{ServiceId: "house-a", Flag: tt.flag})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range res.GetWrites() {
			got = append(got, w.GetFlag())
			if w.GetFlag() == string(shiftsync.FlagReferencePending) && (w.GetRecordId() != restraint.GetRecordId() || w.GetDeviceId() != worker.DeviceID) {
				t.Errorf("reference_pending write %v, want ana's restraint %s", w, restraint.GetRecordId())
			}
		}
		if len(got) != len(tt.want) || (len(got) > 0 && (got[0] != tt.want[0] || got[len(got)-1] != tt.want[len(tt.want)-1])) {
			t.Errorf("ListFlaggedWrites(flag %q) flags = %v, want %v (newest arrival first)", tt.flag, got, tt.want)
		}
	}
}
