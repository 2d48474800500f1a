package rpc_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// serverClock is a replica clock reading the test server's fake clock, so
// the replica's changes are stamped in the server's time.
type serverClock struct{ s *shiftsynctest.Server }

func (c serverClock) NowUnixMilli() int64 { return c.s.Clock.Now().UnixMilli() }

// deviceHealth returns the manager's ListDeviceHealth of house-a, by
// device, asked with a new access token of the manager's phone.
func deviceHealth(t *testing.T, s *shiftsynctest.Server, manager shiftsynctest.Enrolment) map[string]*reviewv1.DeviceHealth {
	t.Helper()
	token, _, err := s.Issuer.Issue(context.Background(), manager.UserID, manager.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := reviewClient(s, token).ListDeviceHealth(context.Background(), &reviewv1.ListDeviceHealthRequest{ServiceId: "house-a"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*reviewv1.DeviceHealth{}
	for _, d := range res.GetDevices() {
		out[d.GetDeviceId()] = d
	}
	return out
}

// TestDeviceHealth_OutboxEmptyAfterFullSync: a phone that made three
// changes offline syncs them through the replica library; the manager's
// device health then shows its outbox empty, not the three it held when
// the sync began.
func TestDeviceHealth_OutboxEmptyAfterFullSync(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	manager := s.EnrolDevice(t, "manager", shiftsync.RoleManager, "house-a")
	ana := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	r, err := replica.Open(filepath.Join(t.TempDir(), "phone.db"), ana.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetClock(serverClock{s})
	for _, what := range []string{"Threw a cup", "Shouted at the bus stop", "Pushed a chair over"} {
		fields := `{"started_at":{"timestampValue":"` + s.Clock.Now().Add(-time.Hour).Format(time.RFC3339) + `"},"behaviour_description":{"stringValue":"` + what + `"}}`
		if _, err := r.Create("incident", "house-a", "p1", fields); err != nil {
			t.Fatal(err)
		}
	}
	s.Clock.Advance(3 * time.Hour) // three hours without signal
	if st, err := r.Status(); err != nil || st.OutboxDepth != 3 {
		t.Fatalf("before the sync: status %+v, %v; want 3 changes in the outbox", st, err)
	}
	token, _, err := s.Issuer.Issue(context.Background(), "ana", ana.DeviceID) // the one from enrolment expired meanwhile
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(s.URL, token); err != nil {
		t.Fatalf("Sync() = %v (code %q)", err, replica.ErrorCode(err))
	}
	if st, err := r.Status(); err != nil || st.OutboxDepth != 0 {
		t.Fatalf("after the sync: status %+v, %v; want an empty outbox", st, err)
	}
	h := deviceHealth(t, s, manager)[ana.DeviceID]
	if h == nil || h.GetOutboxDepth() != 0 || h.GetOldestUnsyncedAgeSeconds() != 0 ||
		!h.GetLastPushAt().AsTime().Equal(s.Clock.Now()) || !h.GetLastPullAt().AsTime().Equal(s.Clock.Now()) {
		t.Errorf("ana's phone after a full sync = %v, want outbox 0, age 0, pushed and pulled now", h)
	}
}

// TestDeviceHealth_PushTakesOffWhatItSettled: a device reports its outbox
// as it was when it sent the request, so the server takes the mutations a
// push settled off the reported depth (never below 0); a pull reports the
// outbox as it is.
func TestDeviceHealth_PushTakesOffWhatItSettled(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	manager := s.EnrolDevice(t, "manager", shiftsync.RoleManager, "house-a")
	ana := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	client := s.Client(ana.Token)
	ctx := context.Background()
	info := func(depth uint32, age time.Duration) *syncv1.ClientInfo {
		c := shiftsynctest.ClientInfo()
		c.OutboxDepth, c.OldestUnsyncedAgeSeconds = depth, uint64(age/time.Second)
		return c
	}
	now := s.Clock.Now()
	push := func(depth uint32, age time.Duration, counters ...uint64) {
		t.Helper()
		req := &syncv1.PushRequest{Client: info(depth, age)}
		for _, c := range counters {
			req.Mutations = append(req.Mutations, shiftsynctest.Incident(c, shiftsynctest.RecordID(t), "house-a", "p1", now, "Threw a cup"))
		}
		if _, err := client.Push(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		send      func()
		wantDepth uint32
		wantAge   time.Duration
	}{
		{"a push of two of three", func() { push(3, 3*time.Hour, 1, 2) }, 1, 3 * time.Hour},
		{"a pull", func() {
			if _, err := client.Pull(ctx, &syncv1.PullRequest{Client: info(5, time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}, 5, time.Hour},
		{"a push of all", func() { push(2, time.Hour, 3, 4) }, 0, 0},
		{"a push of more than reported", func() { push(1, time.Hour, 5, 6) }, 0, 0},
	}
	for _, tt := range tests {
		tt.send()
		h := deviceHealth(t, s, manager)[ana.DeviceID]
		if h.GetOutboxDepth() != tt.wantDepth || time.Duration(h.GetOldestUnsyncedAgeSeconds())*time.Second != tt.wantAge {
			t.Errorf("after %s: outbox %d, age %ds; want %d, %s", tt.name, h.GetOutboxDepth(), h.GetOldestUnsyncedAgeSeconds(), tt.wantDepth, tt.wantAge)
		}
	}
}

// TestDeviceHealth_ToolsAreNotPhones: a static-token tool (curl, a script)
// that pushes is never listed as a phone, even when its token names the
// device of a real phone, and a browser device is not listed either; the
// phones are, labelled so.
func TestDeviceHealth_ToolsAreNotPhones(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	manager := s.EnrolDevice(t, "manager", shiftsync.RoleManager, "house-a")
	ana := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	if _, err := s.Client(ana.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Fatal(err)
	}
	before := deviceHealth(t, s, manager)[ana.DeviceID]

	curl := s.AddDevice("ana", "curl-1", "house-a")
	impostor := s.AddDevice("ana", ana.DeviceID, "house-a") // a tool's static token naming ana's phone
	s.Clock.Advance(time.Minute)
	for i, token := range []string{curl, impostor} {
		c := shiftsynctest.ClientInfo()
		c.OutboxDepth, c.AppVersion = 7, "curl/8.5.0"
		m := shiftsynctest.Incident(uint64(i+1), shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), "sent with curl")
		if _, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: c, Mutations: []*syncv1.Mutation{m}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Client(token).Pull(ctx, &syncv1.PullRequest{Client: c}); err != nil {
			t.Fatal(err)
		}
	}
	// A browser enrolled by the console-to-come, stored as such.
	err := s.Store.Engine.Update(ctx, func(tx shiftsync.Tx) error {
		return tx.InsertDevice(ctx, shiftsync.Device{ID: "browser-1", UserID: "ana", Label: "Ana's laptop", Kind: shiftsync.KindBrowser, EnrolledAt: s.Clock.Now()},
			shiftsync.HashSecret("browser secret"))
	})
	if err != nil {
		t.Fatal(err)
	}

	health := deviceHealth(t, s, manager)
	for _, id := range []string{"curl-1", "browser-1"} {
		if d, listed := health[id]; listed {
			t.Errorf("%s listed as a phone: %v", id, d)
		}
	}
	if len(health) != 2 || health[manager.DeviceID] == nil {
		t.Errorf("device health lists %v, want the two phones (manager's, ana's)", health)
	}
	if after := health[ana.DeviceID]; after.GetAppVersion() != before.GetAppVersion() || after.GetOutboxDepth() != before.GetOutboxDepth() ||
		!after.GetLastPushAt().AsTime().Equal(before.GetLastPushAt().AsTime()) || !after.GetReportedAt().AsTime().Equal(before.GetReportedAt().AsTime()) {
		t.Errorf("ana's phone after a tool used its device id = %v, want as before %v", after, before)
	}
	list, err := s.Review.DeviceHealth(ctx, shiftsync.Principal{UserID: "manager", Kind: shiftsync.KindPhone}, "house-a")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.Kind != shiftsync.KindPhone {
			t.Errorf("Review.DeviceHealth lists %s of kind %q, want phones only", d.DeviceID, d.Kind)
		}
	}
}

// TestToken_ExpiredAnswersTokenExpired: an enrolled device's access token
// past its expiry (5 minutes, and the 30 seconds' leeway) answers
// token_expired over HTTP, with Connect code unauthenticated, not
// "invalid access token"; a refreshed token works again.
func TestToken_ExpiredAnswersTokenExpired(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ana := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	s.Clock.Advance(5*time.Minute + 31*time.Second)

	req, err := http.NewRequest(http.MethodPost, s.URL+"/"+syncv1connect.SyncServiceName+"/Pull",
		strings.NewReader(`{"client":{"protocolVersion":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ana.Token)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || errorInfo(t, body) != string(shiftsync.CodeTokenExpired) ||
		!strings.Contains(string(body), `"code":"unauthenticated"`) || strings.Contains(string(body), "invalid access token") {
		t.Errorf("expired token: %s %s, want 401 unauthenticated with ErrorInfo token_expired", res.Status, body)
	}

	_, err = s.Client(ana.Token).Pull(context.Background(), &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
	if connect.CodeOf(err) != connect.CodeUnauthenticated || shiftsynctest.ErrorCode(err) != string(shiftsync.CodeTokenExpired) {
		t.Errorf("Pull() with the expired token = %v, want unauthenticated / token_expired", err)
	}
	fresh := s.Enrol(t, "ana")
	if _, err := s.Client(fresh.Token).Pull(context.Background(), &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Errorf("Pull() with a new token = %v", err)
	}
}
