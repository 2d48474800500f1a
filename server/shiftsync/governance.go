package shiftsync

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
	_ "time/tzdata" // weeks are Europe/London weeks wherever the server runs
)

// Record is a record as it stands: its envelope and current field values,
// with the times a care record keeps (care-records.md §1.1).
type Record struct {
	RecordRef
	Fields map[string]Value
	// CreatedBy is the user who created it.
	CreatedBy string
	// RecordedAt is when the author's device recorded it (the creating
	// change's HLC); ReceivedAt when the server received it.
	RecordedAt, ReceivedAt time.Time
	// VersionSeq is the change-log position of its latest change, and
	// Seqs that of each field's current value.
	VersionSeq int64
	Seqs       map[string]int64
}

// Voided reports whether the record was voided. A voided record stays in
// the record, but no rule or trend counts it.
func (r *Record) Voided() bool { return !r.Fields[VoidReasonField].Empty() }

// Time returns the value of a timestamp field, or the zero time.
func (r *Record) Time(field string) time.Time {
	if v, ok := r.Fields[field]; ok && v.Kind == KindTimestamp {
		return v.Time
	}
	return time.Time{}
}

// Text returns the value of a string or enum field, or "".
func (r *Record) Text(field string) string { return r.Fields[field].String }

// Has reports whether the field holds a value that is not empty.
func (r *Record) Has(field string) bool {
	v, ok := r.Fields[field]
	return ok && !v.Empty()
}

// StaffMember is a user who works front-line shifts in a service from
// Start until End (zero: open-ended): who must acknowledge a shift brief.
type StaffMember struct {
	UserID     string
	Start, End time.Time
}

// Snapshot is what governance reads for one service: every record, and the
// front-line staff.
type Snapshot struct {
	ServiceID string
	Records   []*Record
	Staff     []StaffMember
}

// FindingState is where a finding stands. States are stored: never rename.
type FindingState string

// The finding states.
const (
	// StateDue: something is required and its deadline has not passed.
	StateDue FindingState = "due"
	// StateWarning: close to or past a soft limit; act now.
	StateWarning FindingState = "warning"
	// StateBreach: the rule was broken.
	StateBreach FindingState = "breach"
	// StateMet: the rule holds (or no longer fires).
	StateMet FindingState = "met"
)

// Finding is one evaluation of a governance rule about one subject (a
// meeting, a brief, a person's week, an action...). RuleID and RuleVersion
// name the rule; ThresholdsVersion the organisation's thresholds it used.
type Finding struct {
	ID                int64
	ServiceID         string
	PersonID          string
	RuleID            string
	RuleVersion       int
	ThresholdsVersion int
	// Subject identifies what the finding is about, unique per rule and
	// service, so a later evaluation updates the same finding.
	Subject  string
	RecordID string // the record it is about, if one
	State    FindingState
	DueAt    time.Time
	Message  string
	// FirstSeenAt is when it was first found; EvaluatedAt when an
	// evaluation last changed it; ClosedAt when it became met (zero while
	// open).
	FirstSeenAt, EvaluatedAt, ClosedAt time.Time
}

// Open reports whether the finding still needs action.
func (f Finding) Open() bool { return f.State != StateMet }

// The governance rules (care-records.md §2), each with the version of its
// meaning: a rule whose logic changes gets a new version.
const (
	RuleOperationalisation   = "R1_operationalisation_24h"
	RuleBriefAcknowledgement = "R2_brief_acknowledgement"
	RuleContemporaneous      = "R3_contemporaneous_recording"
	RuleRICompleteness       = "R4_restrictive_intervention_complete"
	RulePostIncidentReview   = "R7_post_incident_review"
	RuleFrequencyDebrief     = "W2_frequency_same_week_debrief"
	RuleFrequencyPlan        = "W2_frequency_plan_adjustment"
	RuleRegisterReview       = "W4_register_review_overdue"
	RuleActionOverdue        = "action_overdue"
	RuleInterimCheckMissed   = "action_interim_check_missed"
	RuleEscalationTrigger    = "E1_evidence_pack_due"
	RuleEscalationStage      = "escalation_stage_deadline"
	RuleReg18Notification    = "R8_reg18_notification"
	RulePRNRecord            = "R10_prn_record_complete"
	RulePRNFrequency         = "R10_prn_stomp_review"
)

// RuleVersions are the current versions of the rules.
var RuleVersions = map[string]int{
	RuleOperationalisation: 1, RuleBriefAcknowledgement: 1, RuleContemporaneous: 1, RuleRICompleteness: 1,
	RulePostIncidentReview: 1, RuleFrequencyDebrief: 1, RuleFrequencyPlan: 1, RuleRegisterReview: 1,
	RuleActionOverdue: 1, RuleInterimCheckMissed: 1, RuleEscalationTrigger: 1, RuleEscalationStage: 1,
	RulePRNRecord: 1, RulePRNFrequency: 1, RuleReg18Notification: 1,
}

// Thresholds are an organisation's governance settings. Every change is a
// new Version; version 0 is [DefaultThresholds].
type Thresholds struct {
	Version int `json:"-"`
	// R1: a meeting's brief and tracker warn at OperationaliseWarning and
	// breach at OperationaliseDeadline after it ends.
	OperationaliseWarning  Duration `json:"operationalise_warning"`
	OperationaliseDeadline Duration `json:"operationalise_deadline"`
	// R2: staff acknowledge a brief within AcknowledgeWithin of its
	// publication.
	AcknowledgeWithin Duration `json:"acknowledge_within"`
	// R3: an incident or restriction recorded more than LateEntryAfter
	// after it happened is a late entry.
	LateEntryAfter Duration `json:"late_entry_after"`
	// R4: a restrictive intervention record is complete within
	// CompleteRecordWithin of its recording.
	CompleteRecordWithin Duration `json:"complete_record_within"`
	// R7: a post-incident review follows a restriction within ReviewWithin.
	ReviewWithin Duration `json:"review_within"`
	// R8: the CQC is notified of a serious injury, police involvement or an
	// allegation of abuse within NotifyWithin of the incident (the
	// internal target for Regulation 18's "without delay").
	NotifyWithin Duration `json:"notify_within"`
	// W2: a week fires when its restrictions exceed the mean of the
	// FrequencyBaselineWeeks before and number at least FrequencyFloor, or
	// when restrained minutes rise by more than MinutesRisePercent with at
	// least FrequencyFloor uses. The debrief is due by the end of the week,
	// or DebriefAtLeast after firing if later; a plan adjustment within
	// PlanAdjustmentWithin.
	FrequencyBaselineWeeks int      `json:"frequency_baseline_weeks"`
	FrequencyFloor         int      `json:"frequency_floor"`
	MinutesRisePercent     int      `json:"minutes_rise_percent"`
	DebriefAtLeast         Duration `json:"debrief_at_least"`
	PlanAdjustmentWithin   Duration `json:"plan_adjustment_within"`
	// E1: an external agency's action overdue by more than
	// EscalateActionAfter calls for an evidence pack.
	EscalateActionAfter Duration `json:"escalate_action_after"`
	// Escalations: a commissioner answers an evidence pack within
	// ResponseWorkingDays working days; an unsent pack is due within
	// EvidencePackWithin of raising the escalation.
	ResponseWorkingDays int      `json:"response_working_days"`
	EvidencePackWithin  Duration `json:"evidence_pack_within"`
	// R10: a PRN given for distress names the non-drug strategies tried
	// and has its effect checked EffectCheckAfter after it is given, all
	// recorded within CompleteRecordWithin of the dose. More than
	// PRNDosesPerWeek doses to one person within 7 days call for a STOMP
	// medication review request (an action whose source is one of those
	// doses) within StompRequestWithin.
	EffectCheckAfter   Duration `json:"effect_check_after"`
	PRNDosesPerWeek    int      `json:"prn_doses_per_week"`
	StompRequestWithin Duration `json:"stomp_request_within"`
	// Weeks are ISO weeks in this time zone.
	TimeZone string `json:"time_zone"`
}

// DefaultThresholds are the defaults of care-records.md §2, with one
// departure: §2 R2 wants each brief acknowledged within 15 minutes of the
// start of each rostered shift after it, and shiftsync keeps no roster, so
// every front-line member of the service's staff has AcknowledgeWithin of
// the brief's publication.
var DefaultThresholds = Thresholds{
	OperationaliseWarning:  Duration(20 * time.Hour),
	OperationaliseDeadline: Duration(24 * time.Hour),
	AcknowledgeWithin:      Duration(24 * time.Hour),
	LateEntryAfter:         Duration(4 * time.Hour),
	CompleteRecordWithin:   Duration(24 * time.Hour),
	ReviewWithin:           Duration(72 * time.Hour),
	NotifyWithin:           Duration(24 * time.Hour),
	FrequencyBaselineWeeks: 4,
	FrequencyFloor:         2,
	MinutesRisePercent:     50,
	DebriefAtLeast:         Duration(3 * 24 * time.Hour),
	PlanAdjustmentWithin:   Duration(7 * 24 * time.Hour),
	EscalateActionAfter:    Duration(14 * 24 * time.Hour),
	ResponseWorkingDays:    10,
	EvidencePackWithin:     Duration(5 * 24 * time.Hour),
	EffectCheckAfter:       Duration(time.Hour),
	PRNDosesPerWeek:        2,
	StompRequestWithin:     Duration(7 * 24 * time.Hour), // shiftsync's default: §2 R10 sets none
	TimeZone:               "Europe/London",
}

// Location returns the time zone weeks and working days are counted in:
// TimeZone's, or UTC if it does not load ([Thresholds.Validate] refuses
// such a zone before thresholds are stored).
func (t Thresholds) Location() *time.Location {
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Validate checks that the thresholds make sense, with a message naming the
// first that does not.
func (t Thresholds) Validate() error {
	positive := map[string]Duration{
		"operationalise_warning": t.OperationaliseWarning, "operationalise_deadline": t.OperationaliseDeadline,
		"acknowledge_within": t.AcknowledgeWithin, "late_entry_after": t.LateEntryAfter,
		"complete_record_within": t.CompleteRecordWithin, "review_within": t.ReviewWithin, "notify_within": t.NotifyWithin,
		"debrief_at_least": t.DebriefAtLeast, "plan_adjustment_within": t.PlanAdjustmentWithin,
		"escalate_action_after": t.EscalateActionAfter, "evidence_pack_within": t.EvidencePackWithin,
		"effect_check_after": t.EffectCheckAfter, "stomp_request_within": t.StompRequestWithin,
	}
	for _, name := range slices.Sorted(maps.Keys(positive)) {
		if d := positive[name]; d <= 0 || time.Duration(d) > 365*24*time.Hour {
			return Errorf(CodeInvalid, "threshold %s must be between 1s and a year, not %s", name, d)
		}
	}
	switch {
	case t.OperationaliseWarning > t.OperationaliseDeadline:
		return Errorf(CodeInvalid, "operationalise_warning must not be after operationalise_deadline")
	case t.FrequencyBaselineWeeks < 1 || t.FrequencyBaselineWeeks > 52:
		return Errorf(CodeInvalid, "frequency_baseline_weeks must be 1 to 52")
	case t.FrequencyFloor < 1 || t.FrequencyFloor > 1000:
		return Errorf(CodeInvalid, "frequency_floor must be 1 to 1000")
	case t.MinutesRisePercent < 1 || t.MinutesRisePercent > 10000:
		return Errorf(CodeInvalid, "minutes_rise_percent must be 1 to 10000")
	case t.ResponseWorkingDays < 1 || t.ResponseWorkingDays > 260:
		return Errorf(CodeInvalid, "response_working_days must be 1 to 260")
	case t.PRNDosesPerWeek < 1 || t.PRNDosesPerWeek > 100:
		return Errorf(CodeInvalid, "prn_doses_per_week must be 1 to 100")
	}
	if _, err := time.LoadLocation(t.TimeZone); err != nil || t.TimeZone == "" {
		return Errorf(CodeInvalid, "time_zone %q is not a known time zone", t.TimeZone)
	}
	return nil
}

// Duration is a time.Duration written as text ("24h0m0s") in JSON.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration such as "20h" or "72h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// String returns the duration as text.
func (d Duration) String() string { return time.Duration(d).String() }

// Meeting types whose decisions must reach the front line within 24 hours.
var operationalisedMeetings = []string{
	"MEETING_TYPE_MDT_REVIEW", "MEETING_TYPE_PROFESSIONALS", "MEETING_TYPE_SAFEGUARDING_STRATEGY", "MEETING_TYPE_CETR",
}

// Restrictive intervention fields a complete record has (R4; Use of Force
// Act s6 and MHSDS).
var completeIntervention = []string{
	"type_code", "reason_code", "started_at", "ended_at", "in_care_plan", "legal_basis", "how_used",
	"staff_involved", "less_restrictive_tried", "injury_to_person", "injury_to_staff", "outcome", "notified_at",
}

// closedActionStatuses end an action's deadline.
var closedActionStatuses = []string{"ACTION_STATUS_VERIFIED_COMPLETE", "ACTION_STATUS_CANCELLED"}

// notRestraint are intervention types recorded but not counted as
// restraint (NICE NG10: a breakaway is not restraint).
var notRestraint = []string{"RESTRICTIVE_INTERVENTION_TYPE_BREAKAWAY"}

// Evaluate runs every governance rule over a service's snapshot at now and
// returns the findings, sorted by rule and subject. It reports what it
// finds about each subject whatever its state; a subject a rule does not
// mention (a complete record, an action not yet due) has no finding, and a
// store closes an earlier open finding the evaluation no longer reports.
// Voided records count for nothing.
func Evaluate(snap Snapshot, th Thresholds, now time.Time) []Finding {
	e := &evaluation{snap: snap, th: th, now: now, loc: th.Location(), byType: map[string][]*Record{}, byID: map[string]*Record{}}
	for _, r := range snap.Records {
		if r.Voided() {
			continue
		}
		e.byType[r.RecordType] = append(e.byType[r.RecordType], r)
		e.byID[r.RecordID] = r
	}
	e.operationalisation()
	e.briefAcknowledgement()
	e.contemporaneous()
	e.interventionRecords()
	e.notifications()
	e.frequency()
	e.register()
	e.actions()
	e.escalations()
	e.prn()
	slices.SortFunc(e.out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.RuleID, b.RuleID), cmp.Compare(a.Subject, b.Subject))
	})
	return e.out
}

type evaluation struct {
	snap   Snapshot
	th     Thresholds
	now    time.Time
	loc    *time.Location
	byType map[string][]*Record
	byID   map[string]*Record
	out    []Finding
}

// add records a finding of rule about subject.
func (e *evaluation) add(rule, subject string, r *Record, personID string, state FindingState, due time.Time, format string, args ...any) {
	f := Finding{
		ServiceID: e.snap.ServiceID, PersonID: personID, RuleID: rule, RuleVersion: RuleVersions[rule],
		ThresholdsVersion: e.th.Version, Subject: subject, State: state, DueAt: due,
		Message: fmt.Sprintf(format, args...), EvaluatedAt: e.now,
	}
	if r != nil {
		f.RecordID = r.RecordID
	}
	e.out = append(e.out, f)
}

// deadlineState is the state of something required by deadline (warning
// from warnAt, if set) that was done at done (zero: not yet).
func (e *evaluation) deadlineState(done, warnAt, deadline time.Time) FindingState {
	switch {
	case !done.IsZero() && !done.After(deadline):
		return StateMet
	case !done.IsZero() || e.now.After(deadline):
		return StateBreach
	case !warnAt.IsZero() && !e.now.Before(warnAt):
		return StateWarning
	}
	return StateDue
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

// prnRecord are the fields R10 asks of each PRN given for distress, beside
// those its record type requires.
var prnRecord = []string{"non_drug_strategies_tried", "effect_check", "effect_checked_at"}

// prn is R10: each PRN dose for distress recorded with the strategies
// tried first and its effect check, and more than PRNDosesPerWeek doses to
// a person in 7 days answered by a STOMP medication review request.
func (e *evaluation) prn() {
	doses := map[string][]*Record{} // person -> doses, by time given
	for _, r := range e.byType["prn_administration"] {
		given := r.Time("given_at")
		if given.IsZero() {
			continue
		}
		doses[r.PersonID] = append(doses[r.PersonID], r)
		var absent []string
		for _, f := range prnRecord {
			if r.Fields[f].Empty() {
				absent = append(absent, f)
			}
		}
		if len(absent) == 0 {
			continue
		}
		due := given.Add(time.Duration(e.th.CompleteRecordWithin))
		state := StateDue
		if e.now.After(due) {
			state = StateBreach
		}
		e.add(RulePRNRecord, r.RecordID, r, r.PersonID, state, due, "PRN %s given %s: missing %v (effect check due %s after the dose)",
			r.Text("medicine"), given.In(e.loc).Format("2 Jan 15:04"), absent, e.th.EffectCheckAfter)
	}
	requested := map[string]time.Time{} // dose id -> first action naming it as its source
	for _, a := range e.byType["action"] {
		if src := a.Text("source_record_id"); src != "" {
			requested[src] = earliest(requested[src], a.RecordedAt)
		}
	}
	const window = 7 * 24 * time.Hour
	limit := e.th.PRNDosesPerWeek
	for _, person := range slices.Sorted(maps.Keys(doses)) {
		ds := doses[person]
		slices.SortFunc(ds, func(a, b *Record) int { return a.Time("given_at").Compare(b.Time("given_at")) })
		var lastTrigger time.Time
		for i := limit; i < len(ds); i++ {
			at := ds[i].Time("given_at")
			first := ds[i-limit].Time("given_at")
			if at.Sub(first) >= window || (!lastTrigger.IsZero() && at.Sub(lastTrigger) < window) {
				continue
			}
			lastTrigger = at
			var asked time.Time
			for _, d := range ds[i-limit : i+1] {
				asked = earliest(asked, requested[d.RecordID])
			}
			due := at.Add(time.Duration(e.th.StompRequestWithin))
			e.add(RulePRNFrequency, ds[i].RecordID, ds[i], person, e.deadlineState(asked, time.Time{}, due), due,
				"%d PRN doses for distress from %s to %s (more than %d in 7 days): STOMP medication review request due by %s%s",
				limit+1, first.In(e.loc).Format("2 Jan"), at.In(e.loc).Format("2 Jan"), limit, due.In(e.loc).Format("Mon 2 Jan"), heldNote(asked))
		}
	}
}

// week is an ISO week of one person's restrictions.
type week struct {
	count   int
	minutes float64
	firedAt time.Time // when the use that made the count exceed the baseline started
	uses    []time.Time
}

// frequency is W2: a person's restrictions in a week above the mean of
// the weeks before (and at least the floor) call for a debrief that week
// and a plan adjustment within 7 days.
func (e *evaluation) frequency() {
	weeks := map[string]map[time.Time]*week{} // person -> week start -> week
	for _, r := range e.byType["restrictive_intervention"] {
		started := r.Time("started_at")
		if started.IsZero() || slices.Contains(notRestraint, r.Text("type_code")) {
			continue
		}
		start := WeekStart(started, e.loc)
		if weeks[r.PersonID] == nil {
			weeks[r.PersonID] = map[time.Time]*week{}
		}
		w := weeks[r.PersonID][start]
		if w == nil {
			w = &week{}
			weeks[r.PersonID][start] = w
		}
		w.count++
		w.uses = append(w.uses, started)
		if ended := r.Time("ended_at"); ended.After(started) {
			w.minutes += ended.Sub(started).Minutes()
		}
	}
	debriefs := map[string][]time.Time{} // person -> debriefs held
	plans := map[string][]time.Time{}    // person -> plan adjustments
	for _, d := range e.byType["debrief"] {
		debriefs[d.PersonID] = append(debriefs[d.PersonID], d.Time("held_at"))
		if d.Has("plan_change") {
			plans[d.PersonID] = append(plans[d.PersonID], d.Time("held_at"))
		}
	}
	for _, b := range e.byType["shift_brief"] {
		plans[b.PersonID] = append(plans[b.PersonID], b.Time("published_at"))
	}
	for _, person := range slices.Sorted(maps.Keys(weeks)) {
		for _, start := range slices.SortedFunc(maps.Keys(weeks[person]), time.Time.Compare) {
			w := weeks[person][start]
			var baseCount, baseMinutes float64
			for i := 1; i <= e.th.FrequencyBaselineWeeks; i++ {
				if prev := weeks[person][start.AddDate(0, 0, -7*i)]; prev != nil {
					baseCount += float64(prev.count)
					baseMinutes += prev.minutes
				}
			}
			n := float64(e.th.FrequencyBaselineWeeks)
			meanCount, meanMinutes := baseCount/n, baseMinutes/n
			moreOften := float64(w.count) > meanCount
			longer := w.minutes > meanMinutes*(1+float64(e.th.MinutesRisePercent)/100)
			if w.count < e.th.FrequencyFloor || (!moreOften && !longer) {
				continue
			}
			slices.SortFunc(w.uses, time.Time.Compare)
			// It fired with the use that took the week past the mean and the
			// floor (for minutes alone, with the week's last use). Only a
			// debrief held after that answers it: one held earlier in the week
			// was about a single use, not the pattern.
			fired := w.uses[min(len(w.uses), max(e.th.FrequencyFloor, int(meanCount)+1))-1]
			endOfWeek := start.AddDate(0, 0, 7).Add(-time.Second) // Sunday 23:59:59
			debriefDue := latest(endOfWeek, fired.Add(time.Duration(e.th.DebriefAtLeast)))
			subject := person + "/" + start.Format("2006-01-02")
			held := firstIn(debriefs[person], fired, time.Time{})
			e.add(RuleFrequencyDebrief, subject, nil, person, e.deadlineState(held, time.Time{}, debriefDue), debriefDue,
				"%d restriction(s) in the week of %s (4-week mean %.1f, %.0f min vs mean %.0f): debrief due by %s%s",
				w.count, start.Format("2 Jan 2006"), meanCount, w.minutes, meanMinutes, debriefDue.In(e.loc).Format("Mon 2 Jan 15:04"), heldNote(held))
			planDue := fired.Add(time.Duration(e.th.PlanAdjustmentWithin))
			adjusted := firstIn(plans[person], fired, time.Time{})
			e.add(RuleFrequencyPlan, subject, nil, person, e.deadlineState(adjusted, time.Time{}, planDue), planDue,
				"restrictions above the 4-week mean in the week of %s: plan adjustment (new brief, or a debrief's plan change) due by %s%s",
				start.Format("2 Jan 2006"), planDue.In(e.loc).Format("Mon 2 Jan 15:04"), heldNote(adjusted))
		}
	}
}

// register is W4: standing restrictions past their review date.
func (e *evaluation) register() {
	for _, r := range e.byType["standing_restriction"] {
		due := r.Time("review_due_at")
		if r.Text("status") == "RESTRICTION_STATUS_ENDED" || due.IsZero() {
			continue
		}
		reviewed := r.Time("last_reviewed_at")
		if !e.now.After(due) || !reviewed.Before(due) {
			continue
		}
		e.add(RuleRegisterReview, r.RecordID, r, r.PersonID, StateBreach, due, "standing restriction %q review overdue since %s",
			r.Text("description"), due.In(e.loc).Format("2 Jan 2006"))
	}
}

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

// firstBy returns, for the records of a type, the earliest time field per
// value of key (a reference to another record).
func (e *evaluation) firstBy(recordType, key, timeField string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range e.byType[recordType] {
		id, at := r.Text(key), r.Time(timeField)
		if id == "" || at.IsZero() {
			continue
		}
		if prev, ok := out[id]; !ok || at.Before(prev) {
			out[id] = at
		}
	}
	return out
}

// WeekStart returns the start (Monday 00:00) of the ISO week holding t in
// loc.
func WeekStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	offset := (int(t.Weekday()) + 6) % 7 // days since Monday
	return time.Date(t.Year(), t.Month(), t.Day()-offset, 0, 0, 0, 0, loc)
}

// AddWorkingDays returns t plus n working days (Monday to Friday) in loc.
func AddWorkingDays(t time.Time, n int, loc *time.Location) time.Time {
	t = t.In(loc)
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}

// firstIn returns the earliest time in ts not before from (and not after
// to, unless to is zero), or zero.
func firstIn(ts []time.Time, from, to time.Time) time.Time {
	var first time.Time
	for _, t := range ts {
		if t.Before(from) || (!to.IsZero() && t.After(to)) {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// firstAfter returns the earliest of ts not before from, or zero.
func firstAfter(from time.Time, ts ...time.Time) time.Time {
	return firstIn(slices.DeleteFunc(ts, time.Time.IsZero), from, time.Time{})
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// since formats the time from a to b in hours and minutes.
func since(a, b time.Time) string { return b.Sub(a).Round(time.Minute).String() }

func missing(a bool, aName string, b bool, bName string) string {
	switch {
	case a && b:
		return aName + " and " + bName
	case a:
		return aName
	}
	return bName
}

func heldNote(at time.Time) string {
	if at.IsZero() {
		return ""
	}
	return "; done " + at.UTC().Format("2 Jan 15:04 MST")
}

func orNone(s string) string {
	if s == "" {
		return "none named"
	}
	return s
}

// ViewAction derives an action's tracker state at now: overdue when open
// past its deadline, interim check missed when its check is past with no
// result.
func ViewAction(a *Record, now time.Time) ActionView {
	open := !slices.Contains(closedActionStatuses, a.Text("status"))
	deadline, check := a.Time("deadline"), a.Time("interim_check_at")
	return ActionView{
		Action:             a,
		Overdue:            open && !deadline.IsZero() && now.After(deadline),
		InterimCheckMissed: open && !check.IsZero() && now.After(check) && !a.Has("interim_check_result"),
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
