package shiftsync

import (
	"maps"
	"slices"
	"time"
)

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
