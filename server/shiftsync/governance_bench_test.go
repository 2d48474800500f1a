package shiftsync_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// BenchmarkEvaluateRota evaluates the governance rules over one service's
// 100,000 records (50 people, 26 weeks of incidents, restrictions, early
// warning signs and reflections), in memory, without and with a year of
// rota beside them (two shifts a day, three staff on each, a lead on 2:1
// cover, a high-risk period for each person, competencies and quality
// checks): the rules that read the rota must cost at most twice the rest
// (issue 17), which "records/s" of the two shows in the same run.
func BenchmarkEvaluateRota(b *testing.B) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	records := careRecords(now, 100_000)
	withRota := append(records[:len(records):len(records)], yearOfRota(now)...)
	for _, bb := range []struct {
		name    string
		records []*shiftsync.Record
	}{{"records", records}, {"records_and_a_year_of_rota", withRota}} {
		b.Run(bb.name, func(b *testing.B) {
			snap := shiftsync.Snapshot{ServiceID: "house-a", Records: bb.records}
			for i := range 30 {
				snap.Staff = append(snap.Staff, shiftsync.StaffMember{UserID: fmt.Sprintf("staff-%d", i), Start: now.AddDate(-1, 0, 0)})
			}
			var findings int
			for b.Loop() {
				findings = len(shiftsync.Evaluate(snap, shiftsync.DefaultThresholds, now))
			}
			b.ReportMetric(float64(findings), "findings")
			b.ReportMetric(100_000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// benchRecord is a record of the benchmark's service.
func benchRecord(id, recordType, person string, at time.Time, fields map[string]shiftsync.Value) *shiftsync.Record {
	return &shiftsync.Record{RecordRef: shiftsync.RecordRef{RecordID: id, RecordType: recordType, ServiceID: "house-a", PersonID: person},
		Fields: fields, CreatedBy: "staff-1", RecordedAt: at.Add(10 * time.Minute), ReceivedAt: at.Add(time.Hour)}
}

func benchTime(t time.Time) shiftsync.Value {
	return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: t}
}
func benchText(s string) shiftsync.Value {
	return shiftsync.Value{Kind: shiftsync.KindString, String: s}
}
func benchEnum(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindEnum, String: s} }
func benchInt(n int64) shiftsync.Value   { return shiftsync.Value{Kind: shiftsync.KindInt, Int: n} }
func benchList(items ...string) shiftsync.Value {
	return shiftsync.Value{Kind: shiftsync.KindList, List: items}
}

// careRecords returns n records over the 26 weeks before now about 50
// people: four in ten incidents, one in ten restrictive interventions
// (each of the incident before it), and early warning signs and shift
// reflections.
func careRecords(now time.Time, n int) []*shiftsync.Record {
	start := now.AddDate(0, 0, -26*7)
	step := now.Sub(start) / time.Duration(n)
	out := make([]*shiftsync.Record, 0, n)
	for i := range n {
		at, person, id := start.Add(time.Duration(i)*step), fmt.Sprintf("person-%d", i%50), fmt.Sprintf("rec-%06d", i)
		switch i % 10 {
		case 0, 1, 2, 3:
			out = append(out, benchRecord(id, "incident", person, at, map[string]shiftsync.Value{
				"started_at": benchTime(at), "behaviour_description": benchText("Shouted at the door"), "intensity_verbal": benchInt(2)}))
		case 4:
			out = append(out, benchRecord(id, "restrictive_intervention", person, at, map[string]shiftsync.Value{
				"incident_id": benchText(fmt.Sprintf("rec-%06d", i-1)), "type_code": benchEnum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING"),
				"reason_code": benchEnum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"), "legal_basis": benchEnum("LEGAL_BASIS_COMMON_LAW"),
				"started_at": benchTime(at), "ended_at": benchTime(at.Add(5 * time.Minute))}))
		case 5, 6:
			out = append(out, benchRecord(id, "early_warning_sign", person, at, map[string]shiftsync.Value{
				"observed_at": benchTime(at), "sign": benchText("pacing")}))
		default:
			out = append(out, benchRecord(id, "shift_reflection", person, at, map[string]shiftsync.Value{
				"shift_started_at": benchTime(at.Add(-8 * time.Hour)), "shift_ended_at": benchTime(at), "support_minutes": benchInt(480)}))
		}
	}
	return out
}

// yearOfRota returns the year before now of a service's rota: two shifts
// a day covering all 50 people, a lead, a support worker and 2:1 cover on
// each; a morning high-risk period for each person; each member of
// staff's PBS and technique competence, signed off, and a competency
// observation of a third of them each month.
func yearOfRota(now time.Time) []*shiftsync.Record {
	var out []*shiftsync.Record
	people := make([]string, 50)
	for i := range people {
		people[i] = fmt.Sprintf("person-%d", i)
		out = append(out, benchRecord("period-"+people[i], "high_risk_period", people[i], now.AddDate(-1, 0, 0), map[string]shiftsync.Value{
			"valid_from": benchTime(now.AddDate(-1, 0, 0)), "daily_start_minute": benchInt(7 * 60), "daily_end_minute": benchInt(9 * 60),
			"lead_competency": benchEnum("COMPETENCY_KIND_PBS")}))
	}
	for i := range 30 {
		user := fmt.Sprintf("staff-%d", i)
		for _, kind := range []string{"COMPETENCY_KIND_PBS", "COMPETENCY_KIND_RESTRICTIVE_INTERVENTION_TECHNIQUE"} {
			out = append(out, benchRecord("competency-"+user+kind, "competency", "", now.AddDate(-1, 0, 0), map[string]shiftsync.Value{
				"user_id": benchText(user), "kind": benchEnum(kind), "confirmed_by": benchEnum("COMPETENCY_CONFIRMATION_SIGN_OFF"),
				"confirmed_at": benchTime(now.AddDate(-1, 0, 0))}))
		}
	}
	for m := range 12 {
		at := now.AddDate(0, -m, 0)
		var observed []string
		for i := m % 3; i < 30; i += 3 {
			observed = append(observed, fmt.Sprintf("staff-%d", i))
		}
		out = append(out, benchRecord(fmt.Sprintf("check-%d", m), "quality_check", "", at, map[string]shiftsync.Value{
			"kind": benchEnum("QUALITY_CHECK_KIND_COMPETENCY_OBSERVATION"), "checked_at": benchTime(at), "staff_observed": benchList(observed...),
			"outcome": benchEnum("CHECK_OUTCOME_MET"), "competency_confirmed_by_observation": shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}}))
	}
	day := now.AddDate(-1, 0, 0).Truncate(24 * time.Hour)
	for d := 0; d < 365; d++ {
		for s, startHour := range []int{7, 15} {
			start := day.AddDate(0, 0, d).Add(time.Duration(startHour) * time.Hour)
			id := fmt.Sprintf("shift-%d-%d", d, s)
			out = append(out, benchRecord(id, "shift", "", start.AddDate(0, 0, -14), map[string]shiftsync.Value{
				"starts_at": benchTime(start), "ends_at": benchTime(start.Add(8 * time.Hour)), "person_ids": benchList(people...)}))
			for slot, name := range []string{"SHIFT_SLOT_LEAD", "SHIFT_SLOT_SUPPORT", "SHIFT_SLOT_TWO_TO_ONE"} {
				out = append(out, benchRecord(fmt.Sprintf("%s-%d", id, slot), "shift_assignment", "", start.AddDate(0, 0, -14), map[string]shiftsync.Value{
					"shift_id": benchText(id), "user_id": benchText(fmt.Sprintf("staff-%d", (d*3+slot)%30)), "slot": benchEnum(name)}))
			}
		}
	}
	return out
}

// TestRotaLead_ClockChangesAndNights: a high-risk period is a time of day
// by the clock, so on the Sunday the clocks go forward the 07:00-09:00
// window is judged at 07:00 BST, not 08:00; and a night-time period
// (22:00 to 06:00) reaches the early shift of the next morning. A quality
// check older than the sign-off it would confirm does not confirm it.
func TestRotaLead_ClockChangesAndNights(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, london) }
	period := func(id string, from, to int64) *shiftsync.Record {
		return benchRecord(id, "high_risk_period", "sam", at(2026, 3, 1, 0, 0), map[string]shiftsync.Value{
			"valid_from": benchTime(at(2026, 3, 1, 0, 0)), "daily_start_minute": benchInt(from), "daily_end_minute": benchInt(to),
			"lead_competency": benchEnum("COMPETENCY_KIND_PBS")})
	}
	shift := func(id string, start, end time.Time) []*shiftsync.Record {
		return []*shiftsync.Record{
			benchRecord(id, "shift", "", at(2026, 3, 1, 0, 0), map[string]shiftsync.Value{"starts_at": benchTime(start), "ends_at": benchTime(end), "person_ids": benchList("sam")}),
			benchRecord(id+"-lead", "shift_assignment", "", at(2026, 3, 1, 0, 0), map[string]shiftsync.Value{"shift_id": benchText(id), "user_id": benchText("kim"), "slot": benchEnum("SHIFT_SLOT_LEAD")}),
		}
	}
	records := []*shiftsync.Record{
		period("morning", 7*60, 9*60), period("night", 22*60, 6*60),
		benchRecord("signed-off", "competency", "", at(2026, 3, 10, 9, 0), map[string]shiftsync.Value{"user_id": benchText("kim"), "kind": benchEnum("COMPETENCY_KIND_PBS"),
			"confirmed_by": benchEnum("COMPETENCY_CONFIRMATION_SIGN_OFF"), "confirmed_at": benchTime(at(2026, 3, 10, 9, 0))}),
		benchRecord("old-check", "quality_check", "", at(2026, 3, 2, 9, 0), map[string]shiftsync.Value{"kind": benchEnum("QUALITY_CHECK_KIND_COMPETENCY_OBSERVATION"),
			"checked_at": benchTime(at(2026, 3, 2, 9, 0)), "staff_observed": benchList("kim"), "outcome": benchEnum("CHECK_OUTCOME_MET"),
			"competency_confirmed_by_observation": shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}}),
	}
	// 29 March 2026: the clocks go forward at 01:00. A shift from 08:30
	// BST meets the morning window; one from 09:30 does not.
	records = append(records, shift("sunday-0830", at(2026, 3, 29, 8, 30), at(2026, 3, 29, 16, 0))...)
	records = append(records, shift("sunday-0930", at(2026, 3, 29, 9, 30), at(2026, 3, 29, 16, 0))...)
	// An early shift from 05:00 on Monday meets the night window of Sunday.
	records = append(records, shift("monday-0500", at(2026, 3, 30, 5, 0), at(2026, 3, 30, 6, 30))...)
	findings := map[string]shiftsync.Finding{}
	for _, f := range shiftsync.Evaluate(shiftsync.Snapshot{ServiceID: "house-a", Records: records}, shiftsync.DefaultThresholds, at(2026, 3, 31, 12, 0)) {
		if f.RuleID == shiftsync.RuleRotaLead {
			findings[f.Subject] = f
		}
	}
	for _, subject := range []string{"sunday-0830/morning", "monday-0500/night"} {
		f, ok := findings[subject]
		if !ok {
			t.Errorf("no T1 finding about %s: %v", subject, findings)
			continue
		}
		if f.State != shiftsync.StateBreach || !strings.Contains(f.Message, "signed off only") {
			t.Errorf("%s: %s %q; want a breach, the check of 2 Mar being older than the sign-off of 10 Mar", subject, f.State, f.Message)
		}
	}
	if f, ok := findings["sunday-0930/morning"]; ok {
		t.Errorf("the 09:30 shift is judged against 07:00-09:00 on the day the clocks change: %q", f.Message)
	}
}

// TestRotaLead_LateLeadCountsForNothing: a lead put on a shift once it was
// over did not lead it, so its breach stays; one assigned before it ended
// (synced later, from a phone with no signal) meets it.
func TestRotaLead_LateLeadCountsForNothing(t *testing.T) {
	at := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	records := []*shiftsync.Record{
		benchRecord("morning", "high_risk_period", "sam", at(1, 0), map[string]shiftsync.Value{
			"valid_from": benchTime(at(1, 0)), "daily_start_minute": benchInt(7 * 60), "daily_end_minute": benchInt(9 * 60),
			"lead_competency": benchEnum("COMPETENCY_KIND_PBS")}),
		benchRecord("observed", "competency", "", at(1, 9), map[string]shiftsync.Value{"user_id": benchText("kim"), "kind": benchEnum("COMPETENCY_KIND_PBS"),
			"confirmed_by": benchEnum("COMPETENCY_CONFIRMATION_OBSERVATION"), "confirmed_at": benchTime(at(1, 9))}),
	}
	for _, d := range []int{3, 4} {
		id := fmt.Sprintf("shift-%d", d)
		records = append(records, benchRecord(id, "shift", "", at(1, 0), map[string]shiftsync.Value{
			"starts_at": benchTime(at(d, 7)), "ends_at": benchTime(at(d, 15)), "person_ids": benchList("sam")}))
	}
	// Day 3's lead was written the day after; day 4's during the shift.
	records = append(records,
		benchRecord("late", "shift_assignment", "", at(4, 12), map[string]shiftsync.Value{"shift_id": benchText("shift-3"), "user_id": benchText("kim"), "slot": benchEnum("SHIFT_SLOT_LEAD")}),
		benchRecord("in-time", "shift_assignment", "", at(4, 8), map[string]shiftsync.Value{"shift_id": benchText("shift-4"), "user_id": benchText("kim"), "slot": benchEnum("SHIFT_SLOT_LEAD")}))
	states := map[string]shiftsync.FindingState{}
	for _, f := range shiftsync.Evaluate(shiftsync.Snapshot{ServiceID: "house-a", Records: records}, shiftsync.DefaultThresholds, at(5, 12)) {
		if f.RuleID == shiftsync.RuleRotaLead {
			states[f.Subject] = f.State
		}
	}
	if states["shift-3/morning"] != shiftsync.StateBreach || states["shift-4/morning"] != shiftsync.StateMet {
		t.Errorf("T1 states = %v; want day 3 a breach (its lead assigned after it) and day 4 met", states)
	}
}
