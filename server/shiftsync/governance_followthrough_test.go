package shiftsync_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestViewAction_State: an action's tracker state at now, each case at the
// edge that decides it.
func TestViewAction_State(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	action := func(status string, deadline time.Time, check time.Time, checked bool) *shiftsync.Record {
		f := map[string]shiftsync.Value{"status": code(status), "deadline": at(deadline)}
		if !check.IsZero() {
			f["interim_check_at"] = at(check)
		}
		if checked {
			f["interim_check_result"] = text("on track")
		}
		return rec("a", "action", f)
	}
	for _, c := range []struct {
		name string
		a    *shiftsync.Record
		want shiftsync.FindingState
		soon bool
	}{
		{"deadline a second past", action("ACTION_STATUS_ON_TRACK", now.Add(-time.Second), time.Time{}, false), shiftsync.StateBreach, false},
		{"deadline exactly now is not overdue", action("ACTION_STATUS_ON_TRACK", now, time.Time{}, false), shiftsync.StateWarning, true},
		{"due in exactly a week", action("ACTION_STATUS_ON_TRACK", now.Add(shiftsync.ActionDueSoon), time.Time{}, false), shiftsync.StateWarning, true},
		{"due in a week and a second", action("ACTION_STATUS_ON_TRACK", now.Add(shiftsync.ActionDueSoon+time.Second), time.Time{}, false), shiftsync.StateDue, false},
		{"interim check missed", action("ACTION_STATUS_ON_TRACK", now.Add(30*24*time.Hour), now.Add(-time.Hour), false), shiftsync.StateWarning, false},
		{"interim check done", action("ACTION_STATUS_ON_TRACK", now.Add(30*24*time.Hour), now.Add(-time.Hour), true), shiftsync.StateDue, false},
		{"verified complete past its deadline", action("ACTION_STATUS_VERIFIED_COMPLETE", now.Add(-time.Hour), time.Time{}, false), shiftsync.StateMet, false},
		{"cancelled", action("ACTION_STATUS_CANCELLED", now.Add(time.Hour), time.Time{}, false), shiftsync.StateMet, false},
	} {
		v := shiftsync.ViewAction(c.a, now)
		if v.State != c.want || v.DueSoon != c.soon {
			t.Errorf("%s: state %s, due soon %v; want %s, %v", c.name, v.State, v.DueSoon, c.want, c.soon)
		}
	}
}

// TestFollowThrough: each meeting the 24-hour rule covers, with its first
// brief and tracker, R1's state, who acknowledged the brief (late or not)
// and who of the staff on at its publication has not; a meeting of a type
// the rule does not cover, and voided records, are left out.
func TestFollowThrough(t *testing.T) {
	ended := time.Date(2026, 3, 5, 11, 0, 0, 0, time.UTC)
	meeting := func(id, kind string, ended time.Time) *shiftsync.Record {
		return rec(id, "meeting", map[string]shiftsync.Value{"meeting_type": code(kind), "started_at": at(ended.Add(-time.Hour)), "ended_at": at(ended)})
	}
	brief := func(id, meeting string, published time.Time) *shiftsync.Record {
		r := rec(id, "shift_brief", map[string]shiftsync.Value{"source_meeting_id": text(meeting), "published_at": at(published),
			"acknowledgement_required": {Kind: shiftsync.KindBool, Bool: true}})
		return r
	}
	ack := func(id, brief, user string, when time.Time) *shiftsync.Record {
		r := rec(id, "brief_acknowledgement", map[string]shiftsync.Value{"brief_id": text(brief), "acknowledged_at": at(when)})
		r.CreatedBy = user
		return r
	}
	voided := brief("b0", "m1", ended.Add(time.Hour))
	voided.Fields[shiftsync.VoidReasonField] = text("wrong meeting")
	records := []*shiftsync.Record{
		meeting("m1", "MEETING_TYPE_MDT_REVIEW", ended),
		meeting("m2", "MEETING_TYPE_PROFESSIONALS", ended.Add(24*time.Hour)),
		meeting("m3", "MEETING_TYPE_WEEKLY_RISK_HUDDLE", ended),
		voided,
		brief("b1", "m1", ended.Add(3*time.Hour)),
		brief("b2", "m1", ended.Add(5*time.Hour)), // a later version: not the first
		rec("t1", "action_tracker", map[string]shiftsync.Value{"meeting_id": text("m1"), "issued_at": at(ended.Add(4 * time.Hour))}),
		ack("k1", "b1", "ann", ended.Add(30*time.Hour)), // after the 24 h window
		ack("k2", "b1", "bea", ended.Add(4*time.Hour)),
		ack("k3", "b1", "bea", ended.Add(6*time.Hour)), // a second: the first counts
	}
	staff := []shiftsync.StaffMember{
		{UserID: "ann", Start: ended.Add(-48 * time.Hour)},
		{UserID: "bea", Start: ended.Add(-48 * time.Hour)},
		{UserID: "cai", Start: ended.Add(-48 * time.Hour)},
		{UserID: "dan", Start: ended.Add(-48 * time.Hour), End: ended}, // left before the brief
		{UserID: "eve", Start: ended.Add(4 * time.Hour)},               // started after it
	}
	now := ended.Add(45 * time.Hour) // m2 ended 21 h ago
	got := shiftsync.FollowThrough(shiftsync.Snapshot{ServiceID: "house-a", Records: records, Staff: staff}, shiftsync.DefaultThresholds, now)
	type row struct {
		Meeting, Brief, Tracker string
		State                   shiftsync.FindingState
		Acknowledged            []shiftsync.BriefAcknowledged
		Pending                 []string
	}
	id := func(r *shiftsync.Record) string {
		if r == nil {
			return ""
		}
		return r.RecordID
	}
	var rows []row
	for _, f := range got {
		for i := range f.Acknowledged {
			f.Acknowledged[i].Ref = shiftsync.RecordRef{}
		}
		rows = append(rows, row{id(f.Meeting), id(f.Brief), id(f.Tracker), f.State, f.Acknowledged, f.Pending})
		if f.PendingKnown != (f.Brief != nil) {
			t.Errorf("meeting %s: PendingKnown %v", f.Meeting.RecordID, f.PendingKnown)
		}
	}
	want := []row{
		{Meeting: "m2", State: shiftsync.StateWarning},
		{Meeting: "m1", Brief: "b1", Tracker: "t1", State: shiftsync.StateMet, Acknowledged: []shiftsync.BriefAcknowledged{
			{UserID: "bea", At: ended.Add(4 * time.Hour)}, {UserID: "ann", At: ended.Add(30 * time.Hour), Late: true},
		}, Pending: []string{"cai"}},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("FollowThrough (-want +got):\n%s", diff)
	}
	if d := got[1].Deadline; !d.Equal(ended.Add(24 * time.Hour)) {
		t.Errorf("deadline %v, want 24 h after the meeting ended", d)
	}
}
