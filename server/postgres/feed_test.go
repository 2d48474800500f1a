package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/inmem"
	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// instance is one server's feed on the shared database.
type instance struct {
	local *inmem.Feed
	feed  *postgres.Feed
}

// startInstances opens n stores on one schema, each with a running feed
// that never polls, so only notifications and reconnections wake.
func startInstances(t *testing.T, dsn string, n int) []instance {
	t.Helper()
	var out []instance
	for range n {
		db := postgres.NewDB(dsn)
		db.Logger = slog.New(slog.DiscardHandler)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		local := &inmem.Feed{}
		f := db.NewFeed(local, local.WakeAll)
		f.PollEvery, f.ReconnectDelay = time.Hour, 10*time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; _ = db.Close() })
		out = append(out, instance{local, f})
	}
	for _, in := range out {
		select {
		case <-in.feed.Listening():
		case <-time.After(10 * time.Second):
			t.Fatal("a feed never listened")
		}
	}
	return out
}

// woken reports whether ch receives within d, draining it.
func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// TestFeed_WakesOtherInstances checks that a push published on one
// instance wakes the streams of its services on another, only those, and
// that a listener whose connection is killed listens again, waking every
// stream since it may have missed notifications.
func TestFeed_WakesOtherInstances(t *testing.T) {
	dsn := shiftsynctest.PostgresDSN(t)
	in := startInstances(t, dsn, 2)
	houseA, stopA := in[1].feed.Subscribe([]string{"house-a"})
	defer stopA()
	houseB, stopB := in[1].feed.Subscribe([]string{"house-b"})
	defer stopB()
	// The backlog wake-up of the first listen may still be pending.
	woken(houseA, 0)
	woken(houseB, 0)

	in[0].feed.Publish("house-a")
	if !woken(houseA, 5*time.Second) {
		t.Fatal("a push on instance 0 did not wake instance 1's stream of its service")
	}
	if woken(houseB, 300*time.Millisecond) {
		t.Error("a push to house-a woke a stream of house-b")
	}

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	tag, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'shiftsyncd' AND query ILIKE 'listen %' AND pid <> pg_backend_pid()
		AND datname = current_database()`)
	if err != nil || tag.RowsAffected() < 2 {
		t.Fatalf("terminating the listeners: %v, %d terminated; want both", err, tag.RowsAffected())
	}
	if !woken(houseB, 5*time.Second) {
		t.Fatal("a listener that lost its connection did not wake every stream as it listened again")
	}
	in[0].feed.Publish("house-b")
	if !woken(houseB, 5*time.Second) {
		t.Fatal("after its listener reconnected, instance 1 is not woken by instance 0's pushes")
	}
}
