package rpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
)

// TestAdminService_Times checks the times the AdminService accepts from a
// manager of house-a: a membership starts now, give or take the clock skew
// of the console, and ending one never moves its end later.
func TestAdminService_Times(t *testing.T) {
	ctx := context.Background()
	w := newAdminWorld(t, adminActors[0].spec) // the manager of house-a
	admin := adminClient(w.s, w.actor.Token)
	add := func(start time.Time) error {
		_, err := admin.AddMembership(ctx, &authv1.AddMembershipRequest{UserId: "t-same_service", ServiceId: "house-a", Role: authv1.Role_ROLE_PBS_LEAD,
			StartsAt: timestamppb.New(start)})
		return err
	}
	if err := add(w.now.Add(-30 * time.Second)); err != nil {
		t.Errorf("AddMembership starting 30 s ago (clock skew): %v", err)
	}
	if err := add(w.now.Add(-2 * time.Minute)); shiftsync.Code(shiftsynctest.ErrorCode(err)) != shiftsync.CodePermissionDenied {
		t.Errorf("AddMembership starting 2 minutes ago: %v, want permission_denied", err)
	}

	leaver := w.membership(t, "leaver")
	before, err := w.s.Identity.Membership(ctx, leaver)
	if err != nil {
		t.Fatal(err)
	}
	res, err := admin.EndMembership(ctx, &authv1.EndMembershipRequest{MembershipId: leaver, EndsAt: timestamppb.New(w.now.Add(365 * 24 * time.Hour))})
	if err != nil || !res.GetEndsAt().AsTime().Equal(before.End) {
		t.Errorf("EndMembership of a membership that ended 30 days ago, a year from now = %v, %v; want it kept ending at %s", res, err, before.End)
	}
	if after, _ := w.s.Identity.Membership(ctx, leaver); !after.End.Equal(before.End) {
		t.Errorf("the ended membership now ends at %s, was %s", after.End, before.End)
	}
	earlier := before.End.Add(-24 * time.Hour)
	if res, err := admin.EndMembership(ctx, &authv1.EndMembershipRequest{MembershipId: leaver, EndsAt: timestamppb.New(earlier)}); err != nil || !res.GetEndsAt().AsTime().Equal(earlier) {
		t.Errorf("EndMembership a day before its end = %v, %v; want it brought forward", res, err)
	}

	future, err := w.s.Identity.AddMembership(ctx, operator, shiftsync.Membership{UserID: "t-same_service", ServiceID: "house-a", Role: shiftsync.RoleShiftLead, Start: w.now.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := admin.EndMembership(ctx, &authv1.EndMembershipRequest{MembershipId: future}); err != nil || !res.GetEndsAt().AsTime().Equal(w.now.Add(48*time.Hour)) {
		t.Errorf("EndMembership of a membership not yet started = %v, %v; want it ended at its start (cancelled)", res, err)
	}
}

// TestAdminService_IssueEnrolmentCodeService checks the optional service of
// IssueEnrolmentCode: when set, it must be a service the user works in now.
func TestAdminService_IssueEnrolmentCodeService(t *testing.T) {
	ctx := context.Background()
	w := newAdminWorld(t, adminActors[0].spec)
	admin := adminClient(w.s, w.actor.Token)
	if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "t-same_service", ServiceId: "house-a"}); err != nil {
		t.Errorf("IssueEnrolmentCode in the user's service: %v", err)
	}
	if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "t-leaver", ServiceId: "house-a"}); shiftsync.Code(shiftsynctest.ErrorCode(err)) != shiftsync.CodePermissionDenied {
		t.Errorf("IssueEnrolmentCode for a leaver naming the service they left: %v, want permission_denied", err)
	}
	if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "t-leaver"}); err != nil {
		t.Errorf("IssueEnrolmentCode for a leaver of 30 days, without a service: %v", err)
	}
}
