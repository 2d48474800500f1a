package shiftsync

import (
	"maps"
	"slices"
	"time"
)

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
