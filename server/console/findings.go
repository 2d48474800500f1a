package console

import (
	"unicode"
	"unicode/utf8"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// ruleNames are the governance rules in words, as a finding is headed on
// a page: one for every rule of [shiftsync.RuleVersions]
// (TestRuleNames).
var ruleNames = map[string]string{
	shiftsync.RuleOperationalisation:   "Brief and tracker within 24 hours of a multi-agency meeting",
	shiftsync.RuleBriefAcknowledgement: "Staff acknowledge the shift brief",
	shiftsync.RuleContemporaneous:      "Incidents and restrictions recorded at the time",
	shiftsync.RuleRICompleteness:       "Restrictive intervention record complete within 24 hours",
	shiftsync.RulePostIncidentReview:   "Post-incident review after a restriction",
	shiftsync.RuleFrequencyDebrief:     "Same-week debrief when restrictions rise above their 4-week mean",
	shiftsync.RuleFrequencyPlan:        "Plan adjusted when restrictions rise above their 4-week mean",
	shiftsync.RuleRegisterReview:       "Standing restriction reviewed by its review date",
	shiftsync.RuleActionOverdue:        "Action done by its deadline",
	shiftsync.RuleInterimCheckMissed:   "Action's interim check done when due",
	shiftsync.RuleEscalationTrigger:    "Evidence pack to the commissioner when a partner's action is long overdue",
	shiftsync.RuleEscalationStage:      "Escalation answered by its deadline",
	shiftsync.RuleReg18Notification:    "CQC notified without delay (Regulation 18)",
	shiftsync.RulePRNRecord:            "PRN for distress recorded in full",
	shiftsync.RulePRNFrequency:         "STOMP medication review when PRN is given often",
	shiftsync.RuleRotaLead:             "A lead observed competent at high-risk times on the rota",
	shiftsync.RuleHotDebrief:           "Hot debrief before the end of the shift",
	shiftsync.RuleSafeguardingScreen:   "Safeguarding screen within the shift",
	shiftsync.RuleWeeklyHuddle:         "Weekly risk huddle",
	shiftsync.RuleDailyForecast:        "Daily risk forecast while an interim plan is in force",
	shiftsync.RulePracticeObservation:  "Practice observation of each member of staff",
	shiftsync.RuleRosteredCompetence:   "Competence observed before rostered on 2:1 cover",
	shiftsync.RuleReviewCadence:        "Next multi-agency review",
}

// ruleName is a rule in words, or its id for a rule the table lacks.
func ruleName(id string) string {
	if n, ok := ruleNames[id]; ok {
		return n
	}
	return id
}

// sentence is s with its first letter in upper case.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
