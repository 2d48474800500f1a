package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/shiftsync/shiftsync/server/console"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, sending the headers a browser sends on same-origin requests.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func issue(t *testing.T, s *shiftsynctest.Server, user string, role shiftsync.Role, services ...string) string {
	t.Helper()
	if len(services) == 0 {
		services = []string{"house-a"}
	}
	s.EnrolDevice(t, user, role, services...)
	code, _, err := s.Identity.IssueEnrolmentCode(context.Background(), shiftsync.Principal{UserID: "shiftsynctest"}, user)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestConsoleHTTP signs a manager in over HTTP, sees a pushed prone
// restraint as an alert, acknowledges it, and signs out; a cross-site POST,
// a replayed cookie after sign-out and a support worker are refused.
func TestConsoleHTTP(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	phone := s.AddDevice("worker-ann", "phone-ann", "house-a")
	if _, err := s.Client(phone).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
		Mutations: []*syncv1.Mutation{shiftsynctest.ProneRestraint(1, shiftsynctest.RecordID(t), "house-a", "sam", s.Clock.Now())}}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.URL)

	res, body := b.do("GET", "/console/", nil, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/sign-in" {
		t.Fatalf("GET /console/ signed out = %d %s, want a redirect to sign in", res.StatusCode, res.Header.Get("Location"))
	}
	res, body = b.do("GET", "/console/sign-in", nil, nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if !strings.Contains(body, `src="/console/assets/htmx.min.js"`) || strings.Contains(body, "hx-on") {
		t.Errorf("sign-in page does not load the embedded htmx, or uses hx-on:\n%s", body)
	}
	if res, _ := b.do("GET", "/console/assets/htmx.min.js", nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("GET htmx = %d", res.StatusCode)
	}

	res, body = b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-mo", shiftsync.RoleManager)}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == console.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict", cookie)
	}

	res, body = b.do("GET", "/console/", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Acknowledge") {
		t.Fatalf("home = %d, want the open alert:\n%s", res.StatusCode, body)
	}
	for _, want := range []string{"Findings", "Open conflicts: 0", "Quarantined changes: 0", "No phone holds unsynced records"} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q:\n%s", want, body)
		}
	}
	// Each part of the home page is the review service's audited read, as
	// the manager's browser.
	for _, e := range s.AuditEvents(t, shiftsync.AuditReviewRead) {
		if e.Actor.UserID != "manager-mo" || e.Actor.DeviceID == "" {
			t.Errorf("review read audited as %+v, want manager-mo's browser", e.Actor)
		}
	}
	if n := s.AuditCount(t, shiftsync.AuditReviewRead); n != 6 {
		t.Errorf("%d review reads audited for the home page, want 6 (alerts, findings, devices, conflicts, actions, quarantine)", n)
	}
	alerts, err := s.Review.Alerts(ctx, shiftsync.Principal{UserID: "manager-mo"}, "house-a", false)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("Alerts = %v, %v", alerts, err)
	}
	ack := "/console/alerts/" + itoa(alerts[0].ID) + "/acknowledge"

	t.Run("cross-site POST refused", func(t *testing.T) {
		res, _ := b.do("POST", ack, url.Values{"note": {"x"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site acknowledge = %d, want 403", res.StatusCode)
		}
		if n := s.AuditCount(t, shiftsync.AuditAlertAcknowledge); n != 0 {
			t.Fatalf("%d acknowledgements audited after a cross-site POST", n)
		}
	})

	res, body = b.do("POST", ack, url.Values{"note": {"seen, debrief booked"}}, http.Header{"Hx-Request": {"true"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "acknowledged by manager-mo") {
		t.Fatalf("acknowledge = %d:\n%s", res.StatusCode, body)
	}
	if ev := s.AuditEvents(t, shiftsync.AuditAlertAcknowledge); len(ev) != 1 || ev[0].Actor.UserID != "manager-mo" {
		t.Fatalf("acknowledge audit = %+v, want one by manager-mo", ev)
	}

	res, _ = b.do("POST", "/console/sign-out", url.Values{}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", res.StatusCode)
	}
	t.Run("cookie replayed after sign-out refused", func(t *testing.T) {
		thief := newBrowser(t, s.URL)
		res, _ := thief.do("GET", "/console/", nil, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/sign-in" {
			t.Fatalf("replayed cookie = %d %s, want a redirect to sign in", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("another service's manager refused", func(t *testing.T) {
		other := newBrowser(t, s.URL)
		if res, body := other.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-bo", shiftsync.RoleManager, "house-b")}}, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
		}
		res, body := other.do("GET", "/console/?service=house-a", nil, nil)
		if res.StatusCode != http.StatusForbidden || strings.Contains(body, "Acknowledge") {
			t.Fatalf("house-b's manager on house-a's home = %d, want 403 and no alerts:\n%s", res.StatusCode, body)
		}
		res, _ = other.do("POST", ack, url.Values{"note": {"x"}}, nil)
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("house-b's manager acknowledging house-a's alert = %d, want 403", res.StatusCode)
		}
	})

	t.Run("support worker refused", func(t *testing.T) {
		res, body := newBrowser(t, s.URL).do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "worker-wes", shiftsync.RoleSupportWorker)}}, nil)
		if res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 || !strings.Contains(body, "for your phone") {
			t.Fatalf("worker sign-in = %d, cookies %v:\n%s", res.StatusCode, res.Cookies(), body)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
