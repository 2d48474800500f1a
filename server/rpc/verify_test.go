package rpc_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// deviceDigests computes, as a device does, the unit digests of the pulled
// changes (the incidents' string and timestamp fields).
func deviceDigests(changes []*syncv1.FieldChange) []*syncv1.UnitDigest {
	sums := map[shiftsync.HeldUnit]shiftsync.Digest{}
	var order []shiftsync.HeldUnit
	for _, c := range changes {
		u := shiftsync.HeldUnit{ServiceID: c.GetServiceId(), PersonID: c.GetPersonId(), RecordType: c.GetRecordType()}
		var v shiftsync.Value
		switch pv := c.GetValue(); {
		case pv.GetTimestampValue() != nil:
			v = shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: pv.GetTimestampValue().AsTime()}
		default:
			v = shiftsync.Value{Kind: shiftsync.KindString, String: pv.GetStringValue()}
		}
		ver := shiftsync.Version{HLC: shiftsync.HLC{WallMS: c.GetVersion().GetHlc().GetWallMs(), Logical: c.GetVersion().GetHlc().GetLogical()}, DeviceID: c.GetVersion().GetDeviceId()}
		if _, ok := sums[u]; !ok {
			order = append(order, u)
		}
		d := sums[u]
		d.Add(shiftsync.DigestElement(c.GetRecordId(), c.GetField(), ver, v))
		sums[u] = d
	}
	var out []*syncv1.UnitDigest
	for _, u := range order {
		d := sums[u]
		out = append(out, &syncv1.UnitDigest{Unit: &syncv1.DigestUnit{ServiceId: u.ServiceID, PersonId: u.PersonID, RecordType: u.RecordType}, Digest: d[:]})
	}
	return out
}

// bucketsOf returns the bucket digests of the changes, all of one unit.
func bucketsOf(changes []*syncv1.FieldChange) (out [shiftsync.DigestBuckets]shiftsync.Digest) {
	for _, c := range changes {
		one := deviceDigests([]*syncv1.FieldChange{c})[0]
		var d shiftsync.Digest
		copy(d[:], one.GetDigest())
		out[shiftsync.DigestBucket(c.GetRecordId())].Add(d)
	}
	return out
}

// pullRepair pulls every page of a repair pull of the bucket.
func pullRepair(ctx context.Context, client syncv1connect.SyncServiceClient, b *syncv1.DigestBucket) ([]*syncv1.FieldChange, string, error) {
	var (
		changes []*syncv1.FieldChange
		cursor  string
	)
	for {
		res, err := client.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo(), Cursor: cursor, Repair: b})
		if err != nil {
			return nil, "", err
		}
		changes, cursor = append(changes, res.GetChanges()...), res.GetNextCursor()
		if !res.GetHasMore() {
			return changes, cursor, nil
		}
	}
}

// TestSyncHandler_Verify checks Verify's answers: not caught up before the
// device has pulled to the end; a signed MATCH for the digests of what it
// pulled; MISMATCH with the 64 bucket digests of a unit whose digest
// differs, the differing bucket being the changed record's; a unit of a
// service outside the caller's scope not answered though the server holds
// records of it, and an empty one of its scope answered empty. A repair pull of that bucket returns that
// record's fields only.
func TestSyncHandler_Verify(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testVerify(t, shiftsynctest.NewServer(t)) })
	t.Run("PostgreSQL", func(t *testing.T) {
		testVerify(t, shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.Postgres(shiftsynctest.PostgresDSN(t)))))
	})
}

func testVerify(t *testing.T, s *shiftsynctest.Server) {
	ctx := context.Background()
	phone := s.EnrolDevice(t, "worker-1", shiftsync.RoleSupportWorker, "house-a")
	other := s.EnrolDevice(t, "worker-2", shiftsync.RoleSupportWorker, "house-b")
	client := s.Client(phone.Token)
	at := s.Clock.Now()
	a, b := shiftsynctest.RecordID(t), shiftsynctest.RecordID(t)
	if _, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.Incident(1, a, "house-a", "p1", at, "one"), shiftsynctest.Incident(2, b, "house-a", "p1", at, "two")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client(other.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-b", "p2", at, "elsewhere")}}); err != nil {
		t.Fatal(err)
	}
	verify := func(cursor string, units []*syncv1.UnitDigest) *syncv1.VerifyResponse {
		t.Helper()
		res, err := client.Verify(ctx, &syncv1.VerifyRequest{Client: shiftsynctest.ClientInfo(), Cursor: cursor, Units: units})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return res
	}
	if got := verify("", nil).GetStatus(); got != syncv1.VerifyStatus_VERIFY_STATUS_NOT_CAUGHT_UP {
		t.Errorf("Verify before pulling = %v, want NOT_CAUGHT_UP", got)
	}
	changes, page, err := shiftsynctest.PullFrom(ctx, client, "")
	if err != nil {
		t.Fatal(err)
	}
	units := deviceDigests(changes)
	res := verify(page.GetNextCursor(), units)
	if res.GetStatus() != syncv1.VerifyStatus_VERIFY_STATUS_MATCH || len(res.GetUnits()) != 1 || len(res.GetUnits()[0].GetBuckets()) != 0 {
		t.Fatalf("Verify of what was pulled = %v", res)
	}
	key, err := s.Identity.ActiveKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cursor, _ := shiftsync.ParseCursor(res.GetCursor())
	v := shiftsync.Verification{Status: shiftsync.VerifyStatus(res.GetStatus()), StoreID: res.GetStoreId(), Epoch: res.GetEpoch(), Cursor: cursor,
		At: time.UnixMilli(res.GetVerifiedAtMs()).UTC(), Signature: res.GetSignature()}
	for _, u := range res.GetUnits() {
		var d shiftsync.Digest
		copy(d[:], u.GetDigest())
		v.Units = append(v.Units, shiftsync.UnitDigest{Unit: shiftsync.HeldUnit{ServiceID: u.GetUnit().GetServiceId(), PersonID: u.GetUnit().GetPersonId(), RecordType: u.GetUnit().GetRecordType()}, Digest: d})
	}
	if res.GetKeyId() != key.ID || !v.VerifySignature(key.Private.Public().(ed25519.PublicKey)) {
		t.Errorf("the MATCH answer's signature does not verify with the active key %s (signed by %s)", key.ID, res.GetKeyId())
	}

	// The device lost record a's description: its digest lacks that element.
	var lacking []*syncv1.FieldChange
	for _, c := range changes {
		if c.GetRecordId() != a || c.GetField() != "behaviour_description" {
			lacking = append(lacking, c)
		}
	}
	res = verify(page.GetNextCursor(), deviceDigests(lacking))
	if res.GetStatus() != syncv1.VerifyStatus_VERIFY_STATUS_MISMATCH || len(res.GetUnits()) != 1 || len(res.GetUnits()[0].GetBuckets()) != shiftsync.DigestBuckets {
		t.Fatalf("Verify of a replica lacking a field = %v", res)
	}
	var differ []int
	held := bucketsOf(lacking)
	for i, bd := range res.GetUnits()[0].GetBuckets() {
		if string(bd) != string(held[i][:]) {
			differ = append(differ, i)
		}
	}
	if want := shiftsync.DigestBucket(a); len(differ) != 1 || differ[0] != want {
		t.Errorf("buckets that differ: %v, want [%d]", differ, want)
	}

	// A unit of house-b, which the caller may not pull: not answered,
	// though the server holds records of it.
	foreign := &syncv1.UnitDigest{Unit: &syncv1.DigestUnit{ServiceId: "house-b", PersonId: "p2", RecordType: "incident"}, Digest: make([]byte, 32)}
	foreign.Digest[31] = 1
	res = verify(page.GetNextCursor(), append(deviceDigests(changes), foreign))
	if res.GetStatus() != syncv1.VerifyStatus_VERIFY_STATUS_MATCH || len(res.GetUnits()) != 1 || res.GetUnits()[0].GetUnit().GetServiceId() != "house-a" {
		t.Fatalf("Verify naming another service's unit = %v", res)
	}
	// A unit of the caller's scope the server holds nothing of: answered
	// empty, with its buckets.
	empty := &syncv1.UnitDigest{Unit: &syncv1.DigestUnit{ServiceId: "house-a", PersonId: "p9", RecordType: "incident"}, Digest: foreign.Digest}
	res = verify(page.GetNextCursor(), append(deviceDigests(changes), empty))
	if res.GetStatus() != syncv1.VerifyStatus_VERIFY_STATUS_MISMATCH || len(res.GetUnits()) != 2 || len(res.GetUnits()[1].GetDigest()) != 0 || len(res.GetUnits()[1].GetBuckets()) != shiftsync.DigestBuckets {
		t.Fatalf("Verify naming an empty unit of the scope = %v", res)
	}

	// A repair pull of the differing bucket: record a's fields only.
	repaired, _, err := pullRepair(ctx, client, &syncv1.DigestBucket{Unit: &syncv1.DigestUnit{ServiceId: "house-a", PersonId: "p1", RecordType: "incident"}, Bucket: uint32(shiftsync.DigestBucket(a))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range repaired {
		if shiftsync.DigestBucket(c.GetRecordId()) != shiftsync.DigestBucket(a) {
			t.Errorf("repair pull returned %s of another bucket", c.GetRecordId())
		}
	}
	if len(repaired) < 2 {
		t.Errorf("repair pull returned %d fields, want record %s's 2 at least", len(repaired), a)
	}
	if _, err := client.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo(), Repair: &syncv1.DigestBucket{Unit: &syncv1.DigestUnit{ServiceId: "house-a", RecordType: "incident"}, Bucket: 64}}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodeInvalid) {
		t.Errorf("repair pull of bucket 64: %v, want invalid", err)
	}
}
