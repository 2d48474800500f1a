package replica_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// manager is the actor of the tests' administration.
var manager = shiftsync.Principal{UserID: "manager"}

// membership is one grant given to a test user.
type membership struct {
	service, person string
	role            shiftsync.Role
}

// addUser creates a user of the test organisation with the memberships,
// started an hour before the server's clock, and returns their ids in order.
// It creates the organisation and services through s.EnrolDevice for a
// colleague of the given role, whose enrolment it returns.
func addUser(t *testing.T, s *shiftsynctest.Server, userID string, ms ...membership) []int64 {
	t.Helper()
	ctx := context.Background()
	for _, m := range ms {
		s.EnrolDevice(t, "colleague-"+m.service, shiftsync.RoleManager, m.service)
	}
	if err := s.Identity.CreateUser(ctx, manager, userID, "org-test", userID, ""); err != nil && shiftsync.ErrorCode(err) != shiftsync.CodeAlreadyExists {
		t.Fatal(err)
	}
	var ids []int64
	for _, m := range ms {
		id, err := s.Identity.AddMembership(ctx, manager, shiftsync.Membership{
			UserID: userID, ServiceID: m.service, PersonID: m.person, Role: m.role, Start: s.Clock.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// issueCode returns a new enrolment code for the user.
func issueCode(t *testing.T, s *shiftsynctest.Server, userID string) string {
	t.Helper()
	code, _, err := s.Identity.IssueEnrolmentCode(context.Background(), manager, userID)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// openReplica opens a new replica reading the server's clock, with a
// provisional device id that enrolment replaces.
func openReplica(t *testing.T, s *shiftsynctest.Server, provisional string) (*replica.Replica, *deviceClock) {
	t.Helper()
	r, err := replica.Open(filepath.Join(t.TempDir(), provisional+".db"), provisional)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	clock := &deviceClock{server: s.Clock}
	r.SetClock(clock)
	return r, clock
}

// enrolReplica opens a replica and enrols it for the user with a new code.
func enrolReplica(t *testing.T, s *shiftsynctest.Server, url, userID string) (*replica.Replica, *deviceClock) {
	t.Helper()
	r, clock := openReplica(t, s, "provisional-"+userID)
	if err := r.Enrol(url, issueCode(t, s, userID), userID+"'s phone"); err != nil {
		t.Fatalf("Enrol() error = %v (code %q)", err, replica.ErrorCode(err))
	}
	return r, clock
}

func mustStatus(t *testing.T, r *replica.Replica) *replica.Status {
	t.Helper()
	st, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustSyncEnrolled(t *testing.T, r *replica.Replica) *replica.SyncReport {
	t.Helper()
	rep, err := r.SyncEnrolled()
	if err != nil {
		t.Fatalf("SyncEnrolled() error = %v (code %q)", err, replica.ErrorCode(err))
	}
	return rep
}

const incidentFields = `{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"Threw a cup"}}`

// TestReplica_Enrol enrols a replica with a real one-time code through the
// server's AuthService and syncs it with access tokens it gets from its
// device credential: the server attributes its changes to the device id it
// assigned and to the user the code was issued for. A code works once; a
// replica that made changes as another device is refused before the code is
// used; one that only pulled drops what it pulled as its old identity.
func TestReplica_Enrol(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	addUser(t, s, "ana", membership{"house-a", "", shiftsync.RoleSupportWorker})
	code := issueCode(t, s, "ana")

	r, _ := openReplica(t, s, "provisional")
	if _, err := r.SyncEnrolled(); replica.ErrorCode(err) != replica.CodeNotEnrolled {
		t.Errorf("SyncEnrolled() before Enrol: %v, want code %s", err, replica.CodeNotEnrolled)
	}
	if err := r.Enrol("", code, "x"); replica.ErrorCode(err) != replica.CodeInvalid {
		t.Errorf("Enrol() without a server: %v, want code invalid", err)
	}
	if err := r.Enrol(s.URL+"/", code, "Ana's phone"); err != nil {
		t.Fatalf("Enrol() error = %v (code %q)", err, replica.ErrorCode(err))
	}
	st := mustStatus(t, r)
	if !st.Enrolled || st.UserID != "ana" || st.ServerURL != s.URL || st.EnrolledUnixMs == 0 || st.DeviceID == "provisional" || st.DeviceID != r.DeviceID() {
		t.Fatalf("Status() after Enrol = %+v, want enrolled as a server-assigned device of ana with %s", st, s.URL)
	}
	d, err := s.Identity.Device(context.Background(), r.DeviceID())
	if err != nil || d.UserID != "ana" || d.Label != "Ana's phone" {
		t.Fatalf("the server's device %s = %+v, %v; want ana's, labelled", r.DeviceID(), d, err)
	}

	id, err := r.Create("incident", "house-a", "p1", incidentFields)
	if err != nil {
		t.Fatal(err)
	}
	rep := mustSyncEnrolled(t, r)
	if rep.Accepted != 1 || rep.Pulled == 0 {
		t.Errorf("SyncEnrolled() = %+v, want the incident accepted and pulled back", rep)
	}
	rec := (&device{Replica: r, t: t, id: "ana"}).record(id)
	if f := rec.Fields["behaviour_description"]; f.Version.DeviceID != r.DeviceID() || f.Author != "ana" {
		t.Errorf("the server's version of the incident: device %q, author %q; want %q, ana", f.Version.DeviceID, f.Author, r.DeviceID())
	}

	// The code worked once.
	other, _ := openReplica(t, s, "other")
	if err := other.Enrol(s.URL, code, "again"); replica.ErrorCode(err) != "unauthenticated" {
		t.Errorf("Enrol() with a used code: %v, want code unauthenticated", err)
	}
	if st := mustStatus(t, other); st.Enrolled || st.DeviceID != "other" {
		t.Errorf("Status() after a refused enrolment = %+v, want unchanged", st)
	}

	// A replica that made changes as a device cannot become another one,
	// and is refused before the code is used.
	code2 := issueCode(t, s, "ana")
	if err := r.Enrol(s.URL, code2, "again"); replica.ErrorCode(err) != replica.CodeDeviceInUse {
		t.Errorf("Enrol() of a replica that pushed: %v, want code %s", err, replica.CodeDeviceInUse)
	}
	offline, _ := openReplica(t, s, "offline")
	if _, err := offline.Create("incident", "house-a", "p1", incidentFields); err != nil {
		t.Fatal(err)
	}
	if err := offline.Enrol(s.URL, code2, "again"); replica.ErrorCode(err) != replica.CodeDeviceInUse {
		t.Errorf("Enrol() of a replica with an outbox: %v, want code %s", err, replica.CodeDeviceInUse)
	}

	// A replica that only pulled, as a device with a static token, takes the
	// new identity and pulls again from the start as it.
	if _, err := other.Sync(s.URL, s.AddDevice("someone", "other", "house-a")); err != nil {
		t.Fatal(err)
	}
	if err := other.Enrol(s.URL, code2, "Ana's tablet"); err != nil {
		t.Fatalf("Enrol() with the code the refused ones left unused: %v", err)
	}
	if st := mustStatus(t, other); st.Records != 0 || st.Cursor != "" || st.DeviceID == "other" {
		t.Errorf("Status() after enrolling a replica that pulled = %+v, want its pulled records and cursor dropped", st)
	}
	if rep := mustSyncEnrolled(t, other); rep.Applied == 0 {
		t.Errorf("SyncEnrolled() = %+v, want the incident pulled again as ana's device", rep)
	}
	if _, err := other.RecordJSON(id); err != nil {
		t.Errorf("RecordJSON(%s) on the re-enrolled replica: %v", id, err)
	}
}

// TestReplica_EnrolledTokens checks the access token cache of an enrolled
// replica: the token from Enrol serves until shortly before it expires, then
// one Refresh gets another; a token the server refuses although the device
// thought it valid (a device clock running late) is refreshed once and the
// request repeated.
func TestReplica_EnrolledTokens(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	addUser(t, s, "ana", membership{"house-a", "", shiftsync.RoleSupportWorker})
	r, clock := enrolReplica(t, s, s.URL, "ana")
	refreshes := func() int { return s.AuditCount(t, shiftsync.AuditRefresh) }

	if _, err := r.Create("incident", "house-a", "p1", incidentFields); err != nil {
		t.Fatal(err)
	}
	mustSyncEnrolled(t, r)
	mustSyncEnrolled(t, r)
	if n := refreshes(); n != 0 {
		t.Errorf("%d refresh(es) while the enrolment's token was fresh, want 0", n)
	}
	s.Clock.Advance(5 * time.Minute) // the token expired
	mustSyncEnrolled(t, r)
	mustSyncEnrolled(t, r)
	if n := refreshes(); n != 1 {
		t.Errorf("%d refresh(es) after the first token expired, want 1", n)
	}

	// The device clock falls 15 minutes behind: the replica believes its
	// token still good, the server answers "token_expired".
	clock.skew = -15 * time.Minute
	s.Clock.Advance(10 * time.Minute)
	if rep := mustSyncEnrolled(t, r); rep.PullPages == 0 {
		t.Errorf("SyncEnrolled() = %+v, want a pull", rep)
	}
	if n := refreshes(); n != 2 {
		t.Errorf("%d refresh(es) after the server refused a token, want 2", n)
	}
}

// TestReplica_EnrolledDeviceRevoked revokes an enrolled device: whether the
// server says so to a sync request or to the token refresh, the replica
// wipes its records, outbox, cursor and credential, refuses writes and
// syncs with code "device_revoked", and says so in its status. A new code
// brings it back as a new device, which pulls the user's records again.
func TestReplica_EnrolledDeviceRevoked(t *testing.T) {
	for _, tt := range []struct {
		name    string
		advance time.Duration // after the revocation, before the sync
	}{
		{"told by a sync request", 0},
		{"told by the token refresh", 10 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := shiftsynctest.NewServer(t)
			addUser(t, s, "ana", membership{"house-a", "", shiftsync.RoleSupportWorker})
			r, _ := enrolReplica(t, s, s.URL, "ana")
			synced, err := r.Create("incident", "house-a", "p1", incidentFields)
			if err != nil {
				t.Fatal(err)
			}
			mustSyncEnrolled(t, r)
			if _, err := r.Create("incident", "house-a", "p1", incidentFields); err != nil {
				t.Fatal(err)
			}
			revoked := r.DeviceID()
			if _, err := s.Identity.RevokeDevice(context.Background(), manager, revoked, "phone lost"); err != nil {
				t.Fatal(err)
			}
			s.Clock.Advance(tt.advance)
			before := s.AuditCount(t, shiftsync.AuditRefresh)

			_, err = r.SyncEnrolled()
			if got := replica.ErrorCode(err); got != replica.CodeDeviceRevoked {
				t.Fatalf("SyncEnrolled() after revocation: code %q (%v), want %q", got, err, replica.CodeDeviceRevoked)
			}
			if tt.advance > 0 && s.AuditCount(t, shiftsync.AuditRefresh) != before {
				t.Errorf("a revoked device got a token")
			}
			if list, err := r.ListJSON(); err != nil || list != "[]" {
				t.Errorf("records after the wipe: %s, %v; want none", list, err)
			}
			if outbox, err := r.OutboxJSON(); err != nil || outbox != "[]" {
				t.Errorf("outbox after the wipe: %s, %v; want empty", outbox, err)
			}
			st := mustStatus(t, r)
			if !st.Revoked || st.RevokedUnixMs == 0 || st.Enrolled || st.Cursor != "" || st.Records != 0 || st.OutboxDepth != 0 {
				t.Errorf("Status() after the wipe = %+v, want revoked, no credential, no cursor, nothing held", st)
			}
			if _, err := r.Create("incident", "house-a", "p1", incidentFields); replica.ErrorCode(err) != replica.CodeDeviceRevoked {
				t.Errorf("Create() on a wiped replica: %v, want %s", err, replica.CodeDeviceRevoked)
			}
			if err := r.Edit(synced, `{"place":{"stringValue":"x"}}`); replica.ErrorCode(err) != replica.CodeDeviceRevoked {
				t.Errorf("Edit() on a wiped replica: %v, want %s", err, replica.CodeDeviceRevoked)
			}
			if _, err := r.SyncEnrolled(); replica.ErrorCode(err) != replica.CodeDeviceRevoked {
				t.Errorf("SyncEnrolled() on a wiped replica: %v, want %s", err, replica.CodeDeviceRevoked)
			}
			if _, err := r.Sync(s.URL, "any-token"); replica.ErrorCode(err) != replica.CodeDeviceRevoked {
				t.Errorf("Sync() on a wiped replica: %v, want %s", err, replica.CodeDeviceRevoked)
			}

			// Enrolled again with a new code, the wiped replica is a new device.
			if err := r.Enrol(s.URL, issueCode(t, s, "ana"), "Ana's phone, again"); err != nil {
				t.Fatalf("Enrol() of the wiped replica: %v", err)
			}
			st = mustStatus(t, r)
			if st.Revoked || !st.Enrolled || st.DeviceID == revoked || st.LastCounter != 0 {
				t.Errorf("Status() after enrolling again = %+v, want a new device, counters from 0", st)
			}
			if _, err := r.Create("incident", "house-a", "p1", incidentFields); err != nil {
				t.Fatal(err)
			}
			if rep := mustSyncEnrolled(t, r); rep.Accepted != 1 {
				t.Errorf("SyncEnrolled() as the new device = %+v, want its change accepted", rep)
			}
			if _, err := r.RecordJSON(synced); err != nil {
				t.Errorf("the incident synced before the revocation was not pulled again: %v", err)
			}
		})
	}
}
