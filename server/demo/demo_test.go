package demo_test

import (
	"context"
	"testing"

	"github.com/shiftsync/shiftsync/server/demo"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// TestSeed seeds a service as serve -dev does and reads it as its manager
// would: every record is accepted, and the dashboard shows what the seed's
// examples imply — an open alert for yesterday's prone restraint, the
// overdue assessment and the unissued brief as breaches, the escalation at
// stage 1, four weeks of trends with the transition incidents falling
// after the brief, and the people by name.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	const service = "demo-house"
	admin := shiftsync.Principal{UserID: "operator"}
	for _, p := range demo.People {
		s.AddPerson(t, service, p.ID)
	}
	principal := func(user string, role shiftsync.Role) shiftsync.Principal {
		if err := s.Identity.CreateUser(ctx, admin, user, shiftsynctest.TestOrganisation, user, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Identity.AddMembership(ctx, admin, shiftsync.Membership{UserID: user, ServiceID: service, Role: role,
			Start: s.Clock.Now().AddDate(0, 0, -60)}); err != nil {
			t.Fatal(err)
		}
		d := s.Enrol(t, user)
		return shiftsync.Principal{UserID: d.UserID, DeviceID: d.DeviceID}
	}
	worker, lead := principal("worker", shiftsync.RoleSupportWorker), principal("lead", shiftsync.RolePBSLead)
	manager := principal("manager", shiftsync.RoleManager)
	now := s.Clock.Now()
	if err := demo.Seed(ctx, s.Sync, service, worker, lead, now); err != nil {
		t.Fatal(err)
	}

	alerts, err := s.Review.Alerts(ctx, manager, service, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) == 0 || alerts[0].Record.PersonID != "person-ben" {
		t.Errorf("open alerts = %+v; want yesterday's prone restraint of Ben's", alerts)
	}
	findings, err := s.Review.Findings(ctx, manager, service, false)
	if err != nil {
		t.Fatal(err)
	}
	breaches := map[string]int{}
	for _, f := range findings {
		if f.State == shiftsync.StateBreach {
			breaches[f.RuleID]++
		}
	}
	for _, rule := range []string{shiftsync.RuleActionOverdue, shiftsync.RuleOperationalisation} {
		if breaches[rule] == 0 {
			t.Errorf("no %s breach among the open findings %+v", rule, breaches)
		}
	}
	weeks, err := s.Review.Trends(ctx, manager, service, "person-ada", now.AddDate(0, 0, -28), now)
	if err != nil {
		t.Fatal(err)
	}
	var transitions []int
	for _, w := range weeks {
		transitions = append(transitions, w.TransitionIncidents)
	}
	if len(transitions) < 4 || transitions[0] != 3 || transitions[1] != 1 {
		t.Errorf("Ada's transition incidents by week = %v; want 3 in week 1 and 1 after the brief", transitions)
	}
	records, err := s.Review.Records(ctx, manager, shiftsync.RecordFilter{ServiceID: service, From: now.AddDate(0, 0, -40), To: now})
	if err != nil {
		t.Fatal(err)
	}
	people := map[string]int{}
	for _, r := range records {
		people[r.PersonID]++
		if r.RecordedAt.After(now) {
			t.Errorf("record %s %s recorded %s, after now %s", r.RecordType, r.RecordID, r.RecordedAt, now)
		}
	}
	for _, p := range demo.People {
		if people[p.ID] == 0 {
			t.Errorf("no record about %s: %v", p.Name, people)
		}
	}
}
