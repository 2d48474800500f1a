package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// benchBatch is the mutations a device pushes at once in the benchmarks,
// each setting benchFields fields, as server/sqlite's BenchmarkPush does
// at batch=100.
const (
	benchBatch  = 100
	benchFields = 4
)

// benchIncident is a new incident with four fields, like a quick log on
// shift (server/sqlite's benchmark mutation).
func benchIncident(counter uint64, hlc shiftsync.HLC) shiftsync.Mutation {
	return shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: uuid.Must(uuid.NewV7()).String(), RecordType: "incident", ServiceID: "house-a", PersonID: "person-ada"},
		Counter:   counter,
		HLC:       hlc,
		Fields: []shiftsync.FieldEdit{
			{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: hlc.Time().Add(-time.Minute)}},
			{Field: "behaviour_description", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "Shouted and pushed the door during the morning transition"}},
			{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "front door"}},
			{Field: "intensity_verbal", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 2}},
		},
	}
}

// benchDevice pushes batches of new incidents as one phone.
type benchDevice struct {
	p       shiftsync.Principal
	counter uint64
	hlc     shiftsync.HLC
}

func (d *benchDevice) batch() []shiftsync.Mutation {
	out := make([]shiftsync.Mutation, benchBatch)
	for i := range out {
		d.counter++
		d.hlc.Logical++
		out[i] = benchIncident(d.counter, d.hlc)
	}
	return out
}

// engines opens n instances (pools and engines) on one new schema.
func engines(tb testing.TB, n int) ([]*shiftsync.Sync, *postgres.DB) {
	tb.Helper()
	records, err := schema.Records()
	if err != nil {
		tb.Fatal(err)
	}
	dsn := shiftsynctest.PostgresDSN(tb)
	var (
		out   []*shiftsync.Sync
		first *postgres.DB
	)
	for range n {
		db := postgres.NewDB(dsn)
		db.Logger = slog.New(slog.DiscardHandler)
		if err := db.Open(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		if first == nil {
			first = db
		}
		out = append(out, &shiftsync.Sync{Store: db, Schema: records, Access: shiftsync.TokenScope{}, Now: time.Now})
	}
	return out, first
}

// BenchmarkPush measures mutations/s through the engine's Push with 1, 2
// and 3 instances on one database, a device per instance pushing batches
// of 100 at once. Compare with BenchmarkRawInsert and server/sqlite's
// BenchmarkPush/batch=100 from the same run.
func BenchmarkPush(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			syncs, _ := engines(b, n)
			devices := make([]*benchDevice, n)
			for i := range devices {
				devices[i] = &benchDevice{p: shiftsync.Principal{UserID: "worker-1", DeviceID: fmt.Sprintf("phone-%d", i), Services: []string{"house-a"}},
					hlc: shiftsync.HLC{WallMS: time.Now().Add(-time.Hour).UnixMilli()}}
			}
			mutations := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for i, s := range syncs {
					batch := devices[i].batch()
					wg.Go(func() {
						if res, err := s.Push(context.Background(), devices[i].p, batch); err != nil || res.Acknowledged != devices[i].counter {
							b.Errorf("Push() = %d, %v", res.Acknowledged, err)
						}
					})
				}
				wg.Wait()
				mutations += n * benchBatch
			}
			b.ReportMetric(float64(mutations)/b.Elapsed().Seconds(), "mutations/s")
		})
	}
}

// BenchmarkRawInsert is BenchmarkPush's baseline: plain INSERTs of as many
// rows of the same size (one per field, time-ordered keys) in one
// transaction per batch, one statement at a time as the engine sends them.
func BenchmarkRawInsert(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, shiftsynctest.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE raw_rows (id text NOT NULL, field text NOT NULL, value text NOT NULL, hlc bigint NOT NULL, device text NOT NULL, PRIMARY KEY (id, field))`); err != nil {
		b.Fatal(err)
	}
	value := `{"s":"Shouted and pushed the door during the morning transition"}`
	mutations := 0
	for b.Loop() {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for range benchBatch {
			id := uuid.Must(uuid.NewV7()).String()
			for f := range benchFields {
				if _, err := tx.Exec(ctx, `INSERT INTO raw_rows (id, field, value, hlc, device) VALUES ($1, $2, $3, $4, $5)`, id, fmt.Sprintf("field_%d", f), value, int64(mutations), "phone-1"); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		mutations += benchBatch
	}
	b.ReportMetric(float64(mutations)/b.Elapsed().Seconds(), "mutations/s")
}

// BenchmarkPull measures a pull of the 10 changes after a cursor from a
// change log of 10k and of 1M rows: it must cost the same, whatever the
// size of the store.
func BenchmarkPull(b *testing.B) {
	for _, rows := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			syncs, db := engines(b, 1)
			fill(b, db, rows)
			d := &benchDevice{p: shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}},
				hlc: shiftsync.HLC{WallMS: time.Now().Add(-time.Hour).UnixMilli()}}
			if _, err := syncs[0].Pull(context.Background(), d.p, shiftsync.Cursor{}, 1); err != nil { // the device's scope is served
				b.Fatal(err)
			}
			latest, err := syncs[0].Latest(context.Background(), d.p, shiftsync.Cursor{})
			if err != nil {
				b.Fatal(err)
			}
			batch := d.batch()[:10]
			for i := range batch {
				batch[i].Fields = batch[i].Fields[:2]
			}
			if _, err := syncs[0].Push(context.Background(), d.p, batch[:5]); err != nil { // 5 records × 2 fields: 10 changes
				b.Fatal(err)
			}
			for b.Loop() {
				page, err := syncs[0].Pull(context.Background(), d.p, latest, 100)
				if err != nil || len(page.Changes) != 10 {
					b.Fatalf("Pull() = %d changes, %v; want 10", len(page.Changes), err)
				}
			}
		})
	}
}

// fill writes n field versions of house-a, n/4 records of four fields each,
// straight into the tables, at positions below every one the store hands
// out afterwards.
func fill(tb testing.TB, db *postgres.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO records (record_id, record_type, service_id, person_id, created_by_user, created_by_device, created_hlc, received_at)
			SELECT 'fill-' || r, 'incident', 'house-a', 'person-ada', 'worker-0', 'phone-0', 0, 0 FROM generate_series(1, $1::bigint / 4) r`,
		`INSERT INTO field_versions (seq, record_id, field, value, hlc, device_id, user_id, counter, received_at)
			SELECT v, 'fill-' || ((v - 1) / 4 + 1), 'f' || (v % 4), '{"s":"filler"}', v, 'phone-0', 'worker-0', v, 0 FROM generate_series(1, $1::bigint) v`,
		`INSERT INTO fields (record_id, field, service_id, version_seq, hlc, device_id)
			SELECT record_id, field, 'house-a', seq, hlc, device_id FROM field_versions WHERE seq <= $1::bigint`,
	} {
		if _, err := conn.Exec(ctx, q, n); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}
