package shiftsync_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var update = flag.Bool("update", false, "rewrite testdata/access-matrix.txt from the policy")

// relationship is how the principal stands to the record in one column of
// the access matrix: the grant the principal holds, where the record is,
// and when a pushed change was written.
type relationship struct {
	name    string
	grant   func(role shiftsync.Role) shiftsync.Grant
	record  shiftsync.RecordRef
	written time.Time // the mutation's HLC time
	// rota, when set, is service s1's: the grant is narrowed to the
	// shifts of user u1 on it ([shiftsync.Scope.Rostered]).
	rota shiftsync.Rota
}

// scope returns the scope of a principal in the role standing in the
// relationship.
func (rel relationship) scope(role shiftsync.Role) shiftsync.Scope {
	s := shiftsync.Scope{Grants: []shiftsync.Grant{rel.grant(role)}}
	if rel.rota != nil {
		s = s.Rostered("u1", map[string]shiftsync.Rota{"s1": rel.rota}, shiftsync.DefaultRosterWindow, matrixNow)
	}
	return s
}

// rotaShift returns a rota of one shift of u1 covering p1, starting at
// start and lasting 8 hours, after another shift a month before it (the
// rota's first).
func rotaShift(start time.Time) shiftsync.Rota {
	return shiftsync.Rota{
		{ShiftID: "first", Start: yearAgo.AddDate(0, 1, 0), End: yearAgo.AddDate(0, 1, 0).Add(8 * time.Hour), PersonIDs: []string{"p2"}, Staff: []string{"u2"}},
		{ShiftID: "shift", Start: start, End: start.Add(8 * time.Hour), PersonIDs: []string{"p1"}, Staff: []string{"u1"}},
	}
}

var (
	matrixNow = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	yearAgo   = matrixNow.AddDate(-1, 0, 0)
	relations = []relationship{
		{"own_service", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", Role: r, Start: yearAgo}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow, nil},
		{"other_service", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", Role: r, Start: yearAgo}
		}, shiftsync.RecordRef{ServiceID: "s2", PersonID: "p9"}, matrixNow, nil},
		{"own_caseload", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", PersonID: "p1", Role: r, Start: yearAgo}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow, nil},
		{"outside_caseload", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", PersonID: "p1", Role: r, Start: yearAgo}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p2"}, matrixNow, nil},
		// A partner agency's user, and a record that, when it is of a type
		// assigned to one agency (an action), is assigned to theirs...
		{"partner_agency", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", Role: r, Agency: "community-ld-team", Start: yearAgo}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1", Agency: "community-ld-team"}, matrixNow, nil},
		// ...or to another agency.
		{"other_agency", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", Role: r, Agency: "community-ld-team", Start: yearAgo}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1", Agency: "housing"}, matrixNow, nil},
		{"ended_membership", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", Role: r, Start: yearAgo, End: matrixNow.AddDate(0, 0, -1)}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow, nil},
		{"ended_after_writing", func(r shiftsync.Role) shiftsync.Grant {
			return shiftsync.Grant{ServiceID: "s1", Role: r, Start: yearAgo, End: matrixNow.AddDate(0, 0, -1)}
		}, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow.AddDate(0, 0, -2), nil},
		// In a service that keeps a rota, a support worker reaches the people
		// of their shifts from a day before each starts to 12 hours after it
		// ends, and the service's own records; other roles the whole service.
		{"rostered_now", ownService, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow, rotaShift(matrixNow.Add(-2 * time.Hour))},
		{"rostered_in_window", ownService, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow, rotaShift(matrixNow.Add(20 * time.Hour))},
		{"rostered_out_window", ownService, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow, rotaShift(matrixNow.Add(50 * time.Hour))},
		{"rostered_service_own", ownService, shiftsync.RecordRef{ServiceID: "s1"}, matrixNow, rotaShift(matrixNow.Add(50 * time.Hour))},
		{"written_on_shift", ownService, shiftsync.RecordRef{ServiceID: "s1", PersonID: "p1"}, matrixNow.AddDate(0, 0, -3), rotaShift(matrixNow.AddDate(0, 0, -3).Add(-time.Hour))},
	}
)

// ownService is a membership of a year in service s1.
func ownService(r shiftsync.Role) shiftsync.Grant {
	return shiftsync.Grant{ServiceID: "s1", Role: r, Start: yearAgo}
}

// decide returns the policy's answer for one cell: allow, deny, or flag (a
// write accepted and flagged for review because access had ended).
func decide(scope shiftsync.Scope, op shiftsync.Operation, rel relationship, recordType string) string {
	r := rel.record
	r.RecordType = recordType
	switch op {
	case shiftsync.OpCreate, shiftsync.OpEdit:
		m := &shiftsync.Mutation{RecordRef: r, HLC: shiftsync.HLC{WallMS: rel.written.UnixMilli()}}
		var stored *shiftsync.StoredRecord // a create
		if op == shiftsync.OpEdit {
			stored = &shiftsync.StoredRecord{RecordRef: r} // received long before it is written
		}
		flag, err := scope.AuthorizeWrite(m, stored, matrixNow)
		switch {
		case err != nil:
			return "deny"
		case flag != "":
			return "flag"
		}
		return "allow"
	}
	if scope.Allows(op, r, matrixNow) {
		return "allow"
	}
	return "deny"
}

// TestAccessMatrix checks every role × record type × relationship ×
// operation against testdata/access-matrix.txt, the reviewed statement of
// who may do what (care-records.md §3.2). A changed cell, a record type in
// the schema without rows, or a row for a type that no longer exists fails;
// after a deliberate change, run with -update and review the diff.
func TestAccessMatrix(t *testing.T) {
	records, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by TestAccessMatrix -update from server/shiftsync/policy.go; review every changed cell.\n")
	fmt.Fprintf(&b, "# flag: accepted and flagged for review (written while the author still had access).\n")
	fmt.Fprintf(&b, "# A partner agency's push_edit of an action is further held to PartnerEdit: its own agency's actions, progress fields only.\n")
	fmt.Fprintf(&b, "%-18s %-26s %-20s", "# role", "record_type", "relationship")
	for _, op := range shiftsync.Operations {
		fmt.Fprintf(&b, " %-11s", op)
	}
	b.WriteString("\n")
	for _, role := range shiftsync.Roles {
		for _, recordType := range records.TypeNames() {
			if !shiftsync.PermissionsDeclared(role, recordType) && role != shiftsync.RolePartner {
				t.Errorf("policy.go permissions: no row for role %s and record type %s", role, recordType)
			}
			for _, rel := range relations {
				scope := rel.scope(role)
				fmt.Fprintf(&b, "%-18s %-26s %-20s", role, recordType, rel.name)
				for _, op := range shiftsync.Operations {
					fmt.Fprintf(&b, " %-11s", decide(scope, op, rel, recordType))
				}
				b.WriteString("\n")
			}
		}
	}
	lines := strings.Split(b.String(), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimRight(line, " ")
	}
	got := strings.Join(lines, "\n")
	const golden = "testdata/access-matrix.txt"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("access matrix differs from %s (-want +got); run with -update if intended:\n%s", golden, diff)
	}
}

// TestAccessMatrix_Invariants states, independently of the golden, what
// must never be allowed, for every record type in the schema.
func TestAccessMatrix_Invariants(t *testing.T) {
	records, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]bool{"incident": true, "restrictive_intervention": true}
	shared := map[string]bool{"action": true, "action_tracker": true}
	for _, role := range shiftsync.Roles {
		for _, recordType := range records.TypeNames() {
			for _, rel := range relations {
				scope := rel.scope(role)
				for _, op := range shiftsync.Operations {
					got := decide(scope, op, rel, recordType)
					cell := fmt.Sprintf("%s %s %s %s = %s", role, recordType, rel.name, op, got)
					rostered := role == shiftsync.RoleSupportWorker && rel.rota != nil
					switch {
					case rostered && rel.name == "rostered_out_window" && got != "deny":
						t.Errorf("%s: a rostered support worker reaches no one outside their shifts' windows", cell)
					case rostered && rel.name == "written_on_shift" && (op == shiftsync.OpCreate || op == shiftsync.OpEdit) &&
						shiftsync.RoleAllows(role, recordType, op) && got != "flag":
						t.Errorf("%s: a write made on shift is accepted after its window, flagged", cell)
					case got == "deny":
					case rel.name == "other_service" || rel.name == "outside_caseload" || rel.name == "ended_membership":
						t.Errorf("%s: no access outside the grant", cell)
					case rel.name == "ended_after_writing" && got != "flag":
						t.Errorf("%s: after a membership ended only a write made before is accepted, flagged", cell)
					case rel.name == "other_agency" && recordType == "action":
						t.Errorf("%s: a partner agency sees only the actions assigned to it", cell)
					case raw[recordType] && (role == shiftsync.RolePartner || rel.name == "partner_agency" || rel.name == "other_agency"):
						t.Errorf("%s: partner agencies never see raw incident or restriction records", cell)
					case (role == shiftsync.RoleQualityLead || role == shiftsync.RoleSafeguardingLead) && op != shiftsync.OpReview && raw[recordType]:
						t.Errorf("%s: reviewing roles do not record", cell)
					case (role == shiftsync.RolePartner || rel.name == "partner_agency" || rel.name == "other_agency") && !shared[recordType]:
						t.Errorf("%s: partner agencies see only the shared action tracker", cell)
					case (role == shiftsync.RolePartner || rel.name == "partner_agency" || rel.name == "other_agency") && op != shiftsync.OpPull && op != shiftsync.OpReview &&
						(op != shiftsync.OpEdit || recordType != "action"):
						t.Errorf("%s: partner agencies read the tracker and update actions; they write nothing else", cell)
					case op == shiftsync.OpVoid && role != shiftsync.RoleManager:
						t.Errorf("%s: only a manager voids a record", cell)
					case recordType == "safeguarding_concern" && (op == shiftsync.OpPull || op == shiftsync.OpReview) &&
						role != shiftsync.RoleManager && role != shiftsync.RoleSafeguardingLead:
						t.Errorf("%s: only managers and safeguarding leads read safeguarding concerns", cell)
					}
				}
			}
		}
	}
}

func TestScope_Purges(t *testing.T) {
	records, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	now := matrixNow
	managerUntil := func(end time.Time) shiftsync.Grant {
		return shiftsync.Grant{ServiceID: "a", Role: shiftsync.RoleManager, Start: yearAgo, End: end}
	}
	// What a manager pulls and a support worker does not, and what a
	// support worker pulls (policy.go).
	managerOnly := []string{"action_tracker", "addendum", "competency", "escalation", "meeting", "quality_check", "risk_huddle", "safeguarding_concern"}
	supportWorkerPulls := []string{"action", "brief_acknowledgement", "debrief", "early_warning_sign", "high_risk_period", "incident",
		"prn_administration", "restrictive_intervention", "risk_forecast", "shift", "shift_assignment", "shift_brief", "shift_reflection",
		"standing_restriction"}
	ended := func(service, person string) shiftsync.Grant {
		return shiftsync.Grant{ServiceID: service, PersonID: person, Role: shiftsync.RoleSupportWorker, Start: yearAgo, End: now.Add(-time.Hour)}
	}
	active := func(service, person string) shiftsync.Grant {
		return shiftsync.Grant{ServiceID: service, PersonID: person, Role: shiftsync.RoleSupportWorker, Start: yearAgo}
	}
	tests := []struct {
		name   string
		grants []shiftsync.Grant
		want   []shiftsync.Purge
	}{
		{"nothing ended", []shiftsync.Grant{active("a", "")}, nil},
		{"moved from a to b", []shiftsync.Grant{ended("a", ""), active("b", "")}, []shiftsync.Purge{{ServiceID: "a"}}},
		{"ended and later rejoined", []shiftsync.Grant{ended("a", ""), active("a", "")}, nil},
		{"role changed in the same service", []shiftsync.Grant{ended("a", ""), {ServiceID: "a", Role: shiftsync.RoleShiftLead, Start: now.Add(-time.Hour)}}, nil},
		{"caseload ended", []shiftsync.Grant{ended("a", "p1"), active("a", "p2")}, []shiftsync.Purge{{ServiceID: "a", PersonID: "p1"}}},
		{"caseload ended, whole service still held", []shiftsync.Grant{ended("a", "p1"), active("a", "")}, nil},
		{"service ended, one caseload kept", []shiftsync.Grant{ended("a", ""), active("a", "p2")}, []shiftsync.Purge{{ServiceID: "a", Keep: []string{"p2"}}}},
		{"a future grant is not access yet", []shiftsync.Grant{ended("a", ""), {ServiceID: "a", Role: shiftsync.RoleManager, Start: now.Add(time.Hour)}}, []shiftsync.Purge{{ServiceID: "a"}}},
		{"two ended, sorted and without repeats", []shiftsync.Grant{ended("b", ""), ended("a", ""), ended("b", "")}, []shiftsync.Purge{{ServiceID: "a"}, {ServiceID: "b"}}},
		{"a manager who becomes a support worker", []shiftsync.Grant{managerUntil(now.Add(-time.Hour)), active("a", "")},
			[]shiftsync.Purge{{ServiceID: "a", RecordTypes: managerOnly}}},
		{"a manager who becomes one person's support worker", []shiftsync.Grant{managerUntil(now.Add(-time.Hour)), active("a", "p2")},
			[]shiftsync.Purge{{ServiceID: "a", RecordTypes: managerOnly}, {ServiceID: "a", Keep: []string{"p2"}, RecordTypes: supportWorkerPulls}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shiftsync.Scope{Grants: tt.grants}.Purges(now, records.TypeNames())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Purges() (-want +got)\n%s", diff)
			}
		})
	}
}

func TestWidened(t *testing.T) {
	g := func(service string, role shiftsync.Role) shiftsync.Grant {
		return shiftsync.Grant{ServiceID: service, Role: role, Start: yearAgo}
	}
	before := shiftsync.Scope{Grants: []shiftsync.Grant{g("a", shiftsync.RoleSupportWorker), g("b", shiftsync.RoleSupportWorker)}}.Keys(matrixNow)
	tests := []struct {
		name   string
		grants []shiftsync.Grant
		want   bool
	}{
		{"same", []shiftsync.Grant{g("b", shiftsync.RoleSupportWorker), g("a", shiftsync.RoleSupportWorker)}, false},
		{"narrowed", []shiftsync.Grant{g("a", shiftsync.RoleSupportWorker)}, false},
		{"new service", []shiftsync.Grant{g("a", shiftsync.RoleSupportWorker), g("c", shiftsync.RoleSupportWorker)}, true},
		{"new role", []shiftsync.Grant{g("a", shiftsync.RoleManager), g("b", shiftsync.RoleSupportWorker)}, true},
	}
	for _, tt := range tests {
		if got := shiftsync.Widened(before, shiftsync.Scope{Grants: tt.grants}.Keys(matrixNow)); got != tt.want {
			t.Errorf("%s: Widened() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestScope_AuthorizeWrite_BackDated: a mutation's own time lets a write
// through after access ended only for a record its device could have held
// then. A shift lead who became a quality lead an hour ago still reviews the
// service's incidents, but a back-dated edit of one that arrived since is
// refused; one the server held before the stamp is accepted and flagged.
func TestScope_AuthorizeWrite_BackDated(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	changed := now.Add(-time.Hour)
	scope := shiftsync.Scope{Grants: []shiftsync.Grant{
		{ServiceID: "s1", Role: shiftsync.RoleShiftLead, Start: now.AddDate(-1, 0, 0), End: changed},
		{ServiceID: "s1", Role: shiftsync.RoleQualityLead, Start: changed},
	}}
	ref := shiftsync.RecordRef{RecordID: "r1", RecordType: "incident", ServiceID: "s1", PersonID: "p1"}
	m := &shiftsync.Mutation{RecordRef: ref, DeviceID: "phone-1", HLC: shiftsync.HLC{WallMS: now.Add(-2 * time.Hour).UnixMilli()},
		Fields: []shiftsync.FieldEdit{{Field: "place"}}}
	tests := []struct {
		name   string
		stored *shiftsync.StoredRecord
		flag   shiftsync.Flag
		reason shiftsync.Reason
	}{
		{"held before the stamp", &shiftsync.StoredRecord{RecordRef: ref, ReceivedAt: now.AddDate(0, 0, -1), CreatedByDevice: "phone-2"}, shiftsync.FlagAccessEnded, ""},
		{"arrived after the stamp", &shiftsync.StoredRecord{RecordRef: ref, ReceivedAt: now.Add(-30 * time.Minute), CreatedByDevice: "phone-2"}, "", shiftsync.ReasonPermissionDenied},
		{"the device's own create", &shiftsync.StoredRecord{RecordRef: ref, ReceivedAt: now.Add(-30 * time.Minute), CreatedByDevice: "phone-1"}, shiftsync.FlagAccessEnded, ""},
	}
	for _, tt := range tests {
		flag, rej := scope.AuthorizeWrite(m, tt.stored, now)
		if flag != tt.flag || (rej == nil) != (tt.reason == "") || (rej != nil && rej.Reason != tt.reason) {
			t.Errorf("%s: AuthorizeWrite() = %q, %v; want %q, %q", tt.name, flag, rej, tt.flag, tt.reason)
		}
	}
}

// TestScope_Rostered: in a service that keeps a rota, a support worker's
// grant for the whole service becomes the service's own records and the
// people of their shifts within each shift's window, and the device is
// told to purge the rest of the service, keeping those; other roles, and
// services without a rota, are left as they are.
func TestScope_Rostered(t *testing.T) {
	records, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	now := matrixNow
	shift := func(id string, start time.Time, staff string, people ...string) shiftsync.RotaShift {
		return shiftsync.RotaShift{ShiftID: id, Start: start, End: start.Add(8 * time.Hour), PersonIDs: people, Staff: []string{staff}}
	}
	rotas := map[string]shiftsync.Rota{"a": {
		shift("last-week", now.AddDate(0, 0, -7), "u1", "p1"),
		shift("today", now.Add(-time.Hour), "u1", "p2"),
		shift("tomorrow", now.Add(20*time.Hour), "u1", "p3"),
		shift("next-week", now.AddDate(0, 0, 7), "u1", "p4"),
		shift("someone-else", now.Add(-time.Hour), "u2", "p5"),
		shift("last-year", now.AddDate(-1, 0, 0), "u1", "p6"),
	}}
	member := shiftsync.Grant{ServiceID: "a", Role: shiftsync.RoleSupportWorker, Start: yearAgo.AddDate(0, 6, 0)}
	got := shiftsync.Scope{Grants: []shiftsync.Grant{member}}.Rostered("u1", rotas, shiftsync.DefaultRosterWindow, now)

	reaches := map[string]bool{}
	for _, person := range []string{"", "p1", "p2", "p3", "p4", "p5", "p6"} {
		reaches[person] = got.Allows(shiftsync.OpPull, shiftsync.RecordRef{ServiceID: "a", PersonID: person, RecordType: "incident"}, now)
	}
	want := map[string]bool{"": true, "p1": false, "p2": true, "p3": true, "p4": false, "p5": false, "p6": false}
	if diff := cmp.Diff(want, reaches); diff != "" {
		t.Errorf("who a rostered support worker's phone reaches (-want +got)\n%s", diff)
	}
	// A record written on last week's shift is accepted now, flagged.
	written := now.AddDate(0, 0, -7).Add(time.Hour)
	m := &shiftsync.Mutation{RecordRef: shiftsync.RecordRef{ServiceID: "a", PersonID: "p1", RecordType: "incident"}, HLC: shiftsync.HLC{WallMS: written.UnixMilli()}}
	if flag, err := got.AuthorizeWrite(m, nil, now); err != nil || flag != shiftsync.FlagAccessEnded {
		t.Errorf("AuthorizeWrite(written on last week's shift) = %q, %v; want flagged %q", flag, err, shiftsync.FlagAccessEnded)
	}
	wantPurges := []shiftsync.Purge{{ServiceID: "a", Keep: []string{"", "p2", "p3"}}}
	if diff := cmp.Diff(wantPurges, got.Purges(now, records.TypeNames())); diff != "" {
		t.Errorf("Purges() (-want +got)\n%s", diff)
	}

	for name, grant := range map[string]shiftsync.Grant{
		"a shift lead":                     {ServiceID: "a", Role: shiftsync.RoleShiftLead, Start: yearAgo},
		"a caseload":                       {ServiceID: "a", PersonID: "p9", Role: shiftsync.RoleSupportWorker, Start: yearAgo},
		"a service without a rota":         {ServiceID: "b", Role: shiftsync.RoleSupportWorker, Start: yearAgo},
		"a membership ended before a rota": {ServiceID: "a", Role: shiftsync.RoleSupportWorker, Start: yearAgo.AddDate(-1, 0, 0), End: yearAgo},
	} {
		s := shiftsync.Scope{Grants: []shiftsync.Grant{grant}}
		if diff := cmp.Diff(s, s.Rostered("u1", rotas, shiftsync.DefaultRosterWindow, now)); diff != "" {
			t.Errorf("%s: Rostered() changed the scope (-want +got)\n%s", name, diff)
		}
	}
}
