package rpc_test

import (
	"context"
	"flag"
	"fmt"
	"google.golang.org/protobuf/types/known/timestamppb"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/rpc-access.txt")

// accessCall makes one call of a procedure as the caller whose access token
// is token ("" for none), against service house-a, and returns "ok" or the
// ErrorInfo code of the refusal. Push also says what became of its mutation.
type accessCall func(t *testing.T, s *shiftsynctest.Server, token string) string

func outcome(err error) string {
	if err != nil {
		return shiftsynctest.ErrorCode(err)
	}
	return "ok"
}

// target enrols a fresh device for a support worker of house-a: something
// for the admin calls to act on.
func target(t *testing.T, s *shiftsynctest.Server) shiftsynctest.Enrolment {
	return s.EnrolDevice(t, "target-worker", shiftsync.RoleSupportWorker, "house-a")
}

func authClient(s *shiftsynctest.Server, token string) authv1connect.AuthServiceClient {
	return authv1connect.NewAuthServiceClient(shiftsynctest.HTTPClient(), s.URL, shiftsynctest.WithToken(token))
}

func adminClient(s *shiftsynctest.Server, token string) authv1connect.AdminServiceClient {
	return authv1connect.NewAdminServiceClient(shiftsynctest.HTTPClient(), s.URL, shiftsynctest.WithToken(token))
}

// accessCalls has one call for every procedure the server registers;
// TestRPCAccess fails if a procedure has none.
var accessCalls = map[string]accessCall{
	"/shiftsync.sync.v1.SyncService/Push": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		res, err := s.Client(token).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
			Mutations: []*syncv1.Mutation{shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), "access check")}})
		if err != nil {
			return outcome(err)
		}
		r := res.GetResults()[0]
		if r.GetStatus() == syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
			return "ok:accepted"
		}
		return "ok:" + strings.ToLower(strings.TrimPrefix(r.GetStatus().String(), "MUTATION_STATUS_")) + ":" + r.GetReasonCode()
	},
	"/shiftsync.sync.v1.SyncService/Pull": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		_, err := s.Client(token).Pull(context.Background(), &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		return outcome(err)
	},
	"/shiftsync.sync.v1.SyncService/Verify": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		r, err := s.Client(token).Verify(context.Background(), &syncv1.VerifyRequest{Client: shiftsynctest.ClientInfo()})
		if err != nil {
			return outcome(err)
		}
		return "ok:" + strings.ToLower(strings.TrimPrefix(r.GetStatus().String(), "VERIFY_STATUS_"))
	},
	"/shiftsync.sync.v1.SyncService/Subscribe": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := s.Client(token).Subscribe(ctx, &syncv1.SubscribeRequest{Client: shiftsynctest.ClientInfo()})
		if err != nil {
			return outcome(err)
		}
		defer stream.Close()
		if stream.Receive() {
			return "ok"
		}
		return outcome(stream.Err())
	},
	"/shiftsync.auth.v1.AuthService/Enrol": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		target(t, s)
		code, _, err := s.Identity.IssueEnrolmentCode(context.Background(), shiftsync.Principal{UserID: "test"}, "target-worker")
		if err != nil {
			t.Fatal(err)
		}
		_, err = authClient(s, token).Enrol(context.Background(), &authv1.EnrolRequest{Code: code})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AuthService/Refresh": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		d := target(t, s)
		_, err := authClient(s, token).Refresh(context.Background(), &authv1.RefreshRequest{DeviceId: d.DeviceID, DeviceCredential: d.Credential})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AdminService/IssueEnrolmentCode": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		target(t, s)
		_, err := adminClient(s, token).IssueEnrolmentCode(context.Background(), &authv1.IssueEnrolmentCodeRequest{UserId: "target-worker", ServiceId: "house-a"})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AdminService/RevokeDevice": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		d := target(t, s)
		_, err := adminClient(s, token).RevokeDevice(context.Background(), &authv1.RevokeDeviceRequest{DeviceId: d.DeviceID, Reason: "access check"})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AdminService/ListDevices": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		_, err := adminClient(s, token).ListDevices(context.Background(), &authv1.ListDevicesRequest{ServiceId: "house-a"})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AdminService/AddMembership": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		target(t, s)
		_, err := adminClient(s, token).AddMembership(context.Background(), &authv1.AddMembershipRequest{UserId: "target-worker", ServiceId: "house-a", Role: authv1.Role_ROLE_SHIFT_LEAD})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AdminService/SetPersonName": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		_, err := adminClient(s, token).SetPersonName(context.Background(), &authv1.SetPersonNameRequest{PersonId: "p1", Name: "Pat One"})
		return outcome(err)
	},
	"/shiftsync.auth.v1.AdminService/EndMembership": func(t *testing.T, s *shiftsynctest.Server, token string) string {
		target(t, s)
		id, err := s.Identity.AddMembership(context.Background(), shiftsync.Principal{UserID: "test"},
			shiftsync.Membership{UserID: "target-worker", ServiceID: "house-a", Role: shiftsync.RoleSupportWorker, Start: s.Clock.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = adminClient(s, token).EndMembership(context.Background(), &authv1.EndMembershipRequest{MembershipId: id})
		return outcome(err)
	},
}

// alertAndConflict gives house-a one open alert (a prone restraint), one
// open conflict and one quarantined change, all from support workers'
// devices, and returns the alert's and the conflict's ids.
func alertAndConflict(t *testing.T, s *shiftsynctest.Server) (alertID, conflictID int64) {
	ctx := context.Background()
	a := s.EnrolDevice(t, "writer-a", shiftsync.RoleSupportWorker, "house-a")
	b := s.EnrolDevice(t, "writer-b", shiftsync.RoleSupportWorker, "house-a")
	id := shiftsynctest.RecordID(t)
	now := s.Clock.Now()
	push := func(token string, m *syncv1.Mutation) {
		if _, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}}); err != nil {
			t.Fatal(err)
		}
	}
	push(a.Token, shiftsynctest.ProneRestraint(1, shiftsynctest.RecordID(t), "house-a", "p1", now))
	push(a.Token, shiftsynctest.Incident(2, id, "house-a", "p1", now, "first"))
	edit := func(counter uint64, text string, logical uint32) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: id, RecordType: "incident", ServiceId: "house-a", PersonId: "p1",
			Hlc: shiftsynctest.HLC(now, logical), Fields: []*syncv1.FieldEdit{shiftsynctest.Edit("place", shiftsynctest.String(text), nil)}}
	}
	push(a.Token, edit(3, "hallway", 1))
	push(b.Token, edit(1, "garden", 2))
	lead := s.EnrolDevice(t, "pbs-a", shiftsync.RolePBSLead, "house-a")
	push(lead.Token, shiftsynctest.Action(1, shiftsynctest.RecordID(t), "house-a", "p1", now.Add(-48*time.Hour), "community_ld_team", now.Add(-time.Hour)))
	bad := shiftsynctest.Incident(4, shiftsynctest.RecordID(t), "house-a", "p1", now, "with a field no record has")
	bad.Fields = append(bad.Fields, shiftsynctest.Set("mood", shiftsynctest.String("cross")))
	push(a.Token, bad)
	admin := shiftsync.Principal{UserID: "test", Services: []string{"house-a"}}
	alerts, err := s.Review.Alerts(ctx, admin, "house-a", false)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("setup: alerts = %v, %v", alerts, err)
	}
	conflicts, err := s.Review.Conflicts(ctx, admin, "house-a")
	if err != nil || len(conflicts) != 1 {
		t.Fatalf("setup: conflicts = %v, %v", conflicts, err)
	}
	return alerts[0].ID, conflicts[0].ID
}

func reviewClient(s *shiftsynctest.Server, token string) reviewv1connect.ReviewServiceClient {
	return reviewv1connect.NewReviewServiceClient(shiftsynctest.HTTPClient(), s.URL, shiftsynctest.WithToken(token))
}

// reviewOutcome is "ok:<rows>" for a list call, so a caller who may call
// but sees nothing is told apart from one who sees the row.
func reviewOutcome(n int, err error) string {
	if err != nil {
		return outcome(err)
	}
	return fmt.Sprintf("ok:%d", n)
}

func init() {
	accessCalls["/shiftsync.review.v1.ReviewService/ListAlerts"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListAlerts(context.Background(), &reviewv1.ListAlertsRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetAlerts()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/AcknowledgeAlert"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		id, _ := alertAndConflict(t, s)
		_, err := reviewClient(s, token).AcknowledgeAlert(context.Background(), &reviewv1.AcknowledgeAlertRequest{AlertId: id, Note: "seen"})
		return outcome(err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListConflicts"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListConflicts(context.Background(), &reviewv1.ListConflictsRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetConflicts()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ResolveConflict"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		_, id := alertAndConflict(t, s)
		_, err := reviewClient(s, token).ResolveConflict(context.Background(), &reviewv1.ResolveConflictRequest{ConflictId: id, Resolution: "checked"})
		return outcome(err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListQuarantine"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListQuarantine(context.Background(), &reviewv1.ListQuarantineRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetChanges()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListRecords"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListRecords(context.Background(), &reviewv1.ListRecordsRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetRecords()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/GetRecord"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		id := someRecord(t, s, "incident")
		res, err := reviewClient(s, token).GetRecord(context.Background(), &reviewv1.GetRecordRequest{RecordId: id})
		return reviewOutcome(len(res.GetVersions()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/LockRecord"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		id := someRecord(t, s, "incident")
		_, err := reviewClient(s, token).LockRecord(context.Background(), &reviewv1.LockRecordRequest{RecordId: id})
		return outcome(err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListFindings"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListFindings(context.Background(), &reviewv1.ListFindingsRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetFindings()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/GetTrends"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		now := s.Clock.Now()
		res, err := reviewClient(s, token).GetTrends(context.Background(), &reviewv1.GetTrendsRequest{
			ServiceId: "house-a", From: timestamppb.New(now.Add(-24 * time.Hour)), To: timestamppb.New(now)})
		var incidents int32
		for _, w := range res.GetWeeks() {
			incidents += w.GetIncidents() + w.GetRestrictions()
		}
		return reviewOutcome(int(incidents), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ExportEvidencePack"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		now := s.Clock.Now()
		res, err := reviewClient(s, token).ExportEvidencePack(context.Background(), &reviewv1.ExportEvidencePackRequest{
			ServiceId: "house-a", PersonId: "p1", From: timestamppb.New(now.Add(-24 * time.Hour)), To: timestamppb.New(now)})
		return reviewOutcome(int(res.GetRecords()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/VerifyEvidencePack"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		now := s.Clock.Now()
		admin := shiftsync.Principal{UserID: "test", Services: []string{"house-a"}}
		pack, err := s.Review.ExportEvidencePack(context.Background(), admin, "house-a", "p1", now.Add(-24*time.Hour), now)
		if err != nil {
			t.Fatalf("setup: %v", err)
		}
		res, err := reviewClient(s, token).VerifyEvidencePack(context.Background(), &reviewv1.VerifyEvidencePackRequest{PackId: pack.ID})
		return reviewOutcome(int(res.GetRecordsChecked()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListDeviceHealth"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListDeviceHealth(context.Background(), &reviewv1.ListDeviceHealthRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetDevices()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListFlaggedWrites"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		flaggedWrite(t, s)
		res, err := reviewClient(s, token).ListFlaggedWrites(context.Background(), &reviewv1.ListFlaggedWritesRequest{ServiceId: "house-a"})
		return reviewOutcome(len(res.GetWrites()), err)
	}
	accessCalls["/shiftsync.review.v1.ReviewService/ListActions"] = func(t *testing.T, s *shiftsynctest.Server, token string) string {
		alertAndConflict(t, s)
		res, err := reviewClient(s, token).ListActions(context.Background(), &reviewv1.ListActionsRequest{ServiceId: "house-a", OverdueOnly: true})
		return reviewOutcome(len(res.GetActions()), err)
	}
}

// lateWrite has a leaver of house-a push an incident written offline
// before leaving: accepted, and flagged access_ended.
func flaggedWrite(t *testing.T, s *shiftsynctest.Server) {
	t.Helper()
	ctx := context.Background()
	leaver := s.EnrolDevice(t, "leaver", shiftsync.RoleSupportWorker, "house-a")
	written := s.Clock.Now()
	ms, err := s.Identity.Memberships(ctx, "leaver")
	if err != nil || len(ms) != 1 {
		t.Fatalf("setup: memberships %v, %v", ms, err)
	}
	s.Clock.Advance(time.Minute)
	if err := s.Identity.EndMembership(ctx, shiftsync.Principal{UserID: "test"}, ms[0].ID, s.Clock.Now()); err != nil {
		t.Fatalf("setup: %v", err)
	}
	s.Clock.Advance(time.Minute)
	token, _, err := s.Issuer.Issue(ctx, "leaver", leaver.DeviceID)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	m := shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", written, "written offline before leaving")
	if r := pushOne(t, s, token, m); r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
		t.Fatalf("setup: the leaver's offline incident %v, want accepted", r)
	}
}

// someRecord sets up the review fixture and returns the id of a record of
// the type in it.
func someRecord(t *testing.T, s *shiftsynctest.Server, recordType string) string {
	t.Helper()
	alertAndConflict(t, s)
	admin := shiftsync.Principal{UserID: "test", Services: []string{"house-a"}}
	records, err := s.Review.Records(context.Background(), admin, shiftsync.RecordFilter{ServiceID: "house-a", RecordType: recordType})
	if err != nil || len(records) == 0 {
		t.Fatalf("setup: %s records = %v, %v", recordType, records, err)
	}
	return records[0].RecordID
}

// procedures lists every procedure of the services the server registers.
func procedures() []string {
	var names []string
	for _, file := range []protoreflect.FileDescriptor{syncv1.File_shiftsync_sync_v1_sync_proto, authv1.File_shiftsync_auth_v1_auth_proto, authv1.File_shiftsync_auth_v1_admin_proto, reviewv1.File_shiftsync_review_v1_review_proto} {
		for i := range file.Services().Len() {
			svc := file.Services().Get(i)
			for j := range svc.Methods().Len() {
				names = append(names, fmt.Sprintf("/%s/%s", svc.FullName(), svc.Methods().Get(j).Name()))
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestRPCAccess calls every registered procedure over real HTTP as a caller
// with no token, a forged token, and a device of each role in house-a (and
// a manager of another service), and compares each answer with
// testdata/rpc-access.txt. A procedure without a call here or without rows
// there fails the test; after a deliberate change, run with -update and
// review the diff.
func TestRPCAccess(t *testing.T) {
	if testing.Short() {
		t.Skip("enrols a device per role and call; skipped in -short")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by TestRPCAccess -update; review every changed line.\n")
	fmt.Fprintf(&b, "# procedure caller outcome (ok, ok:<push result>, or the refusal's ErrorInfo code)\n")
	for _, proc := range procedures() {
		call, ok := accessCalls[proc]
		if !ok {
			t.Errorf("procedure %s has no call in accessCalls", proc)
			continue
		}
		callers := []string{"no_token", "forged_token"}
		for _, role := range shiftsync.Roles {
			callers = append(callers, string(role))
		}
		callers = append(callers, "manager_of_other_service")
		for _, caller := range callers {
			s := shiftsynctest.NewServer(t)
			token := ""
			switch caller {
			case "no_token":
			case "forged_token":
				token = forge(t, s.EnrolDevice(t, "forger", shiftsync.RoleManager, "house-a").Token)
			case "manager_of_other_service":
				s.EnrolDevice(t, "someone", shiftsync.RoleSupportWorker, "house-a")
				token = s.EnrolDevice(t, "other-manager", shiftsync.RoleManager, "house-b").Token
			default:
				token = s.EnrolDevice(t, "caller", shiftsync.Role(caller), "house-a").Token
			}
			fmt.Fprintf(&b, "%-52s %-26s %s\n", proc, caller, call(t, s, token))
			s.Close()
		}
	}
	const golden = "testdata/rpc-access.txt"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("RPC access differs from %s (-want +got); run with -update if intended:\n%s", golden, diff)
	}
}

// forge returns token with its signature replaced by another valid-looking
// one: a token nobody signed.
func forge(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	sig := []byte(parts[2])
	sig[0] ^= 'A' ^ 'B'
	if sig[0] == parts[2][0] {
		sig[0] = 'C'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}
