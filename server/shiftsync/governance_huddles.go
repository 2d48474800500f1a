package shiftsync

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// huddles is H1: where a service keeps a rota, a weekly risk huddle is
// held each ISO week from the first week of its rota, with its structured
// check — the decisions taken and the staffing risks looked at (the seed's
// "risk, incidents, staffing and key actions") — by the end of the week.
func (e *evaluation) huddles() {
	var first time.Time
	for _, s := range e.byType["shift"] {
		first = earliest(first, s.Time("starts_at"))
	}
	if first.IsZero() || first.After(e.now) {
		return
	}
	held := map[time.Time]time.Time{} // week -> first huddle with its check
	for _, h := range e.byType["risk_huddle"] {
		if at := h.Time("held_at"); !h.Fields["decisions"].Empty() && !h.Fields["staffing_risks"].Empty() {
			week := WeekStart(at, e.loc)
			held[week] = earliest(held[week], at)
		}
	}
	for week := WeekStart(first, e.loc); !week.After(e.now); week = week.AddDate(0, 0, 7) {
		end := week.AddDate(0, 0, 7).Add(-time.Nanosecond) // the week's last instant
		e.add(RuleWeeklyHuddle, week.Format("2006-01-02"), nil, "", e.deadlineState(held[week], time.Time{}, end), end,
			"weekly risk huddle of the week of %s, with its decisions and staffing risks, due by %s%s",
			week.Format("2 Jan 2006"), end.Format("Mon 2 Jan 15:04"), heldNote(held[week]))
	}
}

// forecasts is H2: on each day an interim risk management plan is in force
// for a person (an escalation's stage 3, from the day it was agreed until
// the escalation is resolved), a daily risk forecast for them is recorded
// by ForecastBy after midnight, so its RAG reaches the phones of the staff
// on shift that day at their next pull.
func (e *evaluation) forecasts() {
	made := map[string]time.Time{} // person/day -> first forecast recorded
	for _, f := range e.byType["risk_forecast"] {
		key := f.PersonID + "/" + dayOf(f.Time("forecast_for"), e.loc).Format("2006-01-02")
		made[key] = earliest(made[key], f.RecordedAt)
	}
	by := int(time.Duration(cmp.Or(e.th.ForecastBy, DefaultThresholds.ForecastBy)) / time.Minute)
	for _, esc := range e.byType["escalation"] {
		agreed := esc.Time("interim_plan_agreed_at")
		if agreed.IsZero() {
			continue
		}
		until := e.now
		if resolved := esc.Time("resolved_at"); !resolved.IsZero() && resolved.Before(until) {
			until = resolved
		}
		for d := dayOf(agreed, e.loc); !d.After(until); d = d.AddDate(0, 0, 1) {
			key := esc.PersonID + "/" + d.Format("2006-01-02")
			due := time.Date(d.Year(), d.Month(), d.Day(), 0, by, 0, 0, e.loc) // 09:00 by the clock, on the days it changes too
			// One finding per plan and day: two plans in force for one
			// person each keep their own.
			e.add(RuleDailyForecast, esc.RecordID+"/"+d.Format("2006-01-02"), esc, esc.PersonID, e.deadlineState(made[key], time.Time{}, due), due,
				"daily risk forecast for %s on %s, while the interim risk plan is in force, due by %s%s",
				esc.PersonID, d.Format("Mon 2 Jan"), due.Format("15:04"), heldNote(made[key]))
		}
	}
}

// observations is Q1: each front-line member of staff has a practice
// observation (a quality check that observed them) at least every
// ObservationEvery, counted from their membership's start until the
// first; a warning two weeks before it is due, a breach after. And someone
// rostered in a 2:1 slot holds restrictive intervention technique
// competence confirmed by observation at the shift's start, judged as T1
// judges a lead.
func (e *evaluation) observations() {
	last := map[string]time.Time{} // user -> latest practice observation
	for _, q := range e.byType["quality_check"] {
		if q.Text("kind") != "QUALITY_CHECK_KIND_PRACTICE_OBSERVATION" && q.Text("kind") != "QUALITY_CHECK_KIND_COMPETENCY_OBSERVATION" {
			continue
		}
		for _, u := range q.Fields["staff_observed"].List {
			last[u] = latest(last[u], q.Time("checked_at"))
		}
	}
	every := time.Duration(cmp.Or(e.th.ObservationEvery, DefaultThresholds.ObservationEvery))
	joined := map[string]time.Time{} // user -> the earliest start of a membership in force
	for _, s := range e.snap.Staff {
		if s.End.IsZero() || s.End.After(e.now) {
			if j, ok := joined[s.UserID]; !ok || s.Start.Before(j) {
				joined[s.UserID] = s.Start
			}
		}
	}
	for _, user := range slices.Sorted(maps.Keys(joined)) {
		from := latest(joined[user], last[user])
		due := from.Add(every)
		state := StateMet
		switch {
		case e.now.After(due):
			state = StateBreach
		case !e.now.Before(due.Add(-14 * 24 * time.Hour)):
			state = StateWarning
		}
		seen := "never observed"
		if !last[user].IsZero() {
			seen = "last observed " + last[user].In(e.loc).Format("2 Jan 2006")
		}
		e.add(RulePracticeObservation, user, nil, "", state, due, "practice observation of %s due by %s (every %s); %s",
			user, due.In(e.loc).Format("2 Jan 2006"), every, seen)
	}
	shifts := map[string]*Record{}
	for _, s := range e.byType["shift"] {
		shifts[s.RecordID] = s
	}
	for _, a := range e.byType["shift_assignment"] {
		shift := shifts[a.Text("shift_id")]
		if a.Text("slot") != "SHIFT_SLOT_TWO_TO_ONE" || shift == nil {
			continue
		}
		start := shift.Time("starts_at")
		const kind = "COMPETENCY_KIND_RESTRICTIVE_INTERVENTION_TECHNIQUE"
		state, detail := StateMet, ""
		if user, how := e.competentLead([]string{a.Text("user_id")}, kind, start); user == "" {
			warnAt := start.Add(-time.Duration(cmp.Or(e.th.RotaLeadWarnAhead, DefaultThresholds.RotaLeadWarnAhead)))
			state, detail = e.deadlineState(time.Time{}, warnAt, start), how
		} else {
			detail = how
		}
		e.add(RuleRosteredCompetence, a.RecordID, shift, "", state, start,
			"%s on 2:1 cover on the shift of %s needs %s confirmed by observation; %s",
			a.Text("user_id"), start.In(e.loc).Format("Mon 2 Jan 15:04"), competencyWords[kind], detail)
	}
}

// reviewCadence is the complex placement's review cadence: a meeting that
// set the next multi-agency review of the people it discussed is followed,
// by then, by another meeting about each of them; a warning a week before.
func (e *evaluation) reviewCadence() {
	meetings := slices.Clone(e.byType["meeting"])
	slices.SortFunc(meetings, func(a, b *Record) int { return a.Time("started_at").Compare(b.Time("started_at")) })
	for i, m := range meetings {
		next := m.Time("next_review_at")
		if next.IsZero() {
			continue
		}
		for _, person := range m.Fields["person_ids"].List {
			var held time.Time
			for _, later := range meetings[i+1:] {
				if slices.Contains(later.Fields["person_ids"].List, person) {
					held = later.Time("started_at")
					break
				}
			}
			e.add(RuleReviewCadence, m.RecordID+"/"+person, m, person, e.deadlineState(held, next.Add(-7*24*time.Hour), next), next,
				"next multi-agency review of %s, set at the %s of %s, due by %s%s", person, cmp.Or(meetingNames[m.Text("meeting_type")], "meeting"),
				m.Time("started_at").In(e.loc).Format("2 Jan"), next.In(e.loc).Format("2 Jan 2006"), heldNote(held))
		}
	}
}

// dayOf returns the start of t's day in loc.
func dayOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}
