package scenario_test

import (
	"context"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestDeviceSyncHealth: a phone that logged offline for three hours
// syncs when it gets signal, and the manager sees when each phone last
// pushed and pulled and that its outbox is now empty (what the phone
// reported after its push, not the two changes it held before); a phone
// that never synced shows as such, first.
func TestDeviceSyncHealth(t *testing.T) {
	w := newWorld(t)
	ana := w.phone("ana", shiftsync.RoleSupportWorker)
	ben := w.phone("ben", shiftsync.RoleSupportWorker)
	ana.SetAppVersion("android-2.4.1")

	w.at(day(0, 8, 30)) // once Sam is back at his baseline
	ana.transitionIncident(day(0, 7, 50), "Shouted at the bus stop")
	w.at(day(0, 9, 5)) // after the sign was seen
	ana.log("early_warning_sign", person, fields{"observed_at": ts(day(0, 9, 0)), "sign": str("pacing")})
	w.at(day(0, 11, 0))
	ana.sync()

	health, err := w.s.Review.DeviceHealth(context.Background(), shiftsync.Principal{UserID: w.manager.UserID}, service)
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string]shiftsync.DeviceHealth{}
	for _, h := range health {
		byDevice[h.DeviceID] = h
	}
	a, b := byDevice[ana.DeviceID()], byDevice[ben.DeviceID()]
	if a.OutboxDepth != 0 || a.OldestUnsyncedAge != 0 || a.AppVersion != "android-2.4.1" || a.Kind != shiftsync.KindPhone ||
		!a.LastPushAt.Equal(day(0, 11, 0)) || !a.LastPullAt.Equal(day(0, 11, 0)) || a.UserID != "ana" {
		t.Errorf("ana's phone = %+v, want a phone with an empty outbox, pushed and pulled at 11:00", a)
	}
	if b.DeviceID == "" || !b.LastPushAt.IsZero() || !b.LastPullAt.IsZero() || !b.ReportedAt.IsZero() {
		t.Errorf("ben's phone = %+v, want listed, never synced", b)
	}
	if len(health) == 0 || health[0].LastPullAt.After(health[len(health)-1].LastPullAt) {
		t.Errorf("devices not ordered oldest sync first: %+v", health)
	}
	if _, err := w.s.Review.DeviceHealth(context.Background(), shiftsync.Principal{UserID: "ana"}, service); shiftsync.ErrorCode(err) != shiftsync.CodePermissionDenied {
		t.Errorf("a support worker's DeviceHealth() = %v, want permission_denied", err)
	}
	w.moveToPostgres()
}
