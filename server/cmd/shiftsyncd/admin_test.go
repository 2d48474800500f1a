package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// adminRun runs "shiftsyncd admin -db db args..." and returns its output.
func adminRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	var out, errs strings.Builder
	if err := run(context.Background(), append([]string{"admin", "-db", db}, args...), &out, &errs); err != nil {
		t.Fatalf("admin %s: %v\n%s", strings.Join(args, " "), err, errs.String())
	}
	return out.String()
}

// TestAdmin_EnrolSyncRevoke sets up a service with the admin command, enrols
// a device with the code it prints through the running server, syncs, then
// revokes the device with the admin command: the next request is refused
// with the wipe answer, and the audit log verifies.
func TestAdmin_EnrolSyncRevoke(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"-db", db, "-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	adminRun(t, db, "create-organisation", "-id", "oak", "-name", "Oak Care")
	adminRun(t, db, "create-service", "-id", "oak-house", "-organisation", "oak", "-name", "Oak House")
	adminRun(t, db, "create-person", "-id", "sam", "-service", "oak-house", "-name", "Sam")
	adminRun(t, db, "create-user", "-id", "ana", "-organisation", "oak", "-name", "Ana")
	if out := adminRun(t, db, "add-membership", "-user", "ana", "-service", "oak-house", "-role", "support_worker", "-start", "2020-01-01T00:00:00Z"); !strings.HasPrefix(out, "membership ") {
		t.Errorf("add-membership printed %q", out)
	}
	code := strings.TrimSpace(adminRun(t, db, "issue-code", "-user", "ana"))

	auth := authv1connect.NewAuthServiceClient(http.DefaultClient, m.URL())
	enrolled, err := auth.Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "Ana's phone"})
	if err != nil {
		t.Fatalf("Enrol with the printed code: %v", err)
	}
	if _, err := auth.Enrol(ctx, &authv1.EnrolRequest{Code: code}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("second Enrol with the same code: %v, want Unauthenticated", err)
	}
	client := syncv1connect.NewSyncServiceClient(http.DefaultClient, m.URL(), shiftsynctest.WithToken(enrolled.GetAccessToken()))
	push := &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "oak-house", "sam", shiftsynctest.Epoch, "threw a cup"),
	}}
	if res, err := client.Push(ctx, push); err != nil || res.GetAcknowledgedCounter() != 1 {
		t.Fatalf("Push() = %v, %v", res, err)
	}
	if out := adminRun(t, db, "list-devices", "-service", "oak-house"); !strings.Contains(out, enrolled.GetDeviceId()) || !strings.Contains(out, "Ana's phone") {
		t.Errorf("list-devices does not show the device:\n%s", out)
	}

	adminRun(t, db, "revoke-device", "-device", enrolled.GetDeviceId(), "-reason", "phone lost on shift")
	_, err = client.Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
	if got := shiftsynctest.ErrorCode(err); got != string(shiftsync.CodeDeviceRevoked) {
		t.Errorf("Pull after revoke-device: code %q (%v), want %q", got, err, shiftsync.CodeDeviceRevoked)
	}
	if _, err := auth.Refresh(ctx, &authv1.RefreshRequest{DeviceId: enrolled.GetDeviceId(), DeviceCredential: enrolled.GetDeviceCredential()}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodeDeviceRevoked) {
		t.Errorf("Refresh after revoke-device: %v, want %s", err, shiftsync.CodeDeviceRevoked)
	}
	if out := adminRun(t, db, "verify-audit"); !strings.Contains(out, "chain intact") {
		t.Errorf("verify-audit printed %q", out)
	}
}

func TestAdmin_RefusesBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	if err := run(context.Background(), []string{"migrate", "-db", db}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"frobnicate"},
		{"add-membership", "-user", "nobody", "-service", "nowhere", "-role", "wizard"},
		{"add-membership", "-user", "u", "-service", "s", "-role", "manager", "-start", "yesterday"},
		{"issue-code", "-user", "nobody"},
		{"revoke-device", "-device", "d1"},
		{"end-membership", "-id", "99"},
		{"create-user", "-id", "u", "-organisation", "missing", "-name", "U"},
		{"set-thresholds", "-organisation", "oak", "-file", writeFile(t, `{"operationalise_deadline": "24h"}`)}, // no such organisation
		{"set-thresholds", "-organisation", "oak"},
	} {
		err := run(context.Background(), append([]string{"admin", "-db", db}, args...), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("admin %s: want an error", strings.Join(args, " "))
		}
	}
	if err := run(context.Background(), []string{"admin", "-db", filepath.Join(t.TempDir(), "none.db"), "verify-audit"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("admin on a missing database: %v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAdmin_SetThresholds stores versioned thresholds per organisation and
// refuses misspelt or nonsensical ones.
func TestAdmin_SetThresholds(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	if err := run(context.Background(), []string{"migrate", "-db", db}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	adminRun(t, db, "create-organisation", "-id", "oak", "-name", "Oak Care")
	out := adminRun(t, db, "set-thresholds", "-organisation", "oak", "-file", writeFile(t, `{"operationalise_warning": "36h", "operationalise_deadline": "48h"}`))
	if !strings.Contains(out, "version 1 set for oak") {
		t.Errorf("first set-thresholds: %q", out)
	}
	out = adminRun(t, db, "set-thresholds", "-organisation", "oak", "-file", writeFile(t, `{"frequency_floor": 3}`))
	if !strings.Contains(out, "version 2 set for oak") {
		t.Errorf("second set-thresholds: %q", out)
	}
	for _, bad := range []string{
		`{"operationalise_dedline": "48h"}`,                                   // misspelt
		`{"operationalise_warning": "30h", "operationalise_deadline": "24h"}`, // warning after the breach
		`{"late_entry_after": "-4h"}`,
		`{"time_zone": "Mars/Olympus"}`,
		`not json`,
	} {
		err := run(context.Background(), []string{"admin", "-db", db, "set-thresholds", "-organisation", "oak", "-file", writeFile(t, bad)}, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("set-thresholds %s: want an error", bad)
		}
	}
	adminRun(t, db, "verify-audit")
}

// TestAdmin_OrganisationAdministrator makes a user their organisation's
// administrator with the admin command: over the AdminService they then
// issue a code for a new starter who has no membership yet, which no
// manager may, and nothing in another organisation; once the operator ends
// the role they may do neither.
func TestAdmin_OrganisationAdministrator(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"-db", db, "-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, args := range [][]string{
		{"create-organisation", "-id", "oak", "-name", "Oak Care"},
		{"create-organisation", "-id", "elm", "-name", "Elm Care"},
		{"create-user", "-id", "olu", "-organisation", "oak", "-name", "Olu"},
		{"create-user", "-id", "new-starter", "-organisation", "oak", "-name", "Nia"},
		{"create-user", "-id", "elm-starter", "-organisation", "elm", "-name", "Eve"},
	} {
		adminRun(t, db, args...)
	}
	err := run(ctx, []string{"admin", "-db", db, "grant-org-admin", "-user", "elm-starter", "-organisation", "oak"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a user of organisation") {
		t.Errorf("grant-org-admin of another organisation's user: %v", err)
	}
	if out := adminRun(t, db, "grant-org-admin", "-user", "olu", "-organisation", "oak"); !strings.Contains(out, "olu administers organisation oak") {
		t.Errorf("grant-org-admin printed %q", out)
	}

	auth := authv1connect.NewAuthServiceClient(http.DefaultClient, m.URL())
	enrolled, err := auth.Enrol(ctx, &authv1.EnrolRequest{Code: strings.TrimSpace(adminRun(t, db, "issue-code", "-user", "olu"))})
	if err != nil {
		t.Fatal(err)
	}
	admin := authv1connect.NewAdminServiceClient(http.DefaultClient, m.URL(), shiftsynctest.WithToken(enrolled.GetAccessToken()))
	if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "new-starter"}); err != nil {
		t.Errorf("IssueEnrolmentCode for a new starter by the organisation administrator: %v", err)
	}
	if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "elm-starter"}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("IssueEnrolmentCode for another organisation's user: %v, want PermissionDenied", err)
	}
	adminRun(t, db, "end-org-admin", "-user", "olu", "-organisation", "oak")
	if _, err := admin.IssueEnrolmentCode(ctx, &authv1.IssueEnrolmentCodeRequest{UserId: "new-starter"}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("IssueEnrolmentCode after end-org-admin: %v, want PermissionDenied", err)
	}
	adminRun(t, db, "verify-audit")
}

// TestAdmin_ListUsersAndMemberships lists an organisation's users and the
// memberships of a user or a service with their ids, so end-membership
// needs no number printed only once; unknown names are refused.
func TestAdmin_ListUsersAndMemberships(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	if err := run(context.Background(), []string{"migrate", "-db", db}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"create-organisation", "-id", "oak", "-name", "Oak Care"},
		{"create-organisation", "-id", "elm", "-name", "Elm Care"},
		{"create-service", "-id", "oak-house", "-organisation", "oak", "-name", "Oak House"},
		{"create-person", "-id", "sam", "-service", "oak-house", "-name", "Sam"},
		{"create-user", "-id", "ana", "-organisation", "oak", "-name", "Ana Silva"},
		{"create-user", "-id", "pat", "-organisation", "oak", "-name", "Pat", "-agency", "community-team"},
		{"create-user", "-id", "eve", "-organisation", "elm", "-name", "Eve"},
		{"add-membership", "-user", "pat", "-service", "oak-house", "-role", "partner", "-person", "sam", "-start", "2020-01-01T00:00:00Z"},
	} {
		adminRun(t, db, args...)
	}
	id := strings.TrimPrefix(strings.TrimSpace(adminRun(t, db, "add-membership", "-user", "ana", "-service", "oak-house", "-role", "support_worker", "-start", "2020-01-01T00:00:00Z")), "membership ")

	users := adminRun(t, db, "list-users", "-organisation", "oak")
	for _, want := range []string{"ana", "Ana Silva", "pat", "community-team", "1 in force, 1 in all"} {
		if !strings.Contains(users, want) {
			t.Errorf("list-users does not show %q:\n%s", want, users)
		}
	}
	if strings.Contains(users, "eve") {
		t.Errorf("list-users -organisation oak lists another organisation's user:\n%s", users)
	}

	byUser := adminRun(t, db, "list-memberships", "-user", "ana")
	if lines := strings.Split(strings.TrimSpace(byUser), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], id+" ") ||
		!strings.Contains(lines[1], "support_worker") || !strings.Contains(lines[1], "oak-house") || !strings.HasSuffix(lines[1], "-") {
		t.Errorf("list-memberships -user ana, membership %s open-ended:\n%s", id, byUser)
	}
	byService := adminRun(t, db, "list-memberships", "-service", "oak-house")
	if !strings.Contains(byService, "partner") || !strings.Contains(byService, "sam") || !strings.Contains(byService, "support_worker") {
		t.Errorf("list-memberships -service oak-house:\n%s", byService)
	}

	adminRun(t, db, "end-membership", "-id", id, "-at", "2021-01-01T00:00:00Z")
	if out := adminRun(t, db, "list-memberships", "-user", "ana"); !strings.Contains(out, formatTime(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))) {
		t.Errorf("list-memberships after end-membership shows no end:\n%s", out)
	}
	if out := adminRun(t, db, "list-users", "-organisation", "oak"); !strings.Contains(out, "0 in force, 1 in all") {
		t.Errorf("list-users after end-membership:\n%s", out)
	}

	for _, args := range [][]string{
		{"list-users", "-organisation", "nowhere"},
		{"list-users"},
		{"list-memberships"},
		{"list-memberships", "-user", "ana", "-service", "oak-house"},
		{"list-memberships", "-user", "nobody"},
		{"list-memberships", "-service", "nowhere"},
	} {
		if err := run(context.Background(), append([]string{"admin", "-db", db}, args...), io.Discard, io.Discard); err == nil {
			t.Errorf("admin %s: want an error", strings.Join(args, " "))
		}
	}
	adminRun(t, db, "verify-audit")
}
