package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// newConsole returns the console sign-in over the harness's store, and a
// function issuing an enrolment code for a new user with a role in house-a.
func newConsole(t *testing.T) (*shiftsynctest.Server, shiftsync.Console, func(user string, role shiftsync.Role) string) {
	t.Helper()
	s := shiftsynctest.NewServer(t)
	c := shiftsync.Console{Store: s.Store.Engine, Access: s.Identity, Redeems: s.Admin.RedeemsEnrolmentCode, Schema: s.Schema,
		Now: s.Clock.Now, NewDeviceID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	code := func(user string, role shiftsync.Role) string {
		s.EnrolDevice(t, user, role, "house-a")
		code, _, err := s.Identity.IssueEnrolmentCode(context.Background(), shiftsync.Principal{UserID: "shiftsynctest"}, user)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	return s, c, code
}

func TestConsoleSignIn(t *testing.T) {
	ctx := context.Background()
	s, c, code := newConsole(t)
	token, p, err := c.SignIn(ctx, code("manager-mo", shiftsync.RoleManager), "Firefox on a laptop")
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if p.UserID != "manager-mo" || p.Kind != shiftsync.KindBrowser {
		t.Fatalf("principal = %+v, want manager-mo's browser", p)
	}
	// The browser is one of the user's devices, of kind browser, revocable.
	d, err := s.Identity.Device(ctx, p.DeviceID)
	if err != nil || d.Kind != shiftsync.KindBrowser || d.UserID != "manager-mo" {
		t.Fatalf("Device(%s) = %+v, %v; want manager-mo's browser", p.DeviceID, d, err)
	}
	if got, err := c.Authenticate(ctx, token); err != nil || got.UserID != p.UserID || got.DeviceID != p.DeviceID || got.Kind != p.Kind {
		t.Fatalf("Authenticate = %+v, %v; want %+v", got, err, p)
	}
	if _, err := c.Authenticate(ctx, token+"x"); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
		t.Fatalf("Authenticate(wrong token) = %v, want unauthenticated", err)
	}

	t.Run("idle expiry", func(t *testing.T) {
		s.Clock.Advance(shiftsync.ConsoleIdleTimeout - time.Second)
		if _, err := c.Authenticate(ctx, token); err != nil {
			t.Fatalf("Authenticate before the idle timeout: %v", err)
		}
		// The use above kept it alive: idle time counts from the last use.
		s.Clock.Advance(shiftsync.ConsoleIdleTimeout - time.Second)
		if _, err := c.Authenticate(ctx, token); err != nil {
			t.Fatalf("Authenticate within the idle timeout of the last use: %v", err)
		}
		s.Clock.Advance(shiftsync.ConsoleIdleTimeout)
		if _, err := c.Authenticate(ctx, token); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Fatalf("Authenticate after the idle timeout = %v, want unauthenticated", err)
		}
	})

	t.Run("sign-out ends the session server-side", func(t *testing.T) {
		token, _, err := c.SignIn(ctx, code("manager-nia", shiftsync.RoleManager), "tablet")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SignOut(ctx, token); err != nil {
			t.Fatal(err)
		}
		// The cookie replayed after sign-out is refused.
		if _, err := c.Authenticate(ctx, token); shiftsync.ErrorCode(err) != shiftsync.CodeUnauthenticated {
			t.Fatalf("Authenticate after sign-out = %v, want unauthenticated", err)
		}
		if n := len(s.AuditEvents(t, shiftsync.AuditConsoleSignOut)); n != 1 {
			t.Fatalf("%d sign-out audit entries, want 1", n)
		}
	})

	t.Run("a revoked browser is refused", func(t *testing.T) {
		token, p, err := c.SignIn(ctx, code("manager-ola", shiftsync.RoleManager), "desk")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Identity.RevokeDevice(ctx, shiftsync.Principal{UserID: "shiftsynctest"}, p.DeviceID, "left on a train"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Authenticate(ctx, token); shiftsync.ErrorCode(err) != shiftsync.CodeDeviceRevoked {
			t.Fatalf("Authenticate of a revoked browser = %v, want device_revoked", err)
		}
	})

	t.Run("a support worker is refused and keeps the code", func(t *testing.T) {
		worker := code("worker-wes", shiftsync.RoleSupportWorker)
		if _, _, err := c.SignIn(ctx, worker, "browser"); shiftsync.ErrorCode(err) != shiftsync.CodePermissionDenied {
			t.Fatalf("SignIn of a support worker = %v, want permission_denied", err)
		}
		// The code was not spent: it still enrols the worker's phone.
		if _, _, err := s.Identity.Enrol(ctx, worker, "wes's phone", s.Admin.RedeemsEnrolmentCode); err != nil {
			t.Fatalf("Enrol with the refused code: %v", err)
		}
	})

	t.Run("leads sign in", func(t *testing.T) {
		for _, role := range []shiftsync.Role{shiftsync.RoleShiftLead, shiftsync.RolePBSLead, shiftsync.RoleQualityLead, shiftsync.RoleSafeguardingLead} {
			if _, _, err := c.SignIn(ctx, code("lead-"+string(role), role), "browser"); err != nil {
				t.Errorf("SignIn of a %s: %v", role, err)
			}
		}
	})
}
