package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// trendWorld gives sam in house-a four weeks of incidents and restrictions
// up to the clock (Monday 2 March 2026, 07:00): a restraint in the week of
// 9 February, an incident in each of the weeks of 16 and 23 February (the
// second with verbal intensity 2 and to others 1: severity 6) and a
// restraint on 24 February, and this week one incident, two restraints and
// a debrief after them.
func trendWorld(t *testing.T, s *shiftsynctest.Server) {
	t.Helper()
	phone := s.AddDevice("worker-eli", "phone-eli", "house-a")
	now := s.Clock.Now()
	id := func(n int) string { return "0190d000-0000-7000-8000-00000000000" + string(rune('0'+n)) }
	severe := shiftsynctest.Incident(3, id(3), "house-a", "sam", now.Add(-6*24*time.Hour-time.Hour), "Pushed past staff at the door")
	severe.Fields = append(severe.Fields, shiftsynctest.Set("intensity_verbal", shiftsynctest.Int(2)), shiftsynctest.Set("intensity_others", shiftsynctest.Int(1)))
	ms := []*syncv1.Mutation{
		shiftsynctest.ProneRestraint(1, id(1), "house-a", "sam", now.Add(-20*24*time.Hour)),
		shiftsynctest.Incident(2, id(2), "house-a", "sam", now.Add(-14*24*time.Hour), "Shouted at the door"),
		severe,
		shiftsynctest.ProneRestraint(4, id(4), "house-a", "sam", now.Add(-6*24*time.Hour)),
		shiftsynctest.Incident(5, id(5), "house-a", "sam", now.Add(-2*time.Hour), "Threw a cup"),
		shiftsynctest.ProneRestraint(6, id(6), "house-a", "sam", now.Add(-time.Hour)),
		shiftsynctest.ProneRestraint(7, id(7), "house-a", "sam", now.Add(-30*time.Minute)),
		{Counter: 8, RecordId: id(8), RecordType: "debrief", ServiceId: "house-a", PersonId: "sam", Hlc: shiftsynctest.HLC(now.Add(-10*time.Minute), 0),
			Fields: []*syncv1.FieldEdit{shiftsynctest.Set("kind", shiftsynctest.Enum("DEBRIEF_KIND_HOT")), shiftsynctest.Set("held_at", shiftsynctest.Time(now.Add(-10*time.Minute))),
				shiftsynctest.Set("learning_points", shiftsynctest.String("Offer the quiet room earlier"))}},
	}
	res, err := s.Client(phone).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: ms})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.GetResults() {
		if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
			t.Fatalf("trend world: mutation %d %s", r.GetCounter(), r)
		}
	}
}

// TestConsoleTrends renders sam's trends and the service's against their
// goldens, follows a bar of this week's restrictions to exactly that
// week's restraints, and refuses a period that does not validate.
func TestConsoleTrends(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	trendWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	golden(t, "trends", b, "/console/trends?service=house-a&person=sam&weeks=4")

	_, body := b.do("GET", "/console/trends?service=house-a&weeks=4", nil, nil)
	for _, want := range []string{
		`aria-label="Week of 2 Mar 2026: 2 restrictions (4-week mean 0.5); 1 debrief(s) held"`,
		`aria-label="Week of 23 Feb 2026: 6 severity points"`,
		`aria-label="Week of 23 Feb 2026: 2 minutes"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("service trends lack %s:\n%s", want, body)
		}
	}
	const bar = `<a href="/console/records?from=2026-03-02T00%3A00%3A00Z&amp;service=house-a&amp;to=2026-03-08T23%3A59%3A59.999999999Z&amp;type=restrictive_intervention"`
	if !strings.Contains(body, bar) {
		t.Fatalf("this week's restrictions bar does not link to its records:\n%s", body)
	}
	res, records := b.do("GET", "/console/records?from=2026-03-02T00%3A00%3A00Z&service=house-a&to=2026-03-08T23%3A59%3A59.999999999Z&type=restrictive_intervention", nil, nil)
	if res.StatusCode != http.StatusOK || strings.Count(records, "<tr><td>") != 2 ||
		!strings.Contains(records, "0190d000-0000-7000-8000-000000000006") || !strings.Contains(records, "0190d000-0000-7000-8000-000000000007") {
		t.Errorf("the bar's records = %d, want this week's two restraints:\n%s", res.StatusCode, records)
	}
	for _, q := range []string{"weeks=0", "weeks=53", "weeks=x", "person=" + strings.Repeat("p", 200)} {
		if res, _ := b.do("GET", "/console/trends?service=house-a&"+q, nil, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("trends?%.20s = %d, want 400", q, res.StatusCode)
		}
	}
	if res, _ := b.do("GET", "/console/records?service=house-a&from=yesterday", nil, nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("records from=yesterday = %d, want 400", res.StatusCode)
	}
}
