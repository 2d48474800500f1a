package replica

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

const (
	applyBenchRecords = 100_000
	applyBenchPage    = 1000 // records a pulled page and a raw transaction hold
)

// applyBenchPages returns records pulled incidents of four fields (about
// 300 bytes each, as the load generator writes them) in pages of
// applyBenchPage records.
func applyBenchPages(records int) []*syncv1.PullResponse {
	at := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	desc := strings.Repeat("Shouted and pushed the door during the morning transition; settled with the visual timetable. ", 2)
	var pages []*syncv1.PullResponse
	for from := 0; from < records; from += applyBenchPage {
		page := &syncv1.PullResponse{NextCursor: fmt.Sprintf("c%d", from), HasMore: from+applyBenchPage < records}
		for i := from; i < min(records, from+applyBenchPage); i++ {
			id := uuid.Must(uuid.NewV7()).String()
			ver := &syncv1.Version{Hlc: &syncv1.HybridTimestamp{WallMs: at.UnixMilli() + int64(i), Logical: 0}, DeviceId: "phone-seed"}
			for _, f := range []struct {
				name string
				v    *syncv1.Value
			}{
				{"started_at", &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: timestamppb.New(at.Add(time.Duration(i) * time.Second))}}},
				{"behaviour_description", &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: desc}}},
				{"place", &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: "front door"}}},
				{"intensity_verbal", &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: 2}}},
			} {
				page.Changes = append(page.Changes, &syncv1.FieldChange{RecordId: id, RecordType: "incident", ServiceId: "house-a",
					PersonId: "person-ada", Field: f.name, Value: f.v, Version: ver, AuthorUserId: "worker-1"})
			}
		}
		pages = append(pages, page)
	}
	return pages
}

// BenchmarkApplyPull applies 100,000 pulled records (pages of 1,000
// records, 4,000 field changes) to a fresh replica, and in the same run
// inserts the same field rows raw into a fresh file with the replica's
// durability, the same rows a transaction; it reports both rates and
// their ratio (apply/raw).
func BenchmarkApplyPull(b *testing.B) {
	ctx := context.Background()
	pages := applyBenchPages(applyBenchRecords)
	var applyTime, rawTime time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := b.TempDir()
		r, err := Open(filepath.Join(dir, "replica.db"), "phone-new")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for _, p := range pages {
			if _, err := r.applyPage(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		applyTime += time.Since(start)
		b.StopTimer()
		if ok, err := r.DigestsKept(); err != nil || !ok {
			b.Fatalf("digests kept %v, %v", ok, err)
		}
		_ = r.Close()
		d, err := rawFieldInserts(ctx, filepath.Join(dir, "raw.db"), pages)
		if err != nil {
			b.Fatal(err)
		}
		rawTime += d
		b.StartTimer()
	}
	apply := float64(applyBenchRecords*b.N) / applyTime.Seconds()
	raw := float64(applyBenchRecords*b.N) / rawTime.Seconds()
	b.ReportMetric(apply, "records/s")
	b.ReportMetric(raw, "raw-records/s")
	b.ReportMetric(apply/raw, "ratio")
}

// rawFieldInserts is the storage baseline: one plain INSERT per field row
// (record id, field, value as stored, version) into a fresh file in the
// replica's durability (WAL, synchronous=FULL), a page a transaction.
func rawFieldInserts(ctx context.Context, path string, pages []*syncv1.PullResponse) (time.Duration, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE rows (id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
		wall_ms INTEGER NOT NULL, logical INTEGER NOT NULL, device TEXT NOT NULL, PRIMARY KEY (id, field)) WITHOUT ROWID`); err != nil {
		return 0, err
	}
	values := make(map[*syncv1.Value]string)
	for _, p := range pages {
		for _, c := range p.GetChanges() {
			if values[c.GetValue()], err = valueJSON(c.GetValue()); err != nil {
				return 0, err
			}
		}
	}
	start := time.Now()
	for _, p := range pages {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		for _, c := range p.GetChanges() {
			v := c.GetVersion()
			if _, err := stmt.ExecContext(ctx, c.GetRecordId(), c.GetField(), values[c.GetValue()], v.GetHlc().GetWallMs(), v.GetHlc().GetLogical(), v.GetDeviceId()); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
		_ = stmt.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
