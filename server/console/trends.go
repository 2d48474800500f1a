package console

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Bounds of the trends page's period, in weeks.
const (
	defaultTrendWeeks = 12
	maxTrendWeeks     = 52
)

// trendsPage is a service's, or one person's, weekly trends.
type trendsPage struct {
	view
	Person string
	Weeks  []shiftsync.WeekTrend // the weeks shown, oldest first
	Span   int
	Charts []chart
	// Links are the records behind each week: its incidents and its
	// restrictions.
	Incidents, Restrictions []string
}

// trends shows the weekly trends of ?service=, or of ?person= in it, for
// the ?weeks= (1 to 52, 12 by default) up to now: the review service's
// Trends, as GetTrends. Restrictions are drawn against their mean over the
// 4 weeks before, which the page reads as 4 more weeks of the same call.
func (h *handler) trends(w http.ResponseWriter, r *http.Request, p shiftsync.Principal) {
	q := r.URL.Query()
	person := q.Get("person")
	span := defaultTrendWeeks
	if s := q.Get("weeks"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxTrendWeeks {
			h.fail(w, shiftsync.Errorf(shiftsync.CodeInvalid, "weeks is a number from 1 to %d", maxTrendWeeks))
			return
		}
		span = n
	}
	if len(person) > shiftsync.MaxIDBytes {
		h.fail(w, shiftsync.Errorf(shiftsync.CodeInvalid, "an id is longer than %d bytes", shiftsync.MaxIDBytes))
		return
	}
	service, err := h.serviceOf(r, p)
	if err != nil {
		h.fail(w, err)
		return
	}
	const baseline = 4
	now := h.now()
	all, err := h.Review.Trends(r.Context(), p, service, person, now.AddDate(0, 0, -7*(span-1+baseline)), now)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := trendsPage{view: view{Title: "Trends", Principal: p, Service: service}, Person: person, Span: span}
	if len(all) > baseline {
		v.Weeks = all[baseline:]
	}
	n := len(v.Weeks)
	starts, incidents, severity, restrictions, minutes := make([]time.Time, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	mean, debriefs := make([]float64, n), make([]int, n)
	v.Incidents, v.Restrictions = make([]string, n), make([]string, n)
	for i, wk := range v.Weeks {
		starts[i] = wk.WeekStart
		incidents[i], severity[i] = float64(wk.Incidents), float64(wk.SeverityScore)
		restrictions[i], minutes[i], debriefs[i] = float64(wk.Restrictions), math.Round(wk.RestrainedMinutes), wk.Debriefs
		var sum float64
		for _, before := range all[i : i+baseline] {
			sum += float64(before.Restrictions)
		}
		mean[i] = sum / baseline
		end := wk.WeekStart.AddDate(0, 0, 7).Add(-time.Nanosecond)
		v.Incidents[i] = recordsLink(service, person, "incident", wk.WeekStart, end)
		v.Restrictions[i] = recordsLink(service, person, "restrictive_intervention", wk.WeekStart, end)
	}
	v.Charts = []chart{
		{Title: "Incidents a week", Unit: "incidents", Weeks: starts, Bars: incidents, Links: v.Incidents},
		{Title: "MOAS-weighted severity a week", Unit: "severity points", Weeks: starts, Bars: severity, Links: v.Incidents},
		{Title: "Restrictions a week against their 4-week mean", Unit: "restrictions", Weeks: starts, Bars: restrictions, Links: v.Restrictions,
			Mean: mean, MeanName: "4-week mean", Marks: debriefs, MarkName: "debrief(s) held"},
		{Title: "Restrained minutes a week", Unit: "minutes", Weeks: starts, Bars: minutes, Links: v.Restrictions},
	}
	h.renderPage(w, r, http.StatusOK, "trends", &v)
}

// recordsLink is the address of the records list of a type in a period:
// what a bar of a chart drills down to.
func recordsLink(service, person, recordType string, from, to time.Time) string {
	q := url.Values{"service": {service}, "type": {recordType}, "from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	if person != "" {
		q.Set("person", person)
	}
	return "/console/records?" + q.Encode()
}

// period parses the ends of a records filter's period, RFC 3339 times; an
// empty end is open.
func period(from, to string) (time.Time, time.Time, error) {
	var ends [2]time.Time
	for i, s := range []string{from, to} {
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return ends[0], ends[1], shiftsync.Errorf(shiftsync.CodeInvalid, "from and to are times such as 2026-03-02T00:00:00Z")
		}
		ends[i] = t
	}
	return ends[0], ends[1], nil
}
