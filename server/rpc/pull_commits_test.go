package rpc_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestPull_CaughtUpCommitsNothing counts the store's commits (each an
// fsync on SQLite): a phone that is caught up pulls without a single
// commit, and a page that brings it one new change costs exactly one, its
// audit entry (the device's unchanged health report is not written again
// within a minute).
func TestPull_CaughtUpCommitsNothing(t *testing.T) {
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(filepath.Join(t.TempDir(), "shiftsync.db"))))
	ctx := context.Background()
	reader := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	writer := s.EnrolDevice(t, "ben", shiftsync.RoleSupportWorker, "house-a")
	commits := func() float64 { return value(t, scrape(t, s.URL), "shiftsync_store_commits_total") }
	cursor := ""
	pull := func() int {
		t.Helper()
		res, err := s.Client(reader.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo(), Cursor: cursor})
		if err != nil {
			t.Fatalf("Pull: %v", err)
		}
		cursor = res.GetNextCursor()
		return len(res.GetChanges())
	}
	pushOne(t, s, writer.Token, shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), "first"))
	if pull() == 0 {
		t.Fatal("setup: the first pull brought nothing")
	}
	pulls := s.AuditCount(t, shiftsync.AuditPull)

	before := commits()
	for range 3 {
		if n := pull(); n != 0 {
			t.Fatalf("a caught-up pull brought %d changes", n)
		}
	}
	if after := commits(); after != before {
		t.Errorf("three caught-up pulls committed %g times, want none", after-before)
	}
	if n := s.AuditCount(t, shiftsync.AuditPull); n != pulls {
		t.Errorf("caught-up pulls wrote %d audit entries; they read nothing", n-pulls)
	}

	pushOne(t, s, writer.Token, shiftsynctest.Incident(2, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), "second"))
	before = commits()
	if pull() == 0 {
		t.Fatal("the pull after a push brought nothing")
	}
	if after := commits(); after != before+1 {
		t.Errorf("a pull of one new change committed %g times, want 1 (its audit entry)", after-before)
	}
	if n := s.AuditCount(t, shiftsync.AuditPull); n != pulls+1 {
		t.Errorf("the pull of a new change wrote %d audit entries, want 1", n-pulls)
	}
}
