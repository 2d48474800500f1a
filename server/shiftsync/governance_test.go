package shiftsync_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var london = mustLocation("Europe/London")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// rec builds a record of a type about person "sam" with the given fields,
// recorded at the time of its first timestamp field unless recordedAt is
// set by the caller.
func rec(id, recordType string, fields map[string]shiftsync.Value) *shiftsync.Record {
	r := &shiftsync.Record{RecordRef: shiftsync.RecordRef{RecordID: id, RecordType: recordType, ServiceID: "house-a", PersonID: "sam"}, Fields: fields}
	for _, v := range fields {
		if v.Kind == shiftsync.KindTimestamp && (r.RecordedAt.IsZero() || v.Time.Before(r.RecordedAt)) {
			r.RecordedAt = v.Time
		}
	}
	return r
}

func at(t time.Time) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: t} }
func text(s string) shiftsync.Value  { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
func code(s string) shiftsync.Value  { return shiftsync.Value{Kind: shiftsync.KindEnum, String: s} }
func ids(s ...string) shiftsync.Value {
	return shiftsync.Value{Kind: shiftsync.KindList, List: s}
}

// states evaluates and returns the state of each finding of a rule by
// subject.
func states(records []*shiftsync.Record, th shiftsync.Thresholds, now time.Time, rule string) map[string]shiftsync.FindingState {
	out := map[string]shiftsync.FindingState{}
	for _, f := range shiftsync.Evaluate(shiftsync.Snapshot{ServiceID: "house-a", Records: records}, th, now) {
		if f.RuleID == rule {
			out[f.Subject] = f.State
		}
	}
	return out
}

func TestEvaluate_Operationalisation(t *testing.T) {
	ended := time.Date(2026, 3, 5, 11, 0, 0, 0, time.UTC)
	meeting := func(kind string) *shiftsync.Record {
		return rec("m", "meeting", map[string]shiftsync.Value{"meeting_type": code(kind), "started_at": at(ended.Add(-time.Hour)), "ended_at": at(ended)})
	}
	brief := func(after time.Duration) *shiftsync.Record {
		return rec("b", "shift_brief", map[string]shiftsync.Value{"published_at": at(ended.Add(after)), "source_meeting_id": text("m")})
	}
	tracker := func(after time.Duration) *shiftsync.Record {
		return rec("t", "action_tracker", map[string]shiftsync.Value{"issued_at": at(ended.Add(after)), "meeting_id": text("m")})
	}
	voided := brief(time.Hour)
	voided.Fields[shiftsync.VoidReasonField] = text("wrong meeting")
	tests := []struct {
		name    string
		records []*shiftsync.Record
		now     time.Duration // after the meeting ended
		want    shiftsync.FindingState
	}{
		{"nothing yet at 19h", []*shiftsync.Record{meeting("MEETING_TYPE_MDT_REVIEW")}, 19 * time.Hour, shiftsync.StateDue},
		{"nothing yet at 20h", []*shiftsync.Record{meeting("MEETING_TYPE_MDT_REVIEW")}, 20 * time.Hour, shiftsync.StateWarning},
		{"brief only at 23h", []*shiftsync.Record{meeting("MEETING_TYPE_PROFESSIONALS"), brief(time.Hour)}, 23 * time.Hour, shiftsync.StateWarning},
		{"both at 23h59", []*shiftsync.Record{meeting("MEETING_TYPE_CETR"), brief(23*time.Hour + 59*time.Minute), tracker(time.Hour)}, 30 * time.Hour, shiftsync.StateMet},
		{"both at exactly 24h", []*shiftsync.Record{meeting("MEETING_TYPE_CETR"), brief(24 * time.Hour), tracker(24 * time.Hour)}, 30 * time.Hour, shiftsync.StateMet},
		{"tracker at 26h", []*shiftsync.Record{meeting("MEETING_TYPE_SAFEGUARDING_STRATEGY"), brief(time.Hour), tracker(26 * time.Hour)}, 30 * time.Hour, shiftsync.StateBreach},
		{"nothing at 25h", []*shiftsync.Record{meeting("MEETING_TYPE_MDT_REVIEW")}, 25 * time.Hour, shiftsync.StateBreach},
		{"a voided brief does not count", []*shiftsync.Record{meeting("MEETING_TYPE_MDT_REVIEW"), voided, tracker(time.Hour)}, 25 * time.Hour, shiftsync.StateBreach},
		{"an internal meeting is not held to it", []*shiftsync.Record{meeting("MEETING_TYPE_CONTRACT_REVIEW")}, 30 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := states(tt.records, shiftsync.DefaultThresholds, ended.Add(tt.now), shiftsync.RuleOperationalisation)["m"]
			if got != tt.want {
				t.Errorf("state = %q, want %q", got, tt.want)
			}
		})
	}

	// An organisation's own thresholds change the deadline, and findings
	// carry their version.
	th := shiftsync.DefaultThresholds
	th.Version, th.OperationaliseWarning, th.OperationaliseDeadline = 3, shiftsync.Duration(40*time.Hour), shiftsync.Duration(48*time.Hour)
	findings := shiftsync.Evaluate(shiftsync.Snapshot{Records: []*shiftsync.Record{meeting("MEETING_TYPE_MDT_REVIEW"), brief(26 * time.Hour), tracker(26 * time.Hour)}}, th, ended.Add(30*time.Hour))
	if len(findings) != 1 || findings[0].State != shiftsync.StateMet || findings[0].ThresholdsVersion != 3 || findings[0].RuleVersion != 1 {
		t.Errorf("with a 48h deadline: %+v", findings)
	}
}

func TestEvaluate_FrequencyTrigger(t *testing.T) {
	// Weeks of Monday 2, 9, 16, 23 March (GMT) and 30 March (BST).
	week := func(w int) time.Time { return time.Date(2026, 3, 2+7*w, 10, 0, 0, 0, time.UTC) }
	n := 0
	hold := func(start time.Time, minutes int, kind string) *shiftsync.Record {
		n++
		return rec(strings.Repeat("r", n), "restrictive_intervention", map[string]shiftsync.Value{
			"type_code": code(kind), "started_at": at(start), "ended_at": at(start.Add(time.Duration(minutes) * time.Minute))})
	}
	standing := "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING"
	var base []*shiftsync.Record
	for w := range 4 {
		base = append(base, hold(week(w), 5, standing))
	}
	subject := "sam/2026-03-30"
	twoHolds := append(append([]*shiftsync.Record{}, base...), hold(week(4).Add(24*time.Hour), 5, standing), hold(week(4).Add(48*time.Hour), 5, standing))
	thursday := week(4).Add(72 * time.Hour)

	got := shiftsync.Evaluate(shiftsync.Snapshot{Records: twoHolds}, shiftsync.DefaultThresholds, thursday)
	var due time.Time
	for _, f := range got {
		if f.RuleID == shiftsync.RuleFrequencyDebrief {
			due = f.DueAt
		}
	}
	if want := time.Date(2026, 4, 5, 23, 59, 59, 0, london); !due.Equal(want) {
		t.Errorf("debrief due %s, want Sunday 23:59:59 BST (%s)", due, want.UTC())
	}

	debrief := rec("d", "debrief", map[string]shiftsync.Value{"held_at": at(thursday), "kind": code("DEBRIEF_KIND_HOT")})
	tests := []struct {
		name    string
		records []*shiftsync.Record
		now     time.Time
		want    shiftsync.FindingState
	}{
		{"above the mean, that week", twoHolds, thursday, shiftsync.StateDue},
		{"debrief held", append(append([]*shiftsync.Record{}, twoHolds...), debrief), thursday.Add(time.Hour), shiftsync.StateMet},
		{"only a hot debrief of the first use, before the trigger", append(append([]*shiftsync.Record{}, twoHolds...),
			rec("d0", "debrief", map[string]shiftsync.Value{"held_at": at(week(4).Add(25 * time.Hour)), "kind": code("DEBRIEF_KIND_HOT")})),
			thursday, shiftsync.StateDue},
		{"no debrief by the deadline", twoHolds, week(5), shiftsync.StateBreach},
		{"at the mean", append(append([]*shiftsync.Record{}, base...), hold(week(4).Add(time.Hour), 5, standing)), thursday, ""},
		{"a breakaway is not restraint", append(append([]*shiftsync.Record{}, base...), hold(week(4).Add(time.Hour), 5, standing),
			hold(week(4).Add(2*time.Hour), 5, "RESTRICTIVE_INTERVENTION_TYPE_BREAKAWAY")), thursday, ""},
		{"first week, one use: below the floor", []*shiftsync.Record{hold(week(0), 5, standing)}, week(0).Add(time.Hour), ""},
		{"same count, restrained minutes up by more than half", append(append([]*shiftsync.Record{}, base[:2]...),
			hold(week(2), 5, standing), hold(week(2).Add(time.Hour), 5, standing), hold(week(3), 5, standing), hold(week(3).Add(time.Hour), 5, standing),
			hold(week(4), 20, standing), hold(week(4).Add(time.Hour), 20, standing)), thursday, shiftsync.StateDue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := states(tt.records, shiftsync.DefaultThresholds, tt.now, shiftsync.RuleFrequencyDebrief)[subject]; got != tt.want {
				t.Errorf("state = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEvaluate_Reg18Notification is R8: a serious injury, police
// involvement or an allegation of abuse is notified to the CQC within 24
// hours of the incident; other incidents need no notification.
func TestEvaluate_Reg18Notification(t *testing.T) {
	started := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	yes := shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}
	incident := func(id, flag string, notified time.Time) *shiftsync.Record {
		f := map[string]shiftsync.Value{"started_at": at(started)}
		if flag != "" {
			f[flag] = yes
		}
		if !notified.IsZero() {
			f["cqc_notified_at"] = at(notified)
		}
		return rec(id, "incident", f)
	}
	before := []*shiftsync.Record{
		incident("ordinary", "", time.Time{}), incident("injury", "serious_injury", time.Time{}),
		incident("police", "police_involved", time.Time{}), incident("abuse", "allegation_of_abuse", time.Time{}),
	}
	if diff := cmp.Diff(map[string]shiftsync.FindingState{"injury": shiftsync.StateDue, "police": shiftsync.StateDue, "abuse": shiftsync.StateDue},
		states(before, shiftsync.DefaultThresholds, started.Add(2*time.Hour), shiftsync.RuleReg18Notification)); diff != "" {
		t.Errorf("at +2h (-want +got):\n%s", diff)
	}
	after := []*shiftsync.Record{
		incident("ordinary", "", time.Time{}), incident("injury", "serious_injury", time.Time{}),
		incident("police", "police_involved", started.Add(3*time.Hour)), incident("abuse", "allegation_of_abuse", started.Add(30*time.Hour)),
	}
	if diff := cmp.Diff(map[string]shiftsync.FindingState{"injury": shiftsync.StateBreach, "police": shiftsync.StateMet, "abuse": shiftsync.StateBreach},
		states(after, shiftsync.DefaultThresholds, started.Add(48*time.Hour), shiftsync.RuleReg18Notification)); diff != "" {
		t.Errorf("at +48h (-want +got):\n%s", diff)
	}
}

// TestEvaluate_PRN is R10: each PRN dose for distress is recorded with the
// strategies tried first and its effect check, and a third dose within 7
// days calls for a STOMP medication review request.
func TestEvaluate_PRN(t *testing.T) {
	day := func(d, hh int) time.Time { return time.Date(2026, 3, 2+d, hh, 0, 0, 0, time.UTC) }
	dose := func(id string, given time.Time, complete bool) *shiftsync.Record {
		f := map[string]shiftsync.Value{"given_at": at(given), "medicine": text("Lorazepam"), "protocol_id": text("PRN-1")}
		if complete {
			f["non_drug_strategies_tried"], f["effect_check"], f["effect_checked_at"] = text("quiet room"), text("settled"), at(given.Add(time.Hour))
		}
		return rec(id, "prn_administration", f)
	}
	t.Run("record", func(t *testing.T) {
		records := []*shiftsync.Record{dose("complete", day(0, 9), true), dose("no-check", day(0, 20), false)}
		for _, tt := range []struct {
			now  time.Time
			want map[string]shiftsync.FindingState
		}{
			{day(1, 8), map[string]shiftsync.FindingState{"no-check": shiftsync.StateDue}},
			{day(1, 21), map[string]shiftsync.FindingState{"no-check": shiftsync.StateBreach}},
		} {
			if diff := cmp.Diff(tt.want, states(records, shiftsync.DefaultThresholds, tt.now, shiftsync.RulePRNRecord)); diff != "" {
				t.Errorf("at %s (-want +got):\n%s", tt.now, diff)
			}
		}
	})
	stomp := func(sourceID string, requested time.Time) *shiftsync.Record {
		r := rec("stomp-"+sourceID, "action", map[string]shiftsync.Value{"source_record_id": text(sourceID), "created_at": at(requested)})
		r.RecordedAt = requested
		return r
	}
	tests := []struct {
		name    string
		records []*shiftsync.Record
		now     time.Time
		want    map[string]shiftsync.FindingState
	}{
		{"two doses in a week", []*shiftsync.Record{dose("a", day(0, 9), true), dose("b", day(3, 9), true)}, day(4, 9), map[string]shiftsync.FindingState{}},
		{"three doses over more than 7 days", []*shiftsync.Record{dose("a", day(0, 9), true), dose("b", day(3, 9), true), dose("c", day(7, 9), true)},
			day(8, 9), map[string]shiftsync.FindingState{}},
		{"a third dose within 7 days", []*shiftsync.Record{dose("a", day(0, 9), true), dose("b", day(3, 9), true), dose("c", day(6, 9), true)},
			day(7, 9), map[string]shiftsync.FindingState{"c": shiftsync.StateDue}},
		{"a fourth in the same 7 days is the same request", []*shiftsync.Record{dose("a", day(0, 9), true), dose("b", day(3, 9), true),
			dose("c", day(5, 9), true), dose("d", day(6, 9), true)}, day(7, 9), map[string]shiftsync.FindingState{"c": shiftsync.StateDue}},
		{"review requested", []*shiftsync.Record{dose("a", day(0, 9), true), dose("b", day(3, 9), true), dose("c", day(6, 9), true), stomp("c", day(7, 9))},
			day(8, 9), map[string]shiftsync.FindingState{"c": shiftsync.StateMet}},
		{"not requested in time", []*shiftsync.Record{dose("a", day(0, 9), true), dose("b", day(3, 9), true), dose("c", day(6, 9), true)},
			day(14, 9), map[string]shiftsync.FindingState{"c": shiftsync.StateBreach}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, states(tt.records, shiftsync.DefaultThresholds, tt.now, shiftsync.RulePRNFrequency)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluate_ActionsAndEscalations(t *testing.T) {
	deadline := time.Date(2026, 3, 6, 17, 0, 0, 0, time.UTC) // a Friday
	action := func(agency, status string) *shiftsync.Record {
		return rec("a", "action", map[string]shiftsync.Value{"agency": text(agency), "owner_role": text("Nurse"), "status": code(status),
			"created_at": at(deadline.Add(-72 * time.Hour)), "deadline": at(deadline), "interim_check_at": at(deadline.Add(-24 * time.Hour))})
	}
	tests := []struct {
		name   string
		record *shiftsync.Record
		now    time.Time
		want   map[string]shiftsync.FindingState // rule -> state of the action's finding
	}{
		{"on track, check not due", action("housing", "ACTION_STATUS_ON_TRACK"), deadline.Add(-48 * time.Hour), map[string]shiftsync.FindingState{}},
		{"check missed", action("housing", "ACTION_STATUS_ON_TRACK"), deadline.Add(-time.Hour),
			map[string]shiftsync.FindingState{shiftsync.RuleInterimCheckMissed: shiftsync.StateWarning}},
		{"overdue, not long enough to escalate", action("housing", "ACTION_STATUS_ON_TRACK"), deadline.Add(13 * 24 * time.Hour),
			map[string]shiftsync.FindingState{shiftsync.RuleActionOverdue: shiftsync.StateBreach, shiftsync.RuleInterimCheckMissed: shiftsync.StateWarning}},
		{"external, overdue 15 days: evidence pack due", action("housing", "ACTION_STATUS_AT_RISK"), deadline.Add(15 * 24 * time.Hour),
			map[string]shiftsync.FindingState{shiftsync.RuleActionOverdue: shiftsync.StateBreach, shiftsync.RuleInterimCheckMissed: shiftsync.StateWarning, shiftsync.RuleEscalationTrigger: shiftsync.StateWarning}},
		{"the provider's own action is not escalated", action("provider", "ACTION_STATUS_AT_RISK"), deadline.Add(15 * 24 * time.Hour),
			map[string]shiftsync.FindingState{shiftsync.RuleActionOverdue: shiftsync.StateBreach, shiftsync.RuleInterimCheckMissed: shiftsync.StateWarning}},
		{"verified complete", action("housing", "ACTION_STATUS_VERIFIED_COMPLETE"), deadline.Add(15 * 24 * time.Hour), map[string]shiftsync.FindingState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]shiftsync.FindingState{}
			for _, f := range shiftsync.Evaluate(shiftsync.Snapshot{Records: []*shiftsync.Record{tt.record}}, shiftsync.DefaultThresholds, tt.now) {
				got[f.RuleID] = f.State
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got)\n%s", diff)
			}
		})
	}

	// Stage 1's response is due 10 working days after the pack was sent
	// (Friday 20 March → Friday 3 April); answered on the day it is met,
	// later it is a breach.
	sent := time.Date(2026, 3, 20, 16, 0, 0, 0, time.UTC)
	escalation := func(response time.Time) *shiftsync.Record {
		f := map[string]shiftsync.Value{"raised_at": at(sent.Add(-time.Hour)), "evidence_pack_sent_at": at(sent), "addressee_agency": text("icb")}
		if !response.IsZero() {
			f["response_received_at"] = at(response)
		}
		return rec("x", "escalation", f)
	}
	due := time.Date(2026, 4, 3, 16, 0, 0, 0, london)
	for _, tt := range []struct {
		name     string
		response time.Time
		now      time.Time
		want     shiftsync.FindingState
	}{
		{"waiting", time.Time{}, due.Add(-time.Hour), shiftsync.StateDue},
		{"answered in time", due.Add(-time.Hour), due.Add(time.Hour), shiftsync.StateMet},
		{"unanswered", time.Time{}, due.Add(time.Hour), shiftsync.StateBreach},
		{"answered late", due.Add(time.Hour), due.Add(2 * time.Hour), shiftsync.StateBreach},
	} {
		if got := states([]*shiftsync.Record{escalation(tt.response)}, shiftsync.DefaultThresholds, tt.now, shiftsync.RuleEscalationStage)["x/stage1"]; got != tt.want {
			t.Errorf("stage 1 %s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEvaluate_InterventionRecords(t *testing.T) {
	started := time.Date(2026, 3, 2, 7, 45, 0, 0, time.UTC)
	ri := rec("ri", "restrictive_intervention", map[string]shiftsync.Value{"started_at": at(started), "incident_id": text("inc"),
		"type_code": code("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING")})
	ri.RecordedAt = started.Add(5 * time.Hour) // a late entry
	review := rec("pir", "debrief", map[string]shiftsync.Value{"kind": code("DEBRIEF_KIND_POST_INCIDENT_REVIEW"), "held_at": at(started.Add(48 * time.Hour)),
		"incident_ids": ids("inc")})
	got := map[string]shiftsync.FindingState{}
	for _, f := range shiftsync.Evaluate(shiftsync.Snapshot{Records: []*shiftsync.Record{ri, review}}, shiftsync.DefaultThresholds, started.Add(30*time.Hour)) {
		got[f.RuleID] = f.State
	}
	want := map[string]shiftsync.FindingState{
		shiftsync.RuleContemporaneous:    shiftsync.StateWarning,
		shiftsync.RuleRICompleteness:     shiftsync.StateBreach, // incomplete 25h after recording
		shiftsync.RulePostIncidentReview: shiftsync.StateMet,    // reviewed through its incident within 72h
		// No rota covers it: due 12 h after it began, with no hot debrief
		// held and no legal basis screened.
		shiftsync.RuleHotDebrief:         shiftsync.StateBreach,
		shiftsync.RuleSafeguardingScreen: shiftsync.StateBreach,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got)\n%s", diff)
	}
}

func TestWeekStartAndWorkingDays(t *testing.T) {
	for _, tt := range []struct{ in, want time.Time }{
		{time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, london)},
		{time.Date(2026, 3, 29, 23, 30, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 0, 0, 0, london)}, // Monday 00:30 BST
		{time.Date(2026, 3, 29, 22, 30, 0, 0, time.UTC), time.Date(2026, 3, 23, 0, 0, 0, 0, london)}, // Sunday 23:30 BST
	} {
		if got := shiftsync.WeekStart(tt.in, london); !got.Equal(tt.want) {
			t.Errorf("WeekStart(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	friday := time.Date(2026, 3, 6, 9, 0, 0, 0, london)
	if got, want := shiftsync.AddWorkingDays(friday, 1, london), time.Date(2026, 3, 9, 9, 0, 0, 0, london); !got.Equal(want) {
		t.Errorf("a working day after Friday = %s, want Monday %s", got, want)
	}
	if got, want := shiftsync.AddWorkingDays(friday, 10, london), time.Date(2026, 3, 20, 9, 0, 0, 0, london); !got.Equal(want) {
		t.Errorf("10 working days after Friday = %s, want %s", got, want)
	}
}

func TestThresholds(t *testing.T) {
	if err := shiftsync.DefaultThresholds.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	b, err := json.Marshal(shiftsync.DefaultThresholds)
	if err != nil {
		t.Fatal(err)
	}
	var back shiftsync.Thresholds
	if err := json.Unmarshal(b, &back); err != nil || back != shiftsync.DefaultThresholds {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}
	if !strings.Contains(string(b), `"operationalise_deadline":"24h0m0s"`) {
		t.Errorf("JSON %s does not write durations as text", b)
	}
	for name, change := range map[string]func(*shiftsync.Thresholds){
		"warning after deadline": func(th *shiftsync.Thresholds) { th.OperationaliseWarning = shiftsync.Duration(30 * time.Hour) },
		"negative":               func(th *shiftsync.Thresholds) { th.LateEntryAfter = -1 },
		"no baseline":            func(th *shiftsync.Thresholds) { th.FrequencyBaselineWeeks = 0 },
		"unknown zone":           func(th *shiftsync.Thresholds) { th.TimeZone = "Mars/Olympus" },
		"no working days":        func(th *shiftsync.Thresholds) { th.ResponseWorkingDays = 0 },
	} {
		th := shiftsync.DefaultThresholds
		change(&th)
		if err := th.Validate(); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid {
			t.Errorf("%s: Validate() = %v, want invalid", name, err)
		}
	}
}

func TestTrends(t *testing.T) {
	monday := time.Date(2026, 3, 2, 0, 0, 0, 0, london)
	incident := rec("i1", "incident", map[string]shiftsync.Value{"started_at": at(monday.Add(8 * time.Hour)),
		"baseline_regained_at": at(monday.Add(9 * time.Hour)), "harm_to_others": code("HARM_LEVEL_MODERATE"),
		"intensity_verbal": {Kind: shiftsync.KindInt, Int: 1}, "intensity_property": {Kind: shiftsync.KindInt, Int: 1},
		"intensity_self": {Kind: shiftsync.KindInt, Int: 1}, "intensity_others": {Kind: shiftsync.KindInt, Int: 1}})
	restricted := rec("i2", "incident", map[string]shiftsync.Value{"started_at": at(monday.Add(30 * time.Hour)), "baseline_regained_at": at(monday.Add(32 * time.Hour))})
	hold := rec("r1", "restrictive_intervention", map[string]shiftsync.Value{"incident_id": text("i2"), "type_code": code("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_SEATED"),
		"started_at": at(monday.Add(30 * time.Hour)), "ended_at": at(monday.Add(30*time.Hour + 7*time.Minute))})
	breakaway := rec("r2", "restrictive_intervention", map[string]shiftsync.Value{"type_code": code("RESTRICTIVE_INTERVENTION_TYPE_BREAKAWAY"),
		"started_at": at(monday.Add(31 * time.Hour)), "ended_at": at(monday.Add(31*time.Hour + 2*time.Minute))})
	settled := rec("e1", "early_warning_sign", map[string]shiftsync.Value{"observed_at": at(monday.Add(50 * time.Hour)), "outcome": code("EARLY_WARNING_OUTCOME_SETTLED")})
	escalated := rec("e2", "early_warning_sign", map[string]shiftsync.Value{"observed_at": at(monday.Add(29 * time.Hour))}) // incident 1h later
	voided := rec("i3", "incident", map[string]shiftsync.Value{"started_at": at(monday.Add(40 * time.Hour)), shiftsync.VoidReasonField: text("duplicate")})
	reflection := rec("s1", "shift_reflection", map[string]shiftsync.Value{"shift_ended_at": at(monday.Add(15 * time.Hour)), "support_minutes": {Kind: shiftsync.KindInt, Int: 480}})
	records := []*shiftsync.Record{incident, restricted, hold, breakaway, settled, escalated, voided, reflection}

	weeks := shiftsync.Trends(records, "sam", monday, monday.Add(8*24*time.Hour), london)
	if len(weeks) != 2 {
		t.Fatalf("%d weeks, want 2", len(weeks))
	}
	w := weeks[0]
	want := shiftsync.WeekTrend{
		WeekStart: monday, Incidents: 2, SeverityScore: 10, HarmModerateOrWorse: 1, Restrictions: 1, RestrainedMinutes: 7,
		EarlyWarningSigns: 2, SuccessfulDeescalations: 2, // the settled sign, and the incident resolved without restriction
		MedianRecoveryMinutes: 90, RecoveryMeasured: 2, SupportHours: 8, IncidentsPer1000Hours: 250, RestrictionsPer1000Hours: 125,
		LearningPointsFromReflections: 1,
	}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("week 1 (-want +got)\n%s", diff)
	}
	if weeks[1].SupportHours != 0 || weeks[1].IncidentsPer1000Hours != 0 {
		t.Errorf("week 2 without hours has a rate: %+v", weeks[1])
	}
}

func TestPartnerEdit(t *testing.T) {
	edit := func(field string, v shiftsync.Value) *shiftsync.Mutation {
		return &shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: "a"}, Fields: []shiftsync.FieldEdit{{Field: field, Value: v}}}
	}
	agencies := []string{"community_ld_team"}
	for _, tt := range []struct {
		name  string
		m     *shiftsync.Mutation
		owner string
		ok    bool
	}{
		{"progress on its own", edit("status", code("ACTION_STATUS_AT_RISK")), "community_ld_team", true},
		{"evidence on its own", edit("evidence_received", ids("report")), "community_ld_team", true},
		{"another agency's", edit("status", code("ACTION_STATUS_AT_RISK")), "housing", false},
		{"verifying its own", edit("status", code("ACTION_STATUS_VERIFIED_COMPLETE")), "community_ld_team", false},
		{"cancelling its own", edit("status", code("ACTION_STATUS_CANCELLED")), "community_ld_team", false},
		{"moving the deadline", edit("deadline", at(time.Now())), "community_ld_team", false},
	} {
		if err := shiftsync.PartnerEdit(tt.m, agencies, tt.owner); (err == nil) != tt.ok {
			t.Errorf("%s: PartnerEdit() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestDurationWords: findings write durations as a manager reads them,
// hours below three days (beside limits such as 24 h), days above.
func TestDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                               "0 min",
		10*time.Minute + 30*time.Second: "10 min",
		90 * time.Minute:                "1 h 30 min",
		26 * time.Hour:                  "26 h",
		72 * time.Hour:                  "3 days",
		76*time.Hour + 5*time.Minute:    "3 days 4 h 5 min",
		12 * 7 * 24 * time.Hour:         "84 days",
		-2 * time.Hour:                  "-2 h",
	} {
		if got := shiftsync.DurationWords(d); got != want {
			t.Errorf("DurationWords(%s) = %q, want %q", d, got, want)
		}
	}
}
