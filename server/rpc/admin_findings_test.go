package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// findingsWorld is the setting of issue 10's findings 1 to 3, on a fresh
// server: organisation oak with services house-a and house-b, organisation
// elm with elm-house; meera manages house-a, bea house-b, and elm-manager
// elm-house; sam works in house-a and house-b; olga is an administrator of
// oak, with no membership. Each has an enrolled phone, and house-b and
// elm-house each hold a safeguarding concern.
type findingsWorld struct {
	s                          *shiftsynctest.Server
	meera, bea, elm, sam, olga shiftsynctest.Enrolment
	users                      []string
	codesBefore, refusedBefore int
	before                     string
}

func newFindingsWorld(t *testing.T) *findingsWorld {
	t.Helper()
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Identity.CreateOrganisation(ctx, operator, "oak", "Oak Care"))
	must(s.Identity.CreateOrganisation(ctx, operator, "elm", "Elm Care"))
	for service, org := range map[string]string{"house-a": "oak", "house-b": "oak", "elm-house": "elm"} {
		must(s.Identity.CreateService(ctx, operator, service, org, service))
	}
	for person, service := range map[string]string{"ada": "house-a", "ben": "house-b", "zoe": "elm-house"} {
		must(s.Identity.CreatePerson(ctx, operator, person, service, person))
	}
	// user creates a user with role in the services; with no role, an
	// organisation administrator.
	user := func(id, org string, role shiftsync.Role, services ...string) shiftsynctest.Enrolment {
		must(s.Identity.CreateUser(ctx, operator, id, org, id, ""))
		for _, service := range services {
			_, err := s.Identity.AddMembership(ctx, operator, shiftsync.Membership{UserID: id, ServiceID: service, Role: role, Start: s.Clock.Now().Add(-time.Hour)})
			must(err)
		}
		if role == "" {
			must(s.Identity.GrantOrganisationAdmin(ctx, operator, id, org))
		}
		return s.Enrol(t, id)
	}
	w := &findingsWorld{s: s,
		meera: user("meera", "oak", shiftsync.RoleManager, "house-a"),
		bea:   user("bea", "oak", shiftsync.RoleManager, "house-b"),
		elm:   user("elm-manager", "elm", shiftsync.RoleManager, "elm-house"),
		sam:   user("sam", "oak", shiftsync.RoleSupportWorker, "house-a", "house-b"),
		olga:  user("olga", "oak", ""),
		users: []string{"meera", "bea", "elm-manager", "sam", "olga"},
	}
	w.raiseConcern(t, w.bea, "house-b", "ben")
	w.raiseConcern(t, w.elm, "elm-house", "zoe")
	w.settle(t)
	return w
}

// raiseConcern pushes a safeguarding concern from a manager's phone.
func (w *findingsWorld) raiseConcern(t *testing.T, by shiftsynctest.Enrolment, service, person string) {
	t.Helper()
	id := shiftsynctest.RecordID(t)
	now := w.s.Clock.Now()
	res, err := w.s.Client(by.Token).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{{
		Counter: 1, RecordId: id, RecordType: "safeguarding_concern", ServiceId: service, PersonId: person, Hlc: shiftsynctest.HLC(now, 0),
		Fields: []*syncv1.FieldEdit{
			shiftsynctest.Set("raised_at", shiftsynctest.Time(now)),
			shiftsynctest.Set("category", shiftsynctest.Enum("ABUSE_CATEGORY_PHYSICAL")),
			shiftsynctest.Set("description", shiftsynctest.String("Bruise on the arm after the home visit")),
		},
	}}})
	if err != nil || res.GetResults()[0].GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
		t.Fatalf("raise a concern in %s: %v, %v", service, res, err)
	}
}

// settle makes the world as it is now the one the refusals that follow
// must leave unchanged, after steps that were allowed.
func (w *findingsWorld) settle(t *testing.T) {
	t.Helper()
	w.codesBefore, w.refusedBefore = w.s.AuditCount(t, shiftsync.AuditEnrolmentCode), w.s.AuditCount(t, shiftsync.AuditAdminRefused)
	w.before = w.state(t)
}

// state is everything the findings could change: each user's memberships
// and devices, and the records of house-b and elm-house as their managers
// review them.
func (w *findingsWorld) state(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	b.WriteString(identityState(t, w.s, w.users...))
	for _, r := range []struct {
		manager shiftsynctest.Enrolment
		service string
	}{{w.bea, "house-b"}, {w.elm, "elm-house"}} {
		res, err := reviewClient(w.s, r.manager.Token).ListRecords(ctx, &reviewv1.ListRecordsRequest{ServiceId: r.service})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %d records\n", r.service, len(res.GetRecords()))
	}
	return b.String()
}

// refused checks that err is the refusal of an overstepping step:
// PermissionDenied, with ErrorInfo permission_denied.
func refused(t *testing.T, step string, err error) {
	t.Helper()
	if connect.CodeOf(err) != connect.CodePermissionDenied || shiftsynctest.ErrorCode(err) != string(shiftsync.CodePermissionDenied) {
		t.Fatalf("%s: %v (ErrorInfo %q), want PermissionDenied with ErrorInfo permission_denied", step, err, shiftsynctest.ErrorCode(err))
	}
}

// unchanged checks that nothing changed since the world was built, and that
// the refusals were audited: one admin.refused entry per call, with the
// call and its subject, by the caller.
func (w *findingsWorld) unchanged(t *testing.T, by shiftsynctest.Enrolment, calls ...[2]string) {
	t.Helper()
	if after := w.state(t); after != w.before {
		t.Errorf("the refused sequence changed\n%s\nto\n%s", w.before, after)
	}
	if n := w.s.AuditCount(t, shiftsync.AuditEnrolmentCode); n != w.codesBefore {
		t.Errorf("%d enrolment codes issued, want none", n-w.codesBefore)
	}
	events := w.s.AuditEvents(t, shiftsync.AuditAdminRefused)[w.refusedBefore:]
	if len(events) != len(calls) {
		t.Fatalf("%d admin.refused audit entries, want %d: %+v", len(events), len(calls), events)
	}
	for i, e := range events {
		var detail struct{ Call, Reason string }
		if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
			t.Fatal(err)
		}
		if e.Actor.UserID != by.UserID || e.Actor.DeviceID != by.DeviceID || detail.Call != calls[i][0] || e.Subject != calls[i][1] || detail.Reason == "" {
			t.Errorf("admin.refused entry %d = %+v, want call %s on %s by %s's phone, with a reason", i, e, calls[i][0], calls[i][1], by.UserID)
		}
	}
}

// TestAdminFindings replays issue 10's findings 1 to 3, and the review's
// finding 1, over HTTP with the generated clients, as the manager of
// house-a: each sequence is refused at its first overstepping step with
// permission_denied, nothing changes, and every refusal is in the audit log.
func TestAdminFindings(t *testing.T) {
	ctx := context.Background()

	t.Run("1 cross-organisation takeover", func(t *testing.T) {
		w := newFindingsWorld(t)
		admin := adminClient(w.s, w.meera.Token)
		_, err := admin.AddMembership(ctx, &authv1.AddMembershipRequest{UserId: "elm-manager", ServiceId: "house-a", Role: authv1.Role_ROLE_MANAGER})
		refused(t, "AddMembership of another organisation's manager into house-a", err)
		// The later steps are refused too, with or without a service named.
		_, err = admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "elm-manager", ServiceId: "house-a"})
		refused(t, "IssueEnrolmentCode for elm-manager in house-a", err)
		_, err = admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "elm-manager"})
		refused(t, "IssueEnrolmentCode for elm-manager", err)
		w.unchanged(t, w.meera, [2]string{"AddMembership", "elm-manager"}, [2]string{"IssueEnrolmentCode", "elm-manager"}, [2]string{"IssueEnrolmentCode", "elm-manager"})
	})

	t.Run("2 takeover of a shared user", func(t *testing.T) {
		w := newFindingsWorld(t)
		admin := adminClient(w.s, w.meera.Token)
		_, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "sam", ServiceId: "house-a"})
		refused(t, "IssueEnrolmentCode for sam, who also works in house-b", err)
		_, err = admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "sam"})
		refused(t, "IssueEnrolmentCode for sam without a service", err)
		w.unchanged(t, w.meera, [2]string{"IssueEnrolmentCode", "sam"}, [2]string{"IssueEnrolmentCode", "sam"})
		// The manager of both services may: sam's new phone reads nothing
		// its issuer cannot.
		if _, err := w.s.Identity.AddMembership(ctx, operator, shiftsync.Membership{UserID: "meera", ServiceID: "house-b", Role: shiftsync.RoleManager,
			Start: w.s.Clock.Now().Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "sam"}); err != nil {
			t.Errorf("IssueEnrolmentCode for sam by the manager of both of sam's services: %v", err)
		}
	})

	t.Run("3 remote wipe through a back-dated membership", func(t *testing.T) {
		w := newFindingsWorld(t)
		admin := adminClient(w.s, w.meera.Token)
		longAgo := w.s.Clock.Now().Add(-400 * 24 * time.Hour)
		_, err := admin.AddMembership(ctx, &authv1.AddMembershipRequest{UserId: "bea", ServiceId: "house-a", Role: authv1.Role_ROLE_SUPPORT_WORKER,
			StartsAt: timestamppb.New(longAgo), EndsAt: timestamppb.New(longAgo.Add(time.Hour))})
		refused(t, "AddMembership of bea into house-a, starting and ending 400 days ago", err)
		_, err = admin.RevokeDevice(ctx, &authv1.RevokeDeviceRequest{DeviceId: w.bea.DeviceID, Reason: "wipe"})
		refused(t, "RevokeDevice of bea's phone", err)
		w.unchanged(t, w.meera, [2]string{"AddMembership", "bea"}, [2]string{"RevokeDevice", w.bea.DeviceID})
		if _, err := w.s.Client(w.bea.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
			t.Errorf("bea's phone after the refused wipe: Pull() = %v", err)
		}

		// Even when the operator records the back-dated membership, it
		// confers no authority over bea: it was recorded after it ended.
		if _, err := w.s.Identity.AddMembership(ctx, operator, shiftsync.Membership{UserID: "bea", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker,
			Start: longAgo, End: longAgo.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_, err = admin.RevokeDevice(ctx, &authv1.RevokeDeviceRequest{DeviceId: w.bea.DeviceID, Reason: "wipe"})
		refused(t, "RevokeDevice of bea's phone after the operator back-dated a membership", err)
		if d, err := w.s.Identity.Device(ctx, w.bea.DeviceID); err != nil || !d.RevokedAt.IsZero() {
			t.Errorf("bea's phone = %+v, %v; want it active", d, err)
		}
	})
	t.Run("review 1 a manager becomes an organisation administrator", func(t *testing.T) {
		w := newFindingsWorld(t)
		admin := adminClient(w.s, w.meera.Token)
		// Giving olga a role in house-a is meera's to give: it lets olga read
		// what meera may.
		if _, err := admin.AddMembership(ctx, &authv1.AddMembershipRequest{UserId: "olga", ServiceId: "house-a", Role: authv1.Role_ROLE_SUPPORT_WORKER}); err != nil {
			t.Fatalf("AddMembership of olga into house-a: %v", err)
		}
		w.settle(t)
		// Becoming olga is not: it would make meera an administrator of oak.
		_, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "olga", ServiceId: "house-a"})
		refused(t, "IssueEnrolmentCode for olga, bound only to house-a", err)
		_, err = admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "olga"})
		refused(t, "IssueEnrolmentCode for olga without a service", err)
		_, err = admin.RevokeDevice(ctx, &authv1.RevokeDeviceRequest{DeviceId: w.olga.DeviceID, Reason: "wipe"})
		refused(t, "RevokeDevice of olga's phone", err)
		w.unchanged(t, w.meera, [2]string{"IssueEnrolmentCode", "olga"}, [2]string{"IssueEnrolmentCode", "olga"}, [2]string{"RevokeDevice", w.olga.DeviceID})
		// The step the code would have led to is still meera's to ask of
		// an administrator of oak.
		_, err = admin.AddMembership(ctx, &authv1.AddMembershipRequest{UserId: "meera", ServiceId: "house-b", Role: authv1.Role_ROLE_MANAGER})
		refused(t, "AddMembership of meera into house-b by meera", err)
	})
}
