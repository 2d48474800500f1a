package console_test

import (
	"bytes"
	"cmp"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/console"
	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestConsoleRoutes walks every console route that is not public and
// fails if one is not listed here, if one answers without a session, if
// one answers another service's manager with anything but the refusal of
// the service it calls (the review service, or the AdminService's, audited),
// or if one answers its own manager without that service's audit entry, as
// that manager's browser (the AdminService audits its changes, not its
// reads).
func TestConsoleRoutes(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	phone := s.AddDevice("worker-ann", "phone-ann", "house-a")
	record := shiftsynctest.RecordID(t)
	if _, err := s.Client(phone).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
		Mutations: []*syncv1.Mutation{shiftsynctest.ProneRestraint(1, record, "house-a", "sam", s.Clock.Now())}}); err != nil {
		t.Fatal(err)
	}
	alerts, err := s.Review.Alerts(ctx, shiftsync.Principal{UserID: "worker-ann", Services: []string{"house-a"}}, "house-a", false)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("Alerts = %v, %v", alerts, err)
	}
	// The pack the evidence routes export, and its CSV handed back.
	manager := shiftsync.Principal{UserID: "manager-mo", Services: []string{"house-a"}}
	s.EnrolDevice(t, manager.UserID, shiftsync.RoleManager, "house-a")
	pack, err := s.Review.ExportEvidencePack(ctx, manager, "house-a", "sam", s.Clock.Now().Add(-time.Hour), s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var packCSV bytes.Buffer
	if err := evidence.WriteCSV(&packCSV, pack); err != nil {
		t.Fatal(err)
	}
	// A worker of house-a's, whose phone the people routes act on.
	ann := s.EnrolDevice(t, "worker-ann", shiftsync.RoleSupportWorker, "house-a")
	// Each data route, as a request, and the audit action it must leave.
	type request struct {
		method, path string
		// audit is the entry the service's manager's request leaves: the
		// review service's, or the AdminService's for a change ("" for
		// its reads, which it audits only when refused).
		audit string
		// refused is the entry another service's manager's refusal leaves,
		// when the service audits refusals (the AdminService does).
		refused string
		form    url.Values
		file    []byte // sent as the multipart form's "pack"
		// leak is what a refusal must not show: "sam" unless the
		// request names Sam itself.
		leak string
	}
	conflict := syncWorld(t, s)
	requests := map[string]request{
		"GET /console/actions":        {method: "GET", path: "/console/actions?service=house-a", audit: shiftsync.AuditReviewRead},
		"GET /console/follow-through": {method: "GET", path: "/console/follow-through?service=house-a", audit: shiftsync.AuditReviewRead},
		"GET /console/rota":           {method: "GET", path: "/console/rota?service=house-a", audit: shiftsync.AuditReviewRead},
		"GET /console/quarantine":     {method: "GET", path: "/console/quarantine?service=house-a", audit: shiftsync.AuditReviewRead},
		"GET /console/conflicts":      {method: "GET", path: "/console/conflicts?service=house-a", audit: shiftsync.AuditReviewRead},
		"GET /console/trends":         {method: "GET", path: "/console/trends?service=house-a&person=sam", audit: shiftsync.AuditReviewRead, leak: "Sam Okafor"},
		"POST /console/conflicts/{id}/resolve": {method: "POST", path: "/console/conflicts/" + strconv.FormatInt(conflict, 10) + "/resolve", audit: shiftsync.AuditConflictResolve,
			form: url.Values{"resolution": {"checked"}}},
		"GET /console/{$}":                      {method: "GET", path: "/console/?service=house-a", audit: shiftsync.AuditReviewRead},
		"POST /console/alerts/{id}/acknowledge": {method: "POST", path: "/console/alerts/" + strconv.FormatInt(alerts[0].ID, 10) + "/acknowledge", audit: shiftsync.AuditAlertAcknowledge},
		"GET /console/records":                  {method: "GET", path: "/console/records?service=house-a", audit: shiftsync.AuditReviewRead},
		"GET /console/records/{id}":             {method: "GET", path: "/console/records/" + record, audit: shiftsync.AuditRecordRead},
		"GET /console/evidence":                 {method: "GET", path: "/console/evidence?" + packQuery(s), audit: shiftsync.AuditEvidenceExport, leak: record},
		"GET /console/evidence/download":        {method: "GET", path: "/console/evidence/download?format=csv&" + packQuery(s), audit: shiftsync.AuditEvidenceExport, leak: record},
		"POST /console/evidence/verify":         {method: "POST", path: "/console/evidence/verify", audit: shiftsync.AuditReviewRead, file: packCSV.Bytes()},
		"GET /console/people":                   {method: "GET", path: "/console/people?service=house-a", refused: shiftsync.AuditAdminRefused, leak: ann.DeviceID},
		"POST /console/people/code": {method: "POST", path: "/console/people/code", audit: shiftsync.AuditEnrolmentCode, refused: shiftsync.AuditAdminRefused,
			form: url.Values{"service": {"house-a"}, "user": {"worker-ann"}}, leak: "<svg"},
		"POST /console/devices/{id}/revoke": {method: "POST", path: "/console/devices/" + ann.DeviceID + "/revoke", audit: shiftsync.AuditRevoke, refused: shiftsync.AuditAdminRefused,
			form: url.Values{"service": {"house-a"}, "reason": {"lost"}}},
	}
	signIn := func(user, service string) *browser {
		b := newBrowser(t, s.URL)
		if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, user, shiftsync.RoleManager, service)}}, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
		}
		return b
	}
	own, other := signIn("manager-mo", "house-a"), signIn("manager-bo", "house-b")
	for _, rt := range console.Routes() {
		if rt.Public {
			continue
		}
		req, ok := requests[rt.Pattern]
		if !ok {
			t.Errorf("route %s reaches data and is not walked by this test: add it", rt.Pattern)
			continue
		}
		form, leak := req.form, cmp.Or(req.leak, "sam")
		if form == nil {
			form = url.Values{}
		}
		send := func(b *browser, header http.Header) (*http.Response, string) {
			if req.file != nil {
				return b.upload(req.path, "pack.csv", req.file)
			}
			return b.do(req.method, req.path, form, header)
		}
		if res, body := send(newBrowser(t, s.URL), nil); res.StatusCode < 300 || strings.Contains(body, leak) {
			t.Errorf("%s without a session = %d, want it refused", rt.Pattern, res.StatusCode)
		}
		refusals := s.AuditCount(t, cmp.Or(req.refused, shiftsync.AuditAdminRefused))
		if res, body := send(other, nil); res.StatusCode != http.StatusForbidden || strings.Contains(body, leak) {
			t.Errorf("%s as another service's manager = %d, want 403 and no data", rt.Pattern, res.StatusCode)
		}
		if req.refused != "" && s.AuditCount(t, req.refused) <= refusals {
			t.Errorf("%s refused another service's manager without a %s audit entry", rt.Pattern, req.refused)
		}
		if req.audit == "" {
			if res, _ := send(own, nil); res.StatusCode != http.StatusOK {
				t.Errorf("%s as the service's manager = %d", rt.Pattern, res.StatusCode)
			}
			continue
		}
		before := len(s.AuditEvents(t, req.audit))
		res, _ := send(own, http.Header{"Hx-Request": {"true"}})
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusSeeOther {
			t.Errorf("%s as the service's manager = %d", rt.Pattern, res.StatusCode)
		}
		ev := s.AuditEvents(t, req.audit)
		if len(ev) <= before {
			t.Errorf("%s left no %s audit entry", rt.Pattern, req.audit)
			continue
		}
		if a := ev[len(ev)-1].Actor; a.UserID != "manager-mo" || a.DeviceID == "" {
			t.Errorf("%s audited as %+v, want manager-mo's browser", rt.Pattern, a)
		}
	}
}
