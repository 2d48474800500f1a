package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testEngineDigests is a property test of the integrity accumulators:
// random pushes from two phones (new records in both services, edits on
// the head and on stale bases, so conflicts both won and lost, repeated
// fields, replays) leave the stored accumulators and pending deltas equal
// to a rebuild from the data after every push, through several folds of
// the deltas, which never leave more than [shiftsync.DigestFoldEvery]
// pending.
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
	for round := range 3 * shiftsync.DigestFoldEvery {
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
	errProbe := errors.New("rolled back")
	err := e.store.Update(ctx, func(tx shiftsync.Tx) error {
		pending, err := tx.AddDigestDeltas(ctx, "house-a", shiftsync.EncodeDigestDeltas(nil))
		if err != nil {
			return err
		}
		if pending > shiftsync.DigestFoldEvery {
			t.Errorf("%d pending digest delta rows (one probe's) after the pushes; want at most %d: they are never folded", pending, shiftsync.DigestFoldEvery)
		}
		return errProbe
	})
	if !errors.Is(err, errProbe) {
		t.Fatal(err)
	}
}

// testDigestDeltas is the contract of a store's pending digest deltas:
// kept as they were encoded, read by service with the accumulators, taken
// once, and dropped by ReplaceDigests.
func testDigestDeltas(t *testing.T, open Factory) {
	ctx := context.Background()
	st := open(t, func() time.Time { return engineEpoch })
	unit := func(service, person string) shiftsync.DigestUnit {
		return shiftsync.DigestUnit{ServiceID: service, PersonID: person, RecordType: "incident", Agency: "provider"}
	}
	var one, two shiftsync.Digest
	one[31], two[0] = 1, 2
	a := []shiftsync.BucketDigest{{Unit: unit("house-a", "ada"), Bucket: 3, Digest: one}, {Unit: unit("house-a", ""), Bucket: 63, Digest: two}}
	b := []shiftsync.BucketDigest{{Unit: unit("house-b", "ben"), Bucket: 0, Digest: two}}
	stored := []shiftsync.BucketDigest{{Unit: unit("house-a", "ada"), Bucket: 3, Digest: two}}
	update := func(fn func(tx shiftsync.Tx) error) {
		t.Helper()
		if err := st.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	update(func(tx shiftsync.Tx) error {
		if err := tx.SetDigests(ctx, stored); err != nil {
			return err
		}
		for i, ds := range [][]shiftsync.BucketDigest{a, b, a} {
			pending, err := tx.AddDigestDeltas(ctx, ds[0].Unit.ServiceID, shiftsync.EncodeDigestDeltas(ds))
			if err != nil {
				return err
			}
			if pending != i+1 {
				t.Errorf("AddDigestDeltas = %d pending; want %d", pending, i+1)
			}
		}
		return nil
	})
	sorted := func(ds []shiftsync.BucketDigest) []shiftsync.BucketDigest {
		ds = slices.Clone(ds)
		slices.SortFunc(ds, func(x, y shiftsync.BucketDigest) int {
			return cmp.Or(strings.Compare(x.Unit.ServiceID, y.Unit.ServiceID), strings.Compare(x.Unit.PersonID, y.Unit.PersonID),
				cmp.Compare(x.Bucket, y.Bucket), bytes.Compare(x.Digest[:], y.Digest[:]))
		})
		return ds
	}
	view := func(services ...string) (got []shiftsync.BucketDigest) {
		t.Helper()
		if err := st.View(ctx, func(tx shiftsync.Tx) (err error) {
			got, err = tx.Digests(ctx, services...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return sorted(got)
	}
	if got, want := view("house-a"), sorted(slices.Concat(stored, a, a)); !slices.Equal(got, want) {
		t.Errorf("Digests(house-a) = %+v\nwant the accumulator and both pending rows %+v", got, want)
	}
	if got, want := view(), sorted(slices.Concat(stored, a, b, a)); !slices.Equal(got, want) {
		t.Errorf("Digests() = %+v\nwant %+v", got, want)
	}
	update(func(tx shiftsync.Tx) error {
		taken, err := tx.TakeDigestDeltas(ctx)
		if err != nil {
			return err
		}
		if got, want := sorted(taken), sorted(slices.Concat(a, b, a)); !slices.Equal(got, want) {
			t.Errorf("TakeDigestDeltas = %+v\nwant %+v", got, want)
		}
		if again, err := tx.TakeDigestDeltas(ctx); err != nil || len(again) != 0 {
			t.Errorf("TakeDigestDeltas again = %+v, %v; want none", again, err)
		}
		return nil
	})
	if got := view(); !slices.Equal(got, stored) {
		t.Errorf("Digests() after the take = %+v; want only the accumulator %+v", got, stored)
	}
	update(func(tx shiftsync.Tx) error {
		_, err := tx.AddDigestDeltas(ctx, "house-b", shiftsync.EncodeDigestDeltas(b))
		if err != nil {
			return err
		}
		return tx.ReplaceDigests(ctx, nil)
	})
	if got := view(); len(got) != 0 {
		t.Errorf("Digests() after ReplaceDigests(nil) = %+v; want none, pending rows too", got)
	}
}
