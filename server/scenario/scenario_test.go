package scenario_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
)

// TestDriftAfterMeeting is the seed's first example: a multi-agency meeting
// about distress at transitions, the 24-hour rule for the shift brief and
// action tracker, staff acknowledging the brief, end-of-shift reflections,
// and the transition incidents before and after the brief in the trend.
func TestDriftAfterMeeting(t *testing.T) {
	w := newWorld(t)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	ben := w.phone("ben", shiftsync.RoleSupportWorker)
	lead := w.phone("pbs-lead", shiftsync.RolePBSLead)

	// Week 1: three transition incidents, logged offline during shifts.
	for i, d := range []int{0, 1, 2} {
		w.at(day(d, 8, 20)) // once Sam is back at his baseline
		ana.transitionIncident(day(d, 7, 40), []string{"Shouted when the minibus was late", "Pushed the door at handover", "Threw his bag at the front door"}[i])
		w.at(day(d, 15, 0))
		ana.log("shift_reflection", person, fields{
			"shift_started_at": ts(day(d, 7, 0)), "shift_ended_at": ts(day(d, 15, 0)),
			"what_worked": str("Visual timetable at breakfast"), "learning_point": str("Sam needs the minibus time confirmed the night before"),
			"support_minutes": num(480),
		})
		ana.sync()
	}

	// Thursday: an MDT review about the transitions, 10:00 to 11:00.
	w.at(day(3, 11, 5))
	meeting := lead.log("meeting", "", fields{
		"meeting_type": enum("MEETING_TYPE_MDT_REVIEW"), "started_at": ts(day(3, 10, 0)), "ended_at": ts(day(3, 11, 0)),
		"person_ids": list(person), "decisions": str("A PBS-competent lead at the 07:00-09:00 transition for two weeks; transition script"),
	})
	lead.sync()
	// A professionals meeting the same day, 12:00 to 13:00, whose brief
	// comes late; recorded once it is over.
	w.at(day(3, 13, 5))
	late := lead.log("meeting", "", fields{
		"meeting_type": enum("MEETING_TYPE_PROFESSIONALS"), "started_at": ts(day(3, 12, 0)), "ended_at": ts(day(3, 13, 0)),
		"person_ids": list(person), "decisions": str("Housing to repair the front door lock"),
	})
	lead.sync()

	// Friday 09:00, 22 hours after the MDT: brief and tracker issued.
	w.at(day(4, 9, 0))
	brief := lead.log("shift_brief", person, fields{
		"version": num(2), "published_at": ts(day(4, 9, 0)), "source_meeting_id": str(meeting),
		"transition_routine":    str("Minibus time confirmed the night before; lead at the door 07:00-09:00"),
		"staffing_pattern":      str("PBS-competent lead on every early shift for two weeks"),
		"communication_scripts": str("'The bus comes at 8. First breakfast, then bus.'"),
		"changes_summary":       str("New transition routine and script after the MDT"), "acknowledgement_required": yes,
	})
	action := lead.log("action", person, fields{
		"action_text": str("Confirm the minibus time each evening"), "definition_of_done": str("Time written on Sam's board by 20:00"),
		"source": enum("ACTION_SOURCE_MEETING"), "source_record_id": str(meeting), "agency": str("provider"),
		"owner_role": str("Shift lead"), "deputy_role": str("Registered manager"),
		"created_at": ts(day(4, 9, 0)), "deadline": ts(day(17, 20, 0)), "interim_check_at": ts(day(10, 12, 0)),
		"status": enum("ACTION_STATUS_ON_TRACK"),
	})
	lead.log("action_tracker", "", fields{"meeting_id": str(meeting), "issued_at": ts(day(4, 9, 0)),
		"shared_with": list("community_ld_team", "la_social_work"), "action_ids": list(action)})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleOperationalisation, meeting), shiftsync.StateMet, "issued 22 h after")

	// Friday 10:00, 21 hours after the professionals meeting: a warning.
	w.at(day(4, 10, 0))
	wantState(t, w.finding(shiftsync.RuleOperationalisation, late), shiftsync.StateWarning, "shift brief and action tracker still to issue")
	// Friday 15:00, 26 hours after: brief and tracker issued late, a breach.
	w.at(day(4, 15, 0))
	lead.log("shift_brief", person, fields{"version": num(3), "published_at": ts(day(4, 15, 0)), "source_meeting_id": str(late),
		"environmental_adjustments": str("Front door lock repaired; keep it unlocked"), "changes_summary": str("Door lock")})
	lead.log("action_tracker", "", fields{"meeting_id": str(late), "issued_at": ts(day(4, 15, 0))})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleOperationalisation, late), shiftsync.StateBreach, "issued 26 h after")
	wantState(t, w.finding(shiftsync.RuleOperationalisation, meeting), shiftsync.StateMet)

	// Both workers acknowledge the MDT brief before their shifts.
	w.at(day(4, 16, 0))
	for _, p := range []*phone{ana, ben} {
		p.sync()
		if _, err := p.RecordJSON(brief); err != nil {
			t.Fatalf("%s has not the brief: %v", p.name, err)
		}
		p.log("brief_acknowledgement", "", fields{"brief_id": str(brief), "acknowledged_at": ts(day(4, 16, 0))})
		p.sync()
	}
	wantState(t, w.finding(shiftsync.RuleBriefAcknowledgement, brief), shiftsync.StateMet, "2 of 2 staff acknowledged in time")

	// Weeks 2 and 3 with the brief in place: one transition incident, then none.
	w.at(day(8, 8, 30)) // once Sam is back at his baseline
	ben.transitionIncident(day(8, 7, 45), "Paced and shouted; settled with the script")
	ben.sync()
	w.at(day(9, 8, 0)) // the next morning, after the sign was seen
	ben.log("early_warning_sign", person, fields{"observed_at": ts(day(9, 7, 30)), "sign": str("pacing by the front door"),
		"outcome": enum("EARLY_WARNING_OUTCOME_SETTLED"), "settled_at": ts(day(9, 7, 45))})
	ben.sync()
	w.at(day(16, 8, 0))
	ben.log("early_warning_sign", person, fields{"observed_at": ts(day(16, 7, 30)), "sign": str("pacing by the front door"),
		"outcome": enum("EARLY_WARNING_OUTCOME_SETTLED"), "settled_at": ts(day(16, 7, 40))})
	ben.sync()

	weeks := w.trends(day(0, 0, 0), day(20, 0, 0))
	if got, want := weekStarts(weeks), []string{"2026-03-02", "2026-03-09", "2026-03-16"}; !slices.Equal(got, want) {
		t.Fatalf("trend weeks = %v, want %v", got, want)
	}
	if got, want := column(weeks, func(w *reviewv1.WeekTrend) int32 { return w.GetTransitionIncidents() }), []int32{3, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("transition incidents by week = %v, want %v (before and after the brief)", got, want)
	}
	if got, want := column(weeks, func(w *reviewv1.WeekTrend) int32 { return w.GetBriefsPublished() }), []int32{2, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("briefs published by week = %v, want %v", got, want)
	}
	if got, want := column(weeks, func(w *reviewv1.WeekTrend) int32 { return w.GetSuccessfulDeescalations() }), []int32{3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("successful de-escalations by week = %v, want %v", got, want)
	}
	first := weeks[0]
	if first.GetSeverityScore() != 6 || first.GetMedianRecoveryMinutes() != 40 || first.GetSupportHours() != 24 || first.GetIncidentsPer_1000Hours() != 125 {
		t.Errorf("week 1 = severity %d, recovery %.0f min, %.0f support hours, %.1f incidents per 1,000 h; want 6, 40, 24, 125",
			first.GetSeverityScore(), first.GetMedianRecoveryMinutes(), first.GetSupportHours(), first.GetIncidentsPer_1000Hours())
	}
	if first.GetLearningPoints() != 3 {
		t.Errorf("week 1 learning points = %d, want the 3 reflections", first.GetLearningPoints())
	}
	w.moveToPostgres()
}

// TestRestrictionFrequency is the seed's second example: restrictions used
// more often in a week than the four weeks before call for a same-week
// debrief and a plan adjustment; the findings close when they sync.
func TestRestrictionFrequency(t *testing.T) {
	w := newWorld(t)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	lead := w.phone("pbs-lead", shiftsync.RolePBSLead)

	// Four weeks of one hold a week (Tuesdays), then three in week 5
	// (30 March, the first week of British Summer Time).
	for week := range 4 {
		w.at(day(7*week+1, 10, 30))
		ana.restriction(day(7*week+1, 10, 0), 5)
		ana.sync()
	}
	for _, d := range []int{29, 30} { // Tuesday 31 March, Wednesday 1 April
		w.at(day(d, 10, 30))
		ana.restriction(day(d, 10, 0), 6)
		ana.sync()
	}
	subject := person + "/2026-03-30"
	debrief := w.finding(shiftsync.RuleFrequencyDebrief, subject)
	wantState(t, debrief, shiftsync.StateDue, "2 restriction(s) in the week of 30 Mar 2026", "debrief due by Sun 5 Apr 23:59")
	if due := debrief.GetDueAt().AsTime(); !due.Equal(time.Date(2026, 4, 5, 22, 59, 59, 0, time.UTC)) {
		t.Errorf("debrief due at %s, want Sunday 23:59:59 London time (BST)", due)
	}
	if n := len(w.findings(shiftsync.RuleFrequencyDebrief)); n != 1 {
		t.Errorf("%d weekly frequency findings, want only week 5's (weeks 1-4 at the mean)", n)
	}

	// Thursday: a third hold; Friday the PBS lead holds the debrief and
	// publishes a brief with the plan change.
	w.at(day(31, 10, 30))
	ana.restriction(day(31, 10, 0), 4)
	ana.sync()
	wantState(t, w.finding(shiftsync.RuleFrequencyDebrief, subject), shiftsync.StateDue, "3 restriction(s)")
	wantState(t, w.finding(shiftsync.RuleFrequencyPlan, subject), shiftsync.StateDue)

	w.at(day(32, 14, 0))
	lead.log("debrief", person, fields{
		"kind": enum("DEBRIEF_KIND_POST_INCIDENT_REVIEW"), "held_at": ts(day(32, 13, 0)), "for_week_of": ts(day(28, 0, 0)),
		"plan_followed": enum("PLAN_FOLLOWED_PARTLY"), "learning_points": str("Holds clustered at the front door after 09:30 drop-offs"),
		"plan_change": str("Move the drop-off to 09:00; second staff at the door"),
	})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleFrequencyDebrief, subject), shiftsync.StateMet, "done 3 Apr 13:00")
	wantState(t, w.finding(shiftsync.RuleFrequencyPlan, subject), shiftsync.StateMet)

	// A week later nothing about week 5 is open.
	w.at(day(40, 9, 0))
	for _, rule := range []string{shiftsync.RuleFrequencyDebrief, shiftsync.RuleFrequencyPlan} {
		if f := w.finding(rule, subject); f.GetState() != string(shiftsync.StateMet) || f.GetClosedAt() == nil {
			t.Errorf("%s: %s, closed %v; want met and closed", rule, f.GetState(), f.GetClosedAt())
		}
	}
	weeks := w.trends(day(0, 0, 0), day(34, 0, 0))
	if got, want := column(weeks, func(w *reviewv1.WeekTrend) int32 { return w.GetRestrictions() }), []int32{1, 1, 1, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("restrictions by week = %v, want %v", got, want)
	}
	if got := weeks[4].GetRestrainedMinutes(); got != 16 {
		t.Errorf("week 5 restrained minutes = %v, want 16", got)
	}
	w.moveToPostgres()
}

// TestEscalationLadder is the seed's third example: an external agency's
// overdue action calls for an evidence pack; the escalation moves through
// its three stages with deadlines, and an overdue stage is reported.
func TestEscalationLadder(t *testing.T) {
	w := newWorld(t)
	lead := w.phone("pbs-lead", shiftsync.RolePBSLead)

	// The community team owes a clinical assessment by 6 March.
	w.at(day(0, 9, 0))
	assessment := lead.log("action", person, fields{
		"action_text": str("Clinical assessment of Sam's changed needs"), "definition_of_done": str("Assessment report shared"),
		"agency": str("community_ld_team"), "owner_role": str("Community LD nurse"), "deputy_role": str("Team manager, community LD team"),
		"created_at": ts(day(0, 9, 0)), "deadline": ts(day(4, 17, 0)), "status": enum("ACTION_STATUS_NOT_STARTED"),
	})
	lead.sync()
	w.at(day(8, 9, 0))
	wantState(t, w.finding(shiftsync.RuleActionOverdue, assessment), shiftsync.StateBreach, "Community LD nurse (community_ld_team)")
	if _, ok := w.findings(shiftsync.RuleEscalationTrigger)[assessment]; ok {
		t.Error("evidence pack called for before the action is 14 days overdue")
	}
	w.at(day(19, 9, 0))
	wantState(t, w.finding(shiftsync.RuleEscalationTrigger, assessment), shiftsync.StateWarning, "evidence pack")

	// Stage 1: the evidence pack goes to the ICB on Friday 20 March.
	escalation := lead.log("escalation", person, fields{
		"level": enum("ESCALATION_LEVEL_EVIDENCE_PACK"), "reason": str("Assessment 14 days overdue; incidents rising at transitions"),
		"raised_at": ts(day(18, 15, 0)), "addressee_agency": str("icb"), "evidence_pack_sent_at": ts(day(18, 16, 0)),
	})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleEscalationTrigger, assessment), shiftsync.StateMet)
	stage1 := w.finding(shiftsync.RuleEscalationStage, escalation+"/stage1")
	wantState(t, stage1, shiftsync.StateDue, "stage 1", "response due by 3 Apr 2026")

	// No answer in 10 working days: stage 1 overdue, and stage 2, a
	// time-bound review request, goes out on 6 April.
	w.at(day(35, 9, 0))
	wantState(t, w.finding(shiftsync.RuleEscalationStage, escalation+"/stage1"), shiftsync.StateBreach)
	lead.edit(escalation, fields{
		"level": enum("ESCALATION_LEVEL_REVIEW_REQUEST"), "review_requested_at": ts(day(35, 9, 0)),
		"review_response_due_at": ts(day(49, 17, 0)), "review_asked_for": str("C(E)TR and funding review"),
	})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleEscalationStage, escalation+"/stage2"), shiftsync.StateDue, "C(E)TR and funding review")

	// The review date passes unanswered: stage 2 overdue; the interim risk
	// management plan (stage 3) is agreed with a review in two weeks.
	w.at(day(50, 9, 0))
	wantState(t, w.finding(shiftsync.RuleEscalationStage, escalation+"/stage2"), shiftsync.StateBreach, "response due by 20 Apr 2026")
	lead.edit(escalation, fields{
		"level": enum("ESCALATION_LEVEL_INTERIM_PLAN"), "interim_plan_agreed_at": ts(day(50, 9, 0)),
		"interim_plan": str("Shift lead at every transition; daily risk forecast; family call each Friday"), "interim_plan_review_at": ts(day(64, 9, 0)),
	})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleEscalationStage, escalation+"/stage3"), shiftsync.StateDue, "stage 3")

	// The assessment arrives and the escalation is resolved before the
	// interim plan's review: stage 3 met; the earlier overdue stages stay
	// on record as breaches.
	w.at(day(60, 12, 0))
	lead.edit(escalation, fields{"response_received_at": ts(day(60, 11, 0)), "response": str("Assessment done; hours increased"),
		"resolved_at": ts(day(60, 12, 0)), "outcome": str("Funding for 2:1 at transitions agreed")})
	lead.edit(assessment, fields{"status": enum("ACTION_STATUS_VERIFIED_COMPLETE"), "evidence_received": list("assessment report 2026-04-30")})
	lead.sync()
	got := map[string]string{}
	for subject, f := range w.findings(shiftsync.RuleEscalationStage) {
		got[subject] = f.GetState()
	}
	want := map[string]string{escalation + "/stage1": "breach", escalation + "/stage2": "breach", escalation + "/stage3": "met"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("escalation stages = %v, want %v", got, want)
			break
		}
	}
	wantState(t, w.finding(shiftsync.RuleActionOverdue, assessment), shiftsync.StateMet)
	w.moveToPostgres()
}

// TestThresholdsPerOrganisation: an organisation that allows 48 hours to
// operationalise a meeting gets a met finding at 26 hours, stamped with the
// version of its thresholds.
func TestThresholdsPerOrganisation(t *testing.T) {
	w := newWorld(t)
	lead := w.phone("pbs-lead", shiftsync.RolePBSLead)
	th := shiftsync.DefaultThresholds
	th.OperationaliseWarning, th.OperationaliseDeadline = shiftsync.Duration(40*time.Hour), shiftsync.Duration(48*time.Hour)
	version, err := w.s.Governance.SetThresholds(context.Background(), shiftsync.Principal{UserID: "operator"}, "org-test", th)
	if err != nil || version != 1 {
		t.Fatalf("SetThresholds() = %d, %v", version, err)
	}
	w.at(day(1, 15, 0))
	meeting := lead.log("meeting", "", fields{"meeting_type": enum("MEETING_TYPE_CETR"), "started_at": ts(day(0, 12, 0)),
		"ended_at": ts(day(0, 13, 0)), "decisions": str("Community team to assess")})
	lead.log("shift_brief", person, fields{"version": num(1), "published_at": ts(day(1, 15, 0)), "source_meeting_id": str(meeting), "changes_summary": str("New plan")})
	lead.log("action_tracker", "", fields{"meeting_id": str(meeting), "issued_at": ts(day(1, 15, 0))})
	lead.sync()
	f := w.finding(shiftsync.RuleOperationalisation, meeting)
	wantState(t, f, shiftsync.StateMet, "issued 26 h after", "limit 48 h")
	if f.GetThresholdsVersion() != 1 {
		t.Errorf("thresholds version = %d, want 1", f.GetThresholdsVersion())
	}
	w.moveToPostgres()
}
