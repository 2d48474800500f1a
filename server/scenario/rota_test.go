package scenario_test

import (
	"strings"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestRotaTransitionLead is the seed's first example carried to the rota:
// after the meeting, a PBS-competent lead must be present at the morning
// transition. A shift over the transition led by someone whose PBS
// competence was signed off but never observed is due, then a warning 48
// hours ahead, then a breach once it starts; when the quality check that
// observed the lead in practice the day before syncs, it is met. A shift
// clear of the transition is not judged.
func TestRotaTransitionLead(t *testing.T) {
	w := newWorld(t)
	pbs := w.phone("pbs-lead", shiftsync.RolePBSLead)
	rota := w.phone("shift-lead", shiftsync.RoleShiftLead)

	w.at(day(0, 10, 0))
	period := pbs.log("high_risk_period", person, fields{
		"valid_from": ts(day(0, 0, 0)), "daily_start_minute": num(7 * 60), "daily_end_minute": num(9 * 60),
		"description": str("morning transition"), "lead_competency": enum("COMPETENCY_KIND_PBS"),
	})
	pbs.log("competency", "", fields{"user_id": str("kim"), "kind": enum("COMPETENCY_KIND_PBS"),
		"confirmed_by": enum("COMPETENCY_CONFIRMATION_SIGN_OFF"), "confirmed_at": ts(day(0, 9, 0))})
	pbs.sync()
	thursday := rota.log("shift", "", fields{"starts_at": ts(day(3, 7, 0)), "ends_at": ts(day(3, 15, 0)),
		"person_ids": list(person), "staff_needed": num(2), "published_at": ts(day(0, 10, 0))})
	rota.log("shift_assignment", "", fields{"shift_id": str(thursday), "user_id": str("kim"), "slot": enum("SHIFT_SLOT_LEAD")})
	late := rota.log("shift", "", fields{"starts_at": ts(day(3, 14, 0)), "ends_at": ts(day(3, 22, 0)), "person_ids": list(person)})
	rota.sync()

	subject := thursday + "/" + period
	wantState(t, w.finding(shiftsync.RuleRotaLead, subject), shiftsync.StateDue, "Thu 5 Mar 07:00 to 15:00", "07:00 to 09:00", "kim's PBS competence was signed off only")
	w.at(day(2, 8, 0))
	wantState(t, w.finding(shiftsync.RuleRotaLead, subject), shiftsync.StateWarning)
	w.at(day(3, 9, 0))
	wantState(t, w.finding(shiftsync.RuleRotaLead, subject), shiftsync.StateBreach, "never observed in practice")
	for s := range w.findings(shiftsync.RuleRotaLead) {
		if s == late+"/"+period {
			t.Errorf("the 14:00 shift, clear of the transition, was judged")
		}
	}

	// The observation made on Wednesday afternoon syncs on Thursday.
	w.at(day(3, 10, 0))
	pbs.log("quality_check", "", fields{"kind": enum("QUALITY_CHECK_KIND_COMPETENCY_OBSERVATION"), "checked_at": ts(day(2, 16, 0)),
		"staff_observed": list("kim"), "person_ids": list(person), "outcome": enum("CHECK_OUTCOME_MET"),
		"competency_confirmed_by_observation": yes})
	pbs.sync()
	wantState(t, w.finding(shiftsync.RuleRotaLead, subject), shiftsync.StateMet, "led by kim", "observed in practice 4 Mar 2026")
	w.moveToPostgres()
}

// TestRotaBriefAcknowledgement is R2 by roster: a new brief version is to
// be acknowledged by the staff rostered on the first shift after it — not
// by everyone with a membership — within 15 minutes of its start, else the
// shift lead is told (a warning), and within 60 minutes, else the manager
// is (a breach).
func TestRotaBriefAcknowledgement(t *testing.T) {
	w := newWorld(t)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	w.phone("ben", shiftsync.RoleSupportWorker) // a membership, and no shift
	pbs := w.phone("pbs-lead", shiftsync.RolePBSLead)
	rota := w.phone("shift-lead", shiftsync.RoleShiftLead)

	w.at(day(1, 9, 0))
	brief := pbs.log("shift_brief", person, fields{"version": num(2), "published_at": ts(day(1, 9, 0)), "acknowledgement_required": yes,
		"changes_summary": str("Transition script at the front door")})
	pbs.sync()
	afternoon := rota.log("shift", "", fields{"starts_at": ts(day(1, 14, 0)), "ends_at": ts(day(1, 22, 0)), "person_ids": list(person)})
	rota.log("shift_assignment", "", fields{"shift_id": str(afternoon), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	rota.sync()

	subject := brief + "/" + afternoon
	w.at(day(1, 14, 10))
	wantState(t, w.finding(shiftsync.RuleBriefAcknowledgement, subject), shiftsync.StateDue, "0 of 1 rostered staff", "not yet [ana]")
	w.at(day(1, 14, 20))
	wantState(t, w.finding(shiftsync.RuleBriefAcknowledgement, subject), shiftsync.StateWarning, "the shift lead is told")
	w.at(day(1, 15, 5))
	f := w.finding(shiftsync.RuleBriefAcknowledgement, subject)
	wantState(t, f, shiftsync.StateBreach, "the manager is told")
	if strings.Contains(f.GetMessage(), "ben") {
		t.Errorf("ben, on no shift, is judged: %s", f.GetMessage())
	}
	if _, ok := w.findings(shiftsync.RuleBriefAcknowledgement)[brief]; ok {
		t.Error("the brief is also judged against every member of staff, though the service keeps a rota")
	}

	// Ana acknowledges once she sees it: late, and on record as such.
	ana.sync()
	ana.log("brief_acknowledgement", "", fields{"brief_id": str(brief), "acknowledged_at": ts(day(1, 15, 5))})
	ana.sync()
	wantState(t, w.finding(shiftsync.RuleBriefAcknowledgement, subject), shiftsync.StateBreach, "late [ana]")
	w.moveToPostgres()
}

// TestRotaHotDebriefAndScreen: R6 and R9 run to the end of the shift in
// which things happened. A 12-minute hold during an incident with an
// allegation of abuse opens a hot debrief due and two safeguarding screens
// due by the shift's end; the debrief and a concern raised from the
// incident close theirs; the hold's screen, never done, is a breach once
// the shift is over. A hold when no shift covers the person is due within
// 12 hours, saying that no rostered shift covers it.
func TestRotaHotDebriefAndScreen(t *testing.T) {
	w := newWorld(t)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	lead := w.phone("shift-lead", shiftsync.RoleShiftLead)

	w.at(day(0, 7, 0))
	early := lead.log("shift", "", fields{"starts_at": ts(day(0, 7, 0)), "ends_at": ts(day(0, 15, 0)), "person_ids": list(person)})
	lead.log("shift_assignment", "", fields{"shift_id": str(early), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	lead.sync()

	w.at(day(0, 10, 30))
	incident := ana.log("incident", person, fields{"started_at": ts(day(0, 10, 0)), "behaviour_description": str("Said staff had hurt him"),
		"allegation_of_abuse": yes})
	hold := ana.log("restrictive_intervention", person, fields{
		"incident_id": str(incident), "type_code": enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING"),
		"reason_code": enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"), "legal_basis": enum("LEGAL_BASIS_COMMON_LAW"),
		"started_at": ts(day(0, 10, 2)), "ended_at": ts(day(0, 10, 14)), "in_care_plan": yes,
	})
	ana.sync()
	wantState(t, w.finding(shiftsync.RuleHotDebrief, hold), shiftsync.StateDue, "before the shift ends at 15:00")
	wantState(t, w.finding(shiftsync.RuleSafeguardingScreen, incident), shiftsync.StateDue, "allegation of abuse")
	wantState(t, w.finding(shiftsync.RuleSafeguardingScreen, hold), shiftsync.StateDue, "the hold over 10 min")

	w.at(day(0, 13, 0))
	lead.log("debrief", person, fields{"kind": enum("DEBRIEF_KIND_HOT"), "held_at": ts(day(0, 12, 30)),
		"restrictive_intervention_ids": list(hold), "learning_points": str("He was frightened by the noise in the hall")})
	lead.sync()
	ana.log("safeguarding_concern", person, fields{"raised_at": ts(day(0, 13, 0)), "category": enum("ABUSE_CATEGORY_PHYSICAL"),
		"description": str("Sam said staff hurt him; no mark seen"), "source_record_id": str(incident)})
	ana.sync()
	wantState(t, w.finding(shiftsync.RuleHotDebrief, hold), shiftsync.StateMet, "done 2 Mar 12:30")
	wantState(t, w.finding(shiftsync.RuleSafeguardingScreen, incident), shiftsync.StateMet)
	wantState(t, w.finding(shiftsync.RuleSafeguardingScreen, hold), shiftsync.StateDue)

	w.at(day(0, 15, 5))
	wantState(t, w.finding(shiftsync.RuleSafeguardingScreen, hold), shiftsync.StateBreach)

	w.at(day(0, 20, 30))
	evening := ana.log("restrictive_intervention", person, fields{
		"incident_id": str(incident), "type_code": enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING"),
		"reason_code": enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"),
		"started_at":  ts(day(0, 20, 0)), "ended_at": ts(day(0, 20, 3)), "in_care_plan": yes,
	})
	ana.sync()
	wantState(t, w.finding(shiftsync.RuleHotDebrief, evening), shiftsync.StateDue, "before Tue 3 Mar 08:00, 12 h later: no rostered shift covers it")
	w.at(day(1, 8, 1))
	wantState(t, w.finding(shiftsync.RuleHotDebrief, evening), shiftsync.StateBreach)
	w.moveToPostgres()
}

// TestRotaHuddleForecastObservation is the seed's third example on the
// rota: the weekly risk huddle, the daily forecast while the interim risk
// plan is in force (its RAG reaching the phone of the worker on shift at
// their next pull), practice observations and 2:1 competence, and the next
// multi-agency review the meeting set, each producing findings.
func TestRotaHuddleForecastObservation(t *testing.T) {
	w := newWorld(t)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	lead := w.phone("shift-lead", shiftsync.RoleShiftLead)
	pbs := w.phone("pbs-lead", shiftsync.RolePBSLead)

	w.at(day(0, 7, 0))
	monday := lead.log("shift", "", fields{"starts_at": ts(day(0, 7, 0)), "ends_at": ts(day(0, 15, 0)), "person_ids": list(person)})
	lead.log("shift_assignment", "", fields{"shift_id": str(monday), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	tuesday := lead.log("shift", "", fields{"starts_at": ts(day(1, 7, 0)), "ends_at": ts(day(1, 15, 0)), "person_ids": list(person)})
	cover := lead.log("shift_assignment", "", fields{"shift_id": str(tuesday), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_TWO_TO_ONE")})
	lead.sync()
	review := pbs.log("meeting", "", fields{"meeting_type": enum("MEETING_TYPE_CETR"), "started_at": ts(day(0, 7, 0)), "ended_at": ts(day(0, 7, 0)),
		"person_ids": list(person), "decisions": str("Interim plan while funding is agreed"), "next_review_at": ts(day(14, 10, 0))})
	escalation := pbs.log("escalation", person, fields{"level": enum("ESCALATION_LEVEL_INTERIM_PLAN"), "reason": str("Assessment overdue"),
		"raised_at": ts(day(0, 7, 0)), "addressee_agency": str("icb"), "interim_plan_agreed_at": ts(day(0, 7, 0)), "interim_plan": str("Shift lead at every transition; daily forecast"),
		"interim_plan_review_at": ts(day(14, 9, 0))})
	pbs.sync()

	// H2: Monday's forecast is due by 09:00; it is recorded at 08:00 and
	// reaches Ana's phone; Tuesday's never comes.
	wantState(t, w.finding(shiftsync.RuleDailyForecast, escalation+"/2026-03-02"), shiftsync.StateDue, "by 09:00")
	w.at(day(0, 8, 0))
	forecast := lead.log("risk_forecast", person, fields{"forecast_for": ts(day(0, 0, 0)), "rag": enum("RAG_RATING_RED"),
		"drivers": str("Poor sleep; the minibus changes today")})
	lead.sync()
	ana.sync()
	got, err := ana.RecordJSON(forecast)
	if err != nil || !strings.Contains(got, "RAG_RATING_RED") {
		t.Fatalf("the red forecast on Ana's phone after her pull: %s, %v", got, err)
	}
	wantState(t, w.finding(shiftsync.RuleDailyForecast, escalation+"/2026-03-02"), shiftsync.StateMet)

	// Q1: Ana on 2:1 cover on Tuesday without technique competence.
	wantState(t, w.finding(shiftsync.RuleRosteredCompetence, cover), shiftsync.StateWarning, "ana holds no restrictive intervention technique in date")
	w.at(day(1, 9, 30))
	wantState(t, w.finding(shiftsync.RuleDailyForecast, escalation+"/2026-03-03"), shiftsync.StateBreach)
	wantState(t, w.finding(shiftsync.RuleRosteredCompetence, cover), shiftsync.StateBreach)

	// H1: no huddle in week 1 is a breach once the week is over; week 2's
	// huddle, with its staffing check, is met.
	w.at(day(8, 10, 0))
	wantState(t, w.finding(shiftsync.RuleWeeklyHuddle, "2026-03-02"), shiftsync.StateBreach, "week of 2 Mar 2026")
	lead.log("risk_huddle", "", fields{"held_at": ts(day(8, 9, 30)), "person_ids": list(person), "decisions": str("Keep the interim plan"),
		"staffing_risks": str("Two bank staff on Thursday")})
	lead.sync()
	wantState(t, w.finding(shiftsync.RuleWeeklyHuddle, "2026-03-09"), shiftsync.StateMet)

	// The next multi-agency review: a warning a week ahead, met by the
	// review meeting about Sam.
	wantState(t, w.finding(shiftsync.RuleReviewCadence, review+"/"+person), shiftsync.StateWarning, "due by 16 Mar 2026")
	pbs.log("meeting", "", fields{"meeting_type": enum("MEETING_TYPE_MDT_REVIEW"), "started_at": ts(day(8, 9, 0)), "ended_at": ts(day(8, 10, 0)),
		"person_ids": list(person), "decisions": str("Funding agreed from April")})
	pbs.edit(escalation, fields{"resolved_at": ts(day(8, 10, 0)), "outcome": str("Funding agreed")})
	pbs.sync()
	wantState(t, w.finding(shiftsync.RuleReviewCadence, review+"/"+person), shiftsync.StateMet)

	// Q1: a practice observation is due 12 weeks after Ana joined.
	w.at(day(75, 9, 0))
	wantState(t, w.finding(shiftsync.RulePracticeObservation, "ana"), shiftsync.StateWarning, "never observed")
	w.at(day(85, 9, 0))
	wantState(t, w.finding(shiftsync.RulePracticeObservation, "ana"), shiftsync.StateBreach)
	pbs.log("quality_check", "", fields{"kind": enum("QUALITY_CHECK_KIND_PRACTICE_OBSERVATION"), "checked_at": ts(day(85, 8, 0)),
		"staff_observed": list("ana"), "outcome": enum("CHECK_OUTCOME_MET")})
	pbs.sync()
	wantState(t, w.finding(shiftsync.RulePracticeObservation, "ana"), shiftsync.StateMet, "last observed")
	w.moveToPostgres()
}

// TestRotaCoachingOnOverlap is the seed's second example carried to the
// rota: staff are coached during overlap shifts, and competency is
// confirmed through observation rather than sign-off only. Ana, whose
// restrictive intervention technique was signed off only, is rostered on
// 2:1 cover on Thursday: due, then a warning 48 hours ahead. On
// Wednesday the PBS lead works the early shift beside her into the
// overlap with the late one, and observes her practice there; once that
// quality check syncs her cover is met, saying so.
func TestRotaCoachingOnOverlap(t *testing.T) {
	w := newWorld(t)
	w.phone("ana", shiftsync.RoleSupportWorker)
	lead := w.phone("shift-lead", shiftsync.RoleShiftLead)
	pbs := w.phone("pbs-lead", shiftsync.RolePBSLead)

	w.at(day(0, 9, 0))
	pbs.log("competency", "", fields{"user_id": str("ana"), "kind": enum("COMPETENCY_KIND_RESTRICTIVE_INTERVENTION_TECHNIQUE"),
		"confirmed_by": enum("COMPETENCY_CONFIRMATION_SIGN_OFF"), "confirmed_at": ts(day(0, 9, 0)), "expires_at": ts(day(365, 0, 0))})
	pbs.sync()
	early := lead.log("shift", "", fields{"starts_at": ts(day(2, 7, 0)), "ends_at": ts(day(2, 15, 0)), "person_ids": list(person)})
	lead.log("shift_assignment", "", fields{"shift_id": str(early), "user_id": str("pbs-lead"), "slot": enum("SHIFT_SLOT_LEAD")})
	lead.log("shift_assignment", "", fields{"shift_id": str(early), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_SUPPORT")})
	lead.log("shift", "", fields{"starts_at": ts(day(2, 14, 0)), "ends_at": ts(day(2, 22, 0)), "person_ids": list(person)})
	thursday := lead.log("shift", "", fields{"starts_at": ts(day(3, 7, 0)), "ends_at": ts(day(3, 15, 0)), "person_ids": list(person)})
	cover := lead.log("shift_assignment", "", fields{"shift_id": str(thursday), "user_id": str("ana"), "slot": enum("SHIFT_SLOT_TWO_TO_ONE")})
	lead.sync()

	wantState(t, w.finding(shiftsync.RuleRosteredCompetence, cover), shiftsync.StateDue, "ana's restrictive intervention technique was signed off only, never observed in practice")
	w.at(day(1, 8, 0))
	wantState(t, w.finding(shiftsync.RuleRosteredCompetence, cover), shiftsync.StateWarning)

	// Wednesday, in the overlap (14:00 to 15:00): coached and observed.
	w.at(day(2, 14, 45))
	pbs.log("quality_check", "", fields{"kind": enum("QUALITY_CHECK_KIND_COMPETENCY_OBSERVATION"), "checked_at": ts(day(2, 14, 30)),
		"staff_observed": list("ana"), "person_ids": list(person), "outcome": enum("CHECK_OUTCOME_MET"),
		"competency_confirmed_by_observation": yes})
	pbs.sync()
	wantState(t, w.finding(shiftsync.RuleRosteredCompetence, cover), shiftsync.StateMet, "signed off, and observed in practice 4 Mar 2026")
	w.moveToPostgres()
}
