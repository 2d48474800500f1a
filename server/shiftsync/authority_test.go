package shiftsync_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestMembership_Binds(t *testing.T) {
	now := matrixNow
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	tests := []struct {
		name string
		m    shiftsync.Membership
		want bool
	}{
		{"in force", shiftsync.Membership{Start: ago(365), Created: ago(365)}, true},
		{"in force, recorded back-dated", shiftsync.Membership{Start: ago(400), Created: now}, true},
		{"not yet started", shiftsync.Membership{Start: now.Add(time.Hour), Created: now}, true},
		{"ended 30 days ago", shiftsync.Membership{Start: ago(365), End: ago(30), Created: ago(365)}, true},
		{"ended just under the look-back", shiftsync.Membership{Start: ago(365), End: now.Add(-shiftsync.AdminLookback + time.Millisecond), Created: ago(365)}, true},
		{"ended the look-back ago", shiftsync.Membership{Start: ago(365), End: now.Add(-shiftsync.AdminLookback), Created: ago(365)}, false},
		{"ended 200 days ago", shiftsync.Membership{Start: ago(365), End: ago(200), Created: ago(365)}, false},
		{"recorded after it ended", shiftsync.Membership{Start: ago(400), End: ago(399), Created: now}, false},
		{"recorded the moment it ended", shiftsync.Membership{Start: ago(40), End: ago(30), Created: ago(30)}, true},
		{"ends now", shiftsync.Membership{Start: ago(40), End: now, Created: ago(40)}, true},
	}
	for _, tt := range tests {
		if got := tt.m.Binds(now); got != tt.want {
			t.Errorf("%s: Binds() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBoundUsers(t *testing.T) {
	now := matrixNow
	ms := []shiftsync.Membership{
		{UserID: "b", Start: yearAgo, Created: yearAgo},
		{UserID: "a", Start: yearAgo, Created: yearAgo},
		{UserID: "b", Start: yearAgo, End: now.AddDate(0, 0, -1), Created: yearAgo},
		{UserID: "backdated", Start: yearAgo, End: yearAgo.Add(time.Hour), Created: now},
	}
	if diff := cmp.Diff([]string{"a", "b"}, shiftsync.BoundUsers(ms, now)); diff != "" {
		t.Errorf("BoundUsers() (-want +got)\n%s", diff)
	}
}

// TestAuthority states the admin rules case by case, for one manager of
// service a of organisation o1 and one administrator of o1; TestAdminMatrix
// (server/rpc) checks every call over HTTP.
func TestAuthority(t *testing.T) {
	now := matrixNow
	manager := shiftsync.Authority{At: now, Actor: shiftsync.User{ID: "m", OrganisationID: "o1"},
		Scope: shiftsync.Scope{Grants: []shiftsync.Grant{{ServiceID: "a", Role: shiftsync.RoleManager, Start: yearAgo}}}}
	orgAdmin := shiftsync.Authority{At: now, Actor: shiftsync.User{ID: "x", OrganisationID: "o1"},
		OrganisationAdmins: []shiftsync.OrganisationAdmin{{UserID: "x", OrganisationID: "o1", Start: yearAgo}}}
	foreignRole := orgAdmin
	foreignRole.OrganisationAdmins = []shiftsync.OrganisationAdmin{{UserID: "x", OrganisationID: "o2", Start: yearAgo}}
	endedRole := orgAdmin
	endedRole.OrganisationAdmins = []shiftsync.OrganisationAdmin{{UserID: "x", OrganisationID: "o1", Start: yearAgo, End: now}}
	staff := shiftsync.User{ID: "u", OrganisationID: "o1"}
	orgs := map[string]string{"a": "o1", "b": "o1", "z": "o2"}
	in := func(service string) shiftsync.Membership {
		return shiftsync.Membership{UserID: "u", ServiceID: service, Role: shiftsync.RoleSupportWorker, Start: yearAgo, Created: yearAgo}
	}
	add := shiftsync.Membership{UserID: "u", ServiceID: "a", Role: shiftsync.RoleShiftLead, Start: now}
	with := func(m shiftsync.Membership, f func(*shiftsync.Membership)) shiftsync.Membership { f(&m); return m }
	tests := []struct {
		name    string
		decide  func() error
		allowed bool
	}{
		{"manager administers their service", func() error { return boolErr(manager.Administers("a", "o1")) }, true},
		{"manager does not administer another", func() error { return boolErr(manager.Administers("b", "o1")) }, false},
		{"a manager grant of another organisation's service counts for nothing", func() error { return boolErr(manager.Administers("a", "o2")) }, false},
		{"organisation administrator administers every service of it", func() error { return boolErr(orgAdmin.Administers("b", "o1")) }, true},
		{"and none of another", func() error { return boolErr(orgAdmin.Administers("z", "o2")) }, false},
		{"a role for an organisation not the actor's is void", func() error { return boolErr(foreignRole.Administers("z", "o2")) }, false},
		{"an ended role is void", func() error { return boolErr(endedRole.Administers("a", "o1")) }, false},
		{"a caller who is no user administers nothing", func() error {
			return boolErr(shiftsync.Authority{At: now, Scope: manager.Scope}.Administers("a", ""))
		}, false},

		{"add a colleague", func() error { return manager.AddsMembership(staff, add, "o1", "") }, true},
		{"add another organisation's user", func() error {
			return manager.AddsMembership(shiftsync.User{ID: "u", OrganisationID: "o2"}, add, "o1", "")
		}, false},
		{"add oneself", func() error {
			return manager.AddsMembership(shiftsync.User{ID: "m", OrganisationID: "o1"}, add, "o1", "")
		}, false},
		{"organisation administrator adds themselves", func() error {
			return orgAdmin.AddsMembership(shiftsync.User{ID: "x", OrganisationID: "o1"}, add, "o1", "")
		}, false},
		{"add a partner agency's user as a partner", func() error {
			return manager.AddsMembership(shiftsync.User{ID: "u", OrganisationID: "o1", Agency: "housing"},
				with(add, func(m *shiftsync.Membership) { m.Role = shiftsync.RolePartner }), "o1", "")
		}, true},
		{"add a partner agency's user as staff", func() error {
			return manager.AddsMembership(shiftsync.User{ID: "u", OrganisationID: "o1", Agency: "housing"}, add, "o1", "")
		}, false},
		{"a caseload of a person of the service", func() error {
			return manager.AddsMembership(staff, with(add, func(m *shiftsync.Membership) { m.PersonID = "p1" }), "o1", "a")
		}, true},
		{"a caseload of a person of another service", func() error {
			return manager.AddsMembership(staff, with(add, func(m *shiftsync.Membership) { m.PersonID = "p9" }), "o1", "b")
		}, false},
		{"a start within the clock skew", func() error {
			return manager.AddsMembership(staff, with(add, func(m *shiftsync.Membership) { m.Start = now.Add(-shiftsync.MembershipStartSkew) }), "o1", "")
		}, true},
		{"a start in the past", func() error {
			return manager.AddsMembership(staff, with(add, func(m *shiftsync.Membership) { m.Start = now.Add(-shiftsync.MembershipStartSkew - time.Millisecond) }), "o1", "")
		}, false},

		{"act on a user of one's own service", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{in("a")}, Organisations: orgs})
		}, true},
		{"act on a user also in another service", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{in("a"), in("b")}, Organisations: orgs})
		}, false},
		{"act on a user who left another service 30 days ago", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{in("a"), with(in("b"), func(m *shiftsync.Membership) { m.End = now.AddDate(0, 0, -30) })}, Organisations: orgs})
		}, false},
		{"act on a user with a back-dated membership in one's service only", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{with(in("a"), func(m *shiftsync.Membership) { m.End, m.Created = yearAgo.Add(time.Hour), now })}, Organisations: orgs})
		}, false},
		{"organisation administrator acts on a user bound to no service", func() error { return orgAdmin.ActsOnIdentity(shiftsync.Subject{User: staff, Organisations: orgs}) }, true},
		{"organisation administrator acts on a user bound to another organisation's service", func() error {
			return orgAdmin.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{in("a"), in("z")}, Organisations: orgs})
		}, false},
		{"issue a code for oneself", func() error {
			return manager.IssuesEnrolmentCode(shiftsync.Subject{User: shiftsync.User{ID: "m", OrganisationID: "o1"}, Memberships: []shiftsync.Membership{in("a")}, Organisations: orgs})
		}, false},
		{"issue a code for an organisation administrator bound only to one's service", func() error {
			return manager.IssuesEnrolmentCode(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{add}, Organisations: orgs,
				OrganisationAdmins: []shiftsync.OrganisationAdmin{{UserID: "u", OrganisationID: "o1", Start: yearAgo}}})
		}, false},
		{"act on a user whose organisation administrator role starts tomorrow", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{in("a")}, Organisations: orgs,
				OrganisationAdmins: []shiftsync.OrganisationAdmin{{UserID: "u", OrganisationID: "o1", Start: now.Add(24 * time.Hour)}}})
		}, false},
		{"act on a user whose organisation administrator role has ended", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: staff, Memberships: []shiftsync.Membership{in("a")}, Organisations: orgs,
				OrganisationAdmins: []shiftsync.OrganisationAdmin{{UserID: "u", OrganisationID: "o1", Start: yearAgo, End: now}}})
		}, true},
		{"organisation administrator issues a code for another of the organisation", func() error {
			return orgAdmin.IssuesEnrolmentCode(shiftsync.Subject{User: staff, Organisations: orgs,
				OrganisationAdmins: []shiftsync.OrganisationAdmin{{UserID: "u", OrganisationID: "o1", Start: yearAgo}}})
		}, true},
		{"revoke one's own device", func() error {
			return manager.ActsOnIdentity(shiftsync.Subject{User: shiftsync.User{ID: "m", OrganisationID: "o1"}, Memberships: []shiftsync.Membership{in("a")}, Organisations: orgs})
		}, true},

		{"end a membership of one's service", func() error { return manager.EndsMembership(staff, in("a"), "o1") }, true},
		{"end a membership of another service", func() error { return manager.EndsMembership(staff, in("b"), "o1") }, false},
		{"end another organisation's user's membership", func() error {
			return manager.EndsMembership(shiftsync.User{ID: "u", OrganisationID: "o2"}, in("a"), "o1")
		}, false},
	}
	for _, tt := range tests {
		err := tt.decide()
		if (err == nil) != tt.allowed {
			t.Errorf("%s: %v, want allowed %v", tt.name, err, tt.allowed)
		}
		if err != nil && shiftsync.ErrorCode(err) != shiftsync.CodePermissionDenied {
			t.Errorf("%s: code %s, want permission_denied", tt.name, shiftsync.ErrorCode(err))
		}
	}
}

// boolErr turns a yes into nil and a no into a refusal.
func boolErr(ok bool) error {
	if ok {
		return nil
	}
	return shiftsync.Errorf(shiftsync.CodePermissionDenied, "no")
}
