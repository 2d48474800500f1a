package rpc_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
)

// TestReview_Names: a reader sees people and staff by name, but only the
// names of people whose records they may review — a caseload's PBS lead
// not the rest of the service — and nothing of a service they have no
// part in, answered as every refusal about a service is.
func TestReview_Names(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	s.EnrolDevice(t, "worker-b", shiftsync.RoleSupportWorker, "house-b")
	admin := shiftsync.Principal{UserID: "operator"}
	if err := s.Identity.CreateUser(ctx, admin, "pbs-pat", shiftsynctest.TestOrganisation, "Pat Lee", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.AddMembership(ctx, admin, shiftsync.Membership{UserID: "pbs-pat", ServiceID: "house-a", PersonID: "sam",
		Role: shiftsync.RolePBSLead, Start: s.Clock.Now().Add(-1)}); err != nil {
		t.Fatal(err)
	}

	names, err := s.Review.Names(ctx, shiftsync.Principal{UserID: manager.UserID, DeviceID: manager.DeviceID}, "house-a")
	if err != nil {
		t.Fatal(err)
	}
	if names.Person("sam") != "Sam Okafor" || names.Person("person-ada") != "Ada Price" || names.User("pbs-pat") != "Pat Lee" || names.User("meera") != "meera" {
		t.Errorf("a manager's names of house-a = %+v", names)
	}
	if _, ok := names.People["person-b-lou"]; ok {
		t.Errorf("house-a's names hold a person of house-b: %+v", names.People)
	}

	caseload, err := s.Review.Names(ctx, shiftsync.Principal{UserID: "pbs-pat"}, "house-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(caseload.People) != 1 || caseload.Person("sam") != "Sam Okafor" || caseload.Person("person-ada") != "person-ada" {
		t.Errorf("a caseload PBS lead's names = %+v; want only Sam's", caseload.People)
	}

	_, err = s.Review.Names(ctx, shiftsync.Principal{UserID: manager.UserID}, "house-b")
	_, other := s.Review.Names(ctx, shiftsync.Principal{UserID: manager.UserID}, "no-such-service")
	if shiftsync.ErrorCode(err) != shiftsync.CodePermissionDenied || err.Error() == "" || shiftsync.ErrorCode(other) != shiftsync.CodePermissionDenied {
		t.Errorf("names of another service = %v, of none = %v; want both refused alike", err, other)
	}
}

// TestAdminService_SetPersonName: a service's manager names the people it
// supports, audited; a person of another service is refused exactly as
// one that does not exist, and the refusal is audited too; a name that is
// empty or too long is invalid.
func TestAdminService_SetPersonName(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	s.EnrolDevice(t, "worker-b", shiftsync.RoleSupportWorker, "house-b")
	admin := adminClient(s, manager.Token)

	if _, err := admin.SetPersonName(ctx, &authv1.SetPersonNameRequest{PersonId: "sam", Name: " Samuel Okafor "}); err != nil {
		t.Fatal(err)
	}
	names, err := s.Review.Names(ctx, shiftsync.Principal{UserID: manager.UserID}, "house-a")
	if err != nil || names.Person("sam") != "Samuel Okafor" {
		t.Errorf("after SetPersonName, Sam reads %q (%v)", names.Person("sam"), err)
	}
	if n := s.AuditCount(t, shiftsync.AuditPersonName); n != 1 {
		t.Errorf("%d %s audit entries, want 1", n, shiftsync.AuditPersonName)
	}
	refusals := s.AuditCount(t, shiftsync.AuditAdminRefused)
	_, other := admin.SetPersonName(ctx, &authv1.SetPersonNameRequest{PersonId: "person-b-lou", Name: "Lou"})
	_, none := admin.SetPersonName(ctx, &authv1.SetPersonNameRequest{PersonId: "no-such-person", Name: "Lou"})
	if shiftsynctest.ErrorCode(other) != string(shiftsync.CodePermissionDenied) || shiftsynctest.ErrorCode(none) != string(shiftsync.CodePermissionDenied) ||
		strings.ReplaceAll(connect.CodeOf(other).String()+other.Error(), "person-b-lou", "X") != strings.ReplaceAll(connect.CodeOf(none).String()+none.Error(), "no-such-person", "X") {
		t.Errorf("naming another service's person = %v, one that does not exist = %v; want both refused alike", other, none)
	}
	if s.AuditCount(t, shiftsync.AuditAdminRefused) != refusals+2 {
		t.Error("the refusals are not audited")
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", 201), "Sam\x00"} {
		if _, err := admin.SetPersonName(ctx, &authv1.SetPersonNameRequest{PersonId: "sam", Name: name}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodeInvalid) {
			t.Errorf("SetPersonName(%q) = %v, want invalid", name, err)
		}
	}
}
