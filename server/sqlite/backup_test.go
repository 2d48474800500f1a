package sqlite_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// TestDB_Backup: a backup is a copy that passes integrity_check, holds
// every change pushed before it, says how far it reaches and what its
// bytes hash to, leaves no journal beside it and never overwrites a file;
// recorded, it is the last backup and is in the audit log.
func TestDB_Backup(t *testing.T) {
	ctx := context.Background()
	db, clock := MustOpenDB(t)
	sync := MustSyncService(t, db)
	p := shiftsync.Principal{UserID: "priya", DeviceID: "phone-1", Services: []string{"house-a"}}
	var ms []shiftsync.Mutation
	for i := range 20 {
		ms = append(ms, incident(uint64(i+1), newID(t), "house-a", shiftsync.HLC{WallMS: clock.Now().UnixMilli()}, "before the backup"))
	}
	if _, err := sync.Push(ctx, p, ms); err != nil {
		t.Fatal(err)
	}
	var head int64
	if err := db.View(ctx, func(tx shiftsync.Tx) (err error) { head, err = tx.Head(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.LastBackup(ctx); ok || err != nil {
		t.Fatalf("LastBackup() before any = %v, %v", ok, err)
	}

	path := filepath.Join(t.TempDir(), "backup.db")
	b, err := db.Backup(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if b.HeadSeq != head || b.StoreID != db.StoreID() || !b.TakenAt.Equal(clock.Now()) || b.AuditSeq == 0 {
		t.Errorf("Backup() = %+v, want head %d of store %s at %v", b, head, db.StoreID(), clock.Now())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); int64(len(data)) != b.Bytes || string(sum[:]) != string(b.SHA256) {
		t.Errorf("Backup() says %d bytes hashing to %x; the file has %d", b.Bytes, b.SHA256, len(data))
	}
	for _, journal := range []string{path + "-wal", path + "-shm", path + "-journal"} {
		if _, err := os.Stat(journal); err == nil {
			t.Errorf("%s beside the backup", journal)
		}
	}
	copied, err := sqlite.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if err := copied.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	if n, err := copied.VerifyAudit(ctx); err != nil || int64(n) != b.AuditSeq {
		t.Errorf("the copy's audit log: %d entries, %v; want %d", n, err, b.AuditSeq)
	}

	if _, err := db.Backup(ctx, path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("Backup() onto an existing file: %v, want refused", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(data) {
		t.Error("the refused backup changed the existing file")
	}

	operator := shiftsync.Principal{UserID: "operator:root"}
	if err := db.RecordBackup(ctx, b, operator); err != nil {
		t.Fatal(err)
	}
	last, ok, err := db.LastBackup(ctx)
	if err != nil || !ok || last.Path != path || last.HeadSeq != b.HeadSeq || last.AuditSeq != b.AuditSeq || !last.TakenAt.Equal(b.TakenAt) {
		t.Errorf("LastBackup() = %+v, %v, %v; want %+v", last, ok, err, b)
	}
	tip, _, err := db.AuditTip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	if err := db.AuditEntries(ctx, tip, tip, func(e shiftsync.AuditEntry) error {
		found = e.Event.Action == shiftsync.AuditBackup && e.Event.Subject == path && e.Event.Actor.UserID == operator.UserID
		return nil
	}); err != nil || !found {
		t.Errorf("the backup is not the last audit entry: %v", err)
	}
}
