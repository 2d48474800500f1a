package rpc_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestPush_ReplaysPushStoredByPreviousCode re-pushes, over HTTP, the
// mutations stored in testdata/pushed-e2c3303.db, a database written by the
// code of commit e2c3303 (before the mutation digest moved into the domain)
// with the program testdata/pushed-e2c3303.go.txt, which says how to
// regenerate it. Each accepted one must come back replayed, never
// counter_reused: the digests stored then match the digests taken now. The
// audit chain that code wrote must still verify, before the push and after
// it (the harness checks it again when the server closes).
func TestPush_ReplaysPushStoredByPreviousCode(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "pushed-e2c3303.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shiftsync.db")
	if err := os.WriteFile(path, fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	ctx := context.Background()
	n, err := s.Store.Audit.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("VerifyAudit() of the previous code's chain error = %v", err)
	}
	if n == 0 {
		t.Fatal("VerifyAudit() checked no events: the fixture has no audit log")
	}
	// What the previous code quarantined it stored in payload format 1;
	// migration 00011 converted it, so it lists as the message the device
	// sent, which the generated types read back whole.
	listed, _ := quarantineOf(t, s, s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a").Token, "house-a")
	want := replayMutations()[3]
	var sent syncv1.Mutation
	if c := listed[want.GetRecordId()]; c == nil || protojson.Unmarshal([]byte(c.GetPayloadJson()), &sent) != nil || !proto.Equal(&sent, want) {
		t.Errorf("the previous code's quarantined change listed as %v; want the protojson of %v", c, want)
	}
	client := s.Client(s.AddDevice("u1", "d1", "house-a"))
	res, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: replayMutations()})
	if err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	if got := res.GetAcknowledgedCounter(); got != 4 {
		t.Errorf("AcknowledgedCounter = %d, want 4", got)
	}
	results := res.GetResults()
	if len(results) != 4 {
		t.Fatalf("Push() returned %d results, want 4", len(results))
	}
	for _, r := range results[:3] {
		if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED || !r.GetReplayed() {
			t.Errorf("counter %d: %v, want accepted and replayed", r.GetCounter(), r)
		}
	}
	if r := results[3]; r.GetReasonCode() == "counter_reused" {
		t.Errorf("counter %d (quarantined by the previous code): %v, not counter_reused", r.GetCounter(), r)
	}
	if _, err := s.Store.Audit.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit() after the replay error = %v", err)
	}
}

// replayMutations are the mutations in testdata/pushed-e2c3303.db, pushed
// by device d1 of user u1 (services house-a) at shiftsynctest.Epoch: three
// accepted, the last quarantined (house-b is not in the device's scope).
func replayMutations() []*syncv1.Mutation {
	at := shiftsynctest.Epoch
	return []*syncv1.Mutation{
		shiftsynctest.Incident(1, "01900000-0000-7000-8000-0000000000a1", "house-a", "p1", at, "kicked the door"),
		shiftsynctest.Incident(2, "01900000-0000-7000-8000-0000000000a2", "house-a", "p2", at, "<b>Zoë</b> & \"Ali\" \u2028 日本語 🙂"),
		shiftsynctest.Action(3, "01900000-0000-7000-8000-0000000000a3", "house-a", "p1", at, "housing", at.Add(72*time.Hour)),
		shiftsynctest.Incident(4, "01900000-0000-7000-8000-0000000000a4", "house-b", "p3", at, "outside the scope"),
	}
}
