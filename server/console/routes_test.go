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
// one answers another service's manager with anything but the review
// service's refusal, or if one answers its own manager without the review
// service's audit entry, as that manager's browser.
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
	// Each data route, as a request, and the audit action it must leave.
	requests := map[string]struct {
		method, path string
		audit        string
		file         []byte // sent as the multipart form's "pack"
		// leak is what a refusal must not show: "sam" unless the
		// request names Sam itself.
		leak string
	}{
		"GET /console/{$}":                      {"GET", "/console/?service=house-a", shiftsync.AuditReviewRead, nil, ""},
		"POST /console/alerts/{id}/acknowledge": {"POST", "/console/alerts/" + strconv.FormatInt(alerts[0].ID, 10) + "/acknowledge", shiftsync.AuditAlertAcknowledge, nil, ""},
		"GET /console/records":                  {"GET", "/console/records?service=house-a", shiftsync.AuditReviewRead, nil, ""},
		"GET /console/records/{id}":             {"GET", "/console/records/" + record, shiftsync.AuditRecordRead, nil, ""},
		"GET /console/evidence":                 {"GET", "/console/evidence?" + packQuery(s), shiftsync.AuditEvidenceExport, nil, record},
		"GET /console/evidence/download":        {"GET", "/console/evidence/download?format=csv&" + packQuery(s), shiftsync.AuditEvidenceExport, nil, record},
		"POST /console/evidence/verify":         {"POST", "/console/evidence/verify", shiftsync.AuditReviewRead, packCSV.Bytes(), ""},
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
		form, leak := url.Values{}, cmp.Or(req.leak, "sam")
		send := func(b *browser, header http.Header) (*http.Response, string) {
			if req.file != nil {
				return b.upload(req.path, "pack.csv", req.file)
			}
			return b.do(req.method, req.path, form, header)
		}
		if res, body := send(newBrowser(t, s.URL), nil); res.StatusCode < 300 || strings.Contains(body, leak) {
			t.Errorf("%s without a session = %d, want it refused", rt.Pattern, res.StatusCode)
		}
		if res, body := send(other, nil); res.StatusCode != http.StatusForbidden || strings.Contains(body, leak) {
			t.Errorf("%s as another service's manager = %d, want 403 and no data", rt.Pattern, res.StatusCode)
		}
		before := len(s.AuditEvents(t, req.audit))
		res, _ := send(own, http.Header{"Hx-Request": {"true"}})
		if res.StatusCode != http.StatusOK {
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
