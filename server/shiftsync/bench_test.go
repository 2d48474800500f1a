package shiftsync_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// BenchmarkPushDigests measures what keeping the integrity accumulators
// costs a push, on the SQLite store: the same pushes (batches of 100 new
// four-field incidents, and batches of 100 edits of two fields of existing
// ones) with the accumulators kept (digests=on, Push) and left alone
// (digests=off, PushWithoutDigests), each on its own store, in the same
// run. Compare the mutations/s of the pairs:
//
//	go test ./server/shiftsync/ -run '^$' -bench PushDigests -count 5
func BenchmarkPushDigests(b *testing.B) {
	records, err := schema.Records()
	if err != nil {
		b.Fatal(err)
	}
	for _, workload := range []string{"create", "edit"} {
		for _, mode := range []string{"on", "off"} {
			b.Run(fmt.Sprintf("%s/digests=%s", workload, mode), func(b *testing.B) {
				db := sqlite.NewDB(filepath.Join(b.TempDir(), "bench.db"))
				db.Logger = slog.New(slog.DiscardHandler)
				if err := db.Open(); err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				id, operator := sqlite.NewIdentityService(db), shiftsync.Principal{UserID: "operator"}
				for _, err := range []error{
					id.CreateOrganisation(context.Background(), operator, "org-1", "Oak Care"),
					id.CreateService(context.Background(), operator, "house-a", "org-1", "House A"),
					id.CreatePerson(context.Background(), operator, "person-ada", "house-a", "Ada"),
				} {
					if err != nil {
						b.Fatal(err)
					}
				}
				s := &shiftsync.Sync{Store: db, Schema: records, Access: shiftsync.TokenScope{}}
				push := s.Push
				if mode == "off" {
					push = s.PushWithoutDigests
				}
				p := shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}}
				ctx := context.Background()
				var counter uint64
				hlc := shiftsync.HLC{WallMS: time.Now().Add(-time.Hour).UnixMilli()}
				next := func() shiftsync.HLC {
					counter++
					hlc.Logical++
					if hlc.Logical > shiftsync.MaxLogical {
						hlc = shiftsync.HLC{WallMS: hlc.WallMS + 1}
					}
					return hlc
				}
				var ids []string
				create := func(n int) []shiftsync.Mutation {
					batch := make([]shiftsync.Mutation, n)
					for i := range batch {
						recordID := uuid.Must(uuid.NewV7()).String()
						ids = append(ids, recordID)
						h := next()
						batch[i] = shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: "house-a", PersonID: "person-ada"},
							Counter: counter, HLC: h, Fields: []shiftsync.FieldEdit{
								{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: h.Time().Add(-time.Minute)}},
								{Field: "behaviour_description", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "Shouted and pushed the door during the morning transition"}},
								{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "front door"}},
								{Field: "intensity_verbal", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 2}},
							}}
					}
					return batch
				}
				edit := func(n int) []shiftsync.Mutation {
					batch := make([]shiftsync.Mutation, n)
					for i := range batch {
						h := next()
						batch[i] = shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: ids[int(counter)%len(ids)], RecordType: "incident", ServiceID: "house-a", PersonID: "person-ada"},
							Counter: counter, HLC: h, Fields: []shiftsync.FieldEdit{
								{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: fmt.Sprintf("room %d", counter)}},
								{Field: "antecedent", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "a change of staff"}},
							}}
					}
					return batch
				}
				accepted := func(res shiftsync.PushResult, err error) {
					b.Helper()
					if err != nil || res.Acknowledged != counter {
						b.Fatalf("push: acknowledged %d of %d, %v", res.Acknowledged, counter, err)
					}
					for _, r := range res.Results {
						if r.Status != shiftsync.StatusAccepted {
							b.Fatalf("mutation %d: %+v", r.Counter, r)
						}
					}
				}
				accepted(push(ctx, p, create(1000)))
				make := create
				if workload == "edit" {
					make = edit
				}
				mutations := 0
				for b.Loop() {
					b.StopTimer()
					batch := make(100)
					b.StartTimer()
					res, err := push(ctx, p, batch)
					b.StopTimer()
					accepted(res, err)
					b.StartTimer()
					mutations += len(batch)
				}
				b.ReportMetric(float64(mutations)/b.Elapsed().Seconds(), "mutations/s")
			})
		}
	}
}
