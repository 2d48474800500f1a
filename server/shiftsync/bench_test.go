package shiftsync_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// BenchmarkPushDigests measures what keeping the integrity accumulators
// costs a push, on the SQLite store: the same pushes (batches of 100 new
// four-field incidents, or of 100 edits of two fields of existing ones)
// to two stores, one keeping the accumulators (Push) and one not
// (PushWithoutDigests), alternately in each iteration so that both see the
// same machine. It reports both throughputs, the cost as a percentage of
// the push without digests, and the median of the iterations' pairs (on
// over off), which the load of other processes disturbs least:
//
//	go test ./server/shiftsync/ -run '^$' -bench PushDigests -benchtime 200x
func BenchmarkPushDigests(b *testing.B) {
	records, err := schema.Records()
	if err != nil {
		b.Fatal(err)
	}
	for _, workload := range []string{"create", "edit"} {
		b.Run(workload, func(b *testing.B) {
			on, off := newBenchPusher(b, records, false), newBenchPusher(b, records, true)
			for _, p := range []*benchPusher{on, off} {
				p.push(b, p.creates(1000))
			}
			var (
				spent     [2]time.Duration
				ratios    []float64 // on/off of each iteration's pair
				mutations int
			)
			for i := 0; b.Loop(); i++ {
				var pair [2]time.Duration
				for j := range 2 {
					k := (i + j) % 2 // alternate which goes first
					p := []*benchPusher{on, off}[k]
					var batch []shiftsync.Mutation
					if workload == "edit" {
						batch = p.edits(100)
					} else {
						batch = p.creates(100)
					}
					pair[k] = p.push(b, batch)
					spent[k] += pair[k]
				}
				ratios = append(ratios, pair[0].Seconds()/pair[1].Seconds())
				mutations += 100
			}
			slices.Sort(ratios)
			b.ReportMetric(float64(mutations)/spent[0].Seconds(), "on-mutations/s")
			b.ReportMetric(float64(mutations)/spent[1].Seconds(), "off-mutations/s")
			b.ReportMetric(100*(spent[0].Seconds()-spent[1].Seconds())/spent[1].Seconds(), "cost-%")
			// The median pair is robust to the load of other processes, which
			// moves both pushes of a pair together.
			b.ReportMetric(100*(ratios[len(ratios)/2]-1), "median-pair-cost-%")
		})
	}
}

// benchPusher pushes a phone's batches to a store of its own.
type benchPusher struct {
	push_   func(context.Context, shiftsync.Principal, []shiftsync.Mutation) (shiftsync.PushResult, error)
	counter uint64
	hlc     shiftsync.HLC
	ids     []string
}

var benchPhone = shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a"}}

func newBenchPusher(b *testing.B, records *shiftsync.Schema, withoutDigests bool) *benchPusher {
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "bench.db"))
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	ctx, id, operator := context.Background(), sqlite.NewIdentityService(db), shiftsync.Principal{UserID: "operator"}
	for _, err := range []error{
		id.CreateOrganisation(ctx, operator, "org-1", "Oak Care"),
		id.CreateService(ctx, operator, "house-a", "org-1", "House A"),
		id.CreatePerson(ctx, operator, "person-ada", "house-a", "Ada"),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	s := &shiftsync.Sync{Store: db, Schema: records, Access: shiftsync.TokenScope{}}
	p := &benchPusher{push_: s.Push, hlc: shiftsync.HLC{WallMS: time.Now().Add(-time.Hour).UnixMilli()}}
	if withoutDigests {
		p.push_ = s.PushWithoutDigests
	}
	return p
}

// push pushes the batch, checks every mutation was accepted, and returns
// how long the push took.
func (p *benchPusher) push(b *testing.B, batch []shiftsync.Mutation) time.Duration {
	start := time.Now()
	res, err := p.push_(context.Background(), benchPhone, batch)
	spent := time.Since(start)
	if err != nil || res.Acknowledged != p.counter {
		b.Fatalf("push: acknowledged %d of %d, %v", res.Acknowledged, p.counter, err)
	}
	for _, r := range res.Results {
		if r.Status != shiftsync.StatusAccepted {
			b.Fatalf("mutation %d: %+v", r.Counter, r)
		}
	}
	return spent
}

func (p *benchPusher) next() shiftsync.HLC {
	p.counter++
	p.hlc.Logical++
	if p.hlc.Logical > shiftsync.MaxLogical {
		p.hlc = shiftsync.HLC{WallMS: p.hlc.WallMS + 1}
	}
	return p.hlc
}

// creates returns n new incidents of four fields, like a quick log on shift.
func (p *benchPusher) creates(n int) []shiftsync.Mutation {
	batch := make([]shiftsync.Mutation, n)
	for i := range batch {
		recordID := uuid.Must(uuid.NewV7()).String()
		p.ids = append(p.ids, recordID)
		h := p.next()
		batch[i] = shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "incident", ServiceID: "house-a", PersonID: "person-ada"},
			Counter: p.counter, HLC: h, Fields: []shiftsync.FieldEdit{
				{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: h.Time().Add(-time.Minute)}},
				{Field: "behaviour_description", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "Shouted and pushed the door during the morning transition"}},
				{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "front door"}},
				{Field: "intensity_verbal", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 2}},
			}}
	}
	return batch
}

// edits returns n edits of two fields of the incidents created.
func (p *benchPusher) edits(n int) []shiftsync.Mutation {
	batch := make([]shiftsync.Mutation, n)
	for i := range batch {
		h := p.next()
		batch[i] = shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: p.ids[int(p.counter)%len(p.ids)], RecordType: "incident", ServiceID: "house-a", PersonID: "person-ada"},
			Counter: p.counter, HLC: h, Fields: []shiftsync.FieldEdit{
				{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindString, String: fmt.Sprintf("room %d", p.counter)}},
				{Field: "antecedent", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "a change of staff"}},
			}}
	}
	return batch
}
