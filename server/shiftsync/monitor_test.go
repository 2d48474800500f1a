package shiftsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// opsCounts is an [shiftsync.OpsStore] answering fixed counts.
type opsCounts shiftsync.OpsCounts

func (c opsCounts) OpsCounts(context.Context) (shiftsync.OpsCounts, error) {
	return shiftsync.OpsCounts(c), nil
}

// TestMonitor_Stats: a phone's last sync is the later of its last push and
// pull, or its enrolment if it never synced; the oldest unsynced age is
// what a phone with changes waiting reported, plus the time since.
func TestMonitor_Stats(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	phones := []shiftsync.DeviceHealth{
		{EnrolledAt: ago(100 * time.Hour), LastPushAt: ago(time.Hour), LastPullAt: ago(30 * time.Hour)}, // synced an hour ago
		{EnrolledAt: ago(100 * time.Hour), LastPushAt: ago(30 * time.Hour), LastPullAt: ago(5 * time.Hour), // over 4 h
			OutboxDepth: 3, OldestUnsyncedAge: 20 * time.Minute, ReportedAt: ago(5 * time.Hour)},
		{EnrolledAt: ago(25 * time.Hour)}, // never synced: over 4 h and 24 h
		{EnrolledAt: ago(2 * time.Hour), OutboxDepth: 0, OldestUnsyncedAge: 50 * time.Hour, ReportedAt: ago(time.Hour)}, // nothing waiting
	}
	backup := ago(3 * time.Hour)
	m := &shiftsync.Monitor{Store: opsCounts{OpenConflicts: 2, Phones: phones, LastBackup: backup}, Now: func() time.Time { return now }}
	got, err := m.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := shiftsync.OpsStats{
		OpenConflicts:     2,
		UnsyncedOver:      map[time.Duration]int{4 * time.Hour: 2, 24 * time.Hour: 1},
		OldestUnsyncedAge: 5*time.Hour + 20*time.Minute,
		LastBackup:        backup,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}
