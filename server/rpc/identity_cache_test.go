package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestIdentityCache_RevokedAtOnce: a phone whose device check and scope
// the server holds in memory (it has just synced) is refused
// device_revoked on its very next call after a manager revokes it.
func TestIdentityCache_RevokedAtOnce(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	phone := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	pull := func() error {
		_, err := s.Client(phone.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		return err
	}
	for range 2 { // the second is answered from memory
		if err := pull(); err != nil {
			t.Fatalf("Pull before the revocation: %v", err)
		}
	}
	if _, err := s.Admin.Store.RevokeDevice(ctx, shiftsync.Principal{UserID: "test"}, phone.DeviceID, "lost"); err != nil {
		t.Fatal(err)
	}
	if got := shiftsynctest.ErrorCode(pull()); got != string(shiftsync.CodeDeviceRevoked) {
		t.Fatalf("Pull right after the revocation: %q, want device_revoked", got)
	}
}

// TestIdentityCache_EndedMembershipAtOnce: a worker whose scope the server
// holds in memory receives nothing more of a service from the moment the
// membership that gave it ends.
func TestIdentityCache_EndedMembershipAtOnce(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	leaver := s.EnrolDevice(t, "leaver", shiftsync.RoleSupportWorker, "house-a")
	stayer := s.EnrolDevice(t, "stayer", shiftsync.RoleSupportWorker, "house-a")
	pulled := func() map[string]bool {
		t.Helper()
		res, err := s.Client(leaver.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		if err != nil {
			t.Fatalf("the leaver's Pull: %v", err)
		}
		ids := map[string]bool{}
		for _, c := range res.GetChanges() {
			ids[c.GetRecordId()] = true
		}
		return ids
	}
	before := shiftsynctest.RecordID(t)
	pushOne(t, s, stayer.Token, shiftsynctest.Incident(1, before, "house-a", "p1", s.Clock.Now(), "before the leaver left"))
	if !pulled()[before] {
		t.Fatal("setup: the leaver does not receive the service's incident while a member")
	}
	ms, err := s.Identity.Memberships(ctx, "leaver")
	if err != nil || len(ms) != 1 {
		t.Fatalf("setup: memberships %v, %v", ms, err)
	}
	if err := s.Admin.Store.EndMembership(ctx, shiftsync.Principal{UserID: "test"}, ms[0].ID, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	after := shiftsynctest.RecordID(t)
	pushOne(t, s, stayer.Token, shiftsynctest.Incident(2, after, "house-a", "p1", s.Clock.Now(), "after the leaver left"))
	if got := pulled(); got[after] || got[before] {
		t.Fatalf("the leaver's Pull right after the membership ended received %v", got)
	}
}

// TestIdentityCache_EndedAcrossInstances: on PostgreSQL, a membership
// ended through one instance narrows the scope another instance holds in
// memory through the change feed, well before the cache's own expiry
// (shiftsync.DefaultIdentityTTL), which is the bound for changes no
// instance publishes.
func TestIdentityCache_EndedAcrossInstances(t *testing.T) {
	dsn := shiftsynctest.PostgresDSN(t)
	a := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(dsn)))
	b := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(dsn)))
	ctx := context.Background()
	leaver := a.EnrolDevice(t, "leaver", shiftsync.RoleSupportWorker, "house-a")
	stayer := a.EnrolDevice(t, "stayer", shiftsync.RoleSupportWorker, "house-a")
	pulled := func() map[string]bool {
		t.Helper()
		res, err := b.Client(leaver.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		if err != nil {
			t.Fatalf("the leaver's Pull at the other instance: %v", err)
		}
		ids := map[string]bool{}
		for _, c := range res.GetChanges() {
			ids[c.GetRecordId()] = true
		}
		return ids
	}
	before := shiftsynctest.RecordID(t)
	pushOne(t, a, stayer.Token, shiftsynctest.Incident(1, before, "house-a", "p1", a.Clock.Now(), "before the leaver left"))
	if !pulled()[before] {
		t.Fatal("setup: the leaver does not receive the service's incident while a member")
	}
	ms, err := a.Identity.Memberships(ctx, "leaver")
	if err != nil || len(ms) != 1 {
		t.Fatalf("setup: memberships %v, %v", ms, err)
	}
	if err := a.Admin.Store.EndMembership(ctx, shiftsync.Principal{UserID: "test"}, ms[0].ID, a.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	// The notification takes the feed's coalescing (50 ms) and a round
	// trip; half the cache's expiry tells the two apart.
	deadline := time.Now().Add(shiftsync.DefaultIdentityTTL / 2)
	for len(pulled()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the leaver still receives house-a at the other instance %s after the membership ended", shiftsync.DefaultIdentityTTL/2)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
