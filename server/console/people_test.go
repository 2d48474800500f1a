package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestConsolePeople: house-a's manager lists its staff and devices,
// issues a worker a code (shown with its QR code; audited as the
// manager's) and revokes the worker's phone, whose next push is refused.
// House-b's manager may do none of it to house-a's worker, by the
// AdminService's rules, nor may house-a's PBS lead, who manages nothing.
func TestConsolePeople(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	worker := s.EnrolDevice(t, "worker-ann", shiftsync.RoleSupportWorker, "house-a")
	sign := func(user string, role shiftsync.Role, service string) *browser {
		b := newBrowser(t, s.URL)
		if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, user, role, service)}}, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s sign-in = %d:\n%s", user, res.StatusCode, body)
		}
		return b
	}
	own, other, lead := sign("manager-mo", shiftsync.RoleManager, "house-a"), sign("manager-bo", shiftsync.RoleManager, "house-b"), sign("lead-li", shiftsync.RolePBSLead, "house-a")
	revoke := "/console/devices/" + worker.DeviceID + "/revoke"
	codes := s.AuditCount(t, shiftsync.AuditEnrolmentCode)

	for name, b := range map[string]*browser{"house-b's manager": other, "house-a's PBS lead": lead} {
		if res, body := b.do("GET", "/console/people?service=house-a", nil, nil); res.StatusCode != http.StatusForbidden || strings.Contains(body, worker.DeviceID) {
			t.Errorf("%s listing house-a's people = %d, want 403 and nothing of them", name, res.StatusCode)
		}
		for _, service := range []string{"house-a", ""} {
			if res, body := b.do("POST", "/console/people/code", url.Values{"service": {service}, "user": {"worker-ann"}}, nil); res.StatusCode != http.StatusForbidden || strings.Contains(body, "<svg") {
				t.Errorf("%s issuing worker-ann a code (service %q) = %d, want 403", name, service, res.StatusCode)
			}
		}
		if res, _ := b.do("POST", revoke, url.Values{"service": {"house-a"}, "reason": {"x"}}, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s revoking worker-ann's phone = %d, want 403", name, res.StatusCode)
		}
	}
	if n := s.AuditCount(t, shiftsync.AuditEnrolmentCode) - codes; n != 0 {
		t.Errorf("%d codes issued to those refused, want none", n)
	}
	if _, err := s.Client(worker.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); err != nil {
		t.Fatalf("worker's phone after refused revokes: %v", err)
	}

	res, body := own.do("GET", "/console/people?service=house-a", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<td>worker-ann</td><td>support_worker</td>") || !strings.Contains(body, "worker-ann&#39;s phone") {
		t.Fatalf("house-a's manager's people page = %d:\n%s", res.StatusCode, body)
	}
	res, body = own.do("POST", "/console/people/code", url.Values{"service": {"house-a"}, "user": {"worker-ann"}}, nil)
	code := regexp.MustCompile(`<p class="enrolment-code"><strong>([^<]+)</strong>`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || code == nil || !strings.Contains(body, `<svg xmlns="http://www.w3.org/2000/svg"`) {
		t.Fatalf("issue code = %d:\n%s", res.StatusCode, body)
	}
	if ev := s.AuditEvents(t, shiftsync.AuditEnrolmentCode); ev[len(ev)-1].Actor.UserID != "manager-mo" || ev[len(ev)-1].Subject != "worker-ann" {
		t.Errorf("code issue audited as %+v", ev[len(ev)-1])
	}
	if _, _, err := s.Identity.Enrol(ctx, code[1], "ann's new phone", s.Admin.RedeemsEnrolmentCode); err != nil {
		t.Errorf("the code shown does not enrol: %v", err)
	}

	if res, _ := own.do("POST", revoke, url.Values{"service": {"house-a"}, "reason": {"phone lost on shift"}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d", res.StatusCode)
	}
	if _, err := s.Client(worker.Token).Pull(ctx, &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()}); shiftsynctest.ErrorCode(err) != "device_revoked" {
		t.Errorf("revoked phone's pull: %v, want device_revoked", err)
	}
	if _, body := own.do("GET", "/console/people?service=house-a", nil, nil); !strings.Contains(body, "revoked ") {
		t.Errorf("people page does not show the phone revoked:\n%s", body)
	}

	// A PBS lead of house-a who manages house-c is shown house-c's people,
	// which they administer, not refused house-a's.
	s.EnrolDevice(t, "worker-cy", shiftsync.RoleSupportWorker, "house-c")
	both := sign("lead-manager-al", shiftsync.RolePBSLead, "house-a")
	s.EnrolDevice(t, "lead-manager-al", shiftsync.RoleManager, "house-c")
	if res, body := both.do("GET", "/console/people", nil, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, "<td>worker-cy</td>") {
		t.Errorf("people page of a lead in house-a and manager of house-c, no service named = %d, want house-c's:\n%s", res.StatusCode, body)
	}
}
