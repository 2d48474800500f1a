package shiftsync

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// rotaLeads is T1: a shift that covers a person during one of their
// high-risk periods (a transition the multi-agency meeting named, say) is
// led — an assignment in the lead slot — by someone whose competence in
// the period's lead_competency holds at the shift's start: a competency of
// that kind, not expired, confirmed by observation, or signed off and
// since seen in practice by a quality check (a competency observation that
// met the standard and confirmed it by observation). Due until
// RotaLeadWarnAhead before the shift starts, a warning from then, a breach
// once it has started without such a lead; met as soon as it has one,
// whenever the records saying so arrive — but a lead assigned (on their
// device's clock) after the shift ended does not count.
func (e *evaluation) rotaLeads() {
	periods := map[string][]*Record{} // person -> their high-risk periods
	for _, p := range e.byType["high_risk_period"] {
		periods[p.PersonID] = append(periods[p.PersonID], p)
	}
	assigned := map[string][]*Record{} // shift -> its lead slot's assignments
	for _, a := range e.byType["shift_assignment"] {
		if a.Text("slot") == "SHIFT_SLOT_LEAD" {
			assigned[a.Text("shift_id")] = append(assigned[a.Text("shift_id")], a)
		}
	}
	for _, shift := range e.byType["shift"] {
		start, end := shift.Time("starts_at"), shift.Time("ends_at")
		// A lead put on the shift once it was over led nothing: the breach
		// of a shift run without one stays on record.
		var leads []string
		for _, a := range assigned[shift.RecordID] {
			if a.RecordedAt.Before(end) {
				leads = append(leads, a.Text("user_id"))
			}
		}
		for _, person := range shift.Fields["person_ids"].List {
			for _, period := range periods[person] {
				from, to, ok := e.overlap(period, start, end)
				if !ok {
					continue
				}
				kind := period.Text("lead_competency")
				state, detail := StateMet, ""
				if lead, how := e.competentLead(leads, kind, start); lead == "" {
					warnAt := start.Add(-time.Duration(cmp.Or(e.th.RotaLeadWarnAhead, DefaultThresholds.RotaLeadWarnAhead))) // thresholds set before T1 have none
					state, detail = e.deadlineState(time.Time{}, warnAt, start), how
				} else {
					detail = fmt.Sprintf("led by %s, %s", lead, how)
				}
				e.add(RuleRotaLead, shift.RecordID+"/"+period.RecordID, shift, person, state, start,
					"shift %s to %s covers %s's %s (%s to %s): its lead needs %s confirmed by observation; %s",
					start.In(e.loc).Format("Mon 2 Jan 15:04"), end.In(e.loc).Format("15:04"), person, orNone(period.Text("description")),
					from.In(e.loc).Format("15:04"), to.In(e.loc).Format("15:04"), competencyWords[kind], detail)
			}
		}
	}
}

// competencyWords names each competency kind in a finding.
var competencyWords = map[string]string{
	"COMPETENCY_KIND_PBS":                                "PBS competence",
	"COMPETENCY_KIND_RESTRICTIVE_INTERVENTION_TECHNIQUE": "restrictive intervention technique",
	"COMPETENCY_KIND_SAFEGUARDING":                       "safeguarding",
	"COMPETENCY_KIND_MEDICATION":                         "medication competence",
}

// overlap returns the first stretch of the shift from start to end that
// falls in the period's daily window on a day it applies, in the
// organisation's time zone.
func (e *evaluation) overlap(period *Record, start, end time.Time) (time.Time, time.Time, bool) {
	validFrom, validUntil := period.Time("valid_from"), period.Time("valid_until")
	from, to := int(period.Fields["daily_start_minute"].Int), int(period.Fields["daily_end_minute"].Int)
	if to <= from { // a night-time window (22:00 to 06:00) ends the next day
		to += 24 * 60
	}
	// From the day before the shift's, for a window that runs into it.
	day := start.In(e.loc).AddDate(0, 0, -1)
	for d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, e.loc); d.Before(end); d = d.AddDate(0, 0, 1) {
		// Wall-clock times of that day, so 07:00 stays 07:00 on the days
		// the clocks change.
		windowFrom := time.Date(d.Year(), d.Month(), d.Day(), 0, from, 0, 0, e.loc)
		windowTo := time.Date(d.Year(), d.Month(), d.Day(), 0, to, 0, 0, e.loc)
		if windowTo.Before(validFrom) || !validUntil.IsZero() && !windowFrom.Before(validUntil) {
			continue
		}
		if f, t := later(windowFrom, start), earlier(windowTo, end); f.Before(t) {
			return f, t, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// competentLead returns the first of the leads whose competence of the
// kind holds at at, and how it was confirmed; "" and why none qualifies
// when none does.
func (e *evaluation) competentLead(leads []string, kind string, at time.Time) (string, string) {
	if len(leads) == 0 {
		return "", "no one is in its lead slot"
	}
	why := ""
	for _, user := range leads {
		held, how := e.competence(user, kind, at)
		if held {
			return user, how
		}
		why = how
	}
	return "", why
}

// competence reports whether the user's competence of the kind holds at
// at — a competency of that kind in date, confirmed by observation, or
// signed off and since seen in practice by a quality check — and says how,
// or why not, in words.
func (e *evaluation) competence(user, kind string, at time.Time) (bool, string) {
	var signedOff *Record
	for _, c := range e.byUser("competency", user) {
		if c.Text("user_id") != user || c.Text("kind") != kind || c.Time("confirmed_at").After(at) ||
			!c.Time("expires_at").IsZero() && !c.Time("expires_at").After(at) {
			continue
		}
		if c.Text("confirmed_by") == "COMPETENCY_CONFIRMATION_OBSERVATION" {
			return true, "observed " + c.Time("confirmed_at").In(e.loc).Format("2 Jan 2006")
		}
		signedOff = c
	}
	if signedOff == nil {
		return false, fmt.Sprintf("%s holds no %s in date", user, competencyWords[kind])
	}
	if check := e.observedBy(user, signedOff.Time("confirmed_at"), at); check != nil {
		return true, "signed off, and observed in practice " + check.Time("checked_at").In(e.loc).Format("2 Jan 2006")
	}
	return false, fmt.Sprintf("%s's %s was signed off only, never observed in practice", user, competencyWords[kind])
}

// observedBy returns a quality check from since (the sign-off it
// confirms) to at that observed the user's practice, met the standard and
// confirmed their competency by observation: nil when none did.
func (e *evaluation) observedBy(user string, since, at time.Time) *Record {
	for _, q := range e.byUser("quality_check", user) {
		if q.Text("kind") == "QUALITY_CHECK_KIND_COMPETENCY_OBSERVATION" && q.Text("outcome") == "CHECK_OUTCOME_MET" &&
			q.Fields["competency_confirmed_by_observation"].Bool && slices.Contains(q.Fields["staff_observed"].List, user) &&
			!q.Time("checked_at").Before(since) && !q.Time("checked_at").After(at) {
			return q
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// rosteredShift is a shift some staff are on for the first time after a
// brief, with who.
type rosteredShift struct {
	shift *Record
	staff []string // their user ids, sorted
}

// firstShifts returns a function giving, for a brief about person ("" for
// the whole service) published at published, each shift starting after it
// that covers the person (any shift, for a whole-service brief), with the
// staff assigned to it for whom it is their first such shift; none when
// the service keeps no rota after it.
func (e *evaluation) firstShifts() func(person string, published time.Time) []rosteredShift {
	staff := map[string][]string{} // shift -> assigned users
	for _, a := range e.byType["shift_assignment"] {
		staff[a.Text("shift_id")] = append(staff[a.Text("shift_id")], a.Text("user_id"))
	}
	shifts := slices.Clone(e.byType["shift"])
	slices.SortFunc(shifts, func(a, b *Record) int {
		return cmp.Or(a.Time("starts_at").Compare(b.Time("starts_at")), cmp.Compare(a.RecordID, b.RecordID))
	})
	return func(person string, published time.Time) []rosteredShift {
		var out []rosteredShift
		seen := map[string]bool{}
		for _, s := range shifts {
			if !s.Time("starts_at").After(published) || person != "" && !slices.Contains(s.Fields["person_ids"].List, person) {
				continue
			}
			var first []string
			for _, u := range staff[s.RecordID] {
				if !seen[u] {
					seen[u] = true
					first = append(first, u)
				}
			}
			if len(first) > 0 {
				slices.Sort(first)
				out = append(out, rosteredShift{shift: s, staff: first})
			}
		}
		return out
	}
}

// rosteredAcknowledgement is R2 by roster for the brief b: for each shift
// that is someone's first after it, those staff acknowledge it by
// RosterAckWarning after the shift starts (past it the shift lead is told:
// a warning) and by RosterAckDeadline (past it the manager is: a breach).
// acked holds each user's first acknowledgement.
func (e *evaluation) rosteredAcknowledgement(b *Record, shifts []rosteredShift, acked map[string]time.Time) {
	for _, rs := range shifts {
		start := rs.shift.Time("starts_at")
		// Thresholds set before rosters were kept have neither: the defaults.
		warnAt := start.Add(time.Duration(cmp.Or(e.th.RosterAckWarning, DefaultThresholds.RosterAckWarning)))
		deadline := start.Add(time.Duration(cmp.Or(e.th.RosterAckDeadline, DefaultThresholds.RosterAckDeadline)))
		var pending, late []string
		state := StateMet
		for _, u := range rs.staff {
			at, ok := acked[u]
			switch {
			case !ok:
				pending = append(pending, u)
				state = worse(state, e.deadlineState(time.Time{}, warnAt, deadline))
			case at.After(deadline):
				late = append(late, u)
				state = StateBreach
			case at.After(warnAt):
				late = append(late, u)
				state = worse(state, StateWarning)
			}
		}
		told := ""
		switch state {
		case StateWarning:
			told = "; the shift lead is told"
		case StateBreach:
			told = "; the manager is told"
		}
		e.add(RuleBriefAcknowledgement, b.RecordID+"/"+rs.shift.RecordID, b, b.PersonID, state, warnAt,
			"brief version %d, first shift after it %s: %d of %d rostered staff acknowledged within %s of its start; late %v, not yet %v%s",
			b.Fields["version"].Int, start.In(e.loc).Format("Mon 2 Jan 15:04"), len(rs.staff)-len(pending)-len(late), len(rs.staff),
			warnAt.Sub(start), late, pending, told)
	}
}

// gravity ranks the finding states, met the least grave.
var gravity = map[FindingState]int{StateMet: 0, StateDue: 1, StateWarning: 2, StateBreach: 3}

// worse returns the graver of two finding states.
func worse(a, b FindingState) FindingState {
	if gravity[b] > gravity[a] {
		return b
	}
	return a
}

// shiftOf returns the shift covering the person at at (the earliest
// starting, when shifts overlap): nil when the rota has none, and then
// the rules that run to the end of a shift say nothing.
func (e *evaluation) shiftOf(person string, at time.Time) *Record {
	if e.rota == nil {
		e.rota = rotaByPerson(e.byType["shift"])
	}
	r := e.rota[person]
	if r == nil {
		return nil
	}
	// Shifts starting after at cannot cover it; of those before, only one
	// starting within the longest shift's length of at can.
	i, _ := slices.BinarySearchFunc(r.shifts, at, func(s *Record, t time.Time) int {
		if s.Time("starts_at").After(t) {
			return 1
		}
		return -1
	})
	var found *Record
	for j := i - 1; j >= 0 && !r.shifts[j].Time("starts_at").Before(at.Add(-r.longest)); j-- {
		if at.Before(r.shifts[j].Time("ends_at")) {
			found = r.shifts[j] // sorted by start: the last found starts earliest
		}
	}
	return found
}

// shiftEnd is when the shift covering the person at at ends, for R6 and
// R9, and how the finding says so: the rota's shift, or where none covers
// at, UnrosteredShift after at.
func (e *evaluation) shiftEnd(person string, at time.Time) (end time.Time, words string) {
	if shift := e.shiftOf(person, at); shift != nil {
		end = shift.Time("ends_at")
		return end, "the shift ends at " + end.In(e.loc).Format("15:04")
	}
	within := time.Duration(cmp.Or(e.th.UnrosteredShift, DefaultThresholds.UnrosteredShift))
	end = at.Add(within)
	return end, fmt.Sprintf("%s, %s later: no rostered shift covers it", end.In(e.loc).Format("Mon 2 Jan 15:04"), durationWords(within))
}

// personRota is the shifts covering one person, by start, and the longest.
type personRota struct {
	shifts  []*Record
	longest time.Duration
}

// rotaByPerson indexes the shifts by each person they cover.
func rotaByPerson(shifts []*Record) map[string]*personRota {
	out := map[string]*personRota{}
	for _, s := range shifts {
		length := s.Time("ends_at").Sub(s.Time("starts_at"))
		for _, p := range s.Fields["person_ids"].List {
			r := out[p]
			if r == nil {
				r = &personRota{}
				out[p] = r
			}
			r.shifts = append(r.shifts, s)
			r.longest = max(r.longest, length)
		}
	}
	for _, r := range out {
		slices.SortStableFunc(r.shifts, func(a, b *Record) int { return a.Time("starts_at").Compare(b.Time("starts_at")) })
	}
	return out
}

// hotDebriefs is R6: every restrictive intervention has a hot debrief (a
// debrief of kind hot naming it or its incident) held before the end of
// the shift in which it began ([evaluation.shiftEnd]).
func (e *evaluation) hotDebriefs() {
	held := map[string][]time.Time{} // intervention or incident id -> its hot debriefs
	for _, d := range e.byType["debrief"] {
		if d.Text("kind") != "DEBRIEF_KIND_HOT" {
			continue
		}
		for _, field := range []string{"incident_ids", "restrictive_intervention_ids"} {
			for _, id := range d.Fields[field].List {
				held[id] = append(held[id], d.Time("held_at"))
			}
		}
	}
	for _, r := range e.byType["restrictive_intervention"] {
		started := r.Time("started_at")
		end, endWords := e.shiftEnd(r.PersonID, started)
		// The first debrief since it began: one of an earlier hold in the
		// same incident is not its debrief.
		done := firstAfter(started, slices.Concat(held[r.RecordID], held[r.Text("incident_id")])...)
		e.add(RuleHotDebrief, r.RecordID, r, r.PersonID, e.deadlineState(done, time.Time{}, end), end,
			"hot debrief of the %s at %s due before %s%s",
			interventionWords(r.Text("type_code")), started.In(e.loc).Format("Mon 2 Jan 15:04"), endWords, heldNote(done))
	}
}

// safeguardingScreens is R9: an incident with an allegation or indication
// of abuse, and a restrictive intervention R5 flags (a hold over
// ScreenHoldOver, or no legal basis), are screened for safeguarding within
// the shift in which they happened ([evaluation.shiftEnd]): a safeguarding
// concern raised from the record by then.
func (e *evaluation) safeguardingScreens() {
	raised := map[string]time.Time{} // source record -> first concern raised from it
	for _, c := range e.byType["safeguarding_concern"] {
		if src := c.Text("source_record_id"); src != "" {
			raised[src] = earliest(raised[src], c.Time("raised_at"))
		}
	}
	screen := func(r *Record, at time.Time, done time.Time, what string) {
		end, endWords := e.shiftEnd(r.PersonID, at)
		e.add(RuleSafeguardingScreen, r.RecordID, r, r.PersonID, e.deadlineState(done, time.Time{}, end), end,
			"safeguarding screen of %s at %s due within the shift, before %s%s", what, at.In(e.loc).Format("Mon 2 Jan 15:04"),
			endWords, heldNote(done))
	}
	for _, r := range e.byType["incident"] {
		if r.Fields["allegation_of_abuse"].Bool {
			screen(r, r.Time("started_at"), raised[r.RecordID], "the incident with an allegation of abuse")
		}
	}
	for _, r := range e.byType["restrictive_intervention"] {
		started, ended := r.Time("started_at"), r.Time("ended_at")
		long := !ended.IsZero() && ended.Sub(started) > time.Duration(cmp.Or(e.th.ScreenHoldOver, DefaultThresholds.ScreenHoldOver))
		if !long && !r.Fields["legal_basis"].Empty() {
			continue
		}
		// Only a concern raised from it says when it was screened: the
		// record's safeguarding_screen_done flag carries no time of its own.
		screen(r, started, raised[r.RecordID], missing(long, "the hold over "+durationWords(time.Duration(cmp.Or(e.th.ScreenHoldOver, DefaultThresholds.ScreenHoldOver))),
			r.Fields["legal_basis"].Empty(), "the intervention with no legal basis"))
	}
}

// interventionWords names an intervention type in a finding: "physical
// standing intervention".
func interventionWords(code string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(code, "RESTRICTIVE_INTERVENTION_TYPE_"), "_", " ")) + " intervention"
}

// byUser returns the records of the type about the user: competencies by
// their user_id, quality checks by each of their staff_observed. The index
// is built when a rule first asks, once per evaluation.
func (e *evaluation) byUser(recordType, user string) []*Record {
	if e.staffRecords == nil {
		e.staffRecords = map[string]map[string][]*Record{}
		for _, c := range e.byType["competency"] {
			e.staffRecords[c.Text("user_id")] = appendTo(e.staffRecords[c.Text("user_id")], "competency", c)
		}
		for _, q := range e.byType["quality_check"] {
			for _, u := range q.Fields["staff_observed"].List {
				e.staffRecords[u] = appendTo(e.staffRecords[u], "quality_check", q)
			}
		}
	}
	return e.staffRecords[user][recordType]
}

// appendTo adds r to m's list of the record type, making m if it is nil.
func appendTo(m map[string][]*Record, recordType string, r *Record) map[string][]*Record {
	if m == nil {
		m = map[string][]*Record{}
	}
	m[recordType] = append(m[recordType], r)
	return m
}
