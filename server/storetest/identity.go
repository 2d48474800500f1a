package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testIdentity checks the directory: organisations, services, people and
// users; memberships and the grants read from them; enrolment codes, which
// work once and until they expire; devices, their credentials and
// revocation; the enrolment failures the throttle counts; and the signing
// keys, rotated and retired.
func testIdentity(t *testing.T, open Factory) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	clock := start
	s := open(t, func() time.Time { return clock })
	ids := s.Identity()
	operator := shiftsync.Principal{UserID: "operator"}
	wantCode := func(t *testing.T, what string, err error, code shiftsync.Code) {
		t.Helper()
		if shiftsync.ErrorCode(err) != code {
			t.Errorf("%s = %v, want %s", what, err, code)
		}
	}

	t.Run("organisations, services, people and users", func(t *testing.T) {
		must(t, ids.CreateOrganisation(ctx, operator, "org-1", "Org One"))
		must(t, ids.CreateService(ctx, operator, "house-a", "org-1", "House A"))
		must(t, ids.CreatePerson(ctx, operator, "sam", "house-a", "Sam"))
		must(t, ids.CreateUser(ctx, operator, "priya", "org-1", "Priya", ""))
		must(t, ids.CreateUser(ctx, operator, "olu", "org-1", "Olu", "agency-x"))
		wantCode(t, "CreateOrganisation of an existing id", ids.CreateOrganisation(ctx, operator, "org-1", "Again"), shiftsync.CodeAlreadyExists)
		wantCode(t, "CreateUser without an id", ids.CreateUser(ctx, operator, "", "org-1", "Nobody", ""), shiftsync.CodeInvalid)
		wantCode(t, "CreateService of an unknown organisation", ids.CreateService(ctx, operator, "house-z", "org-none", "Z"), shiftsync.CodeInvalid)

		if u, err := ids.User(ctx, "olu"); err != nil || u.ID != "olu" || u.OrganisationID != "org-1" || u.Agency != "agency-x" {
			t.Errorf("User(olu) = %+v, %v; want org-1 and agency-x", u, err)
		}
		_, err := ids.User(ctx, "nobody")
		wantCode(t, "User of an unknown id", err, shiftsync.CodeNotFound)
		if org, err := ids.ServiceOrganisation(ctx, "house-a"); err != nil || org != "org-1" {
			t.Errorf("ServiceOrganisation(house-a) = %q, %v; want org-1", org, err)
		}
		_, err = ids.ServiceOrganisation(ctx, "house-z")
		wantCode(t, "ServiceOrganisation of an unknown service", err, shiftsync.CodeNotFound)
		if service, err := ids.PersonService(ctx, "sam"); err != nil || service != "house-a" {
			t.Errorf("PersonService(sam) = %q, %v; want house-a", service, err)
		}
		_, err = ids.PersonService(ctx, "nobody")
		wantCode(t, "PersonService of an unknown person", err, shiftsync.CodeNotFound)
	})

	t.Run("memberships", func(t *testing.T) {
		from, until := start.Add(-48*time.Hour), start.Add(24*time.Hour)
		worker, err := ids.AddMembership(ctx, operator, shiftsync.Membership{UserID: "priya", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: from})
		must(t, err)
		partner, err := ids.AddMembership(ctx, operator, shiftsync.Membership{UserID: "olu", ServiceID: "house-a", PersonID: "sam", Role: shiftsync.RolePartner, Start: from, End: until})
		must(t, err)
		if worker <= 0 || partner == worker {
			t.Fatalf("AddMembership ids %d and %d: want distinct positive ids", worker, partner)
		}
		_, err = ids.AddMembership(ctx, operator, shiftsync.Membership{UserID: "priya", ServiceID: "house-a", Role: "janitor", Start: from})
		wantCode(t, "AddMembership of an unknown role", err, shiftsync.CodeInvalid)

		m, err := ids.Membership(ctx, partner)
		if err != nil || m.ID != partner || m.UserID != "olu" || m.ServiceID != "house-a" || m.PersonID != "sam" || m.Role != shiftsync.RolePartner ||
			!m.Start.Equal(from) || !m.End.Equal(until) || !m.Created.Equal(start) || m.CreatedBy != "operator" {
			t.Errorf("Membership(%d) = %+v, %v; want olu's partner membership for sam, %v to %v, recorded at %v by operator", partner, m, err, from, until, start)
		}
		_, err = ids.Membership(ctx, 999)
		wantCode(t, "Membership of an unknown id", err, shiftsync.CodeNotFound)

		ended := start.Add(2 * time.Hour)
		must(t, ids.EndMembership(ctx, operator, worker, ended))
		wantCode(t, "EndMembership of an unknown id", ids.EndMembership(ctx, operator, 999, ended), shiftsync.CodeNotFound)
		if ms, err := ids.Memberships(ctx, "priya"); err != nil || len(ms) != 1 || ms[0].ID != worker || !ms[0].End.Equal(ended) {
			t.Errorf("Memberships(priya) = %+v, %v; want the one membership, ending %v", ms, err, ended)
		}
		if ms, err := ids.ServiceMemberships(ctx, "house-a"); err != nil || len(ms) != 2 || ms[0].ID != worker || ms[1].ID != partner {
			t.Errorf("ServiceMemberships(house-a) = %+v, %v; want both, in the order they were added", ms, err)
		}

		scope, err := ids.Scope(ctx, shiftsync.Principal{UserID: "olu"})
		want := shiftsync.Grant{ServiceID: "house-a", PersonID: "sam", Role: shiftsync.RolePartner, Agency: "agency-x", Start: from, End: until}
		if err != nil || len(scope.Grants) != 1 || !sameGrant(scope.Grants[0], want) {
			t.Errorf("Scope(olu) = %+v, %v; want the one grant %+v", scope, err, want)
		}
		scope, err = ids.Scope(ctx, shiftsync.Principal{UserID: "priya"})
		if err != nil || len(scope.Grants) != 1 || !scope.Grants[0].End.Equal(ended) {
			t.Errorf("Scope(priya) = %+v, %v; want the ended grant, with its end, so writes are judged at their time", scope, err)
		}
	})

	var device shiftsync.Device
	var credential string
	allow := func(context.Context, string, string) error { return nil }
	t.Run("enrolment codes", func(t *testing.T) {
		code, expires, err := ids.IssueEnrolmentCode(ctx, operator, "priya")
		must(t, err)
		if !expires.Equal(clock.Add(shiftsync.EnrolmentCodeTTL)) {
			t.Errorf("IssueEnrolmentCode expires %v, want %v", expires, clock.Add(shiftsync.EnrolmentCodeTTL))
		}
		_, _, err = ids.IssueEnrolmentCode(ctx, operator, "nobody")
		wantCode(t, "IssueEnrolmentCode for an unknown user", err, shiftsync.CodeNotFound)

		var issuedBy string
		device, credential, err = ids.Enrol(ctx, code, "phone", func(_ context.Context, userID, by string) error {
			issuedBy = userID + " from " + by
			return nil
		})
		must(t, err)
		if device.ID == "" || device.UserID != "priya" || device.Label != "phone" || !device.EnrolledAt.Equal(clock) || credential == "" || issuedBy != "priya from operator" {
			t.Errorf("Enrol = %+v, %q (redeemed %q); want priya's phone enrolled at %v, judged as issued to priya by operator", device, credential, issuedBy, clock)
		}
		_, _, err = ids.Enrol(ctx, code, "again", allow)
		wantCode(t, "Enrol with a used code", err, shiftsync.CodeUnauthenticated)

		late, _, err := ids.IssueEnrolmentCode(ctx, operator, "priya")
		must(t, err)
		clock = clock.Add(shiftsync.EnrolmentCodeTTL)
		_, _, err = ids.Enrol(ctx, late, "late", allow)
		wantCode(t, "Enrol with an expired code", err, shiftsync.CodeUnauthenticated)

		lapsed, _, err := ids.IssueEnrolmentCode(ctx, operator, "priya")
		must(t, err)
		_, _, err = ids.Enrol(ctx, lapsed, "lapsed", func(context.Context, string, string) error {
			return shiftsync.Errorf(shiftsync.CodePermissionDenied, "no authority")
		})
		wantCode(t, "Enrol with a code redeems refuses", err, shiftsync.CodeUnauthenticated)
		_, _, err = ids.Enrol(ctx, lapsed, "lapsed", allow)
		wantCode(t, "Enrol with a code redeems refused before", err, shiftsync.CodeUnauthenticated)
	})

	t.Run("devices", func(t *testing.T) {
		if device.ID == "" {
			t.Skip("no device enrolled")
		}
		if d, err := ids.CheckCredential(ctx, device.ID, credential); err != nil || d.ID != device.ID || d.UserID != "priya" {
			t.Errorf("CheckCredential = %+v, %v; want priya's device", d, err)
		}
		_, err := ids.CheckCredential(ctx, device.ID, credential+"x")
		wantCode(t, "CheckCredential with a wrong credential", err, shiftsync.CodeUnauthenticated)
		_, err = ids.CheckCredential(ctx, "no-device", credential)
		wantCode(t, "CheckCredential of an unknown device", err, shiftsync.CodeUnauthenticated)
		must(t, ids.CheckDevice(ctx, "priya", device.ID))
		wantCode(t, "CheckDevice of another user", ids.CheckDevice(ctx, "olu", device.ID), shiftsync.CodeUnauthenticated)

		at, err := ids.RevokeDevice(ctx, operator, device.ID, "lost")
		must(t, err)
		if !at.Equal(clock) {
			t.Errorf("RevokeDevice at %v, want now (%v)", at, clock)
		}
		_, err = ids.RevokeDevice(ctx, operator, "no-device", "lost")
		wantCode(t, "RevokeDevice of an unknown device", err, shiftsync.CodeNotFound)
		_, err = ids.CheckCredential(ctx, device.ID, credential)
		wantCode(t, "CheckCredential of a revoked device", err, shiftsync.CodeDeviceRevoked)
		wantCode(t, "CheckDevice of a revoked device", ids.CheckDevice(ctx, "priya", device.ID), shiftsync.CodeDeviceRevoked)
		if d, err := ids.Device(ctx, device.ID); err != nil || !d.RevokedAt.Equal(clock) || !d.EnrolledAt.Equal(device.EnrolledAt) {
			t.Errorf("Device = %+v, %v; want enrolled at %v and revoked at %v", d, err, device.EnrolledAt, clock)
		}
		_, err = ids.Device(ctx, "no-device")
		wantCode(t, "Device of an unknown id", err, shiftsync.CodeNotFound)
		if list, err := ids.Devices(ctx, []string{"priya", "olu"}); err != nil || len(list) != 1 || list[0].ID != device.ID || list[0].RevokedAt.IsZero() {
			t.Errorf("Devices = %+v, %v; want priya's one device, revoked", list, err)
		}
	})

	t.Run("enrolment failures", func(t *testing.T) {
		now := clock
		code := shiftsync.HashSecret("WRONG")
		failures := func(since time.Time) shiftsync.EnrolmentFailures {
			t.Helper()
			var f shiftsync.EnrolmentFailures
			must(t, s.View(ctx, func(tx shiftsync.Tx) (err error) {
				f, err = tx.EnrolmentFailures(ctx, "10.0.0.1", code, since)
				return err
			}))
			return f
		}
		must(t, s.Update(ctx, func(tx shiftsync.Tx) error {
			for _, at := range []time.Time{now.Add(-20 * time.Minute), now.Add(-time.Minute)} {
				if err := tx.InsertEnrolmentFailure(ctx, "10.0.0.1", code, at); err != nil {
					return err
				}
			}
			return tx.InsertEnrolmentFailure(ctx, "10.0.0.2", shiftsync.HashSecret("OTHER"), now)
		}))
		if f := failures(now.Add(-15 * time.Minute)); f != (shiftsync.EnrolmentFailures{Source: 1, Code: 1}) {
			t.Errorf("EnrolmentFailures in the window = %+v, want 1 from the source and 1 with the code", f)
		}
		must(t, s.Update(ctx, func(tx shiftsync.Tx) error { return tx.PruneEnrolmentFailures(ctx, now.Add(-15*time.Minute)) }))
		if f := failures(now.Add(-time.Hour)); f != (shiftsync.EnrolmentFailures{Source: 1, Code: 1}) {
			t.Errorf("EnrolmentFailures after pruning = %+v, want only the one inside the window", f)
		}
	})

	t.Run("signing keys", func(t *testing.T) {
		first, err := ids.ActiveKey(ctx)
		must(t, err)
		if again, err := ids.ActiveKey(ctx); err != nil || again.ID != first.ID {
			t.Errorf("ActiveKey again = %q, %v; want the key made on first use, %q", again.ID, err, first.ID)
		}
		pub, err := ids.PublicKey(ctx, first.ID)
		if err != nil || !pub.Equal(first.Private.Public()) {
			t.Errorf("PublicKey(%s) = %x, %v; want the active key's public half", first.ID, pub, err)
		}
		second, err := ids.RotateKey(ctx, operator)
		must(t, err)
		if active, err := ids.ActiveKey(ctx); err != nil || active.ID != second.ID || active.ID == first.ID {
			t.Errorf("ActiveKey after RotateKey = %q, %v; want the new key %q", active.ID, err, second.ID)
		}
		if _, err := ids.PublicKey(ctx, first.ID); err != nil {
			t.Errorf("PublicKey of the key just replaced = %v; it must keep verifying", err)
		}
		if _, err := ids.RotateKey(ctx, operator); err != nil {
			t.Fatal(err)
		}
		_, err = ids.PublicKey(ctx, first.ID)
		wantCode(t, "PublicKey of a key two rotations old", err, shiftsync.CodeUnauthenticated)
		if _, err := ids.PublicKey(ctx, second.ID); err != nil {
			t.Errorf("PublicKey of the key just replaced = %v; it must keep verifying", err)
		}
		_, err = ids.PublicKey(ctx, "no-key")
		wantCode(t, "PublicKey of an unknown key", err, shiftsync.CodeUnauthenticated)
	})
}

// sameGrant reports whether two grants are equal, their times compared
// as instants.
func sameGrant(a, b shiftsync.Grant) bool {
	return a.ServiceID == b.ServiceID && a.PersonID == b.PersonID && a.Role == b.Role && a.Agency == b.Agency &&
		a.Start.Equal(b.Start) && a.End.Equal(b.End)
}
