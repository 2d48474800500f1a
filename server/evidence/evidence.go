// Package evidence renders an evidence pack (see [shiftsync.EvidencePack])
// for people outside the provider: a printable HTML page with the sections
// of the monthly multi-agency review pack (care-records.md §2.6) and its
// rows with their hashes and root, and a CSV of the same rows; and reads
// either back ([ReadPack]) to be verified. Output is deterministic: the
// same pack renders to the same bytes.
//
// # Rows and their hashes (encoding shiftsync-pack-row/v2)
//
// Each record is one row of seven cells: record_id, record_type,
// event_time, author, recorded_at, received_at, summary, exactly as shown
// (times RFC 3339 UTC to the second). Whoever holds the file recomputes:
//
//	row hash = hex(SHA-256(ns("shiftsync-pack-row/v2") ns(cell 1) … ns(cell 7)))
//	root     = hex(SHA-256(ns("shiftsync-pack-manifest/v2") ns(row hash 1) … ns(row hash n)))
//
// where ns(s) is the netstring len(s) ":" s "," (length in bytes, decimal).
// The CSV's header is the seven columns then row_sha256; its last line is
// "#manifest", the encoding, four empty cells, the root and the pack id. A
// cell starting with =, +, -, @ or ' carries one ' before it, taken off
// before hashing. The HTML holds the rows in the "Records and manifest"
// table (<tr data-row="N">, the seven cells then the hash), and the
// encoding, pack id and root in <code id="pack-encoding">, <code
// id="pack-id"> and <code id="pack-root">. [shiftsync.PackRowEncoding] has
// the full contract.
package evidence

import (
	"embed"
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
	"summary":  shiftsync.RecordSummary,
	"label":    shiftsync.CodeWords,
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
	Rows         []row
}

// row is a pack row as the HTML shows it: its line in the table, from 1.
type row struct {
	Line int
	shiftsync.PackRow
	SHA256 string
}

type count struct {
	Label   string
	N       int
	Minutes float64
}

// WriteHTML writes the pack as a printable HTML page.
func WriteHTML(w io.Writer, pack shiftsync.EvidencePack) error {
	v := view{Pack: pack, Hash: pack.Manifest.Hash()}
	for i, r := range pack.Rows {
		v.Rows = append(v.Rows, row{Line: i + 1, PackRow: r, SHA256: pack.Manifest.Rows[i].SHA256})
	}
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
				c = &count{Label: shiftsync.CodeWords(r.Text("type_code"))}
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
