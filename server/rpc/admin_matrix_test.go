package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
)

const day = 24 * time.Hour

// membershipSpec is a membership of the admin fixture, its times relative
// to the fixture's now: start -365*day is a year ago, end 0 is open-ended.
// Memberships are recorded a year before now, so their history is genuine,
// unless recordedNow: recorded now by the operator, back-dated or, starting
// now, as the caller's own AddMembership would have just recorded it.
type membershipSpec struct {
	service, person string
	role            shiftsync.Role
	start, end      time.Duration
	recordedNow     bool
}

// userSpec is a user of the admin fixture.
type userSpec struct {
	org, agency string
	orgAdmin    bool // the operator made them an administrator of org
	memberships []membershipSpec
}

func member(service string, role shiftsync.Role) membershipSpec {
	return membershipSpec{service: service, role: role, start: -365 * day}
}

// adminActors are the callers of the admin matrix: every role in house-a
// (organisation org-1), administrators of either organisation, and managers
// whose grant does not count.
var adminActors = []struct {
	name string
	spec userSpec
}{
	{"manager", userSpec{org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleManager)}}},
	{"org_admin", userSpec{org: "org-1", orgAdmin: true}},
	{"org_admin_other_org", userSpec{org: "org-2", orgAdmin: true}},
	{"support_worker", userSpec{org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSupportWorker)}}},
	{"shift_lead", userSpec{org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleShiftLead)}}},
	{"pbs_lead", userSpec{org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RolePBSLead)}}},
	{"quality_lead", userSpec{org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleQualityLead)}}},
	{"safeguarding_lead", userSpec{org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSafeguardingLead)}}},
	{"partner", userSpec{org: "org-1", agency: "community-ld-team", memberships: []membershipSpec{member("house-a", shiftsync.RolePartner)}}},
	{"caseload_manager", userSpec{org: "org-1", memberships: []membershipSpec{{service: "house-a", person: "p1", role: shiftsync.RoleManager, start: -365 * day}}}},
	{"partner_agency_manager", userSpec{org: "org-1", agency: "community-ld-team", memberships: []membershipSpec{member("house-a", shiftsync.RoleManager)}}},
	{"ended_manager", userSpec{org: "org-1", memberships: []membershipSpec{{service: "house-a", role: shiftsync.RoleManager, start: -365 * day, end: -day}}}},
	{"future_manager", userSpec{org: "org-1", memberships: []membershipSpec{{service: "house-a", role: shiftsync.RoleManager, start: day}}}},
	{"backdated_manager", userSpec{org: "org-1", memberships: []membershipSpec{{service: "house-a", role: shiftsync.RoleManager, start: -400 * day, end: -399 * day, recordedNow: true}}}},
	{"manager_other_service", userSpec{org: "org-1", memberships: []membershipSpec{member("house-b", shiftsync.RoleManager)}}},
	{"manager_other_org", userSpec{org: "org-2", memberships: []membershipSpec{member("house-z", shiftsync.RoleManager)}}},
}

// adminTargets are the users acted on, by their relation to service house-a
// of org-1; "unknown" names nothing and "self" is the caller.
var adminTargets = map[string]userSpec{
	"same_service":         {org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSupportWorker)}},
	"other_service":        {org: "org-1", memberships: []membershipSpec{member("house-b", shiftsync.RoleSupportWorker)}},
	"other_organisation":   {org: "org-2", memberships: []membershipSpec{member("house-z", shiftsync.RoleManager)}},
	"shared":               {org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSupportWorker), member("house-b", shiftsync.RoleSupportWorker)}},
	"leaver":               {org: "org-1", memberships: []membershipSpec{{service: "house-a", role: shiftsync.RoleSupportWorker, start: -365 * day, end: -30 * day}}},
	"leaver_over_90_days":  {org: "org-1", memberships: []membershipSpec{{service: "house-a", role: shiftsync.RoleSupportWorker, start: -365 * day, end: -200 * day}}},
	"mover_from_other":     {org: "org-1", memberships: []membershipSpec{{service: "house-b", role: shiftsync.RoleSupportWorker, start: -365 * day, end: -30 * day}, {service: "house-a", role: shiftsync.RoleSupportWorker, start: -30 * day}}},
	"partner_agency":       {org: "org-1", agency: "community-ld-team", memberships: []membershipSpec{member("house-a", shiftsync.RolePartner)}},
	"partner_as_staff":     {org: "org-1", agency: "community-ld-team", memberships: []membershipSpec{member("house-a", shiftsync.RolePartner)}},
	"backdated":            {org: "org-1", memberships: []membershipSpec{member("house-b", shiftsync.RoleManager), {service: "house-a", role: shiftsync.RoleSupportWorker, start: -400 * day, end: -399 * day, recordedNow: true}}},
	"into_other_service":   {org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSupportWorker)}},
	"into_other_org":       {org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSupportWorker)}},
	"person_other_service": {org: "org-1", memberships: []membershipSpec{member("house-a", shiftsync.RoleSupportWorker)}},
	"org_admin":            {org: "org-1", orgAdmin: true},
	// Review finding 1: bound only by a membership just added in house-a.
	"org_admin_new_member": {org: "org-1", orgAdmin: true, memberships: []membershipSpec{{service: "house-a", role: shiftsync.RoleSupportWorker, recordedNow: true}}},
}

// Relations of the user-centred calls; AddMembership has four more.
var userRelations = []string{"same_service", "other_service", "other_organisation", "shared", "leaver", "leaver_over_90_days",
	"mover_from_other", "partner_agency", "backdated", "org_admin", "org_admin_new_member", "unknown", "self"}

// adminWorld is the admin fixture on a fresh server: organisation org-1
// with services house-a (person p1) and house-b (person p9), org-2 with
// house-z (person pz), the caller "actor", and one user "t-<relation>" with
// an enrolled device per target relation. It is built a year before now,
// so that memberships have a past.
type adminWorld struct {
	s        *shiftsynctest.Server
	actor    shiftsynctest.Enrolment
	actorOrg string
	devices  map[string]string // relation → device of its user
	now      time.Time
}

var operator = shiftsync.Principal{UserID: "operator:test"}

func newAdminWorld(t *testing.T, actor userSpec) *adminWorld {
	t.Helper()
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	w := &adminWorld{s: s, actorOrg: actor.org, devices: map[string]string{}, now: s.Clock.Now().Add(365 * day)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, org := range []string{"org-1", "org-2"} {
		must(s.Identity.CreateOrganisation(ctx, operator, org, org))
	}
	for service, org := range map[string]string{"house-a": "org-1", "house-b": "org-1", "house-z": "org-2"} {
		must(s.Identity.CreateService(ctx, operator, service, org, service))
	}
	for person, service := range map[string]string{"p1": "house-a", "p9": "house-b", "pz": "house-z"} {
		must(s.Identity.CreatePerson(ctx, operator, person, service, person))
	}
	users := map[string]userSpec{"actor": actor}
	for rel, spec := range adminTargets {
		users["t-"+rel] = spec
	}
	add := func(id string, m membershipSpec) {
		_, err := s.Identity.AddMembership(ctx, operator, shiftsync.Membership{UserID: id, ServiceID: m.service, PersonID: m.person, Role: m.role,
			Start: w.now.Add(m.start), End: w.at(m.end)})
		must(err)
	}
	for id, spec := range users {
		must(s.Identity.CreateUser(ctx, operator, id, spec.org, id, spec.agency))
		if spec.orgAdmin {
			must(s.Identity.GrantOrganisationAdmin(ctx, operator, id, spec.org))
		}
		for _, m := range spec.memberships {
			if !m.recordedNow {
				add(id, m)
			}
		}
	}
	s.Clock.Advance(w.now.Sub(s.Clock.Now()))
	for id, spec := range users {
		for _, m := range spec.memberships {
			if m.recordedNow {
				add(id, m)
			}
		}
		if id != "actor" {
			w.devices[strings.TrimPrefix(id, "t-")] = s.Enrol(t, id).DeviceID
		}
	}
	w.actor = s.Enrol(t, "actor")
	return w
}

// at returns the fixture's time d from now; zero for d == 0 (open-ended).
func (w *adminWorld) at(d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return w.now.Add(d)
}

// user returns the id of the user of a relation.
func (w *adminWorld) user(rel string) string {
	switch rel {
	case "self":
		return "actor"
	case "unknown":
		return "t-unknown"
	}
	return "t-" + rel
}

// membership returns the id of the relation's user's membership in
// house-a, or else their first; 0 if they have none.
func (w *adminWorld) membership(t *testing.T, rel string) int64 {
	if rel == "unknown" {
		return 999999
	}
	ms, err := w.s.Identity.Memberships(context.Background(), w.user(rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ServiceID == "house-a" {
			return m.ID
		}
	}
	if len(ms) > 0 {
		return ms[0].ID
	}
	return 0
}

// adminCell is one call of the matrix: its outcome's suffix on success,
// the subject it named, and the error.
type adminCell func(t *testing.T, w *adminWorld, rel string) (ok string, subject string, err error)

// adminMatrixCalls has one call per AdminService procedure and the
// relations it is tried against; TestAdminMatrix fails if a procedure has
// none.
var adminMatrixCalls = map[string]struct {
	relations []string
	call      adminCell
}{
	"/shiftsync.auth.v1.AdminService/IssueEnrolmentCode": {userRelations, func(t *testing.T, w *adminWorld, rel string) (string, string, error) {
		user := w.user(rel)
		res, err := adminClient(w.s, w.actor.Token).IssueEnrolmentCode(context.Background(), &authv1.IssueEnrolmentCodeRequest{UserId: user})
		if err == nil {
			checkEnrolmentWidensNothing(t, w, rel, res.GetCode())
		}
		return "", user, err
	}},
	"/shiftsync.auth.v1.AdminService/RevokeDevice": {userRelations, func(t *testing.T, w *adminWorld, rel string) (string, string, error) {
		device := w.devices[rel]
		switch rel {
		case "self":
			device = w.actor.DeviceID
		case "unknown":
			device = uuid.NewString()
		}
		_, err := adminClient(w.s, w.actor.Token).RevokeDevice(context.Background(), &authv1.RevokeDeviceRequest{DeviceId: device, Reason: "matrix"})
		return "", device, err
	}},
	"/shiftsync.auth.v1.AdminService/AddMembership": {append(slices.Clone(userRelations), "into_other_service", "into_other_org", "person_other_service", "partner_as_staff"),
		func(t *testing.T, w *adminWorld, rel string) (string, string, error) {
			req := &authv1.AddMembershipRequest{UserId: w.user(rel), ServiceId: "house-a", Role: authv1.Role_ROLE_SHIFT_LEAD}
			switch rel {
			case "partner_agency":
				req.Role = authv1.Role_ROLE_PARTNER
			case "partner_as_staff":
				req.Role = authv1.Role_ROLE_SUPPORT_WORKER
			case "backdated": // finding 3: starting and ending 400 days ago
				req.StartsAt, req.EndsAt = timestamppb.New(w.now.Add(-400*day)), timestamppb.New(w.now.Add(-399*day))
			case "into_other_service":
				req.ServiceId = "house-b"
			case "into_other_org":
				req.ServiceId = "house-z"
			case "person_other_service":
				req.PersonId = "p9"
			}
			_, err := adminClient(w.s, w.actor.Token).AddMembership(context.Background(), req)
			return "", req.UserId, err
		}},
	"/shiftsync.auth.v1.AdminService/EndMembership": {userRelations, func(t *testing.T, w *adminWorld, rel string) (string, string, error) {
		id := w.membership(t, rel)
		if id == 0 {
			return "n/a", "", nil // the caller has no membership
		}
		before, _ := w.s.Identity.Membership(context.Background(), id)
		res, err := adminClient(w.s, w.actor.Token).EndMembership(context.Background(), &authv1.EndMembershipRequest{MembershipId: id})
		if err == nil && !before.End.IsZero() && !res.GetEndsAt().AsTime().Equal(before.End) {
			t.Errorf("EndMembership(%d) moved an end of %s to %s: ending never widens", id, before.End, res.GetEndsAt().AsTime())
		}
		return "", fmt.Sprint(id), err
	}},
	"/shiftsync.auth.v1.AdminService/SetPersonName": {[]string{"same_service", "other_service", "other_organisation", "unknown"},
		func(t *testing.T, w *adminWorld, rel string) (string, string, error) {
			person := map[string]string{"same_service": "p1", "other_service": "p9", "other_organisation": "pz", "unknown": "no-such-person"}[rel]
			_, err := adminClient(w.s, w.actor.Token).SetPersonName(context.Background(), &authv1.SetPersonNameRequest{PersonId: person, Name: "A name"})
			return "", person, err
		}},
	"/shiftsync.auth.v1.AdminService/ListDevices": {[]string{"same_service", "other_service", "other_organisation", "unknown"},
		func(t *testing.T, w *adminWorld, rel string) (string, string, error) {
			service := map[string]string{"same_service": "house-a", "other_service": "house-b", "other_organisation": "house-z", "unknown": "no-such-service"}[rel]
			res, err := adminClient(w.s, w.actor.Token).ListDevices(context.Background(), &authv1.ListDevicesRequest{ServiceId: service})
			var seen []string
			for _, d := range res.GetDevices() {
				seen = append(seen, strings.TrimPrefix(strings.Replace(d.GetUserId(), "actor", "self", 1), "t-"))
			}
			slices.Sort(seen)
			if slices.Contains(seen, "leaver_over_90_days") || (service == "house-a" && slices.Contains(seen, "backdated")) {
				t.Errorf("ListDevices(%s) = %v: a back-dated membership and one ended long ago bind nobody", service, seen)
			}
			return strings.Join(slices.Compact(seen), ","), service, err
		}},
}

// snapshot is what an admin call may change about the users concerned:
// their memberships and devices, and the enrolment codes issued.
func snapshot(t *testing.T, w *adminWorld, users ...string) string {
	t.Helper()
	return identityState(t, w.s, users...) + fmt.Sprintf("codes issued: %d\n", w.s.AuditCount(t, shiftsync.AuditEnrolmentCode))
}

// TestAdminMatrix calls every AdminService procedure over real HTTP as
// every caller of adminActors against every relation of its target, each
// (procedure, caller) on a fresh server, and compares the answers with
// testdata/admin-matrix.txt, the reviewed statement of who may administer
// what (server/shiftsync/authority.go). A procedure without a call here, or
// without rows there, fails; after a deliberate change, run with -update and
// review the diff. Independently of the golden, every cell is held to the
// invariants: a refusal is permission_denied with ErrorInfo, changes
// nothing and is audited; nothing is ever done to another organisation's
// user or service; the caller's own memberships never grow; a refusal of an
// unknown id reads exactly as one of another organisation's; and an allowed
// enrolment code lets the device read or administer nothing its issuer
// could not.
func TestAdminMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("a server per procedure and caller; skipped in -short")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by TestAdminMatrix -update from server/shiftsync/authority.go; review every changed line.\n")
	fmt.Fprintf(&b, "# Callers and target relations are defined in admin_matrix_test.go, relative to house-a of org-1:\n")
	fmt.Fprintf(&b, "# house-b is another service of org-1, house-z a service of org-2. Outcome: ok, ok:<listed users>, or the ErrorInfo code.\n")
	var procs []string
	for _, proc := range procedures() {
		if strings.HasPrefix(proc, "/shiftsync.auth.v1.AdminService/") {
			procs = append(procs, proc)
		}
	}
	for proc := range adminMatrixCalls {
		if !slices.Contains(procs, proc) {
			t.Errorf("adminMatrixCalls has %s, which the AdminService does not", proc)
		}
	}
	rows := make([]string, len(procs)*len(adminActors)) // each (procedure, caller)'s lines
	t.Run("cells", func(t *testing.T) {
		for i, proc := range procs {
			c, ok := adminMatrixCalls[proc]
			if !ok {
				t.Errorf("procedure %s has no call in adminMatrixCalls", proc)
				continue
			}
			name := strings.TrimPrefix(proc, "/shiftsync.auth.v1.AdminService/")
			for j, actor := range adminActors {
				t.Run(name+"/"+actor.name, func(t *testing.T) {
					t.Parallel()
					w := newAdminWorld(t, actor.spec)
					refusals := map[string]string{} // relation → message, subject replaced
					var lines strings.Builder
					for _, rel := range c.relations {
						got := adminCellOutcome(t, w, proc, actor.name, rel, c.call, refusals)
						fmt.Fprintf(&lines, "%-34s %-24s %-22s %s\n", name, actor.name, rel, got)
					}
					if u, o := refusals["unknown"], refusals["other_organisation"]; u != "" && o != "" && u != o {
						t.Errorf("an unknown id is refused with %q, another organisation's with %q: a probe tells them apart", u, o)
					}
					rows[i*len(adminActors)+j] = lines.String()
				})
			}
		}
	})
	for _, r := range rows {
		b.WriteString(r)
	}
	const golden = "testdata/admin-matrix.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("admin matrix differs from %s (-want +got); run with -update if intended:\n%s", golden, diff)
	}
}

// adminCellOutcome makes one call of the matrix, checks the invariants and
// returns the outcome.
func adminCellOutcome(t *testing.T, w *adminWorld, proc, actor, rel string, call adminCell, refusals map[string]string) string {
	t.Helper()
	ctx := context.Background()
	cell := fmt.Sprintf("%s as %s on %s", proc, actor, rel)
	users := []string{"actor", w.user(rel)}
	before, refusedBefore := snapshot(t, w, users...), w.s.AuditCount(t, shiftsync.AuditAdminRefused)
	actorBefore, err := w.s.Identity.Memberships(ctx, "actor")
	if err != nil {
		t.Fatal(err)
	}
	ok, subject, err := call(t, w, rel)
	actorAfter, _ := w.s.Identity.Memberships(ctx, "actor")
	for _, m := range actorAfter {
		i := slices.IndexFunc(actorBefore, func(b shiftsync.Membership) bool { return b.ID == m.ID })
		if i < 0 || (m.End.IsZero() && !actorBefore[i].End.IsZero()) || (!m.End.IsZero() && !actorBefore[i].End.IsZero() && m.End.After(actorBefore[i].End)) {
			t.Errorf("%s: the caller's memberships grew: %+v, before %+v", cell, actorAfter, actorBefore)
		}
	}
	if err != nil {
		code := shiftsynctest.ErrorCode(err)
		if code != string(shiftsync.CodePermissionDenied) || connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: refused with %v (ErrorInfo %q), want PermissionDenied with ErrorInfo permission_denied", cell, err, code)
		}
		if after := snapshot(t, w, users...); after != before {
			t.Errorf("%s: refused, yet changed\n%s\nto\n%s", cell, before, after)
		}
		if n := w.s.AuditCount(t, shiftsync.AuditAdminRefused) - refusedBefore; n != 1 {
			t.Errorf("%s: refused with %d admin.refused audit entries, want 1", cell, n)
		}
		var ce *connect.Error
		if errors.As(err, &ce) && subject != "" {
			refusals[rel] = strings.ReplaceAll(ce.Message(), subject, "ID")
		}
		return code
	}
	if n := w.s.AuditCount(t, shiftsync.AuditAdminRefused) - refusedBefore; n != 0 {
		t.Errorf("%s: allowed, yet %d refusals audited", cell, n)
	}
	if rel == "unknown" || rel == "other_organisation" && w.actorOrg != "org-2" || rel == "into_other_org" {
		t.Errorf("%s: allowed: no admin call acts on what another organisation holds, or on nothing", cell)
	}
	if rel != "unknown" && rel != "self" && subject != "" && ok != "n/a" {
		if u, err := w.s.Identity.User(ctx, w.user(rel)); err == nil && u.OrganisationID != w.actorOrg {
			t.Errorf("%s: allowed on a user of %s by a caller of %s", cell, u.OrganisationID, w.actorOrg)
		}
	}
	if ok == "" {
		return "ok"
	}
	return "ok:" + ok
}

// checkEnrolmentWidensNothing enrols a device with a code the caller was
// given for the relation's user, and checks that becoming the user gives the
// caller no authority they lack. The device administers nothing the caller
// does not: every organisation administrator role of the user not yet ended
// is one the caller holds, and every service a grant of the user, in force
// or to come, lets them manage is one the caller administers now. And it
// reads nothing the caller may not: every operation such a grant allows on
// a record of any type is allowed to the caller now. An organisation
// administrator, who reads nothing, is trusted with the identities of their
// own organisation instead: every service the user is bound to is of it.
func checkEnrolmentWidensNothing(t *testing.T, w *adminWorld, rel, code string) {
	t.Helper()
	ctx := context.Background()
	res, err := authClient(w.s, "").Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "issued in the matrix"})
	if err != nil {
		t.Errorf("%s: the code issued does not enrol: %v", rel, err)
		return
	}
	target, err := w.s.Identity.Scope(ctx, shiftsync.Principal{UserID: res.GetUserId(), DeviceID: res.GetDeviceId()})
	if err != nil {
		t.Fatal(err)
	}
	actor, err := w.s.Identity.Scope(ctx, shiftsync.Principal{UserID: "actor"})
	if err != nil {
		t.Fatal(err)
	}
	admins, err := w.s.Identity.OrganisationAdmins(ctx, "actor")
	if err != nil {
		t.Fatal(err)
	}
	orgAdmin := slices.ContainsFunc(admins, func(g shiftsync.OrganisationAdmin) bool { return g.ActiveAt(w.now) })
	actorUser, err := w.s.Identity.User(ctx, "actor")
	if err != nil {
		t.Fatal(err)
	}
	authority := shiftsync.Authority{Actor: actorUser, Scope: actor, OrganisationAdmins: admins, At: w.now}
	targetAdmins, err := w.s.Identity.OrganisationAdmins(ctx, res.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range targetAdmins {
		if (g.End.IsZero() || w.now.Before(g.End)) && !authority.AdministersOrganisation(g.OrganisationID) {
			t.Errorf("%s: the enrolled device is an administrator of %s, which its issuer is not", rel, g.OrganisationID)
		}
	}
	for _, g := range target.Grants {
		if !g.End.IsZero() && !w.now.Before(g.End) {
			continue // ended: reads and administers nothing
		}
		at := max(w.now.UnixMilli(), g.Start.UnixMilli())
		if (shiftsync.Scope{Grants: []shiftsync.Grant{g}}).Manages(g.ServiceID, time.UnixMilli(at)) {
			if org, _ := w.s.Identity.ServiceOrganisation(ctx, g.ServiceID); !authority.Administers(g.ServiceID, org) {
				t.Errorf("%s: the enrolled device manages service %s, which its issuer does not administer", rel, g.ServiceID)
			}
		}
		if orgAdmin {
			if org, _ := w.s.Identity.ServiceOrganisation(ctx, g.ServiceID); org != w.actorOrg {
				t.Errorf("%s: an administrator of %s enrolled a device reading service %s of %s", rel, w.actorOrg, g.ServiceID, org)
			}
			continue
		}
		for _, recordType := range w.s.Schema.TypeNames() {
			ref := shiftsync.RecordRef{RecordType: recordType, ServiceID: g.ServiceID, PersonID: personOr(g.PersonID), Agency: g.Agency}
			for _, op := range []shiftsync.Operation{shiftsync.OpPull, shiftsync.OpReview} {
				if (shiftsync.Scope{Grants: []shiftsync.Grant{g}}).Allows(op, ref, time.UnixMilli(at)) && !actor.Allows(op, ref, w.now) {
					t.Errorf("%s: the enrolled device may %s %s records of %s, which its issuer may not", rel, op, recordType, g.ServiceID)
				}
			}
		}
	}
}

// personOr returns the person of a caseload grant, or p1 for a grant of the
// whole service.
func personOr(person string) string {
	if person == "" {
		return "p1"
	}
	return person
}

// identityState describes the users' memberships and devices, to compare
// before and after a call that must change nothing.
func identityState(t *testing.T, s *shiftsynctest.Server, users ...string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, u := range users {
		ms, err := s.Identity.Memberships(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.Identity.Devices(ctx, []string{u})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %+v %+v\n", u, ms, ds)
	}
	return b.String()
}
