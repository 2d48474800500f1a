package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/migrations"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

var batchSizes = []int{1, 100, 1000}

// fieldsPerMutation is how many fields each benchmark mutation sets, so the
// raw baseline inserts as many rows per mutation.
const fieldsPerMutation = 4

// benchIncident is a new incident with four fields, like a quick log on shift.
func benchIncident(tb testing.TB, counter uint64, hlc shiftsync.HLC) shiftsync.Mutation {
	m := incident(counter, newID(tb), "house-a", hlc, "Shouted and pushed the door during the morning transition")
	m.Fields = append(m.Fields,
		shiftsync.FieldEdit{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "front door"}},
		shiftsync.FieldEdit{Field: "intensity_verbal", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 2}},
	)
	return m
}

// BenchmarkPush measures mutations/s through SyncService.Push, one fsynced
// transaction per batch. Compare with BenchmarkRawInsert from the same run.
func BenchmarkPush(b *testing.B) {
	for _, size := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db, clock := MustOpenDB(b)
			s := MustSyncService(b, db)
			var counter uint64
			hlc := shiftsync.HLC{WallMS: clock.Now().Add(-time.Hour).UnixMilli()}
			b.ReportAllocs()
			mutations := 0
			for b.Loop() {
				b.StopTimer()
				batch := make([]shiftsync.Mutation, size)
				for i := range batch {
					counter++
					hlc.Logical++
					if hlc.Logical > shiftsync.MaxLogical {
						hlc = shiftsync.HLC{WallMS: hlc.WallMS + 1}
					}
					batch[i] = benchIncident(b, counter, hlc)
				}
				b.StartTimer()
				res, err := s.Push(context.Background(), phone1, batch)
				if err != nil || res.Acknowledged != counter {
					b.Fatalf("Push() = %d, %v", res.Acknowledged, err)
				}
				mutations += size
			}
			b.ReportMetric(float64(mutations)/b.Elapsed().Seconds(), "mutations/s")
		})
	}
}

// BenchmarkRawInsert is the baseline for BenchmarkPush: plain INSERTs of the
// same number of rows of the same size (one per field, time-ordered keys),
// with the same durability (WAL, synchronous=FULL, one transaction per batch).
func BenchmarkRawInsert(b *testing.B) {
	for _, size := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "raw.db")
			db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE rows (id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, hlc INTEGER NOT NULL, device TEXT NOT NULL, PRIMARY KEY (id, field)) WITHOUT ROWID`); err != nil {
				b.Fatal(err)
			}
			value := `{"s":"Shouted and pushed the door during the morning transition"}`
			mutations := 0
			for b.Loop() {
				b.StopTimer()
				ids := make([]string, size)
				for i := range ids {
					ids[i] = newID(b)
				}
				b.StartTimer()
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				stmt, err := tx.Prepare(`INSERT INTO rows (id, field, value, hlc, device) VALUES (?, ?, ?, ?, ?)`)
				if err != nil {
					b.Fatal(err)
				}
				for _, id := range ids {
					for f := range fieldsPerMutation {
						if _, err := stmt.Exec(id, fmt.Sprintf("field_%d", f), value, int64(mutations), "phone-1"); err != nil {
							b.Fatal(err)
						}
					}
				}
				stmt.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				mutations += size
			}
			b.ReportMetric(float64(mutations*fieldsPerMutation)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(mutations)/b.Elapsed().Seconds(), "mutations/s")
		})
	}
}

// BenchmarkPull pulls the 10 newest changes, and a full page of 1,000, from
// stores of 10,000 and 1,000,000 field values: the cost must follow the
// changes after the cursor, not the size of the store.
func BenchmarkPull(b *testing.B) {
	for _, size := range []int{10_000, 1_000_000} {
		if testing.Short() && size > 10_000 {
			continue
		}
		path := benchStore(b, size)
		db, _ := MustOpenDBAt(b, path)
		s := MustSyncService(b, db)
		head, err := s.Latest(context.Background(), phone1, shiftsync.Cursor{})
		if err != nil {
			b.Fatal(err)
		}
		// A device's first pull, from an empty cursor, records the scope it
		// was served; only then may it continue from a cursor.
		if _, err := s.Pull(context.Background(), phone1, shiftsync.Cursor{}, 1); err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("store=%d/changes=%d", size, n), func(b *testing.B) {
				after := shiftsync.Cursor{StoreID: head.StoreID, Seq: head.Seq - int64(n)}
				b.ReportAllocs()
				for b.Loop() {
					page, err := s.Pull(context.Background(), phone1, after, 1000)
					if err != nil || len(page.Changes) != n {
						b.Fatalf("Pull() = %d changes, %v; want %d", len(page.Changes), err, n)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "changes/s")
			})
		}
	}
}

// benchStore returns the path of a store holding size field values (four
// per incident) in service house-a, writing exactly the rows Push writes.
// Building a million rows takes a while, so stores are kept in the system's
// temporary directory, named by size and by a hash of the migrations, and
// reused by later runs; delete them to rebuild.
func benchStore(b *testing.B, size int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("shiftsync-bench-%d-%s.db", size, migrationsHash(b)))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("building %s (reused by later runs)", path)
	tmp := path + ".building"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(tmp + suffix)
	}
	if _, err := sqlite.Migrate(context.Background(), tmp); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+tmp+"?_journal_mode=WAL&_synchronous=OFF&_foreign_keys=on")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const perTx = 50_000
	fields := []struct{ name, value string }{
		{"started_at", `{"t":"2025-01-01T00:00:00Z"}`},
		{"behaviour_description", `{"s":"Shouted and pushed the door during the morning transition"}`},
		{"place", `{"s":"front door"}`},
		{"intensity_verbal", `{"i":2}`},
	}
	var tx *sql.Tx
	var rec, ver, cur *sql.Stmt
	seq := int64(0)
	for i := range size / len(fields) {
		if i%(perTx/len(fields)) == 0 {
			if tx != nil {
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			if tx, err = db.Begin(); err != nil {
				b.Fatal(err)
			}
			rec, _ = tx.Prepare(`INSERT INTO records (record_id, record_type, service_id, person_id, created_by_user, created_by_device, created_hlc, received_at) VALUES (?, 'incident', 'house-a', 'person-ada', 'worker-1', 'phone-1', ?, ?)`)
			ver, _ = tx.Prepare(`INSERT INTO field_versions (seq, record_id, field, value, hlc, device_id, user_id, counter, received_at) VALUES (?, ?, ?, ?, ?, 'phone-1', 'worker-1', ?, ?)`)
			cur, _ = tx.Prepare(`INSERT INTO fields (record_id, field, service_id, version_seq, hlc, device_id) VALUES (?, ?, 'house-a', ?, ?, 'phone-1')`)
		}
		at := base.Add(time.Duration(i) * time.Second)
		id, err := uuid.NewV7FromReader(&fixedTime{t: at})
		if err != nil {
			b.Fatal(err)
		}
		hlc := shiftsync.HLC{WallMS: at.UnixMilli()}.Pack()
		if _, err := rec.Exec(id.String(), hlc, at.UnixMilli()); err != nil {
			b.Fatal(err)
		}
		for _, f := range fields {
			seq++
			if _, err := ver.Exec(seq, id.String(), f.name, f.value, hlc, i+1, at.UnixMilli()); err != nil {
				b.Fatal(err)
			}
			if _, err := cur.Exec(id.String(), f.name, seq, hlc); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	db.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// fixedTime feeds uuid.NewV7FromReader random bytes; the UUID's time comes
// from the clock, so ids stay time-ordered as on devices.
type fixedTime struct{ t time.Time }

func (f *fixedTime) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f.t.UnixNano() >> (i % 8))
	}
	return len(p), nil
}

func migrationsHash(b *testing.B) string {
	h := sha256.New()
	err := fs.WalkDir(migrations.Server, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(migrations.Server, path)
		h.Write([]byte(path))
		h.Write(data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
