package shiftsync_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestMutationDigest pins the digest of a mutation: a device retrying a
// push after an upgrade must match what the earlier version stored, or its
// accepted mutation comes back counter_reused. The server-derived parts of
// a mutation (the action's agency, the app version) are not in it.
func TestMutationDigest(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	m := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: "01900000-0000-7000-8000-000000000001", RecordType: "action", ServiceID: "house-a", PersonID: "sam"},
		DeviceID:  "phone-1", UserID: "priya", Counter: 7, HLC: shiftsync.HLC{WallMS: at.UnixMilli(), Logical: 2},
		Fields: []shiftsync.FieldEdit{
			{Field: "agency", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "housing"}},
			{Field: "deadline", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.Add(72 * time.Hour)},
				Base: shiftsync.Version{HLC: shiftsync.HLC{WallMS: at.UnixMilli() - 1000}, DeviceID: "phone-2"}},
		},
		AppVersion: "1.4.0",
	}
	const want = "5f12b45355bddd33422b56363de6064b4ef97b5190d438d86a318520a8197e4e"
	d := shiftsync.MutationDigest(m)
	if got := hex.EncodeToString(d[:]); got != want {
		t.Errorf("MutationDigest() = %s, want %s (the digest of every stored mutation)", got, want)
	}
	withServerParts := *m
	withServerParts.Agency, withServerParts.AppVersion = "housing", "2.0.0"
	if shiftsync.MutationDigest(&withServerParts) != d {
		t.Error("the digest depends on the agency or the app version")
	}
}
