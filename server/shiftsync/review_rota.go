package shiftsync

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// RotaWeek is a service's rota for one ISO week as a registered manager
// plans it: each shift with its staff and the gaps the rules find in it,
// the competence of everyone on it, and the week's huddle and forecasts.
type RotaWeek struct {
	ServiceID string
	// Start is the week's Monday 00:00 in the organisation's time zone;
	// End the next Monday's.
	Start, End time.Time
	Shifts     []RotaWeekShift // by start
	// Kinds are the competency kinds, the competence matrix's columns;
	// Competence its rows, one per member of staff on a shift of the week
	// or holding a competency, by user id. Both are empty for a reviewer
	// who may not review the service's competencies.
	Kinds      []string
	Competence []StaffCompetence
	// Week are the findings of the week not about one shift (H1's huddle,
	// H2's forecasts, Q1's observations, the review cadence) due in it,
	// met ones too, by due time.
	Week []Finding
	// Forecasts are the week's risk forecasts, by the day they forecast.
	Forecasts []*Record
}

// RotaWeekShift is one shift of a rota week.
type RotaWeekShift struct {
	Shift *Record
	Staff []RotaSlot // by slot, then user
	// Short is how many staff it needs (its staff_needed) beyond those
	// assigned; 0 when it has enough or says nothing.
	Short int
	// Gaps are the open findings about the shift: its lead's competence
	// (T1), the competence of its 2:1 cover (Q1), the acknowledgement of a
	// brief by its staff (R2), by due time.
	Gaps []Finding
}

// RotaSlot is a member of staff in a role slot of a shift.
type RotaSlot struct {
	UserID string
	Slot   string // a ShiftSlot enum name, e.g. SHIFT_SLOT_LEAD
}

// StaffCompetence is one row of the competence matrix: for each kind (by
// [RotaWeek.Kinds] index), whether the member of staff's competence holds
// at the time of the listing, and how or why not.
type StaffCompetence struct {
	UserID string
	Held   []bool
	Words  []string
}

// weekRules are the rules whose findings a rota week lists for the week.
var weekRules = []string{RuleWeeklyHuddle, RuleDailyForecast, RulePracticeObservation, RuleReviewCadence}

// RotaWeek returns the service's rota for the ISO week holding week (in
// the organisation's time zone), evaluating the rules first, as Findings
// does. It needs the right to review the service's shifts; a finding, a
// forecast and the competence matrix are left out for a reviewer who may
// not review the records they are about.
func (r *Review) RotaWeek(ctx context.Context, p Principal, serviceID string, week time.Time) (RotaWeek, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID, "shift")
	if err != nil {
		return RotaWeek{}, err
	}
	if err := r.evaluate(ctx, serviceID); err != nil {
		return RotaWeek{}, err
	}
	var (
		snap     Snapshot
		th       Thresholds
		findings []Finding
	)
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		if snap, err = tx.Snapshot(ctx, serviceID); err != nil {
			return err
		}
		if th, err = tx.Thresholds(ctx, serviceID); err != nil {
			return err
		}
		findings, err = reviewableFindings(ctx, tx, allowed, serviceID, "", true)
		return err
	})
	if err != nil {
		return RotaWeek{}, err
	}
	now := r.now()
	e := newEvaluation(snap, th, now)
	start := WeekStart(week, e.loc)
	out := RotaWeek{ServiceID: serviceID, Start: start, End: start.AddDate(0, 0, 7)}
	slots := map[string][]RotaSlot{} // shift -> its staff
	for _, a := range e.byType["shift_assignment"] {
		if allowed(a.RecordRef) {
			id := a.Text("shift_id")
			slots[id] = append(slots[id], RotaSlot{UserID: a.Text("user_id"), Slot: a.Text("slot")})
		}
	}
	staff := map[string]bool{}
	for _, s := range e.byType["shift"] {
		if at := s.Time("starts_at"); !allowed(s.RecordRef) || at.Before(out.Start) || !at.Before(out.End) {
			continue
		}
		shift := RotaWeekShift{Shift: s, Staff: slots[s.RecordID]}
		slices.SortFunc(shift.Staff, func(a, b RotaSlot) int { return cmp.Or(cmp.Compare(a.Slot, b.Slot), cmp.Compare(a.UserID, b.UserID)) })
		shift.Short = max(0, int(s.Fields["staff_needed"].Int)-len(shift.Staff))
		for _, f := range findings {
			if f.Open() && (f.RecordID == s.RecordID || strings.Contains(f.Subject, s.RecordID)) {
				shift.Gaps = append(shift.Gaps, f)
			}
		}
		slices.SortFunc(shift.Gaps, byDue)
		for _, a := range shift.Staff {
			staff[a.UserID] = true
		}
		out.Shifts = append(out.Shifts, shift)
	}
	slices.SortFunc(out.Shifts, func(a, b RotaWeekShift) int {
		return cmp.Or(a.Shift.Time("starts_at").Compare(b.Shift.Time("starts_at")), cmp.Compare(a.Shift.RecordID, b.Shift.RecordID))
	})
	for _, f := range findings {
		if slices.Contains(weekRules, f.RuleID) && !f.DueAt.Before(out.Start) && f.DueAt.Before(out.End) {
			out.Week = append(out.Week, f)
		}
	}
	slices.SortFunc(out.Week, byDue)
	for _, f := range e.byType["risk_forecast"] {
		if at := f.Time("forecast_for"); allowed(f.RecordRef) && !at.Before(out.Start) && at.Before(out.End) {
			out.Forecasts = append(out.Forecasts, f)
		}
	}
	slices.SortFunc(out.Forecasts, func(a, b *Record) int { return a.Time("forecast_for").Compare(b.Time("forecast_for")) })
	if allowed(RecordRef{RecordType: "competency", ServiceID: serviceID}) {
		for _, c := range e.byType["competency"] {
			staff[c.Text("user_id")] = true
		}
		out.Kinds = slices.Sorted(maps.Keys(competencyWords))
		for _, user := range slices.Sorted(maps.Keys(staff)) {
			row := StaffCompetence{UserID: user}
			for _, kind := range out.Kinds {
				held, words := e.competence(user, kind, now)
				row.Held, row.Words = append(row.Held, held), append(row.Words, words)
			}
			out.Competence = append(out.Competence, row)
		}
	}
	return out, r.auditRead(ctx, p, "rota", serviceID, len(out.Shifts))
}

func byDue(a, b Finding) int { return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID)) }

// CompetencyWords names a competency kind (a CompetencyKind enum name) in
// words, as findings do.
func CompetencyWords(kind string) string { return cmp.Or(competencyWords[kind], kind) }
