package rpc_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	_ "github.com/mattn/go-sqlite3" // to hold the store's write lock from outside

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestOverload: with the bound at one call in flight and one call held
// (a push waiting for the store's write lock, which another process
// holds), the next call is refused unavailable with a Retry-After (after
// waiting rpc.MaxQueueWait for a place) while the held call is still held,
// so it did not wait for it; once the held call ends, calls are answered
// again.
func TestOverload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shiftsync.db")
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)), shiftsynctest.WithMaxInFlight(1))
	token := s.AddDevice("u1", "phone-1", "house-a")
	client := s.Client(token)
	ctx := context.Background()

	// Another process's write transaction, as an admin command's.
	other, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()

	held := make(chan error, 1)
	go func() {
		_, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
			shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "sam", shiftsynctest.Epoch, "Pushed the door"),
		}})
		held <- err
	}()
	// The held call is in flight once the server counts it.
	counted := time.Now().Add(30 * time.Second)
	for value(t, scrape(t, s.URL), "shiftsync_rpc_in_flight") != 1 {
		select {
		case err := <-held:
			t.Fatalf("the held push ended before it was counted: %v", err)
		default:
		}
		if time.Now().After(counted) {
			t.Fatal("the held push was not counted in flight within 30 s")
		}
	}

	_, err = client.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
	if got := shiftsynctest.ErrorCode(err); connect.CodeOf(err) != connect.CodeUnavailable || got != "unavailable" {
		t.Fatalf("Pull beyond the bound = %v (code %q), want unavailable", err, got)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Meta().Get("Retry-After") != "1" {
		t.Errorf("the refusal %v has no Retry-After of 1 s", err)
	}
	select {
	case err := <-held:
		t.Fatalf("the held push ended (%v) before the refusal: the refusal may have waited for it", err)
	default:
	}
	if n := value(t, scrape(t, s.URL), "shiftsync_rpc_overload_refused_total"); n != 1 {
		t.Errorf("shiftsync_rpc_overload_refused_total = %g, want 1", n)
	}

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-held; err != nil {
		t.Fatalf("the held push, once the lock was let go: %v", err)
	}
	if _, err := client.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Fatalf("Pull once the held call ended: %v", err)
	}
}
