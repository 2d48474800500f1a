package shiftsync

import (
	"slices"
	"time"
)

// WeekTrend is a week of one person's (or a service's) incidents and
// restrictions, with the qualitative indicators the seed asks for
// (care-records.md §1.8, §2.2 W3, §2.6).
type WeekTrend struct {
	WeekStart time.Time
	Incidents int
	// SeverityScore is the MOAS-weighted sum of peak intensities (verbal ×1,
	// property ×2, self ×3, others ×4) over the week's incidents.
	SeverityScore int64
	// HarmModerateOrWorse counts incidents with harm to the person or to
	// others of moderate or worse.
	HarmModerateOrWorse int
	Restrictions        int // restrictive interventions, breakaways excluded
	RestrainedMinutes   float64
	PRN                 int // PRN given for distress or behaviour
	EarlyWarningSigns   int
	// SuccessfulDeescalations counts early warning signs that settled with
	// no incident within the de-escalation window, and incidents resolved
	// without a restrictive intervention.
	SuccessfulDeescalations int
	// MedianRecoveryMinutes is the median time from an incident's start to
	// its baseline regained; RecoveryMeasured how many incidents had one.
	MedianRecoveryMinutes float64
	RecoveryMeasured      int
	// SupportHours are the support hours recorded in the week's shift
	// reflections; the rates per 1,000 support hours are set only when
	// they are known (SupportHours > 0).
	SupportHours                  float64
	IncidentsPer1000Hours         float64
	RestrictionsPer1000Hours      float64
	BriefsPublished, Debriefs     int
	TransitionIncidents           int // incidents with the transition setting event
	LearningPointsFromReflections int
}

// DeescalationWindow is how long after an early warning sign an incident
// counts as the sign having escalated (care-records.md §1.8).
const DeescalationWindow = 2 * time.Hour

// moasWeights are the MOAS weights of the incident intensity fields.
var moasWeights = map[string]int64{"intensity_verbal": 1, "intensity_property": 2, "intensity_self": 3, "intensity_others": 4}

var seriousHarm = []string{"HARM_LEVEL_MODERATE", "HARM_LEVEL_SEVERE", "HARM_LEVEL_FATAL"}

// Trends returns one WeekTrend per ISO week (in loc) from the week holding
// from to the week holding to, over records about person (every person of
// the records when person is ""). Voided records count for nothing.
func Trends(records []*Record, person string, from, to time.Time, loc *time.Location) []WeekTrend {
	first, last := WeekStart(from, loc), WeekStart(to, loc)
	var weeks []WeekTrend
	index := map[time.Time]int{}
	for w := first; !w.After(last); w = w.AddDate(0, 0, 7) {
		index[w] = len(weeks)
		weeks = append(weeks, WeekTrend{WeekStart: w})
	}
	in := func(r *Record, field string) *WeekTrend {
		at := r.Time(field)
		if at.IsZero() || r.Voided() || (person != "" && r.PersonID != person) {
			return nil
		}
		if i, ok := index[WeekStart(at, loc)]; ok {
			return &weeks[i]
		}
		return nil
	}
	restricted := map[string]bool{} // incidents with a restrictive intervention
	var incidents []*Record
	for _, r := range records {
		if r.RecordType == "incident" && !r.Voided() && (person == "" || r.PersonID == person) {
			incidents = append(incidents, r)
		}
		if r.RecordType == "restrictive_intervention" && !r.Voided() {
			restricted[r.Text("incident_id")] = true
		}
	}
	recovery := map[time.Time][]float64{}
	for _, r := range records {
		switch r.RecordType {
		case "incident":
			w := in(r, "started_at")
			if w == nil {
				continue
			}
			w.Incidents++
			for f, weight := range moasWeights {
				w.SeverityScore += weight * r.Fields[f].Int
			}
			if slices.Contains(seriousHarm, r.Text("harm_to_person")) || slices.Contains(seriousHarm, r.Text("harm_to_others")) {
				w.HarmModerateOrWorse++
			}
			if slices.Contains(r.Fields["setting_events"].List, "SETTING_EVENT_TRANSITION") {
				w.TransitionIncidents++
			}
			if !restricted[r.RecordID] {
				w.SuccessfulDeescalations++
			}
			if back := r.Time("baseline_regained_at"); !back.IsZero() {
				recovery[w.WeekStart] = append(recovery[w.WeekStart], back.Sub(r.Time("started_at")).Minutes())
			}
		case "restrictive_intervention":
			w := in(r, "started_at")
			if w == nil || slices.Contains(notRestraint, r.Text("type_code")) {
				continue
			}
			w.Restrictions++
			if start, end := r.Time("started_at"), r.Time("ended_at"); end.After(start) {
				w.RestrainedMinutes += end.Sub(start).Minutes()
			}
		case "prn_administration":
			if w := in(r, "given_at"); w != nil {
				w.PRN++
			}
		case "early_warning_sign":
			w := in(r, "observed_at")
			if w == nil {
				continue
			}
			w.EarlyWarningSigns++
			if r.Text("outcome") != "EARLY_WARNING_OUTCOME_ESCALATED" && !escalatedWithin(incidents, r) {
				w.SuccessfulDeescalations++
			}
		case "shift_reflection":
			if w := in(r, "shift_ended_at"); w != nil {
				w.SupportHours += float64(r.Fields["support_minutes"].Int) / 60
				w.LearningPointsFromReflections++
			}
		case "shift_brief":
			if w := in(r, "published_at"); w != nil {
				w.BriefsPublished++
			}
		case "debrief":
			if w := in(r, "held_at"); w != nil {
				w.Debriefs++
			}
		}
	}
	for i := range weeks {
		w := &weeks[i]
		if times := recovery[w.WeekStart]; len(times) > 0 {
			slices.Sort(times)
			w.RecoveryMeasured = len(times)
			w.MedianRecoveryMinutes = median(times)
		}
		if w.SupportHours > 0 {
			w.IncidentsPer1000Hours = float64(w.Incidents) * 1000 / w.SupportHours
			w.RestrictionsPer1000Hours = float64(w.Restrictions) * 1000 / w.SupportHours
		}
	}
	return weeks
}

// escalatedWithin reports whether an incident about the sign's person
// started within the de-escalation window after the sign.
func escalatedWithin(incidents []*Record, sign *Record) bool {
	seen := sign.Time("observed_at")
	return slices.ContainsFunc(incidents, func(r *Record) bool {
		started := r.Time("started_at")
		return r.PersonID == sign.PersonID && !started.Before(seen) && started.Sub(seen) <= DeescalationWindow
	})
}

// median returns the median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
