package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// governanceRecords is the size of the store the governance benchmark
// evaluates (issue 5: 100,000 records).
const governanceRecords = 100_000

// BenchmarkGovernance100k evaluates the governance rules over one service
// holding 100,000 records (50 people, 26 weeks: incidents, restrictions,
// early warning signs, reflections, debriefs, meetings with their briefs
// and trackers, actions and escalations), seeded through Push. Each
// sub-benchmark is one whole evaluation:
//
//   - raw_scan: reading every current field value of the service with one
//     SQL query and no decoding; the baseline of the same run.
//   - load_snapshot: loading the records as the rules read them.
//   - evaluate: the rules alone, over a loaded snapshot.
//   - evaluate_and_store: what ReviewService.ListFindings does: load,
//     evaluate, store every finding and close the resolved ones, list.
func BenchmarkGovernance100k(b *testing.B) {
	db, clock := MustOpenDB(b)
	seedGovernance(b, db, clock.Now())
	ctx := context.Background()
	manager := shiftsync.Principal{UserID: "manager", Services: []string{"house-a"}}
	records, err := schema.Records()
	if err != nil {
		b.Fatal(err)
	}
	review := &shiftsync.Review{Store: db, Schema: records, Access: shiftsync.TokenScope{}, Now: db.Now, Governance: &shiftsync.Governance{Store: db, Now: db.Now}}

	b.Run("raw_scan", func(b *testing.B) {
		for b.Loop() {
			var n int
			if err := db.RawScanForBench(ctx, "house-a", &n); err != nil || n == 0 {
				b.Fatalf("raw scan: %d rows, %v", n, err)
			}
		}
		b.ReportMetric(governanceRecords*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("load_snapshot", func(b *testing.B) {
		for b.Loop() {
			snap, err := db.Snapshot(ctx, "house-a")
			if err != nil || len(snap.Records) != governanceRecords {
				b.Fatalf("Snapshot() = %d records, %v", len(snap.Records), err)
			}
		}
		b.ReportMetric(governanceRecords*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	snap, err := db.Snapshot(ctx, "house-a")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("evaluate", func(b *testing.B) {
		var findings int
		for b.Loop() {
			findings = len(shiftsync.Evaluate(snap, shiftsync.DefaultThresholds, clock.Now()))
		}
		b.ReportMetric(float64(findings), "findings")
		b.ReportMetric(governanceRecords*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("evaluate_and_store", func(b *testing.B) {
		var findings int
		for b.Loop() {
			list, err := review.Findings(ctx, manager, "house-a", true)
			if err != nil {
				b.Fatal(err)
			}
			findings = len(list)
		}
		b.ReportMetric(float64(findings), "findings")
		b.ReportMetric(governanceRecords*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// seedGovernance pushes governanceRecords records into service house-a,
// their events spread over the 26 weeks before now.
func seedGovernance(b *testing.B, db *sqlite.DB, now time.Time) {
	b.Helper()
	s := MustSyncService(b, db)
	device := shiftsync.Principal{UserID: "seed", DeviceID: "seed-phone", Services: []string{"house-a"}}
	start := now.Add(-26 * 7 * 24 * time.Hour)
	step := (26 * 7 * 24 * time.Hour) / governanceRecords
	var (
		counter  uint64
		batch    []shiftsync.Mutation
		meetings []string
	)
	ts := func(t time.Time) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: t} }
	str := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
	enum := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindEnum, String: s} }
	for i := range governanceRecords {
		at := start.Add(time.Duration(i) * step)
		person := fmt.Sprintf("person-%02d", i%50)
		id := newID(b)
		var recordType string
		var f map[string]shiftsync.Value
		switch k := i % 100; {
		case k < 40:
			recordType, f = "incident", map[string]shiftsync.Value{"started_at": ts(at), "behaviour_description": str("Shouted at the door"),
				"intensity_verbal": {Kind: shiftsync.KindInt, Int: 2}, "baseline_regained_at": ts(at.Add(30 * time.Minute))}
		case k < 55:
			recordType, f = "restrictive_intervention", map[string]shiftsync.Value{"incident_id": str(id), "started_at": ts(at), "ended_at": ts(at.Add(5 * time.Minute)),
				"type_code": enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_STANDING"), "reason_code": enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"), "in_care_plan": {Kind: shiftsync.KindBool, Bool: true}}
		case k < 80:
			recordType, f = "early_warning_sign", map[string]shiftsync.Value{"observed_at": ts(at), "sign": str("pacing"), "outcome": enum("EARLY_WARNING_OUTCOME_SETTLED")}
		case k < 88:
			recordType, f = "shift_reflection", map[string]shiftsync.Value{"shift_started_at": ts(at.Add(-8 * time.Hour)), "shift_ended_at": ts(at),
				"what_worked": str("Visual timetable"), "learning_point": str("Confirm the bus time"), "support_minutes": {Kind: shiftsync.KindInt, Int: 480}}
		case k < 93:
			recordType, f = "debrief", map[string]shiftsync.Value{"kind": enum("DEBRIEF_KIND_POST_INCIDENT_REVIEW"), "held_at": ts(at), "learning_points": str("Earlier drop-off")}
		case k < 95:
			person, recordType, f = "", "meeting", map[string]shiftsync.Value{"meeting_type": enum("MEETING_TYPE_MDT_REVIEW"), "started_at": ts(at), "ended_at": ts(at.Add(time.Hour)), "decisions": str("Lead at transitions")}
			meetings = append(meetings, id)
		case k < 97 && len(meetings) > 0:
			recordType, f = "shift_brief", map[string]shiftsync.Value{"version": {Kind: shiftsync.KindInt, Int: 1}, "published_at": ts(at), "changes_summary": str("New routine"),
				"source_meeting_id": str(meetings[len(meetings)-1])}
		case k < 99:
			recordType, f = "action", map[string]shiftsync.Value{"action_text": str("Assessment"), "definition_of_done": str("Report shared"), "agency": str("community_ld_team"),
				"owner_role": str("Nurse"), "created_at": ts(at), "deadline": ts(at.Add(14 * 24 * time.Hour)), "status": enum("ACTION_STATUS_ON_TRACK")}
		default:
			recordType, f = "escalation", map[string]shiftsync.Value{"level": enum("ESCALATION_LEVEL_EVIDENCE_PACK"), "reason": str("Overdue assessment"), "raised_at": ts(at),
				"addressee_agency": str("icb"), "evidence_pack_sent_at": ts(at.Add(time.Hour))}
		}
		counter++
		m := shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: id, RecordType: recordType, ServiceID: "house-a", PersonID: person},
			Counter: counter, HLC: shiftsync.HLC{WallMS: min(at.Add(10*time.Minute).UnixMilli(), now.UnixMilli())}}
		for name, v := range f {
			m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: name, Value: v})
		}
		batch = append(batch, m)
		if len(batch) == shiftsync.MaxMutationsPerPush || i == governanceRecords-1 {
			res, err := s.Push(context.Background(), device, batch)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res.Results {
				if r.Status != shiftsync.StatusAccepted {
					b.Fatalf("seed mutation %d: %s %s", r.Counter, r.Reason, r.Message)
				}
			}
			batch = batch[:0]
		}
	}
}
