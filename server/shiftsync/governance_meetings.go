package shiftsync

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Meeting types whose decisions must reach the front line within 24 hours.
var operationalisedMeetings = []string{
	"MEETING_TYPE_MDT_REVIEW", "MEETING_TYPE_PROFESSIONALS", "MEETING_TYPE_SAFEGUARDING_STRATEGY", "MEETING_TYPE_CETR",
}

// meetingNames name the meetings of operationalisedMeetings in a finding.
var meetingNames = map[string]string{
	"MEETING_TYPE_MDT_REVIEW": "MDT review", "MEETING_TYPE_PROFESSIONALS": "professionals meeting",
	"MEETING_TYPE_SAFEGUARDING_STRATEGY": "safeguarding strategy meeting", "MEETING_TYPE_CETR": "C(E)TR",
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
			msg = fmt.Sprintf("%s still to issue %s after the %s of %s (limit %s)", missing(brief.IsZero(), "shift brief", tracker.IsZero(), "action tracker"),
				since(ended, e.now), meetingNames[m.Text("meeting_type")], ended.In(e.loc).Format("2 Jan"), e.th.OperationaliseDeadline)
		}
		e.add(RuleOperationalisation, m.RecordID, m, "", state, deadline, "%s", msg)
	}
}

// briefAcknowledgement is R2: where the service keeps a rota, the staff on
// each one's first shift after a brief that covers its person acknowledge
// it by that shift's start ([evaluation.rosteredAcknowledgement]);
// otherwise every front-line member of staff acknowledges it within
// AcknowledgeWithin of its publication.
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
	rostered := e.firstShifts()
	for _, b := range e.byType["shift_brief"] {
		published := b.Time("published_at")
		if !b.Fields["acknowledgement_required"].Bool || published.IsZero() {
			continue
		}
		if shifts := rostered(b.PersonID, published); len(shifts) > 0 {
			e.rosteredAcknowledgement(b, shifts, acked[b.RecordID])
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

// MeetingFollowThrough is what became of a multi-agency meeting within the
// 24 hours after it (R1, R2): the first shift brief published from it, the
// first action tracker issued for it and the partners it was shared with,
// and who of the front-line staff acknowledged the brief.
type MeetingFollowThrough struct {
	Meeting *Record
	// Deadline is when the brief and the tracker were due; State is R1's
	// state of the meeting at now.
	Deadline time.Time
	State    FindingState
	// BriefAt and TrackerAt are when the first brief was published and
	// the first tracker issued: zero while none was.
	BriefAt, TrackerAt time.Time
	// Brief and Tracker are those records: nil while none was issued, or
	// when the reader may not review it ([Review.FollowThrough]).
	Brief, Tracker *Record
	// Acknowledged lists who acknowledged the brief, first
	// acknowledgement each, earliest first.
	Acknowledged []BriefAcknowledged
	// Pending lists the front-line staff who were to acknowledge the
	// brief and have not, in user order, when PendingKnown: the brief
	// needs acknowledgement and the reader may see the staff list.
	Pending      []string
	PendingKnown bool
}

// BriefAcknowledged is one user's first acknowledgement of a brief, the
// record Ref; Late when it came after the acknowledgement window
// ([Thresholds.AcknowledgeWithin]).
type BriefAcknowledged struct {
	UserID string
	At     time.Time
	Late   bool
	Ref    RecordRef
}

// FollowThrough returns the follow-through of every ended meeting of the
// snapshot whose type the 24-hour rule covers (MDT review, professionals,
// safeguarding strategy, C(E)TR), newest meeting first, at now, as R1 and
// R2 judge them. Voided records count for nothing.
func FollowThrough(snap Snapshot, th Thresholds, now time.Time) []MeetingFollowThrough {
	e := newEvaluation(snap, th, now)
	first := func(recordType, key, timeField string) map[string]*Record {
		out := map[string]*Record{}
		for _, r := range e.byType[recordType] {
			id, at := r.Text(key), r.Time(timeField)
			if prev := out[id]; id != "" && !at.IsZero() && (prev == nil || at.Before(prev.Time(timeField))) {
				out[id] = r
			}
		}
		return out
	}
	briefs, trackers := first("shift_brief", "source_meeting_id", "published_at"), first("action_tracker", "meeting_id", "issued_at")
	acks := map[string]map[string]*Record{} // brief -> user -> first acknowledgement
	for _, a := range e.byType["brief_acknowledgement"] {
		brief, at := a.Text("brief_id"), a.Time("acknowledged_at")
		if acks[brief] == nil {
			acks[brief] = map[string]*Record{}
		}
		if prev := acks[brief][a.CreatedBy]; prev == nil || at.Before(prev.Time("acknowledged_at")) {
			acks[brief][a.CreatedBy] = a
		}
	}
	var out []MeetingFollowThrough
	for _, m := range e.byType["meeting"] {
		ended := m.Time("ended_at")
		if ended.IsZero() || !slices.Contains(operationalisedMeetings, m.Text("meeting_type")) {
			continue
		}
		f := MeetingFollowThrough{Meeting: m, Deadline: ended.Add(time.Duration(th.OperationaliseDeadline)), Brief: briefs[m.RecordID], Tracker: trackers[m.RecordID]}
		if f.Brief != nil {
			f.BriefAt = f.Brief.Time("published_at")
		}
		if f.Tracker != nil {
			f.TrackerAt = f.Tracker.Time("issued_at")
		}
		var done time.Time
		if f.Brief != nil && f.Tracker != nil {
			done = latest(f.BriefAt, f.TrackerAt)
		}
		f.State = e.deadlineState(done, ended.Add(time.Duration(th.OperationaliseWarning)), f.Deadline)
		if b := f.Brief; b != nil {
			published := b.Time("published_at")
			window := published.Add(time.Duration(th.AcknowledgeWithin))
			for user, a := range acks[b.RecordID] {
				at := a.Time("acknowledged_at")
				f.Acknowledged = append(f.Acknowledged, BriefAcknowledged{UserID: user, At: at, Late: at.After(window), Ref: a.RecordRef})
			}
			slices.SortFunc(f.Acknowledged, func(a, b BriefAcknowledged) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.UserID, b.UserID)) })
			if b.Fields["acknowledgement_required"].Bool {
				f.PendingKnown = true
				for _, s := range snap.Staff {
					_, acked := acks[b.RecordID][s.UserID]
					if !acked && !published.Before(s.Start) && (s.End.IsZero() || published.Before(s.End)) {
						f.Pending = append(f.Pending, s.UserID)
					}
				}
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b MeetingFollowThrough) int {
		return cmp.Or(b.Meeting.Time("ended_at").Compare(a.Meeting.Time("ended_at")), cmp.Compare(a.Meeting.RecordID, b.Meeting.RecordID))
	})
	return out
}
