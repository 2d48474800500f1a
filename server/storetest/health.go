package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testHealth checks that a device keeps the kind it was stored with, and
// that DeviceHealth lists every device of the service's members labelled
// with its kind (the engine, not the store, lists phones only).
func testHealth(t *testing.T, open Factory) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	s := open(t, func() time.Time { return now })
	ids := s.Identity()
	operator := shiftsync.Principal{UserID: "operator"}
	for _, err := range []error{
		ids.CreateOrganisation(ctx, operator, "org-1", "Org One"),
		ids.CreateService(ctx, operator, "house-a", "org-1", "House A"),
		ids.CreateUser(ctx, operator, "priya", "org-1", "Priya", ""),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ids.AddMembership(ctx, operator, shiftsync.Membership{UserID: "priya", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]shiftsync.DeviceKind{"phone-1": shiftsync.KindPhone, "browser-1": shiftsync.KindBrowser}
	if err := s.Update(ctx, func(tx shiftsync.Tx) error {
		for id, kind := range kinds {
			if err := tx.InsertDevice(ctx, shiftsync.Device{ID: id, UserID: "priya", Label: id, Kind: kind, EnrolledAt: now}, shiftsync.HashSecret(id)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx shiftsync.Tx) error {
		list, err := tx.DeviceHealth(ctx, "house-a", now)
		if err != nil {
			return err
		}
		if len(list) != len(kinds) {
			t.Errorf("DeviceHealth = %+v; want both devices", list)
		}
		for _, d := range list {
			if d.Kind != kinds[d.DeviceID] {
				t.Errorf("DeviceHealth lists %s as %q, want %q", d.DeviceID, d.Kind, kinds[d.DeviceID])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, kind := range kinds {
		if d, err := ids.CheckCredential(ctx, id, id); err != nil || d.Kind != kind {
			t.Errorf("CheckCredential(%s) = %+v, %v; want kind %q", id, d, err, kind)
		}
	}
}
