package scenario_test

import (
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
