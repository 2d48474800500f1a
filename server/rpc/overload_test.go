package rpc_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	_ "github.com/mattn/go-sqlite3" // to hold the store's write lock from outside

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
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

// TestOverload_EnrolHasPlacesOfItsOwn: with the bound at one call and a
// stranger's Enrol held in flight (waiting for the store's write lock,
// which another process holds), a phone's Pull still gets a place: Enrol
// takes a code anyone may send, so it cannot take the phones' places.
func TestOverload_EnrolHasPlacesOfItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shiftsync.db")
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)), shiftsynctest.WithMaxInFlight(1))
	phone := s.EnrolDevice(t, "worker-1", shiftsync.RoleSupportWorker, "house-a")
	ctx := context.Background()
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

	enrolled := make(chan error, 1)
	go func() {
		_, err := authv1connect.NewAuthServiceClient(http.DefaultClient, s.URL).Enrol(ctx, &authv1.EnrolRequest{Code: "AAAA-BBBB-CCCC", DeviceLabel: "a stranger"})
		enrolled <- err
	}()
	waitInFlight := func(n float64, what string, ended <-chan error) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); value(t, scrape(t, s.URL), "shiftsync_rpc_in_flight") != n; {
			select {
			case err := <-ended:
				t.Fatalf("%s ended before it was counted in flight: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not counted in flight within 30 s", what)
			}
		}
	}
	waitInFlight(1, "the stranger's Enrol", enrolled)
	pulled := make(chan error, 1)
	go func() {
		_, err := s.Client(phone.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		pulled <- err
	}()
	waitInFlight(2, "the phone's Pull, while the stranger's Enrol is held,", pulled)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-pulled; err != nil {
		t.Errorf("the phone's Pull: %v", err)
	}
	if err := <-enrolled; err == nil {
		t.Error("the stranger's Enrol with a made-up code enrolled")
	}
}
