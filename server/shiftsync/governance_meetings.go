package shiftsync

import (
	"fmt"
	"slices"
	"time"
)

// Meeting types whose decisions must reach the front line within 24 hours.
var operationalisedMeetings = []string{
	"MEETING_TYPE_MDT_REVIEW", "MEETING_TYPE_PROFESSIONALS", "MEETING_TYPE_SAFEGUARDING_STRATEGY", "MEETING_TYPE_CETR",
}

// operationalisation is R1: a brief and a tracker within 24 hours of each
// multi-agency meeting.
func (e *evaluation) operationalisation() {
	briefs := e.firstBy("shift_brief", "source_meeting_id", "published_at")
	trackers := e.firstBy("action_tracker", "meeting_id", "issued_at")
	for _, m := range e.byType["meeting"] {
		ended := m.Time("ended_at")
		if ended.IsZero() || !slices.Contains(operationalisedMeetings, m.Text("meeting_type")) {
			continue
		}
		deadline := ended.Add(time.Duration(e.th.OperationaliseDeadline))
		brief, tracker := briefs[m.RecordID], trackers[m.RecordID]
		var done time.Time
		if !brief.IsZero() && !tracker.IsZero() {
			done = latest(brief, tracker)
		}
		state := e.deadlineState(done, ended.Add(time.Duration(e.th.OperationaliseWarning)), deadline)
		var msg string
		switch {
		case !done.IsZero():
			msg = fmt.Sprintf("shift brief and action tracker issued %s after the meeting ended (limit %s)", since(ended, done), e.th.OperationaliseDeadline)
		default:
			msg = fmt.Sprintf("%s after the meeting ended: %s still to issue (limit %s)", since(ended, e.now), missing(brief.IsZero(), "shift brief", tracker.IsZero(), "action tracker"), e.th.OperationaliseDeadline)
		}
		e.add(RuleOperationalisation, m.RecordID, m, "", state, deadline, "%s", msg)
	}
}

// briefAcknowledgement is R2: every front-line member of staff acknowledges
// a brief that needs it within the window after its publication.
func (e *evaluation) briefAcknowledgement() {
	acked := map[string]map[string]time.Time{} // brief -> user -> first acknowledgement
	for _, a := range e.byType["brief_acknowledgement"] {
		brief := a.Text("brief_id")
		if acked[brief] == nil {
			acked[brief] = map[string]time.Time{}
		}
		at := a.Time("acknowledged_at")
		if prev, ok := acked[brief][a.CreatedBy]; !ok || at.Before(prev) {
			acked[brief][a.CreatedBy] = at
		}
	}
	for _, b := range e.byType["shift_brief"] {
		published := b.Time("published_at")
		if !b.Fields["acknowledgement_required"].Bool || published.IsZero() {
			continue
		}
		deadline := published.Add(time.Duration(e.th.AcknowledgeWithin))
		var late, pending, staff int
		for _, s := range e.snap.Staff {
			if published.Before(s.Start) || (!s.End.IsZero() && !published.Before(s.End)) {
				continue
			}
			staff++
			at, ok := acked[b.RecordID][s.UserID]
			switch {
			case !ok:
				pending++
			case at.After(deadline):
				late++
			}
		}
		var state FindingState
		switch {
		case pending == 0 && late == 0:
			state = StateMet
		case late > 0 || e.now.After(deadline):
			state = StateBreach
		default:
			state = StateDue
		}
		e.add(RuleBriefAcknowledgement, b.RecordID, b, b.PersonID, state, deadline,
			"brief version %d: %d of %d staff acknowledged in time, %d late, %d not yet",
			b.Fields["version"].Int, staff-late-pending, staff, late, pending)
	}
}
