package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/console"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestConsoleRecords pages through more records than a page holds and
// opens one record's history; each is the review service's audited read.
func TestConsoleRecords(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	phone := s.AddDevice("worker-ann", "phone-ann", "house-a")
	n := console.PageSize + 3
	var ms []*syncv1.Mutation
	var first string
	for i := range n {
		id := fmt.Sprintf("0190a000-0000-7000-8000-%012d", i)
		if i == 0 {
			first = id
		}
		ms = append(ms, shiftsynctest.Incident(uint64(i+1), id, "house-a", "sam", s.Clock.Now().Add(-time.Duration(n-i)*time.Minute), "Shouted at the door"))
	}
	if _, err := s.Client(phone).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: ms}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s.URL)
	if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-mo", shiftsync.RoleManager)}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}

	res, body := b.do("GET", "/console/records?service=house-a", nil, nil)
	if res.StatusCode != http.StatusOK || strings.Count(body, "<tr><td>") != console.PageSize || !strings.Contains(body, "page=1") {
		t.Fatalf("records page 0 = %d, %d rows, want %d and a next page:\n%s", res.StatusCode, strings.Count(body, "<tr><td>"), console.PageSize, body)
	}
	res, body = b.do("GET", "/console/records?service=house-a&page=1", nil, nil)
	if res.StatusCode != http.StatusOK || strings.Count(body, "<tr><td>") != 3 || !strings.Contains(body, first) {
		t.Fatalf("records page 1 = %d, want the 3 oldest:\n%s", res.StatusCode, body)
	}

	res, body = b.do("GET", "/console/records/"+first, nil, nil)
	for _, want := range []string{"Every version", "behaviour_description", "Shouted at the door", "phone-ann", "Not locked."} {
		if !strings.Contains(body, want) {
			t.Errorf("record page lacks %q", want)
		}
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("record page = %d:\n%s", res.StatusCode, body)
	}
	if ev := s.AuditEvents(t, shiftsync.AuditRecordRead); len(ev) != 1 || ev[0].Subject != first || ev[0].Actor.UserID != "manager-mo" {
		t.Fatalf("record read audit = %+v", ev)
	}

	// Another service's manager is refused the list and the record.
	other := newBrowser(t, s.URL)
	other.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-bo", shiftsync.RoleManager, "house-b")}}, nil)
	if res, _ := other.do("GET", "/console/records?service=house-a", nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("house-b's manager on house-a's records = %d, want 403", res.StatusCode)
	}
	if res, _ := other.do("GET", "/console/records/"+first, nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("house-b's manager on a house-a record = %d, want 403", res.StatusCode)
	}
}
