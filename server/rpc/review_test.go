package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestReview_ProneRestraintAlertsWithinTheSync pushes a prone restraint
// from a support worker's phone: as soon as the push is acknowledged, the
// manager sees the alert through the ReviewService, acknowledges it, and the
// acknowledgement and the reads are in the audit log.
func TestReview_ProneRestraintAlertsWithinTheSync(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	id := shiftsynctest.RecordID(t)
	res, err := s.Client(worker.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
		Mutations: []*syncv1.Mutation{shiftsynctest.ProneRestraint(1, id, "house-a", "sam", s.Clock.Now())}})
	if err != nil || res.GetResults()[0].GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
		t.Fatalf("Push() = %v, %v", res, err)
	}

	review := reviewClient(s, manager.Token)
	list, err := review.ListAlerts(ctx, &reviewv1.ListAlertsRequest{ServiceId: "house-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetAlerts()) != 1 {
		t.Fatalf("alerts = %v, want one", list.GetAlerts())
	}
	a := list.GetAlerts()[0]
	if a.GetRuleId() != "prone_restraint" || a.GetRuleVersion() != 1 || a.GetRecordId() != id || a.GetAuthorUserId() != "ana" ||
		a.GetDeviceId() != worker.DeviceID || a.GetPersonId() != "sam" || a.GetAcknowledgedAt() != nil {
		t.Errorf("alert = %v", a)
	}

	ack, err := review.AcknowledgeAlert(ctx, &reviewv1.AcknowledgeAlertRequest{AlertId: a.GetAlertId(), Note: "debrief booked for tomorrow"})
	if err != nil || ack.GetAlert().GetAcknowledgedBy() != "meera" || ack.GetAlert().GetNote() != "debrief booked for tomorrow" {
		t.Fatalf("AcknowledgeAlert() = %v, %v", ack, err)
	}
	if open, _ := review.ListAlerts(ctx, &reviewv1.ListAlertsRequest{ServiceId: "house-a"}); len(open.GetAlerts()) != 0 {
		t.Errorf("open alerts after acknowledgement: %v", open.GetAlerts())
	}
	if all, _ := review.ListAlerts(ctx, &reviewv1.ListAlertsRequest{ServiceId: "house-a", IncludeAcknowledged: true}); len(all.GetAlerts()) != 1 {
		t.Errorf("all alerts: %v, want the acknowledged one", all.GetAlerts())
	}
	if n := s.AuditCount(t, shiftsync.AuditAlertAcknowledge); n != 1 {
		t.Errorf("%d acknowledgements audited, want 1", n)
	}
	if n := s.AuditCount(t, shiftsync.AuditReviewRead); n != 3 {
		t.Errorf("%d review reads audited, want 3", n)
	}

	// Syncing the same record again, or editing it, raises nothing new.
	if _, err := s.Client(worker.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
		Mutations: []*syncv1.Mutation{shiftsynctest.ProneRestraint(1, id, "house-a", "sam", s.Clock.Now())}}); err != nil {
		t.Fatal(err)
	}
	if all, _ := review.ListAlerts(ctx, &reviewv1.ListAlertsRequest{ServiceId: "house-a", IncludeAcknowledged: true}); len(all.GetAlerts()) != 1 {
		t.Errorf("alerts after a retried push: %d, want 1", len(all.GetAlerts()))
	}
}

// TestReview_ResolveConflict resolves a conflict once; both values stay
// visible with their authors, and a second resolution is refused.
func TestReview_ResolveConflict(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	_, id := alertAndConflict(t, s)
	manager := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	review := reviewClient(s, manager.Token)
	res, err := review.ResolveConflict(ctx, &reviewv1.ResolveConflictRequest{ConflictId: id, Resolution: "asked both: it was the garden"})
	if err != nil {
		t.Fatal(err)
	}
	c := res.GetConflict()
	if c.GetResolvedBy() != "meera" || c.GetCurrent().GetAuthorUserId() != "writer-a" || c.GetIncoming().GetAuthorUserId() != "writer-b" ||
		c.GetCurrent().GetValue().GetStringValue() != "hallway" || c.GetIncoming().GetValue().GetStringValue() != "garden" || c.GetWinner() != "incoming" {
		t.Errorf("resolved conflict = %v", c)
	}
	if _, err := review.ResolveConflict(ctx, &reviewv1.ResolveConflictRequest{ConflictId: id, Resolution: "again"}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodeConflict) {
		t.Errorf("second resolution: %v, want conflict", err)
	}
	if _, err := review.ResolveConflict(ctx, &reviewv1.ResolveConflictRequest{ConflictId: id + 100, Resolution: "x"}); shiftsynctest.ErrorCode(err) != string(shiftsync.CodePermissionDenied) {
		t.Errorf("unknown conflict: %v, want permission_denied, as for a conflict of another service", err)
	}
	if n := s.AuditCount(t, shiftsync.AuditConflictResolve); n != 1 {
		t.Errorf("%d resolutions audited, want 1", n)
	}
	if n, err := s.Store.Audit.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain after %d entries: %v", n, err)
	}
}

// TestReview_NewestRecordsAndWholeTrends: a service with more records than
// one list holds lists its newest first, and its trend still counts every
// record of the period, the newest included.
func TestReview_NewestRecordsAndWholeTrends(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	worker := s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	// A PBS lead whose access is Sam's caseload lists the service's
	// findings about Sam.
	lead := s.EnrolDevice(t, "priya", shiftsync.RolePBSLead)
	if _, err := s.Identity.AddMembership(ctx, shiftsync.Principal{UserID: "test"}, shiftsync.Membership{UserID: "priya", ServiceID: "house-a", PersonID: "sam",
		Role: shiftsync.RolePBSLead, Start: s.Clock.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	old := s.Clock.Now().Add(-60 * 24 * time.Hour)
	const many = 5_001
	counter := uint64(0)
	for pushed := 0; pushed < many; {
		var batch []*syncv1.Mutation
		for ; pushed < many && len(batch) < shiftsync.MaxMutationsPerPush; pushed++ {
			counter++
			batch = append(batch, shiftsynctest.Incident(counter, shiftsynctest.RecordID(t), "house-a", "sam", old.Add(time.Duration(pushed)*time.Second), "earlier"))
		}
		if _, err := s.Client(worker.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch}); err != nil {
			t.Fatal(err)
		}
	}
	newest := shiftsynctest.RecordID(t)
	wantResult(t, "newest", pushOne(t, s, worker.Token, shiftsynctest.Incident(counter+1, newest, "house-a", "sam", s.Clock.Now(), "today")), accepted, "")

	review := reviewClient(s, lead.Token)
	listed, err := review.ListRecords(ctx, &reviewv1.ListRecordsRequest{ServiceId: "house-a", RecordType: "incident", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.GetRecords(); len(got) != 2 || got[0].GetRecordId() != newest {
		t.Errorf("ListRecords(limit 2) = %d records, first %v; want 2, the newest first", len(got), got[0].GetRecordId())
	}
	trend, err := review.GetTrends(ctx, &reviewv1.GetTrendsRequest{ServiceId: "house-a", PersonId: "sam",
		From: timestamppb.New(old.Add(-time.Hour)), To: timestamppb.New(s.Clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, w := range trend.GetWeeks() {
		total += int(w.GetIncidents())
	}
	if weeks := trend.GetWeeks(); total != many+1 || weeks[len(weeks)-1].GetIncidents() != 1 {
		t.Errorf("trend counts %d incidents, %d in the last week; want %d, 1", total, weeks[len(weeks)-1].GetIncidents(), many+1)
	}
	if _, err := review.ListFindings(ctx, &reviewv1.ListFindingsRequest{ServiceId: "house-a"}); err != nil {
		t.Errorf("ListFindings by a caseload's PBS lead: %v", err)
	}
}

// reviewTarget is what a review call names: a service and a person in it,
// and rows by id.
type reviewTarget struct {
	service, person, record, pack string
	alert, conflict               int64
}

// reviewRefusals has a call for every ReviewService method, naming what
// the target names; TestReview_RefusesOneWay fails if a method has none.
var reviewRefusals = map[protoreflect.Name]func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error{
	"ListAlerts": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListAlerts(ctx, &reviewv1.ListAlertsRequest{ServiceId: at.service})
		return err
	},
	"AcknowledgeAlert": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.AcknowledgeAlert(ctx, &reviewv1.AcknowledgeAlertRequest{AlertId: at.alert, Note: "seen"})
		return err
	},
	"ListConflicts": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListConflicts(ctx, &reviewv1.ListConflictsRequest{ServiceId: at.service})
		return err
	},
	"ResolveConflict": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ResolveConflict(ctx, &reviewv1.ResolveConflictRequest{ConflictId: at.conflict, Resolution: "asked both"})
		return err
	},
	"ListQuarantine": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListQuarantine(ctx, &reviewv1.ListQuarantineRequest{ServiceId: at.service})
		return err
	},
	"ListRecords": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListRecords(ctx, &reviewv1.ListRecordsRequest{ServiceId: at.service})
		return err
	},
	"GetRecord": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.GetRecord(ctx, &reviewv1.GetRecordRequest{RecordId: at.record})
		return err
	},
	"LockRecord": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.LockRecord(ctx, &reviewv1.LockRecordRequest{RecordId: at.record})
		return err
	},
	"ListFindings": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListFindings(ctx, &reviewv1.ListFindingsRequest{ServiceId: at.service})
		return err
	},
	"GetTrends": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.GetTrends(ctx, &reviewv1.GetTrendsRequest{ServiceId: at.service, From: timestamppb.New(shiftsynctest.Epoch.Add(-7 * 24 * time.Hour)),
			To: timestamppb.New(shiftsynctest.Epoch)})
		return err
	},
	"ListActions": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListActions(ctx, &reviewv1.ListActionsRequest{ServiceId: at.service})
		return err
	},
	"ExportEvidencePack": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ExportEvidencePack(ctx, &reviewv1.ExportEvidencePackRequest{ServiceId: at.service, PersonId: at.person,
			From: timestamppb.New(shiftsynctest.Epoch.Add(-7 * 24 * time.Hour)), To: timestamppb.New(shiftsynctest.Epoch)})
		return err
	},
	"VerifyEvidencePack": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.VerifyEvidencePack(ctx, &reviewv1.VerifyEvidencePackRequest{PackId: at.pack})
		return err
	},
	"ListFlaggedWrites": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListFlaggedWrites(ctx, &reviewv1.ListFlaggedWritesRequest{ServiceId: at.service})
		return err
	},
	"ListDeviceHealth": func(ctx context.Context, c reviewv1connect.ReviewServiceClient, at reviewTarget) error {
		_, err := c.ListDeviceHealth(ctx, &reviewv1.ListDeviceHealthRequest{ServiceId: at.service})
		return err
	},
}

// TestReview_RefusesOneWay: every ReviewService call, by a caller holding
// no right in the service it concerns (a manager of another service, a
// support worker of the service), is refused with permission_denied, and
// with the same message (ids aside) whether the service and rows it names
// exist or not.
func TestReview_RefusesOneWay(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	alert, conflict := alertAndConflict(t, s)
	admin := shiftsync.Principal{UserID: "test", Services: []string{"house-a"}}
	alerts, err := s.Review.Alerts(ctx, admin, "house-a", false)
	if err != nil {
		t.Fatal(err)
	}
	pack, err := s.Review.ExportEvidencePack(ctx, admin, "house-a", "p1", s.Clock.Now().Add(-24*time.Hour), s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	real := reviewTarget{service: "house-a", person: "p1", record: alerts[0].Record.RecordID, pack: pack.ID, alert: alert, conflict: conflict}
	absent := reviewTarget{service: "house-z", person: "p9", record: shiftsynctest.RecordID(t), pack: shiftsynctest.RecordID(t), alert: 987654, conflict: 876543}
	callers := map[string]string{
		"another service's manager":    s.EnrolDevice(t, "bo", shiftsync.RoleManager, "house-b").Token,
		"the service's support worker": s.EnrolDevice(t, "wil", shiftsync.RoleSupportWorker, "house-a").Token,
	}
	// anonymise replaces what a target names by placeholders.
	anonymise := func(msg string, at reviewTarget) string {
		return strings.NewReplacer(`"`+at.service+`"`, "<service>", `"`+at.person+`"`, "<person>", `"`+at.record+`"`, "<record>", `"`+at.pack+`"`, "<pack>",
			fmt.Sprintf(" %d ", at.alert), " <id> ", fmt.Sprintf(" %d ", at.conflict), " <id> ").Replace(msg)
	}
	methods := reviewv1.File_shiftsync_review_v1_review_proto.Services().ByName("ReviewService").Methods()
	for i := range methods.Len() {
		name := methods.Get(i).Name()
		call, ok := reviewRefusals[name]
		if !ok {
			t.Errorf("ReviewService.%s has no row in reviewRefusals", name)
			continue
		}
		for who, token := range callers {
			client := reviewClient(s, token)
			var answers []string
			for _, at := range []reviewTarget{real, absent} {
				err := call(ctx, client, at)
				if connect.CodeOf(err) != connect.CodePermissionDenied || shiftsynctest.ErrorCode(err) != string(shiftsync.CodePermissionDenied) {
					t.Errorf("%s by %s naming %s: %v, want permission_denied", name, who, at.service, err)
				}
				var ce *connect.Error
				if errors.As(err, &ce) {
					answers = append(answers, anonymise(ce.Message(), at))
				}
			}
			if len(answers) == 2 && answers[0] != answers[1] {
				t.Errorf("%s by %s: %q when it exists, %q when not; want the same", name, who, answers[0], answers[1])
			}
		}
	}
}

// TestReview_TrendsNeedAPeriod: GetTrends without from or to is refused
// invalid_argument, saying both are required, not answered with the one
// empty week of 1970 an unset timestamp names.
func TestReview_TrendsNeedAPeriod(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	manager := s.EnrolDevice(t, "mia", shiftsync.RoleManager, "house-a")
	review := reviewClient(s, manager.Token)
	now := timestamppb.New(s.Clock.Now())
	for name, req := range map[string]*reviewv1.GetTrendsRequest{
		"neither": {ServiceId: "house-a"},
		"no from": {ServiceId: "house-a", To: now},
		"no to":   {ServiceId: "house-a", From: now},
	} {
		res, err := review.GetTrends(ctx, req)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "from and to are both required") {
			t.Errorf("%s: GetTrends = %d weeks, %v; want invalid_argument saying from and to are required", name, len(res.GetWeeks()), err)
		}
	}
	res, err := review.GetTrends(ctx, &reviewv1.GetTrendsRequest{ServiceId: "house-a", From: timestamppb.New(s.Clock.Now().Add(-12 * 7 * 24 * time.Hour)), To: now})
	if err != nil || len(res.GetWeeks()) < 12 {
		t.Errorf("GetTrends over 12 weeks = %d weeks, %v", len(res.GetWeeks()), err)
	}
}
