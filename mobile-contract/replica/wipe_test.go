package replica_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// TestReplica_WipedWhenRevoked revokes an enrolled device: its next sync is
// answered "device_revoked", the replica deletes every record and outbox
// entry, and it refuses writes and syncs from then on, also after reopening.
func TestReplica_WipedWhenRevoked(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	enrolled := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	path := filepath.Join(t.TempDir(), "phone.db")
	r, err := replica.Open(path, enrolled.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fields := `{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"synced before the phone was lost"}}`
	if _, err := r.Create("incident", "house-a", "p1", fields); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(s.URL, enrolled.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create("incident", "house-a", "p1", fields); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.RevokeDevice(context.Background(), shiftsync.Principal{UserID: "manager"}, enrolled.DeviceID, "phone lost"); err != nil {
		t.Fatal(err)
	}

	_, err = r.Sync(s.URL, enrolled.Token)
	if got := replica.ErrorCode(err); got != replica.CodeDeviceRevoked {
		t.Fatalf("Sync() after revocation: code %q (%v), want %q", got, err, replica.CodeDeviceRevoked)
	}
	if list, err := r.ListJSON(); err != nil || list != "[]" {
		t.Errorf("records after the wipe: %s, %v; want none", list, err)
	}
	if outbox, err := r.OutboxJSON(); err != nil || outbox != "[]" {
		t.Errorf("outbox after the wipe: %s, %v; want empty", outbox, err)
	}
	if _, err := r.Create("incident", "house-a", "p1", fields); replica.ErrorCode(err) != replica.CodeDeviceRevoked {
		t.Errorf("Create() on a wiped replica: %v, want %s", err, replica.CodeDeviceRevoked)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := replica.Open(path, enrolled.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if _, err := reopened.Sync(s.URL, enrolled.Token); replica.ErrorCode(err) != replica.CodeDeviceRevoked {
		t.Errorf("Sync() after reopening: %v, want %s", err, replica.CodeDeviceRevoked)
	}
}
