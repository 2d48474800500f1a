package shiftsync

import (
	"fmt"
	"slices"
	"time"
)

// Restrictive intervention fields a complete record has (R4; Use of Force
// Act s6 and MHSDS).
var completeIntervention = []string{
	"type_code", "reason_code", "started_at", "ended_at", "in_care_plan", "legal_basis", "how_used",
	"staff_involved", "less_restrictive_tried", "injury_to_person", "injury_to_staff", "outcome", "notified_at",
}

// contemporaneous is R3: incidents and restrictions recorded long after
// they happened are late entries.
func (e *evaluation) contemporaneous() {
	for _, t := range []string{"incident", "restrictive_intervention"} {
		for _, r := range e.byType[t] {
			happened := r.Time("started_at")
			if happened.IsZero() || r.RecordedAt.Sub(happened) <= time.Duration(e.th.LateEntryAfter) {
				continue
			}
			e.add(RuleContemporaneous, r.RecordID, r, r.PersonID, StateWarning, happened.Add(time.Duration(e.th.LateEntryAfter)),
				"late entry: %s recorded %s after it happened (limit %s)", t, since(happened, r.RecordedAt), e.th.LateEntryAfter)
		}
	}
}

// interventionRecords is R4 (a complete record) and R7 (a post-incident
// review) for each restrictive intervention.
func (e *evaluation) interventionRecords() {
	reviewed := map[string]time.Time{} // incident or intervention id -> first review
	for _, d := range e.byType["debrief"] {
		if d.Text("kind") != "DEBRIEF_KIND_POST_INCIDENT_REVIEW" {
			continue
		}
		held := d.Time("held_at")
		for _, field := range []string{"incident_ids", "restrictive_intervention_ids"} {
			for _, id := range d.Fields[field].List {
				if prev, ok := reviewed[id]; !ok || held.Before(prev) {
					reviewed[id] = held
				}
			}
		}
	}
	for _, r := range e.byType["restrictive_intervention"] {
		var absent []string
		for _, f := range completeIntervention {
			if _, ok := r.Fields[f]; !ok {
				absent = append(absent, f)
			}
		}
		due := r.RecordedAt.Add(time.Duration(e.th.CompleteRecordWithin))
		if len(absent) > 0 {
			state := StateDue
			if e.now.After(due) {
				state = StateBreach
			}
			e.add(RuleRICompleteness, r.RecordID, r, r.PersonID, state, due, "incomplete restrictive intervention record: %d field(s) missing: %v", len(absent), absent)
		}
		if slices.Contains(notRestraint, r.Text("type_code")) {
			continue
		}
		started := r.Time("started_at")
		held := earliest(reviewed[r.RecordID], reviewed[r.Text("incident_id")])
		deadline := started.Add(time.Duration(e.th.ReviewWithin))
		state := e.deadlineState(held, time.Time{}, deadline)
		msg := fmt.Sprintf("post-incident review due within %s of the restriction", e.th.ReviewWithin)
		if !held.IsZero() {
			msg = fmt.Sprintf("post-incident review held %s after the restriction (limit %s)", since(started, held), e.th.ReviewWithin)
		}
		e.add(RulePostIncidentReview, r.RecordID, r, r.PersonID, state, deadline, "%s", msg)
	}
}

// notifiable are the incident flags that make it a Regulation 18
// notification to the CQC.
var notifiable = []string{"serious_injury", "police_involved", "allegation_of_abuse"}

// notifications is R8: an incident that must be notified to the CQC is
// notified within NotifyWithin of when it started.
func (e *evaluation) notifications() {
	for _, r := range e.byType["incident"] {
		happened := r.Time("started_at")
		if happened.IsZero() || !slices.ContainsFunc(notifiable, func(f string) bool { return r.Fields[f].Bool }) {
			continue
		}
		due := happened.Add(time.Duration(e.th.NotifyWithin))
		notified := r.Time("cqc_notified_at")
		e.add(RuleReg18Notification, r.RecordID, r, r.PersonID, e.deadlineState(notified, time.Time{}, due), due,
			"Regulation 18 notification to the CQC due by %s%s", due.In(e.loc).Format("Mon 2 Jan 15:04"), heldNote(notified))
	}
}

// LateEntry reports whether the record was made on the device more than
// after its event time: R3's late entry. Records of types without an
// event time never are.
func LateEntry(r *Record, t *RecordType, after time.Duration) bool {
	if t == nil || t.EventTimeField == "" {
		return false
	}
	happened := r.Time(t.EventTimeField)
	return !happened.IsZero() && r.RecordedAt.Sub(happened) > after
}
