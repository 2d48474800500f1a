package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestConsoleRota: the rota page of a week shows each shift with its
// people and staff, a shift short of the staff it needs, the gap T1 finds
// in a shift over Sam's morning transition led by someone whose PBS
// competence was signed off but never observed, the week's huddle due
// (the rota began this morning, with a shift of the whole house),
// and the competence matrix; other weeks are a link away, and a week that
// is not a date is refused with a clear message.
func TestConsoleRota(t *testing.T) {
	ctx := context.Background()
	s := shiftsynctest.NewServer(t)
	lead := s.AddDevice("lead-lu", "phone-lu", "house-a")
	now := s.Clock.Now()
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 7, 0, 0, 0, time.UTC)
	const period, competency, shift, assignment, today = "0190a000-0000-7000-8000-0000000000a1", "0190a000-0000-7000-8000-0000000000a2",
		"0190a000-0000-7000-8000-0000000000a3", "0190a000-0000-7000-8000-0000000000a4", "0190a000-0000-7000-8000-0000000000a5"
	create := func(counter uint64, id, recordType, person string, fields ...*syncv1.FieldEdit) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: id, RecordType: recordType, ServiceId: "house-a", PersonId: person,
			Hlc: shiftsynctest.HLC(now, uint32(counter)), Fields: fields}
	}
	set := shiftsynctest.Set
	res, err := s.Client(lead).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		create(1, period, "high_risk_period", "sam", set("valid_from", shiftsynctest.Time(now.Add(-time.Hour))),
			set("daily_start_minute", shiftsynctest.Int(7*60)), set("daily_end_minute", shiftsynctest.Int(9*60)),
			set("description", shiftsynctest.String("morning transition")), set("lead_competency", shiftsynctest.Enum("COMPETENCY_KIND_PBS"))),
		create(2, competency, "competency", "", set("user_id", shiftsynctest.String("kim")), set("kind", shiftsynctest.Enum("COMPETENCY_KIND_PBS")),
			set("confirmed_by", shiftsynctest.Enum("COMPETENCY_CONFIRMATION_SIGN_OFF")), set("confirmed_at", shiftsynctest.Time(now.Add(-time.Hour)))),
		create(3, shift, "shift", "", set("starts_at", shiftsynctest.Time(tomorrow)), set("ends_at", shiftsynctest.Time(tomorrow.Add(8*time.Hour))),
			set("person_ids", shiftsynctest.List("sam")), set("staff_needed", shiftsynctest.Int(2))),
		create(4, assignment, "shift_assignment", "", set("shift_id", shiftsynctest.String(shift)), set("user_id", shiftsynctest.String("kim")),
			set("slot", shiftsynctest.Enum("SHIFT_SLOT_LEAD"))),
		// The rota began this morning, with a shift of the whole house.
		create(5, today, "shift", "", set("starts_at", shiftsynctest.Time(now.Add(-time.Hour))), set("ends_at", shiftsynctest.Time(now.Add(7*time.Hour)))),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.GetResults() {
		if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
			t.Fatalf("push: %v", r)
		}
	}

	b := newBrowser(t, s.URL)
	if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-mo", shiftsync.RoleManager)}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}
	week := "/console/rota?service=house-a&week=" + tomorrow.Format("2006-01-02")
	golden(t, "rota", b, week)
	_, body := b.do("GET", week, nil, nil)
	for _, want := range []string{"Sam Okafor", "kim (Shift lead)", "1 more needed", "kim&#39;s PBS competence was signed off only, never observed in practice",
		"Weekly risk huddle", `href="/console/rota?service=house-a&amp;week=`} {
		if !strings.Contains(body, want) {
			t.Errorf("the rota page lacks %q", want)
		}
	}
	if _, body := b.do("GET", "/console/rota?service=house-a&week="+tomorrow.AddDate(0, 0, 14).Format("2006-01-02"), nil, nil); !strings.Contains(body, "No shift this week.") {
		t.Error("two weeks later the rota still shows the shift")
	}
	if res, body := b.do("GET", "/console/rota?service=house-a&week=next", nil, nil); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "the week is a date such as") {
		t.Errorf("GET rota?week=next = %d, want 400 saying what a week is:\n%.300s", res.StatusCode, body)
	}
}
