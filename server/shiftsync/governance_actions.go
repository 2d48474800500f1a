package shiftsync

import (
	"fmt"
	"slices"
	"time"
)

// closedActionStatuses end an action's deadline.
var closedActionStatuses = []string{"ACTION_STATUS_VERIFIED_COMPLETE", "ACTION_STATUS_CANCELLED"}

// actions reports overdue actions and missed interim checks, and an
// external agency's action overdue long enough to call for an evidence
// pack (E1).
func (e *evaluation) actions() {
	escalated := map[string][]time.Time{} // person -> escalations raised
	for _, x := range e.byType["escalation"] {
		escalated[x.PersonID] = append(escalated[x.PersonID], x.Time("raised_at"))
	}
	for _, a := range e.byType["action"] {
		if slices.Contains(closedActionStatuses, a.Text("status")) {
			continue
		}
		owner := fmt.Sprintf("%s (%s)", a.Text("owner_role"), a.Text("agency"))
		if deadline := a.Time("deadline"); !deadline.IsZero() && e.now.After(deadline) {
			e.add(RuleActionOverdue, a.RecordID, a, a.PersonID, StateBreach, deadline, "action %q owned by %s overdue by %s; deputy %s",
				a.Text("action_text"), owner, since(deadline, e.now), orNone(a.Text("deputy_role")))
			after := deadline.Add(time.Duration(e.th.EscalateActionAfter))
			if a.Text("agency") != "provider" && e.now.After(after) && firstIn(escalated[a.PersonID], deadline, time.Time{}).IsZero() {
				e.add(RuleEscalationTrigger, a.RecordID, a, a.PersonID, StateWarning, after,
					"%s's action %q is overdue by more than %s: send the commissioner an evidence pack (escalation stage 1)",
					a.Text("agency"), a.Text("action_text"), e.th.EscalateActionAfter)
			}
		}
		if check := a.Time("interim_check_at"); !check.IsZero() && e.now.After(check) && !a.Has("interim_check_result") {
			e.add(RuleInterimCheckMissed, a.RecordID, a, a.PersonID, StateWarning, check, "interim check of action %q owned by %s was due %s and has no result",
				a.Text("action_text"), owner, check.In(e.loc).Format("2 Jan 2006"))
		}
	}
}

// escalations reports each stage an escalation reached against its
// deadline: stage 1, the commissioner's response to the evidence pack
// within the working days allowed; stage 2, the response to the review
// request by its due date; stage 3, the interim plan resolved or reviewed
// by its review date.
func (e *evaluation) escalations() {
	for _, x := range e.byType["escalation"] {
		raised, response, resolved := x.Time("raised_at"), x.Time("response_received_at"), x.Time("resolved_at")
		subject := func(stage int) string { return fmt.Sprintf("%s/stage%d", x.RecordID, stage) }
		if sent := x.Time("evidence_pack_sent_at"); sent.IsZero() {
			due := raised.Add(time.Duration(e.th.EvidencePackWithin))
			e.add(RuleEscalationStage, subject(1), x, x.PersonID, e.deadlineState(time.Time{}, time.Time{}, due), due,
				"stage 1: evidence pack to %s not yet sent", x.Text("addressee_agency"))
		} else {
			due := AddWorkingDays(sent, e.th.ResponseWorkingDays, e.loc)
			answered := firstAfter(sent, response, resolved)
			e.add(RuleEscalationStage, subject(1), x, x.PersonID, e.deadlineState(answered, time.Time{}, due), due,
				"stage 1: evidence pack sent to %s %s; response due by %s%s", x.Text("addressee_agency"),
				sent.In(e.loc).Format("2 Jan 2006"), due.In(e.loc).Format("2 Jan 2006"), heldNote(answered))
		}
		if requested := x.Time("review_requested_at"); !requested.IsZero() {
			due := x.Time("review_response_due_at")
			if due.IsZero() {
				due = AddWorkingDays(requested, e.th.ResponseWorkingDays, e.loc)
			}
			answered := firstAfter(requested, response, resolved)
			e.add(RuleEscalationStage, subject(2), x, x.PersonID, e.deadlineState(answered, time.Time{}, due), due,
				"stage 2: review (%s) requested of %s; response due by %s%s", orNone(x.Text("review_asked_for")), x.Text("addressee_agency"),
				due.In(e.loc).Format("2 Jan 2006"), heldNote(answered))
		}
		if agreed := x.Time("interim_plan_agreed_at"); !agreed.IsZero() {
			due := x.Time("interim_plan_review_at")
			if due.IsZero() {
				continue
			}
			e.add(RuleEscalationStage, subject(3), x, x.PersonID, e.deadlineState(firstAfter(agreed, resolved), time.Time{}, due), due,
				"stage 3: interim risk plan agreed %s; review or resolution due by %s%s", agreed.In(e.loc).Format("2 Jan 2006"),
				due.In(e.loc).Format("2 Jan 2006"), heldNote(firstAfter(agreed, resolved)))
		}
	}
}

// ActionDueSoon is how close its deadline an open action is due soon: a
// week, the horizon of the weekly risk huddle that reviews the tracker.
const ActionDueSoon = 7 * 24 * time.Hour

// ViewAction derives an action's tracker state at now: overdue when open
// past its deadline, interim check missed when its check is past with no
// result, due soon when open with its deadline within [ActionDueSoon].
// Its State is breach when overdue, warning when its interim check was
// missed or it is due soon, due while otherwise open, and met once closed
// (verified complete or cancelled).
func ViewAction(a *Record, now time.Time) ActionView {
	open := !slices.Contains(closedActionStatuses, a.Text("status"))
	deadline, check := a.Time("deadline"), a.Time("interim_check_at")
	v := ActionView{
		Action:             a,
		Overdue:            open && !deadline.IsZero() && now.After(deadline),
		InterimCheckMissed: open && !check.IsZero() && now.After(check) && !a.Has("interim_check_result"),
	}
	v.DueSoon = open && !v.Overdue && !deadline.IsZero() && deadline.Sub(now) <= ActionDueSoon
	switch {
	case !open:
		v.State = StateMet
	case v.Overdue:
		v.State = StateBreach
	case v.InterimCheckMissed || v.DueSoon:
		v.State = StateWarning
	default:
		v.State = StateDue
	}
	return v
}
