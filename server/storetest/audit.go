package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testAudit checks the audit log's part of a transaction: an empty log's
// tip is the genesis, appended entries chain in order and commit with the
// transaction, a rolled-back transaction leaves nothing, and a View cannot
// append.
func testAudit(t *testing.T, open Factory) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	s := open(t, func() time.Time { return now })

	tip := func() (int64, []byte) {
		t.Helper()
		var (
			seq  int64
			hash []byte
		)
		if err := s.View(ctx, func(tx shiftsync.Tx) (err error) {
			seq, hash, err = tx.AuditTip(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return seq, hash
	}
	if seq, hash := tip(); seq != 0 || !bytes.Equal(hash, shiftsync.AuditGenesis) {
		t.Fatalf("empty log tip = %d %x, want 0 and the genesis", seq, hash)
	}

	actor := shiftsync.Principal{UserID: "u-1", DeviceID: "d-1"}
	err := s.Update(ctx, func(tx shiftsync.Tx) error {
		for _, subject := range []string{"a", "b"} {
			if err := shiftsync.AppendAudit(ctx, tx, now, shiftsync.AuditEvent{Actor: actor, Action: "test.append", Subject: subject}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seq, hash := tip()
	if seq != 2 {
		t.Fatalf("tip after two appends = %d, want 2", seq)
	}
	prev := shiftsync.AuditHash(shiftsync.AuditGenesis, now, shiftsync.AuditEvent{Actor: actor, Action: "test.append", Subject: "a", Detail: "{}"})
	if want := shiftsync.AuditHash(prev, now, shiftsync.AuditEvent{Actor: actor, Action: "test.append", Subject: "b", Detail: "{}"}); !bytes.Equal(hash, want) {
		t.Fatalf("tip hash %x, want %x: entries must be kept as appended and chained in order", hash, want)
	}

	rollback := errors.New("roll back")
	err = s.Update(ctx, func(tx shiftsync.Tx) error {
		if err := shiftsync.AppendAudit(ctx, tx, now, shiftsync.AuditEvent{Actor: actor, Action: "test.append", Subject: "c"}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
	if seq, _ := tip(); seq != 2 {
		t.Fatalf("tip after a rolled-back append = %d, want 2", seq)
	}

	err = s.View(ctx, func(tx shiftsync.Tx) error {
		return shiftsync.AppendAudit(ctx, tx, now, shiftsync.AuditEvent{Actor: actor, Action: "test.append", Subject: "d"})
	})
	if err == nil {
		t.Fatal("an append inside View succeeded; View must be read-only")
	}
	if seq, _ := tip(); seq != 2 {
		t.Fatalf("tip after a View append = %d, want 2", seq)
	}
}
