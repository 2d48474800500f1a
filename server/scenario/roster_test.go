package scenario_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
)

// TestRosterScopedSync: in a service that keeps a rota, a support worker's
// phone holds the people of their shifts from a day before each starts to
// 12 hours after it ends, and the service's own records (the rota) always,
// from the rota's first shift on.
// Ana, rostered with Sam on Wednesday 07:00 to 15:00, holds the rota but not
// Sam's brief on Monday; Sam's brief, not Kit's (on Ben's shift), on
// Tuesday evening; logs offline during her shift and syncs after it; writes
// a late record after handover and syncs only on Thursday morning, past
// her window: the record is accepted (flagged, as written while she still
// had access), and her phone, its outbox pushed, is purged of Sam. Every
// write of her shift is on the server once.
func TestRosterScopedSync(t *testing.T) {
	w := newWorld(t)
	const kit = "kit"
	w.s.AddPerson(t, service, kit)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	w.phone("ben", shiftsync.RoleSupportWorker)
	pbs := w.phone("pbs-lead", shiftsync.RolePBSLead)
	lead := w.phone("shift-lead", shiftsync.RoleShiftLead)
	holds := func(p *phone, id string) bool {
		_, err := p.RecordJSON(id)
		return err == nil
	}

	w.at(day(0, 9, 0))
	samBrief := pbs.log("shift_brief", person, fields{"version": num(1), "published_at": ts(day(0, 9, 0)), "changes_summary": str("Sam's transition script")})
	kitBrief := pbs.log("shift_brief", kit, fields{"version": num(1), "published_at": ts(day(0, 9, 0)), "changes_summary": str("Kit's transition script")})
	pbs.sync()
	wednesday := lead.log("shift", "", fields{"starts_at": ts(day(2, 7, 0)), "ends_at": ts(day(2, 15, 0)), "person_ids": list(person)})
	lead.log("shift_assignment", "", fields{"shift_id": str(wednesday), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	for _, d := range []int{0, 2} { // the rota began this morning
		kits := lead.log("shift", "", fields{"starts_at": ts(day(d, 7, 0)), "ends_at": ts(day(d, 15, 0)), "person_ids": list(kit)})
		lead.log("shift_assignment", "", fields{"shift_id": str(kits), "user_id": str("ben"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	}
	lead.sync()

	ana.sync()
	if !holds(ana, wednesday) || holds(ana, samBrief) || holds(ana, kitBrief) {
		t.Fatalf("Monday 09:00: ana holds her shift %t, Sam's brief %t, Kit's brief %t; want the rota only",
			holds(ana, wednesday), holds(ana, samBrief), holds(ana, kitBrief))
	}
	w.at(day(1, 20, 0))
	ana.sync()
	if !holds(ana, samBrief) || holds(ana, kitBrief) {
		t.Fatalf("Tuesday 20:00: ana holds Sam's brief %t, Kit's %t; want Sam's only", holds(ana, samBrief), holds(ana, kitBrief))
	}

	// No signal during the shift; she syncs after it.
	w.at(day(2, 10, 0))
	during := ana.transitionIncident(day(2, 9, 0), "Pushed past staff at the front door")
	w.at(day(2, 15, 30))
	ana.sync()
	// After handover she writes up the afternoon, and syncs on Thursday.
	w.at(day(2, 16, 30))
	late := ana.transitionIncident(day(2, 14, 30), "Shouted during the handover")
	w.at(day(3, 9, 0))
	rep, err := ana.SyncEnrolled()
	if err != nil || rep.Quarantined > 0 || rep.Purged == 0 {
		t.Fatalf("Thursday: SyncEnrolled() = quarantined %d, purged %d, %v; want the late record accepted and Sam purged",
			rep.Quarantined, rep.Purged, err)
	}
	for name, id := range map[string]string{"Sam's brief": samBrief, "her shift's incident": during, "her late incident": late} {
		if holds(ana, id) {
			t.Errorf("Thursday: ana's phone still holds %s", name)
		}
	}
	if !holds(ana, wednesday) {
		t.Error("Thursday: the purge took the rota with it")
	}

	ctx := context.Background()
	records, err := w.review().ListRecords(ctx, &reviewv1.ListRecordsRequest{ServiceId: service, PersonId: person, RecordType: "incident"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range records.GetRecords() {
		ids = append(ids, r.GetRecordId())
	}
	slices.Sort(ids)
	want := []string{during, late}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("the server's incidents about Sam = %v; want her two, once each: %v", ids, want)
	}
	flagged, err := w.review().ListFlaggedWrites(ctx, &reviewv1.ListFlaggedWritesRequest{ServiceId: service, Flag: string(shiftsync.FlagAccessEnded)})
	if err != nil {
		t.Fatal(err)
	}
	if got := flagged.GetWrites(); len(got) != 1 || got[0].GetRecordId() != late {
		t.Errorf("writes flagged access_ended = %v; want the late incident only", got)
	}
	w.moveToPostgres()
}

// TestRosterScopedSync_RotaChange: a shift added to a support worker's
// rota reaches her phone's scope at her next sync, though the server
// holds her service's rota in memory: Ana, on with Sam, is put on with
// Kit as well and receives Kit's brief at once.
func TestRosterScopedSync_RotaChange(t *testing.T) {
	w := newWorld(t)
	const kit = "kit"
	w.s.AddPerson(t, service, kit)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	pbs := w.phone("pbs-lead", shiftsync.RolePBSLead)
	lead := w.phone("shift-lead", shiftsync.RoleShiftLead)

	w.at(day(0, 9, 0))
	kitBrief := pbs.log("shift_brief", kit, fields{"version": num(1), "published_at": ts(day(0, 9, 0)), "changes_summary": str("Kit's transition script")})
	pbs.sync()
	sams := lead.log("shift", "", fields{"starts_at": ts(day(0, 8, 0)), "ends_at": ts(day(0, 16, 0)), "person_ids": list(person)})
	lead.log("shift_assignment", "", fields{"shift_id": str(sams), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	lead.sync()
	ana.sync()
	if _, err := ana.RecordJSON(kitBrief); err == nil {
		t.Fatal("ana holds Kit's brief before she is on a shift with Kit")
	}
	kits := lead.log("shift", "", fields{"starts_at": ts(day(0, 10, 0)), "ends_at": ts(day(0, 18, 0)), "person_ids": list(kit)})
	lead.log("shift_assignment", "", fields{"shift_id": str(kits), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	lead.sync()
	ana.sync()
	if _, err := ana.RecordJSON(kitBrief); err != nil {
		t.Errorf("ana, put on with Kit, lacks Kit's brief after her next sync: %v", err)
	}
}
