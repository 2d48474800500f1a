package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/jwt"
	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/storetest"
)

var admin = shiftsync.Principal{UserID: "manager-1", DeviceID: "console"}

// anyIssuer lets every code redeem, whoever issued it: these tests are of
// the store; the issuer's authority is [shiftsync.Admin]'s, tested over
// HTTP in server/rpc.
func anyIssuer(context.Context, string, string) error { return nil }

// MustIdentity returns the identity service of a new store with an
// organisation, services house-a and house-b, and users worker-1 and
// manager-1.
func MustIdentity(tb testing.TB) (*sqlite.DB, *sqlite.IdentityService, func(time.Duration)) {
	tb.Helper()
	db, clock := MustOpenDB(tb)
	id := sqlite.NewIdentityService(db)
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(id.CreateOrganisation(ctx, admin, "org-1", "Oak Care"))
	must(id.CreateService(ctx, admin, "house-a", "org-1", "Oak House"))
	must(id.CreateService(ctx, admin, "house-b", "org-1", "Elm House"))
	must(id.CreateUser(ctx, admin, "worker-1", "org-1", "Ana", ""))
	must(id.CreateUser(ctx, admin, "manager-1", "org-1", "Mo", ""))
	addPeople(tb, db)
	return db, id, clock.Advance
}

func TestIdentityService_Enrol(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		_, id, _ := MustIdentity(t)
		code, expires, err := id.IssueEnrolmentCode(ctx, admin, "worker-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != 15 || expires.IsZero() {
			t.Errorf("code %q expires %v", code, expires)
		}
		// Typed in lower case without dashes: still the same code.
		d, credential, err := id.Enrol(ctx, strings.ToLower(strings.ReplaceAll(code, "-", " ")), "Ana's phone", anyIssuer)
		if err != nil {
			t.Fatalf("Enrol() error = %v", err)
		}
		if d.UserID != "worker-1" || credential == "" {
			t.Errorf("Enrol() = %+v, %q", d, credential)
		}
		if _, err := id.CheckCredential(ctx, d.ID, credential); err != nil {
			t.Errorf("CheckCredential() error = %v", err)
		}
		if _, err := id.CheckCredential(ctx, d.ID, credential+"x"); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Errorf("wrong credential: %v", err)
		}
		if err := id.CheckDevice(ctx, "worker-1", d.ID); err != nil {
			t.Errorf("CheckDevice() error = %v", err)
		}
		if err := id.CheckDevice(ctx, "manager-1", d.ID); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Errorf("another user's device: %v", err)
		}
	})

	t.Run("CodeWorksOnce", func(t *testing.T) {
		_, id, _ := MustIdentity(t)
		code, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
		if _, _, err := id.Enrol(ctx, code, "first", anyIssuer); err != nil {
			t.Fatal(err)
		}
		if _, _, err := id.Enrol(ctx, code, "second", anyIssuer); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Errorf("second use: %v, want unauthenticated", err)
		}
	})

	t.Run("CodeExpires", func(t *testing.T) {
		_, id, advance := MustIdentity(t)
		code, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
		advance(shiftsync.EnrolmentCodeTTL + time.Second)
		if _, _, err := id.Enrol(ctx, code, "late", anyIssuer); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Errorf("expired code: %v, want unauthenticated", err)
		}
	})

	t.Run("GuessingIsThrottledPerSource", func(t *testing.T) {
		_, id, advance := MustIdentity(t)
		code, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
		guesser := shiftsync.NewContextWithSource(ctx, "192.0.2.7")
		for range shiftsync.MaxEnrolmentFailuresPerSource {
			if _, _, err := id.Enrol(guesser, shiftsync.NewEnrolmentCode(), "guess", anyIssuer); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
				t.Fatalf("guess: %v", err)
			}
		}
		// The guesser is refused even the right code while the limit holds...
		if _, _, err := id.Enrol(guesser, code, "real", anyIssuer); shiftsync.ErrorCode(err) != shiftsync.CodeResourceExhausted {
			t.Errorf("after %d failures: %v, want resource_exhausted", shiftsync.MaxEnrolmentFailuresPerSource, err)
		}
		advance(shiftsync.EnrolmentFailureWindow - time.Minute)
		if _, _, err := id.Enrol(guesser, code, "real", anyIssuer); shiftsync.ErrorCode(err) != shiftsync.CodeResourceExhausted {
			t.Errorf("within the window: %v", err)
		}
		// ...but anyone else enrols with it.
		if _, _, err := id.Enrol(shiftsync.NewContextWithSource(ctx, "198.51.100.1"), code, "real", anyIssuer); err != nil {
			t.Errorf("the valid code from another source: %v, want enrolled", err)
		}
	})

	t.Run("UsedCodeIsThrottled", func(t *testing.T) {
		_, id, _ := MustIdentity(t)
		used, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
		if _, _, err := id.Enrol(ctx, used, "first", anyIssuer); err != nil {
			t.Fatal(err)
		}
		// The used code, replayed from many places, fails, then is throttled.
		for i := range shiftsync.MaxEnrolmentFailuresPerCode + 3 {
			want := shiftsync.CodeUnauthenticated
			if i >= shiftsync.MaxEnrolmentFailuresPerCode {
				want = shiftsync.CodeResourceExhausted
			}
			from := shiftsync.NewContextWithSource(ctx, fmt.Sprintf("203.0.113.%d", i))
			if _, _, err := id.Enrol(from, used, "replay", anyIssuer); shiftsync.ErrorCode(err) != want {
				t.Fatalf("replay %d: %v, want %s", i+1, err, want)
			}
		}
		// A fresh code still enrols, from one of the same places.
		code, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
		if _, _, err := id.Enrol(shiftsync.NewContextWithSource(ctx, "203.0.113.1"), code, "second", anyIssuer); err != nil {
			t.Errorf("a valid code after the replays: %v", err)
		}
	})

	t.Run("FailuresArePruned", func(t *testing.T) {
		db, id, advance := MustIdentity(t)
		for i := range 10 {
			_, _, _ = id.Enrol(shiftsync.NewContextWithSource(ctx, fmt.Sprintf("192.0.2.%d", i)), shiftsync.NewEnrolmentCode(), "guess", anyIssuer)
		}
		advance(shiftsync.EnrolmentFailureWindow + time.Second)
		_, _, _ = id.Enrol(ctx, shiftsync.NewEnrolmentCode(), "guess", anyIssuer)
		raw, err := sql.Open("sqlite3", "file:"+db.Path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM enrolment_failures`).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d failures kept (%v), want only the one inside the window", n, err)
		}
	})

	t.Run("UnknownUser", func(t *testing.T) {
		_, id, _ := MustIdentity(t)
		if _, _, err := id.IssueEnrolmentCode(ctx, admin, "nobody"); shiftsync.ErrorCode(err) != shiftsync.CodeNotFound {
			t.Errorf("IssueEnrolmentCode(nobody) = %v", err)
		}
	})
}

// TestIdentityService_RevokedDeviceTokens: revoking a device refuses its
// next request, with the wipe answer, through the real token verifier.
func TestIdentityService_RevokedDeviceTokens(t *testing.T) {
	ctx := context.Background()
	db, id, advance := MustIdentity(t)
	tokens := jwt.New(jwt.Config{Issuer: "https://shiftsync.test", Audience: "sync", Keys: id, Devices: id, Now: db.Now})
	code, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
	d, credential, err := id.Enrol(ctx, code, "phone", anyIssuer)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := tokens.Issue(ctx, d.UserID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tokens.Verify(ctx, token); err != nil || p.DeviceID != d.ID || p.UserID != "worker-1" {
		t.Fatalf("Verify() = %+v, %v", p, err)
	}

	t.Run("KeyRotationLogsNobodyOut", func(t *testing.T) {
		if _, err := id.RotateKey(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(ctx, token); err != nil {
			t.Errorf("token of the previous key after one rotation: %v", err)
		}
		if _, err := id.RotateKey(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(ctx, token); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Errorf("token of a key retired by the second rotation: %v", err)
		}
		token, _, _ = tokens.Issue(ctx, d.UserID, d.ID)
	})

	advance(time.Minute)
	if _, err := id.RevokeDevice(ctx, admin, d.ID, "lost on shift"); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(ctx, token); shiftsync.ErrorCode(err) != shiftsync.CodeDeviceRevoked {
		t.Errorf("token of a revoked device: %v, want device_revoked", err)
	}
	if _, err := id.CheckCredential(ctx, d.ID, credential); shiftsync.ErrorCode(err) != shiftsync.CodeDeviceRevoked {
		t.Errorf("refresh of a revoked device: %v, want device_revoked", err)
	}
	if _, err := id.RevokeDevice(ctx, admin, "no-such-device", ""); shiftsync.ErrorCode(err) != shiftsync.CodeNotFound {
		t.Errorf("RevokeDevice(unknown) = %v", err)
	}
}

// TestIdentityService_MoveBetweenServices moves a support worker from house-a
// to house-b: an incident written offline for house-a before the move is
// accepted and flagged, one written after it is refused, and pulls show
// house-b, not house-a.
func TestIdentityService_MoveBetweenServices(t *testing.T) {
	ctx := context.Background()
	db, id, advance := MustIdentity(t)
	records, _ := schema.Records()
	sync := &shiftsync.Sync{Store: db, Schema: records, Access: id, Now: db.Now}
	start := db.Now().Add(-24 * time.Hour)
	membership, err := id.AddMembership(ctx, admin, shiftsync.Membership{UserID: "worker-1", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.AddMembership(ctx, admin, shiftsync.Membership{UserID: "manager-1", ServiceID: "house-b", Role: shiftsync.RoleManager, Start: start}); err != nil {
		t.Fatal(err)
	}
	worker := shiftsync.Principal{UserID: "worker-1", DeviceID: "phone-1"}
	manager := shiftsync.Principal{UserID: "manager-1", DeviceID: "tablet-1"}
	mustPush(t, sync, manager, incident(1, newID(t), "house-b", at(-time.Hour), "in house b"))

	beforeMove := at(-30 * time.Minute) // written offline while still in house-a
	moved := db.Now().Add(-10 * time.Minute)
	if err := id.EndMembership(ctx, admin, membership, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := id.AddMembership(ctx, admin, shiftsync.Membership{UserID: "worker-1", ServiceID: "house-b", Role: shiftsync.RoleSupportWorker, Start: moved}); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	res := mustPush(t, sync, worker,
		incident(1, newID(t), "house-a", beforeMove, "written before the move"),
		incident(2, newID(t), "house-a", at(-time.Minute), "written after the move"),
	)
	if r := res.Results[0]; r.Status != shiftsync.StatusAccepted {
		t.Errorf("incident written before the move: %+v, want accepted", r)
	}
	if r := res.Results[1]; r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonPermissionDenied {
		t.Errorf("incident written after the move: %+v, want quarantined permission_denied", r)
	}
	if n := countRows(t, db, `SELECT COUNT(*) FROM mutations WHERE device_id = 'phone-1' AND counter = 1 AND flag = 'access_ended'`); n != 1 {
		t.Errorf("the late incident is not flagged for review")
	}
	changes, _ := storetest.PullAll(t, sync, worker, shiftsync.Cursor{}, 100)
	if len(changes) == 0 {
		t.Fatal("the worker pulls nothing from house-b")
	}
	for _, c := range changes {
		if c.ServiceID != "house-b" {
			t.Errorf("after the move the worker pulled %s of %s", c.RecordID, c.ServiceID)
		}
	}
}

// TestDB_VerifyAudit checks the audit chain after real activity, and that
// it fails when a row is altered or removed behind the triggers' back.
func TestDB_VerifyAudit(t *testing.T) {
	ctx := context.Background()
	db, id, _ := MustIdentity(t)
	code, _, _ := id.IssueEnrolmentCode(ctx, admin, "worker-1")
	d, _, _ := id.Enrol(ctx, code, "phone", anyIssuer)
	_, _, _ = id.Enrol(ctx, "WRONG-CODE-XXXXX", "guess", anyIssuer)
	_, _ = id.RevokeDevice(ctx, admin, d.ID, "lost")
	n, err := db.VerifyAudit(ctx)
	if err != nil || n < 8 {
		t.Fatalf("VerifyAudit() = %d, %v; want the entries of the run", n, err)
	}

	raw, err := sql.Open("sqlite3", "file:"+db.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_log SET subject = 'x' WHERE seq = 2`); err == nil {
		t.Fatal("the trigger let an audit row be updated")
	}
	if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq = 2`); err == nil {
		t.Fatal("the trigger let an audit row be deleted")
	}
	// Someone with the file drops the triggers: the chain still tells.
	if _, err := raw.Exec(`DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_log SET detail = '{"reason":"found"}' WHERE action = 'device.revoke'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Errorf("VerifyAudit() after an edit = %v, want altered", err)
	}
	if _, err := raw.Exec(`DELETE FROM audit_log WHERE action = 'device.revoke'; DELETE FROM audit_log WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("VerifyAudit() after a removal = %v, want missing entries", err)
	}
}

// TestIdentityService_Admin checks what the admin rules read: a
// membership records when and by whom it was recorded, users and services
// their organisation, people their service; and organisation administrators
// are users of the organisation, one role in force at a time, ended by the
// operator.
func TestIdentityService_Admin(t *testing.T) {
	ctx := context.Background()
	db, id, advance := MustIdentity(t)
	recorded := db.Now()
	start := recorded.Add(-400 * 24 * time.Hour)
	mid, err := id.AddMembership(ctx, admin, shiftsync.Membership{UserID: "worker-1", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: start, End: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	m, err := id.Membership(ctx, mid)
	if err != nil || !m.Created.Equal(recorded) || m.CreatedBy != admin.UserID {
		t.Errorf("Membership() = %+v, %v; want recorded at %s by %s", m, err, recorded, admin.UserID)
	}
	if ms, err := id.ServiceMemberships(ctx, "house-a"); err != nil || len(ms) != 1 || ms[0] != m {
		t.Errorf("ServiceMemberships(house-a) = %+v, %v; want [%+v]", ms, err, m)
	}
	if u, err := id.User(ctx, "worker-1"); err != nil || u != (shiftsync.User{ID: "worker-1", OrganisationID: "org-1"}) {
		t.Errorf("User(worker-1) = %+v, %v", u, err)
	}
	if org, err := id.ServiceOrganisation(ctx, "house-b"); err != nil || org != "org-1" {
		t.Errorf("ServiceOrganisation(house-b) = %q, %v", org, err)
	}
	if err := id.CreatePerson(ctx, admin, "ada", "house-a", "Ada"); err != nil {
		t.Fatal(err)
	}
	if service, err := id.PersonService(ctx, "ada"); err != nil || service != "house-a" {
		t.Errorf("PersonService(ada) = %q, %v", service, err)
	}
	for name, err := range map[string]error{
		"User":                func() error { _, err := id.User(ctx, "nobody"); return err }(),
		"ServiceOrganisation": func() error { _, err := id.ServiceOrganisation(ctx, "nowhere"); return err }(),
		"PersonService":       func() error { _, err := id.PersonService(ctx, "nobody"); return err }(),
	} {
		if shiftsync.ErrorCode(err) != shiftsync.CodeNotFound {
			t.Errorf("%s of an unknown id: %v, want not_found", name, err)
		}
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(id.CreateOrganisation(ctx, admin, "org-2", "Elm Care"))
	must(id.CreateUser(ctx, admin, "other-1", "org-2", "Oz", ""))
	operator := shiftsync.Principal{UserID: "operator:root"}
	if err := id.GrantOrganisationAdmin(ctx, operator, "other-1", "org-1"); shiftsync.ErrorCode(err) != shiftsync.CodeInvalid {
		t.Errorf("GrantOrganisationAdmin of another organisation's user: %v, want invalid", err)
	}
	granted := db.Now()
	must(id.GrantOrganisationAdmin(ctx, operator, "manager-1", "org-1"))
	if err := id.GrantOrganisationAdmin(ctx, operator, "manager-1", "org-1"); shiftsync.ErrorCode(err) != shiftsync.CodeAlreadyExists {
		t.Errorf("GrantOrganisationAdmin twice: %v, want already_exists", err)
	}
	advance(time.Hour)
	ended := db.Now()
	must(id.EndOrganisationAdmin(ctx, operator, "manager-1", "org-1"))
	if err := id.EndOrganisationAdmin(ctx, operator, "manager-1", "org-1"); shiftsync.ErrorCode(err) != shiftsync.CodeNotFound {
		t.Errorf("EndOrganisationAdmin with none in force: %v, want not_found", err)
	}
	must(id.GrantOrganisationAdmin(ctx, operator, "manager-1", "org-1"))
	grants, err := id.OrganisationAdmins(ctx, "manager-1")
	want := []shiftsync.OrganisationAdmin{
		{UserID: "manager-1", OrganisationID: "org-1", Start: granted, End: ended},
		{UserID: "manager-1", OrganisationID: "org-1", Start: ended},
	}
	if err != nil || len(grants) != 2 || grants[0] != want[0] || grants[1] != want[1] {
		t.Errorf("OrganisationAdmins() = %+v, %v; want %+v", grants, err, want)
	}
	if n := countRows(t, db, `SELECT COUNT(*) FROM audit_log WHERE action IN ('organisation_admin.grant', 'organisation_admin.end') AND actor_user = 'operator:root'`); n != 3 {
		t.Errorf("%d organisation administrator changes audited, want 3", n)
	}
}
