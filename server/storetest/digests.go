package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testEngineDigests is a property test of the integrity accumulators:
// random pushes from two phones (new records in both services, edits on
// the head and on stale bases, so conflicts both won and lost, repeated
// fields, replays) leave the stored accumulators equal to a rebuild from
// the data after every push.
func testEngineDigests(t *testing.T, open Factory) {
	e := newEngine(t, open)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(15, 4))
	phones := []shiftsync.Principal{
		{UserID: "worker-1", DeviceID: "phone-1", Services: []string{"house-a", "house-b"}},
		{UserID: "worker-2", DeviceID: "phone-2", Services: []string{"house-a", "house-b"}},
	}
	type held struct{ id, service string }
	var (
		records  []held
		counters = map[string]uint64{}
		clock    time.Duration
	)
	heads := func(id string) map[string]shiftsync.FieldHead {
		var hs map[string]shiftsync.FieldHead
		e.view(t, func(tx shiftsync.Tx) error {
			var err error
			hs, err = tx.FieldHeads(ctx, id)
			return err
		})
		return hs
	}
	for round := range 60 {
		p := phones[rng.IntN(len(phones))]
		var batch []shiftsync.Mutation
		for range 1 + rng.IntN(4) {
			counters[p.DeviceID]++
			clock += time.Duration(rng.IntN(3)) * time.Millisecond // equal HLCs too: the device id breaks the tie
			hlc := e.at(time.Second + clock)
			if len(records) == 0 || rng.IntN(3) == 0 {
				r := held{e.id(t), []string{"house-a", "house-b"}[rng.IntN(2)]}
				records = append(records, r)
				batch = append(batch, e.incident(counters[p.DeviceID], r.id, r.service, hlc, "made"))
				continue
			}
			r := records[rng.IntN(len(records))]
			var base shiftsync.Version
			if h, ok := heads(r.id)["behaviour_description"]; ok && rng.IntN(2) == 0 {
				base = h.Version // on the head; otherwise a stale (empty) base: a conflict
			}
			if rng.IntN(4) == 0 {
				hlc = e.at(time.Duration(rng.IntN(1000)) * time.Millisecond) // older than the head: loses
			}
			batch = append(batch, e.edit(counters[p.DeviceID], r.id, r.service, hlc, "behaviour_description", []string{"a", "b", "c"}[rng.IntN(3)], base))
		}
		e.push(t, p, batch...)
		if rng.IntN(5) == 0 {
			e.push(t, p, batch...) // a retry: replayed, changes nothing
		}
		diffs, err := shiftsync.VerifyDigests(ctx, e.store)
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) > 0 {
			t.Fatalf("after push %d the stored digests differ from a rebuild: %+v", round, diffs)
		}
	}
	var stored []shiftsync.BucketDigest
	e.view(t, func(tx shiftsync.Tx) error {
		var err error
		stored, err = tx.Digests(ctx)
		return err
	})
	if len(stored) == 0 {
		t.Error("no digests stored after the pushes")
	}
}
