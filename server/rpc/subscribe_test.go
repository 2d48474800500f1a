package rpc_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// events reads a Subscribe stream into a channel until it ends.
func events(stream *connect.ServerStreamForClient[syncv1.SubscribeResponse]) <-chan syncv1.SubscribeEvent {
	ch := make(chan syncv1.SubscribeEvent, 16)
	go func() {
		defer close(ch)
		for stream.Receive() {
			ch <- stream.Msg().GetEvent()
		}
	}()
	return ch
}

// next waits for the next event other than a heartbeat, or for timeout.
func next(ch <-chan syncv1.SubscribeEvent, timeout time.Duration) (syncv1.SubscribeEvent, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return 0, false
			}
			if e != syncv1.SubscribeEvent_SUBSCRIBE_EVENT_HEARTBEAT {
				return e, true
			}
		case <-deadline:
			return 0, false
		}
	}
}

func TestSyncHandler_Subscribe(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := s.Client(s.AddDevice("worker-a", "phone-a", "house-a"))
	b := s.Client(s.AddDevice("worker-b", "phone-b", "house-a", "house-b"))
	info := shiftsynctest.ClientInfo()

	stream, err := a.Subscribe(ctx, &syncv1.SubscribeRequest{Client: info})
	if err != nil {
		t.Fatal(err)
	}
	got := events(stream)

	push := func(counter uint64, service string) {
		t.Helper()
		m := shiftsynctest.Incident(counter, shiftsynctest.RecordID(t), service, "p1", s.Clock.Now(), "x")
		if _, err := b.Push(ctx, &syncv1.PushRequest{Client: info, Mutations: []*syncv1.Mutation{m}}); err != nil {
			t.Fatal(err)
		}
	}

	push(1, "house-b")
	if e, ok := next(got, 1500*time.Millisecond); ok {
		t.Fatalf("a push to another service woke the stream with %v", e)
	}
	push(2, "house-a")
	if e, ok := next(got, 5*time.Second); !ok || e != syncv1.SubscribeEvent_SUBSCRIBE_EVENT_CHANGES_AVAILABLE {
		t.Fatalf("after a push in scope: event %v (ok=%v), want CHANGES_AVAILABLE", e, ok)
	}

	t.Run("changes already after the cursor", func(t *testing.T) {
		late, err := a.Subscribe(ctx, &syncv1.SubscribeRequest{Client: info})
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := next(events(late), 5*time.Second); !ok || e != syncv1.SubscribeEvent_SUBSCRIBE_EVENT_CHANGES_AVAILABLE {
			t.Fatalf("event %v (ok=%v), want CHANGES_AVAILABLE at once", e, ok)
		}
	})

	t.Run("heartbeats on an idle stream", func(t *testing.T) {
		pulled, err := a.Pull(ctx, &syncv1.PullRequest{Client: info})
		if err != nil {
			t.Fatal(err)
		}
		idle, err := a.Subscribe(ctx, &syncv1.SubscribeRequest{Client: info, Cursor: pulled.GetNextCursor()})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-events(idle):
			if e != syncv1.SubscribeEvent_SUBSCRIBE_EVENT_HEARTBEAT {
				t.Errorf("first event on an up-to-date stream = %v, want a heartbeat", e)
			}
		case <-time.After(5 * time.Second):
			t.Error("no heartbeat within 5s (the test server beats every second)")
		}
	})
}

// TestSyncHandler_Subscribe_EndsWithAccess opens streams of enrolled
// devices, then revokes one device and ends the other user's membership:
// each stream ends within a heartbeat (a second in the test server), with
// device_revoked and permission_denied; a stream that still has access
// lives on.
func TestSyncHandler_Subscribe_EndsWithAccess(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin := shiftsync.Principal{UserID: "manager"}
	lost := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	leaver := s.EnrolDevice(t, "ben", shiftsync.RoleSupportWorker, "house-a")
	staying := s.EnrolDevice(t, "cat", shiftsync.RoleSupportWorker, "house-a")
	open := func(token string) <-chan error {
		t.Helper()
		stream, err := s.Client(token).Subscribe(ctx, &syncv1.SubscribeRequest{Client: shiftsynctest.ClientInfo()})
		if err != nil {
			t.Fatal(err)
		}
		if !stream.Receive() || stream.Msg().GetEvent() != syncv1.SubscribeEvent_SUBSCRIBE_EVENT_HEARTBEAT {
			t.Fatalf("stream opened without a first heartbeat: %v", stream.Err())
		}
		ended := make(chan error, 1)
		go func() {
			for stream.Receive() {
			}
			ended <- stream.Err()
		}()
		return ended
	}
	lostStream, leaverStream, stayingStream := open(lost.Token), open(leaver.Token), open(staying.Token)

	if _, err := s.Identity.RevokeDevice(ctx, admin, lost.DeviceID, "phone lost"); err != nil {
		t.Fatal(err)
	}
	memberships, err := s.Identity.Memberships(ctx, "ben")
	if err != nil || len(memberships) != 1 {
		t.Fatalf("ben's memberships: %v, %v", memberships, err)
	}
	if err := s.Identity.EndMembership(ctx, admin, memberships[0].ID, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name   string
		stream <-chan error
		code   shiftsync.Code
	}{
		{"revoked device", lostStream, shiftsync.CodeDeviceRevoked},
		{"membership ended", leaverStream, shiftsync.CodePermissionDenied},
	} {
		select {
		case err := <-tt.stream:
			if got := shiftsynctest.ErrorCode(err); got != string(tt.code) {
				t.Errorf("%s: stream ended with %v (ErrorInfo %q), want %s", tt.name, err, got, tt.code)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s: the stream is still open 30 s later (heartbeat 1 s)", tt.name)
		}
	}
	select {
	case err := <-stayingStream:
		t.Errorf("a stream with access ended: %v", err)
	default:
	}
}
