package shiftsync

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
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
	RuleRotaLead             = "T1_rota_lead_competence"
	RuleHotDebrief           = "R6_hot_debrief"
	RuleSafeguardingScreen   = "R9_safeguarding_screen"
	RuleWeeklyHuddle         = "H1_weekly_risk_huddle"
	RuleDailyForecast        = "H2_daily_risk_forecast"
	RulePracticeObservation  = "Q1_practice_observation"
	RuleRosteredCompetence   = "Q1_competence_before_rostered"
	RuleReviewCadence        = "multi_agency_review_due"
)

// RuleVersions are the current versions of the rules.
var RuleVersions = map[string]int{
	RuleOperationalisation: 1, RuleBriefAcknowledgement: 1, RuleContemporaneous: 1, RuleRICompleteness: 1,
	RulePostIncidentReview: 1, RuleFrequencyDebrief: 1, RuleFrequencyPlan: 1, RuleRegisterReview: 1,
	RuleActionOverdue: 1, RuleInterimCheckMissed: 1, RuleEscalationTrigger: 1, RuleEscalationStage: 1,
	RulePRNRecord: 1, RulePRNFrequency: 1, RuleReg18Notification: 1, RuleRotaLead: 1,
	RuleHotDebrief: 2, RuleSafeguardingScreen: 2, RuleWeeklyHuddle: 1, RuleDailyForecast: 1, RulePracticeObservation: 1,
	RuleRosteredCompetence: 1, RuleReviewCadence: 1,
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
	// R2 by roster: where the service keeps a rota, each member of staff on
	// the first shift after a brief acknowledges it by RosterAckWarning
	// after that shift starts (else the shift lead is told: a warning), and
	// by RosterAckDeadline (else the manager: a breach).
	RosterAckWarning  Duration `json:"roster_ack_warning"`
	RosterAckDeadline Duration `json:"roster_ack_deadline"`
	// R9: a hold over ScreenHoldOver is screened for safeguarding within
	// the shift (R5's flag).
	ScreenHoldOver Duration `json:"screen_hold_over"`
	// R6 and R9 run to the end of the shift in which something happened;
	// where no shift of the rota covers the person then (a service that
	// keeps no rota, or a gap in it), to UnrosteredShift after it.
	UnrosteredShift Duration `json:"unrostered_shift"`
	// H2: while an interim risk plan is in force, each day's forecast is
	// recorded by ForecastBy after midnight.
	ForecastBy Duration `json:"forecast_by"`
	// Q1: each front-line member of staff is observed in practice at least
	// every ObservationEvery.
	ObservationEvery Duration `json:"observation_every"`
	// T1: a shift in a high-risk period without a lead whose competence was
	// confirmed by observation warns RotaLeadWarnAhead before it starts.
	RotaLeadWarnAhead Duration `json:"rota_lead_warn_ahead"`
	// Weeks are ISO weeks and days are days in this time zone.
	TimeZone string `json:"time_zone"`
}

// DefaultThresholds are the defaults of care-records.md §2. R2 judges a
// brief by the rota where the service keeps one (15 and 60 minutes after
// the start of each one's first shift after it); a service that keeps none
// gives every front-line member of its staff AcknowledgeWithin of the
// brief's publication.
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
	RotaLeadWarnAhead:      Duration(48 * time.Hour),
	RosterAckWarning:       Duration(15 * time.Minute),
	RosterAckDeadline:      Duration(time.Hour),
	ScreenHoldOver:         Duration(10 * time.Minute),
	UnrosteredShift:        Duration(12 * time.Hour), // the longest shift commonly worked: a day or a night
	ForecastBy:             Duration(9 * time.Hour),
	ObservationEvery:       Duration(12 * 7 * 24 * time.Hour),
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
		"rota_lead_warn_ahead": t.RotaLeadWarnAhead, "roster_ack_warning": t.RosterAckWarning, "roster_ack_deadline": t.RosterAckDeadline,
		"screen_hold_over": t.ScreenHoldOver, "unrostered_shift": t.UnrosteredShift, "forecast_by": t.ForecastBy, "observation_every": t.ObservationEvery,
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

// String returns the duration as a finding writes it ([durationWords]).
func (d Duration) String() string { return durationWords(time.Duration(d)) }

// durationWords writes d for a finding, in whole hours and minutes below
// three days, so that "26 h" reads beside "limit 24 h", and in days and
// hours from three days on (seconds dropped): "12 h", "10 min",
// "1 h 30 min", "7 days", "3 days 4 h".
func durationWords(d time.Duration) string {
	if d < 0 {
		return "-" + durationWords(-d)
	}
	var days int
	if d >= 72*time.Hour {
		days, d = int(d/(24*time.Hour)), d%(24*time.Hour)
	}
	hours, minutes := int(d/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%d days", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%d h", hours))
	}
	if minutes > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d min", minutes))
	}
	return strings.Join(parts, " ")
}

// notRestraint are intervention types recorded but not counted as
// restraint (NICE NG10: a breakaway is not restraint).
var notRestraint = []string{"RESTRICTIVE_INTERVENTION_TYPE_BREAKAWAY"}

// Evaluate runs every governance rule over a service's snapshot at now and
// returns the findings, sorted by rule and subject. It reports what it
// finds about each subject whatever its state; a subject a rule does not
// mention (a complete record, an action not yet due) has no finding, and a
// store closes an earlier open finding the evaluation no longer reports.
// Voided records count for nothing.
//
// The rules are grouped by family: governance_meetings.go (R1, R2),
// governance_incidents.go (R3, R4, R7, R8), governance_prn.go (R10),
// governance_trends.go (W2, W4), governance_actions.go (actions and
// escalations, E1), governance_rota.go (T1, and R2, R6 and R9, which run
// by the rota), governance_huddles.go (H1, H2, Q1, the review cadence);
// governance_calendar.go holds the date arithmetic.
func Evaluate(snap Snapshot, th Thresholds, now time.Time) []Finding {
	e := newEvaluation(snap, th, now)
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
	e.rotaLeads()
	e.hotDebriefs()
	e.safeguardingScreens()
	e.huddles()
	e.forecasts()
	e.observations()
	e.reviewCadence()
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
	rota   map[string]*personRota // the shifts by person, built when a rule first asks (shiftOf)
	// staffRecords are the competencies and quality checks by the user
	// they are about, then by type, built when a rule first asks (byUser).
	staffRecords map[string]map[string][]*Record
	out          []Finding
}

// newEvaluation returns an evaluation of the snapshot at now, its records
// not voided indexed by type and by id.
func newEvaluation(snap Snapshot, th Thresholds, now time.Time) *evaluation {
	e := &evaluation{snap: snap, th: th, now: now, loc: th.Location(), byType: map[string][]*Record{}, byID: map[string]*Record{}}
	for _, r := range snap.Records {
		if r.Voided() {
			continue
		}
		e.byType[r.RecordType] = append(e.byType[r.RecordType], r)
		e.byID[r.RecordID] = r
	}
	return e
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

// since formats the time from a to b in hours and minutes.
func since(a, b time.Time) string { return durationWords(b.Sub(a).Round(time.Minute)) }

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
