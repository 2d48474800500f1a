package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testEngineBackupReach: push and pull answers carry each device's backup
// reach and the store's epoch; a backup raises the reach of the devices it
// holds, never lowers it, and one of another epoch is refused; a new epoch
// (a restore) sets every reach to what the store holds, refuses the cursors
// of the epoch before, and is audited.
func testEngineBackupReach(t *testing.T, open Factory) {
	ctx := context.Background()
	e := newEngine(t, open)
	phone1, phone2 := enginePhone1, enginePhone2
	for c := uint64(1); c <= 3; c++ {
		e.push(t, phone1, e.incident(c, e.id(t), "house-a", e.at(-time.Duration(10-c)*time.Minute), "before the backup"))
	}
	e.push(t, phone2, e.incident(1, e.id(t), "house-a", e.at(-9*time.Minute), "phone 2"))
	res := e.push(t, phone1)
	if res.BackedUpThrough != 0 || res.Epoch != "" {
		t.Fatalf("before any backup: BackedUpThrough, Epoch = %d, %q; want 0, \"\"", res.BackedUpThrough, res.Epoch)
	}
	note := func(b shiftsync.Backup) error {
		return e.store.Update(ctx, func(tx shiftsync.Tx) error { return shiftsync.NoteBackup(ctx, tx, b) })
	}
	must(t, note(shiftsync.Backup{Path: "b1", Acknowledged: map[string]uint64{phone1.DeviceID: 2, phone2.DeviceID: 1}}))
	// A backup reaching less (one finished after a later one) lowers nothing.
	must(t, note(shiftsync.Backup{Path: "b0", Acknowledged: map[string]uint64{phone1.DeviceID: 1}}))
	if res := e.push(t, phone1, e.incident(4, e.id(t), "house-a", e.at(-5*time.Minute), "after the backup")); res.BackedUpThrough != 2 || res.Acknowledged != 4 {
		t.Errorf("push after a backup: BackedUpThrough, Acknowledged = %d, %d; want 2, 4", res.BackedUpThrough, res.Acknowledged)
	}
	page, err := e.sync.Pull(ctx, phone2, shiftsync.Cursor{}, 100)
	must(t, err)
	if page.BackedUpThrough != 1 || page.Epoch != "" || page.Next.Epoch != "" {
		t.Errorf("pull: BackedUpThrough, Epoch, cursor epoch = %d, %q, %q; want 1, \"\", \"\"", page.BackedUpThrough, page.Epoch, page.Next.Epoch)
	}
	if err := note(shiftsync.Backup{Path: "other", Epoch: "another", Acknowledged: map[string]uint64{phone1.DeviceID: 4}}); shiftsync.ErrorCode(err) != shiftsync.CodeConflict {
		t.Errorf("NoteBackup of another epoch = %v, want code conflict", err)
	}

	// A restore: the store now holds phone-1's 1..4 and phone-2's 1.
	epoch := shiftsync.NewEpoch()
	operator := shiftsync.Principal{UserID: "shiftsyncd:admin"}
	must(t, e.store.Update(ctx, func(tx shiftsync.Tx) error {
		return shiftsync.StartEpoch(ctx, tx, epoch, shiftsync.Backup{Path: "b1", HeadSeq: 7}, operator, engineEpoch)
	}))
	if err := e.store.Update(ctx, func(tx shiftsync.Tx) error {
		return shiftsync.StartEpoch(ctx, tx, epoch, shiftsync.Backup{Path: "b1"}, operator, engineEpoch)
	}); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid {
		t.Errorf("StartEpoch of the current epoch again = %v, want code invalid", err)
	}
	res = e.push(t, phone1)
	if res.Epoch != epoch || res.BackedUpThrough != 4 {
		t.Errorf("push after a restore: Epoch, BackedUpThrough = %q, %d; want %q, 4", res.Epoch, res.BackedUpThrough, epoch)
	}
	if _, err := e.sync.Pull(ctx, phone2, page.Next, 100); shiftsync.ErrorCode(err) != shiftsync.CodeResyncRequired {
		t.Errorf("Pull with a cursor of the epoch before = %v, want resync_required", err)
	}
	if _, err := e.sync.Latest(ctx, phone2, page.Next); shiftsync.ErrorCode(err) != shiftsync.CodeResyncRequired {
		t.Errorf("Latest with a cursor of the epoch before = %v, want resync_required", err)
	}
	page, err = e.sync.Pull(ctx, phone2, shiftsync.Cursor{}, 100)
	must(t, err)
	if page.Epoch != epoch || page.Next.Epoch != epoch || page.BackedUpThrough != 1 {
		t.Errorf("pull from empty after a restore: Epoch, cursor epoch, BackedUpThrough = %q, %q, %d; want %q, %q, 1", page.Epoch, page.Next.Epoch, page.BackedUpThrough, epoch, epoch)
	}
	if _, err := e.sync.Pull(ctx, phone2, page.Next, 100); err != nil {
		t.Errorf("Pull with a cursor of the new epoch: %v", err)
	}
	must(t, note(shiftsync.Backup{Path: "b2", Epoch: epoch, Acknowledged: map[string]uint64{phone1.DeviceID: 5}}))
	if res := e.push(t, phone1); res.BackedUpThrough != 5 {
		t.Errorf("after a backup of the new epoch: BackedUpThrough = %d, want 5", res.BackedUpThrough)
	}
	var (
		detail string
		found  bool
	)
	e.view(t, func(tx shiftsync.Tx) (err error) {
		detail, found, err = tx.AuditDetail(ctx, shiftsync.AuditRestore, "b1")
		return err
	})
	if !found || !strings.Contains(detail, `"epoch":"`+epoch+`"`) {
		t.Errorf("store.restore audit entry: %q, %v; want one naming the new epoch", detail, found)
	}
}

// testEngineCounterGap: a push past a gap in a device's counters is
// refused and its lowest counter kept, so AcceptCounterGap gives up only
// the counters below it (by default all of them), and the device then
// pushes on from it.
func testEngineCounterGap(t *testing.T, open Factory) {
	ctx := context.Background()
	e := newEngine(t, open)
	phone := enginePhone1
	operator := shiftsync.Principal{UserID: "shiftsyncd:admin"}
	accept := func(through uint64) (uint64, error) {
		var from uint64
		err := e.store.Update(ctx, func(tx shiftsync.Tx) (err error) {
			from, err = shiftsync.AcceptCounterGap(ctx, tx, phone.DeviceID, through, "restored -older", operator, engineEpoch)
			return err
		})
		return from, err
	}
	e.push(t, phone, e.incident(1, e.id(t), "house-a", e.at(-9*time.Minute), "held"))
	if _, err := accept(0); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid || !strings.Contains(err.Error(), "no counter past a gap") {
		t.Errorf("AcceptCounterGap with no gap = %v; want invalid, no counter past a gap", err)
	}
	for _, c := range []uint64{6, 5} { // the lowest is kept, whatever the order
		if r := e.push(t, phone, e.incident(c, e.id(t), "house-a", e.at(-8*time.Minute), "past the gap")); r.Results[0].Status != shiftsync.StatusNotProcessed {
			t.Fatalf("push of counter %d after 1 = %+v; want not processed", c, r.Results[0])
		}
	}
	if _, err := accept(5); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid || !strings.Contains(err.Error(), "at most counters 2 to 4") {
		t.Errorf("AcceptCounterGap through 5, which the device pushed = %v; want invalid, at most counters 2 to 4", err)
	}
	if from, err := accept(0); err != nil || from != 2 {
		t.Fatalf("AcceptCounterGap(0) = %d, %v; want from 2", from, err)
	}
	if r := e.push(t, phone, e.incident(5, e.id(t), "house-a", e.at(-7*time.Minute), "past the gap")); r.Results[0].Status != shiftsync.StatusAccepted {
		t.Errorf("push of counter 5 after the gap was accepted = %+v; want accepted", r.Results[0])
	}
	if _, err := accept(0); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid {
		t.Errorf("AcceptCounterGap once the gap is accepted = %v; want invalid", err)
	}
}
