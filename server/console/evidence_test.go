package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// upload posts a file as the "pack" field of a multipart form.
func (b *browser) upload(path, name string, file []byte) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("pack", name)
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, err := http.NewRequest("POST", b.base+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, string(out)
}

// packQuery is the period of the fixtures' records, as the evidence form
// sends it.
func packQuery(s *shiftsynctest.Server) string {
	return url.Values{"service": {"house-a"}, "person": {"sam"}, "from": {s.Clock.Now().Add(-7 * 24 * time.Hour).Format(time.DateOnly)},
		"to": {s.Clock.Now().Format(time.DateOnly)}}.Encode()
}

// TestConsoleEvidence previews Sam's pack, downloads its HTML and CSV and
// hands them back: each verifies; with one byte of a row's summary changed
// the page names that row. A pack of 300 records (well over a form's 64
// KiB) verifies; a file over 7 MiB is refused with a reason. Another
// service's manager is refused the preview, the download and the check.
func TestConsoleEvidence(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	phone := s.AddDevice("worker-ann", "phone-ann", "house-a")
	var ms []*syncv1.Mutation
	for i := range 300 {
		ms = append(ms, shiftsynctest.Incident(uint64(i+1), fmt.Sprintf("0190a000-0000-7000-8000-%012d", i), "house-a", "sam",
			s.Clock.Now().Add(-time.Duration(300-i)*time.Minute), fmt.Sprintf("Shouted at the door, time %d, during the morning transition", i)))
	}
	if _, err := s.Client(phone).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: ms}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.URL)
	if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-mo", shiftsync.RoleManager)}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}
	q := packQuery(s)

	res, body := b.do("GET", "/console/evidence?"+q, nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "300 records") || !strings.Contains(body, "Download CSV") {
		t.Fatalf("preview = %d:\n%s", res.StatusCode, body)
	}
	if ev := s.AuditEvents(t, shiftsync.AuditEvidenceExport); len(ev) != 1 || ev[0].Actor.UserID != "manager-mo" || ev[0].Actor.DeviceID == "" {
		t.Errorf("preview's export audited as %+v, want one by manager-mo's browser", ev)
	}
	files := map[string][]byte{}
	for _, format := range []string{"html", "csv"} {
		res, body := b.do("GET", "/console/evidence/download?"+q+"&format="+format, nil, nil)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="evidence-sam-`) {
			t.Fatalf("download %s = %d, %q", format, res.StatusCode, res.Header.Get("Content-Disposition"))
		}
		if len(body) < 64<<10 {
			t.Fatalf("the %s pack is %d bytes; the test needs one larger than a form", format, len(body))
		}
		files[format] = []byte(body)
		res, page := b.upload("/console/evidence/verify", "pack."+format, files[format])
		if res.StatusCode != http.StatusOK || !strings.Contains(page, "The pack verifies") || !strings.Contains(page, "Every row of the file matches") {
			t.Errorf("the downloaded %s handed back = %d:\n%s", format, res.StatusCode, page)
		}
	}
	if n := s.AuditCount(t, shiftsync.AuditEvidenceExport); n != 3 {
		t.Errorf("%d exports audited, want 3 (the preview and two downloads)", n)
	}

	changed := bytes.Replace(files["csv"], []byte("time 17,"), []byte("time 18,"), 1)
	res, page := b.upload("/console/evidence/verify", "pack.csv", changed)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "The pack does not verify") ||
		!regexp.MustCompile(`<tr><td>19</td><td>0190a000-0000-7000-8000-000000000017</td><td>its cells differ from the row exported</td></tr>`).MatchString(page) {
		t.Errorf("a CSV with one row's summary changed = %d, want row 19 (record 17) named:\n%s", res.StatusCode, page)
	}

	res, page = b.upload("/console/evidence/verify", "big.csv", bytes.Repeat([]byte("a"), shiftsync.MaxPackFileBytes+1))
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "larger than 7 MiB") {
		t.Errorf("a file over 7 MiB = %d:\n%s", res.StatusCode, page)
	}
	res, page = b.upload("/console/evidence/verify", "notes.csv", []byte("name,age\n"))
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "not an evidence pack") {
		t.Errorf("a file that is no pack = %d:\n%s", res.StatusCode, page)
	}

	other := newBrowser(t, s.URL)
	other.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-bo", shiftsync.RoleManager, "house-b")}}, nil)
	for _, path := range []string{"/console/evidence?" + q, "/console/evidence/download?" + q + "&format=csv"} {
		if res, body := other.do("GET", path, nil, nil); res.StatusCode != http.StatusForbidden || strings.Contains(body, "Shouted") {
			t.Errorf("house-b's manager on %s = %d, want 403 and no records", path, res.StatusCode)
		}
	}
	if res, body := other.upload("/console/evidence/verify", "pack.csv", files["csv"]); res.StatusCode != http.StatusForbidden || strings.Contains(body, "0190a000") {
		t.Errorf("house-b's manager handing house-a's pack back = %d, want 403 and nothing of it:\n%s", res.StatusCode, body)
	}
}
