package storetest

import (
	"cmp"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testEngineCorrections: a quarantined change is corrected by a later
// mutation of the same device and record naming its counter
// ([shiftsync.Mutation.Corrects]) and carrying every field the record
// needs; once the correction is accepted, the quarantine entry says who
// corrected it, when and by which counter. A correction of nothing marks
// nothing, another device cannot mark this device's entries, and a
// correction naming no counter before its own is quarantined.
func testEngineCorrections(t *testing.T, open Factory) {
	t.Run("CorrectedCreation", func(t *testing.T) {
		e := newEngine(t, open)
		id := e.id(t)
		// The first try lacks the description the worker thought they typed.
		first := e.incident(1, id, "house-a", e.at(-2*time.Minute), "")
		first.Fields = first.Fields[:1]
		if r := e.push(t, enginePhone1, first).Results[0]; r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonMissingRequired {
			t.Fatalf("first try: %+v, want quarantined %s", r, shiftsync.ReasonMissingRequired)
		}
		fixed := withCorrects(e.incident(2, id, "house-a", e.at(-time.Minute), "kicked the door"), 1)
		if r := e.push(t, enginePhone1, fixed).Results[0]; r.Status != shiftsync.StatusAccepted {
			t.Fatalf("correction: %+v, want accepted", r)
		}
		// A second correction of the same entry keeps the first.
		again := withCorrects(e.edit(3, id, "house-a", e.at(-30*time.Second), "place", "hall", shiftsync.Version{}), 1)
		if r := e.push(t, enginePhone1, again).Results[0]; r.Status != shiftsync.StatusAccepted {
			t.Fatalf("second correction: %+v, want accepted", r)
		}
		qs := e.quarantined(t, "house-a")
		var entry *shiftsync.QuarantinedChange
		for i := range qs {
			if qs[i].DeviceID == enginePhone1.DeviceID && qs[i].Counter == 1 {
				entry = &qs[i]
			} else if qs[i].Correction != nil {
				t.Errorf("entry %+v is marked corrected: only phone-1's counter 1 was", qs[i])
			}
		}
		want := &shiftsync.Correction{UserID: enginePhone1.UserID, Counter: 2, At: engineEpoch}
		if entry == nil {
			t.Fatalf("quarantine %+v lacks phone-1's first try", qs)
		}
		if diff := gocmp.Diff(want, entry.Correction); diff != "" {
			t.Errorf("correction of the first try (-want +got):\n%s", diff)
		}
	})

	t.Run("AnotherDeviceMarksNothing", func(t *testing.T) {
		e := newEngine(t, open)
		id := e.id(t)
		for _, p := range []shiftsync.Principal{enginePhone1, enginePhone2} {
			bad := e.incident(1, cmp.Or(map[string]string{enginePhone1.DeviceID: id}[p.DeviceID], e.id(t)), "house-a", e.at(-2*time.Minute), "")
			bad.Fields = bad.Fields[:1]
			e.push(t, p, bad)
		}
		// phone-2 writes phone-1's record, naming its own counter 1.
		if r := e.push(t, enginePhone2, withCorrects(e.incident(2, id, "house-a", e.at(-time.Minute), "by phone-2"), 1)).Results[0]; r.Status != shiftsync.StatusAccepted {
			t.Fatalf("push: %+v, want accepted", r)
		}
		for _, q := range e.quarantined(t, "house-a") {
			if q.Correction != nil {
				t.Errorf("entry of %s counter %d is marked corrected: %+v", q.DeviceID, q.Counter, q.Correction)
			}
		}
	})

	t.Run("CorrectionOfAnotherRecordMarksNothing", func(t *testing.T) {
		e := newEngine(t, open)
		bad := e.incident(1, e.id(t), "house-a", e.at(-2*time.Minute), "")
		bad.Fields = bad.Fields[:1]
		e.push(t, enginePhone1, bad)
		if r := e.push(t, enginePhone1, withCorrects(e.incident(2, e.id(t), "house-a", e.at(-time.Minute), "another record"), 1)).Results[0]; r.Status != shiftsync.StatusAccepted {
			t.Fatalf("push: %+v, want accepted", r)
		}
		if qs := e.quarantined(t, "house-a"); len(qs) != 1 || qs[0].Correction != nil {
			t.Errorf("quarantine %+v: want the first try uncorrected", qs)
		}
	})

	t.Run("CorrectionOfNoEarlierCounter", func(t *testing.T) {
		e := newEngine(t, open)
		for _, tt := range []struct{ counter, corrects uint64 }{{1, 0}, {2, 2}, {3, 4}} {
			m := withCorrects(e.incident(tt.counter, e.id(t), "house-a", e.at(-time.Minute), "x"), tt.corrects)
			if r := e.push(t, enginePhone1, m).Results[0]; r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonInvalidCorrection {
				t.Errorf("counter %d correcting %d: %+v, want quarantined %s", tt.counter, tt.corrects, r, shiftsync.ReasonInvalidCorrection)
			}
		}
	})
}

// withCorrects returns m naming the counters it corrects.
func withCorrects(m shiftsync.Mutation, counters ...uint64) shiftsync.Mutation {
	m.Corrects = counters
	return m
}
