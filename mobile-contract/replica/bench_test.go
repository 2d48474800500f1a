package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

const benchRecords = 100_000

// BenchmarkFreshDevicePull measures a new phone pulling 100,000 incidents
// (two fields each) into an empty replica, against
// BenchmarkRawReplicaInsert in the same run.
func BenchmarkFreshDevicePull(b *testing.B) {
	s := shiftsynctest.NewServer(b)
	token := s.AddDevice("worker-1", "phone-seed", "house-a")
	client := s.Client(token)
	now := s.Clock.Now()
	var counter uint64
	for counter < benchRecords {
		batch := make([]*syncv1.Mutation, 0, 1000)
		for range 1000 {
			counter++
			batch = append(batch, shiftsynctest.Incident(counter, shiftsynctest.RecordID(b), "house-a", "person-ada",
				now.Add(-time.Hour).Add(time.Duration(counter)*time.Millisecond), "seeded for the benchmark"))
		}
		if _, err := client.Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		id := fmt.Sprintf("phone-new-%d", i)
		r, err := replica.Open(filepath.Join(b.TempDir(), id+".db"), id)
		if err != nil {
			b.Fatal(err)
		}
		r.SetPullPageSize(5000)
		tok := s.AddDevice("worker-2", id, "house-a")
		b.StartTimer()
		rep, err := r.Sync(s.URL, tok)
		if err != nil || rep.Pulled != 2*benchRecords {
			b.Fatalf("Sync() pulled %d, %v", rep.Pulled, err)
		}
		b.StopTimer()
		_ = r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRawReplicaInsert inserts the same rows (a record and its two
// field values, time-ordered ids) into plain tables with the replica's
// durability settings, 5,000 field values a transaction as a pull page.
func BenchmarkRawReplicaInsert(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), fmt.Sprintf("raw-%d.db", i))
		db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`CREATE TABLE records (id TEXT PRIMARY KEY, type TEXT, service TEXT, person TEXT) WITHOUT ROWID;
			CREATE TABLE fields (id TEXT, field TEXT, value TEXT, wall_ms INTEGER, logical INTEGER, device TEXT, PRIMARY KEY (id, field)) WITHOUT ROWID`); err != nil {
			b.Fatal(err)
		}
		ids := make([]string, benchRecords)
		for j := range ids {
			ids[j] = uuid.Must(uuid.NewV7()).String()
		}
		b.StartTimer()
		for start := 0; start < benchRecords; start += 2500 {
			tx, _ := db.Begin()
			rec, _ := tx.Prepare(`INSERT INTO records VALUES (?, 'incident', 'house-a', 'person-ada')`)
			fld, _ := tx.Prepare(`INSERT INTO fields VALUES (?, ?, ?, ?, 0, 'phone-seed')`)
			for _, id := range ids[start : start+2500] {
				if _, err := rec.Exec(id); err != nil {
					b.Fatal(err)
				}
				for _, f := range []string{"started_at", "behaviour_description"} {
					if _, err := fld.Exec(id, f, `{"stringValue":"seeded for the benchmark"}`, int64(start)); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}
