package rpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
)

// TestEnrol_IssuerAuthority: a code is redeemed only while its issuer may
// still issue it. meera, manager of house-a, issues a code for nina, a
// support worker of house-a; before nina's code is used, nina gains
// authority meera lacks. The code is then refused as a used one, spent, no
// device is made, the refusal is audited with its reason, and it does not
// count towards the source's throttle. Codes whose issuer keeps the
// authority, and the operator's, still enrol.
func TestEnrol_IssuerAuthority(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		gain func(t *testing.T, w *findingsWorld)
	}{
		{"promoted to organisation administrator", func(t *testing.T, w *findingsWorld) {
			if err := w.s.Identity.GrantOrganisationAdmin(ctx, operator, "nina", "oak"); err != nil {
				t.Fatal(err)
			}
		}},
		{"added to another service", func(t *testing.T, w *findingsWorld) {
			if _, err := adminClient(w.s, w.bea.Token).AddMembership(ctx, &authv1.AddMembershipRequest{UserId: "nina", ServiceId: "house-b", Role: authv1.Role_ROLE_SUPPORT_WORKER}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newNinaWorld(t)
			code := w.meerasCode(t)
			tc.gain(t, w)
			before := identityState(t, w.s, "nina")
			refusedBefore := len(w.s.AuditEvents(t, shiftsync.AuditEnrolRefused))

			auth := authClient(w.s, "")
			_, err := auth.Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "nina's phone, in meera's hand"})
			_, used := auth.Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "again"})
			if connect.CodeOf(err) != connect.CodeUnauthenticated || shiftsynctest.ErrorCode(err) != string(shiftsync.CodeUnauthenticated) {
				t.Fatalf("Enrol with the code of an issuer who lost the authority = %v, want unauthenticated", err)
			}
			if err.Error() != used.Error() {
				t.Errorf("refusal %q differs from a used code's %q", err, used)
			}
			if after := identityState(t, w.s, "nina"); after != before {
				t.Errorf("the refused enrolment changed nina\n%s\nto\n%s", before, after)
			}

			events := w.s.AuditEvents(t, shiftsync.AuditEnrolRefused)[refusedBefore:]
			if len(events) != 2 {
				t.Fatalf("%d enrol_refused entries, want the lapsed issuer's and the used code's: %+v", len(events), events)
			}
			var lapsed struct {
				Reason   string
				IssuedBy string `json:"issued_by"`
			}
			if err := json.Unmarshal([]byte(events[0].Detail), &lapsed); err != nil {
				t.Fatal(err)
			}
			if events[0].Subject != "nina" || lapsed.IssuedBy != "meera" || !strings.HasPrefix(lapsed.Reason, "issuer no longer has the authority: ") {
				t.Errorf("audit entry %+v, want nina's code, issued by meera, with the reason", events[0])
			}
			// The used code that followed is the source's first failure: the
			// lapsed one was not counted.
			var failed struct {
				Failures int `json:"source_failures"`
			}
			if err := json.Unmarshal([]byte(events[1].Detail), &failed); err != nil || failed.Failures != 1 {
				t.Errorf("source failures after the lapsed code and a used one = %d (%v), want 1", failed.Failures, err)
			}
		})
	}

	t.Run("issuer keeps the authority", func(t *testing.T) {
		w := newNinaWorld(t)
		code := w.meerasCode(t)
		if res, err := authClient(w.s, "").Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "nina's phone"}); err != nil || res.GetUserId() != "nina" {
			t.Fatalf("Enrol with meera's code for nina = %v, %v", res, err)
		}
	})

	t.Run("operator's code", func(t *testing.T) {
		w := newNinaWorld(t)
		if err := w.s.Identity.GrantOrganisationAdmin(ctx, operator, "nina", "oak"); err != nil {
			t.Fatal(err)
		}
		code, _, err := w.s.Identity.IssueEnrolmentCode(ctx, operator, "nina")
		if err != nil {
			t.Fatal(err)
		}
		if res, err := authClient(w.s, "").Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "nina's phone"}); err != nil || res.GetUserId() != "nina" {
			t.Fatalf("Enrol with the operator's code for an organisation administrator = %v, %v", res, err)
		}
	})
}

// newNinaWorld is the findings world with nina, a support worker of house-a
// only, whom meera may enrol.
func newNinaWorld(t *testing.T) *findingsWorld {
	t.Helper()
	w := newFindingsWorld(t)
	ctx := context.Background()
	if err := w.s.Identity.CreateUser(ctx, operator, "nina", "oak", "nina", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Identity.AddMembership(ctx, operator, shiftsync.Membership{UserID: "nina", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: w.s.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return w
}

// meerasCode is a code meera issues for nina through the AdminService.
func (w *findingsWorld) meerasCode(t *testing.T) string {
	t.Helper()
	res, err := adminClient(w.s, w.meera.Token).IssueEnrolmentCode(context.Background(), &authv1.IssueEnrolmentCodeRequest{UserId: "nina"})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetCode()
}
