package console_test

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.html from the pages rendered")

// TestConsoleGoldens renders each page against fixed data and compares it
// with testdata/<page>.golden.html by content: whitespace between tags and
// runs of spaces do not count.
func TestConsoleGoldens(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	phone := s.AddDevice("worker-ann", "phone-ann", "house-a")
	const restraint, incident = "0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"
	if _, err := s.Client(phone).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.ProneRestraint(1, restraint, "house-a", "sam", s.Clock.Now()),
		shiftsynctest.Incident(2, incident, "house-a", "sam", s.Clock.Now(), "Shouted at the door during the morning transition"),
	}}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.URL)
	pages := map[string]string{"sign-in": "/console/sign-in"}
	for name, path := range pages {
		golden(t, name, b, path)
	}
	if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-mo", shiftsync.RoleManager)}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}
	for name, path := range map[string]string{
		"home":    "/console/?service=house-a",
		"records": "/console/records?service=house-a",
		"record":  "/console/records/" + incident,
	} {
		golden(t, name, b, path)
	}

	// The evidence page: a pack previewed, and its CSV handed back with a
	// row changed. A pack's id is new at each export and its fingerprint
	// covers the restraint's random incident id: both are masked.
	res, body := b.do("GET", "/console/evidence?"+packQuery(s), nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("evidence preview = %d:\n%s", res.StatusCode, body)
	}
	goldenBody(t, "evidence-preview", packMask.ReplaceAllString(body, "${1}MASKED"))
	_, csv := b.do("GET", "/console/evidence/download?format=csv&"+packQuery(s), nil, nil)
	res, body = b.upload("/console/evidence/verify", "pack.csv", []byte(strings.Replace(csv, "Shouted", "Shouts", 1)))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("evidence verify = %d:\n%s", res.StatusCode, body)
	}
	goldenBody(t, "evidence-verified", packMask.ReplaceAllString(body, "${1}MASKED"))

	// The people page, its device ids (new at each enrolment) masked; and
	// a code issued, the code and its QR code masked.
	s.EnrolDevice(t, "worker-wes", shiftsync.RoleSupportWorker, "house-a")
	res, body = b.do("GET", "/console/people?service=house-a", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("people = %d:\n%s", res.StatusCode, body)
	}
	goldenBody(t, "people", uuidMask.ReplaceAllString(body, "DEVICE-ID"))
	res, body = b.do("POST", "/console/people/code", url.Values{"service": {"house-a"}, "user": {"worker-wes"}}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("issue code = %d:\n%s", res.StatusCode, body)
	}
	body = codeMask.ReplaceAllString(qrMask.ReplaceAllString(body, `d="QR"`), "${1}CODE")
	goldenBody(t, "people-code", uuidMask.ReplaceAllString(body, "DEVICE-ID"))
}

var (
	uuidMask = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}`)
	qrMask   = regexp.MustCompile(`d="M[^"]*"`)
	codeMask = regexp.MustCompile(`(<p class="enrolment-code"><strong>)[^<]*`)
)

// packMask matches a pack's id and fingerprint on the evidence page.
var packMask = regexp.MustCompile(`((?:Pack|pack) |fingerprint <code>)[0-9a-f-]{36,64}`)

var between = regexp.MustCompile(`>\s+<`)
var spaces = regexp.MustCompile(`\s+`)

func normalise(html string) string {
	return strings.ReplaceAll(between.ReplaceAllString(spaces.ReplaceAllString(strings.TrimSpace(html), " "), ">\n<"), "> <", ">\n<")
}

func golden(t *testing.T, name string, b *browser, path string) {
	t.Helper()
	res, body := b.do("GET", path, nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d:\n%s", path, res.StatusCode, body)
	}
	goldenBody(t, name, body)
}

// goldenBody compares a page with testdata/<name>.golden.html.
func goldenBody(t *testing.T, name, body string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden.html")
	got := normalise(body) + "\n"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(normalise(string(want))+"\n", got); diff != "" {
		t.Errorf("page %s differs from %s (-want +got):\n%s", name, file, diff)
	}
}
