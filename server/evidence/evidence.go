// Package evidence renders an evidence pack (see [shiftsync.EvidencePack])
// for people outside the provider: a printable HTML page with the sections
// of the monthly multi-agency review pack (care-records.md §2.6) and its
// manifest, and a CSV of the records with their hashes. Output is
// deterministic: the same pack renders to the same bytes.
package evidence

import (
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

//go:embed pack.html.tmpl
var templates embed.FS

var page = template.Must(template.New("pack.html.tmpl").Funcs(template.FuncMap{
	"date":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"datetime": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 MST") },
	"summary":  Summary,
	"label":    label,
	"minutes":  func(f float64) string { return fmt.Sprintf("%.0f", f) },
	"rate":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
}).ParseFS(templates, "pack.html.tmpl"))

// view is what the page template reads.
type view struct {
	Pack         shiftsync.EvidencePack
	Hash         string
	Totals       shiftsync.WeekTrend
	ByType       []count // restrictive interventions by type
	Unplanned    int
	Briefs       []*shiftsync.Record
	Debriefs     []*shiftsync.Record
	Escalations  []*shiftsync.Record
	Restrictions []*shiftsync.Record // standing restrictions
	Manifest     []shiftsync.ManifestEntry
}

type count struct {
	Label   string
	N       int
	Minutes float64
}

// WriteHTML writes the pack as a printable HTML page.
func WriteHTML(w io.Writer, pack shiftsync.EvidencePack) error {
	v := view{Pack: pack, Hash: pack.Manifest.Hash(), Manifest: pack.Manifest.Entries}
	for _, week := range pack.Weeks {
		v.Totals.Incidents += week.Incidents
		v.Totals.SeverityScore += week.SeverityScore
		v.Totals.HarmModerateOrWorse += week.HarmModerateOrWorse
		v.Totals.Restrictions += week.Restrictions
		v.Totals.RestrainedMinutes += week.RestrainedMinutes
		v.Totals.PRN += week.PRN
		v.Totals.EarlyWarningSigns += week.EarlyWarningSigns
		v.Totals.SuccessfulDeescalations += week.SuccessfulDeescalations
		v.Totals.TransitionIncidents += week.TransitionIncidents
	}
	byType := map[string]*count{}
	for _, r := range pack.Records {
		switch r.RecordType {
		case "restrictive_intervention":
			c := byType[r.Text("type_code")]
			if c == nil {
				c = &count{Label: label(r.Text("type_code"))}
				byType[r.Text("type_code")] = c
			}
			c.N++
			if start, end := r.Time("started_at"), r.Time("ended_at"); end.After(start) {
				c.Minutes += end.Sub(start).Minutes()
			}
			if planned, ok := r.Fields["in_care_plan"]; !ok || !planned.Bool {
				v.Unplanned++
			}
		case "shift_brief":
			v.Briefs = append(v.Briefs, r)
		case "debrief":
			v.Debriefs = append(v.Debriefs, r)
		case "escalation":
			v.Escalations = append(v.Escalations, r)
		case "standing_restriction":
			v.Restrictions = append(v.Restrictions, r)
		}
	}
	for _, c := range byType {
		v.ByType = append(v.ByType, *c)
	}
	slices.SortFunc(v.ByType, func(a, b count) int { return strings.Compare(a.Label, b.Label) })
	return page.Execute(w, v)
}

// WriteCSV writes one row per record of the pack: its identity, times,
// author, the hash the manifest holds and a one-line summary.
func WriteCSV(w io.Writer, pack shiftsync.EvidencePack) error {
	hashes := make(map[string]string, len(pack.Manifest.Entries))
	for _, e := range pack.Manifest.Entries {
		hashes[e.RecordID] = e.SHA256
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"record_id", "record_type", "event_time", "created_by", "recorded_at", "received_at", "sha256", "summary"}); err != nil {
		return err
	}
	for _, r := range pack.Records {
		row := []string{r.RecordID, r.RecordType, pack.EventTimes[r.RecordID].UTC().Format(time.RFC3339), r.CreatedBy, r.RecordedAt.UTC().Format(time.RFC3339),
			r.ReceivedAt.UTC().Format(time.RFC3339), hashes[r.RecordID], Summary(r)}
		for i, cell := range row {
			row[i] = inertCell(cell)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// inertCell keeps a spreadsheet from reading a cell as a formula: text
// written on a device that starts with =, +, -, @, a tab or a carriage
// return is prefixed with an apostrophe (OWASP's CSV injection advice).
func inertCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// summaryFields are the fields that say what a record is about, in order
// of preference.
var summaryFields = []string{
	"behaviour_description", "description", "action_text", "decisions", "changes_summary", "learning_points",
	"learning_point", "sign", "medicine", "reason", "type_code", "rag", "kind",
}

// Summary returns a one-line description of a record.
func Summary(r *shiftsync.Record) string {
	for _, f := range summaryFields {
		if v, ok := r.Fields[f]; ok && !v.Empty() {
			if v.Kind == shiftsync.KindEnum {
				return label(v.String)
			}
			return strings.Join(strings.Fields(v.String), " ")
		}
	}
	return ""
}

// label turns an enum value name into words: RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING
// becomes "physical standing".
func label(enum string) string {
	for _, prefix := range []string{"RESTRICTIVE_INTERVENTION_TYPE_", "RESTRICTIVE_INTERVENTION_REASON_", "ESCALATION_LEVEL_", "ACTION_STATUS_", "DEBRIEF_KIND_", "RAG_RATING_", "RESTRICTION_STATUS_"} {
		if rest, ok := strings.CutPrefix(enum, prefix); ok {
			return strings.ToLower(strings.ReplaceAll(rest, "_", " "))
		}
	}
	return strings.ToLower(strings.ReplaceAll(enum, "_", " "))
}
