package console_test

import (
	"context"
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

// The fixed records of the pages' world ([governanceWorld]).
const (
	meetingMet, meetingLate              = "0190b000-0000-7000-8000-000000000001", "0190b000-0000-7000-8000-000000000002"
	briefID, trackerID, ackID            = "0190b000-0000-7000-8000-000000000003", "0190b000-0000-7000-8000-000000000004", "0190b000-0000-7000-8000-000000000005"
	actionOverdue, actionSoon, actionDue = "0190b000-0000-7000-8000-000000000006", "0190b000-0000-7000-8000-000000000007", "0190b000-0000-7000-8000-000000000008"
)

// governanceWorld pushes, as worker-ann's phone, the records the governance
// pages show: an MDT review whose brief and tracker were issued in time and
// acknowledged by worker-ann (support worker worker-cy, on the staff since
// before it, has not), a
// professionals meeting that ended 21 hours ago with neither, and three
// actions: the community team's overdue, the provider's due in three days
// and housing's due in a month. It returns the phone's token.
func governanceWorld(t *testing.T, s *shiftsynctest.Server) string {
	t.Helper()
	phone := s.AddDevice("worker-ann", "phone-ann", "house-a")
	s.EnrolDevice(t, "worker-cy", shiftsync.RoleSupportWorker, "house-a")
	s.Clock.Advance(80 * time.Hour) // worker-cy on the staff before the MDT review's brief
	now := s.Clock.Now()
	set, str, tm, enum := shiftsynctest.Set, shiftsynctest.String, shiftsynctest.Time, shiftsynctest.Enum
	mut := func(counter uint64, id, recordType, person string, hlc time.Time, edits ...*syncv1.FieldEdit) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: id, RecordType: recordType, ServiceId: "house-a", PersonId: person,
			Hlc: shiftsynctest.HLC(hlc, 0), Fields: edits}
	}
	ended := now.Add(-72 * time.Hour)
	overdue := shiftsynctest.Action(6, actionOverdue, "house-a", "sam", now.Add(-20*24*time.Hour), "community LD team", now.Add(-2*24*time.Hour))
	soon := shiftsynctest.Action(7, actionSoon, "house-a", "sam", now.Add(-24*time.Hour), "provider", now.Add(3*24*time.Hour))
	for _, e := range soon.Fields {
		if e.GetField() == "owner_role" {
			e.Value = str("Registered manager")
		}
	}
	soon.Fields = append(soon.Fields, set("evidence_required", str("Revised BSP v4")), set("interim_check_at", tm(now.Add(24*time.Hour))))
	due := shiftsynctest.Action(8, actionDue, "house-a", "sam", now.Add(-24*time.Hour), "housing", now.Add(30*24*time.Hour))
	ms := []*syncv1.Mutation{
		mut(1, meetingMet, "meeting", "", ended, set("meeting_type", enum("MEETING_TYPE_MDT_REVIEW")), set("started_at", tm(ended.Add(-2*time.Hour))),
			set("ended_at", tm(ended)), set("decisions", str("New transition routine"))),
		mut(2, briefID, "shift_brief", "", ended.Add(3*time.Hour), set("version", shiftsynctest.Int(4)), set("published_at", tm(ended.Add(3*time.Hour))),
			set("source_meeting_id", str(meetingMet)), set("changes_summary", str("Transition routine")), set("acknowledgement_required", shiftsynctest.Bool(true))),
		mut(3, trackerID, "action_tracker", "", ended.Add(4*time.Hour), set("meeting_id", str(meetingMet)), set("issued_at", tm(ended.Add(4*time.Hour))),
			set("shared_with", shiftsynctest.List("community LD team", "LA social work"))),
		mut(4, ackID, "brief_acknowledgement", "", ended.Add(5*time.Hour), set("brief_id", str(briefID)), set("acknowledged_at", tm(ended.Add(5*time.Hour)))),
		mut(5, meetingLate, "meeting", "", now.Add(-21*time.Hour), set("meeting_type", enum("MEETING_TYPE_PROFESSIONALS")),
			set("started_at", tm(now.Add(-22*time.Hour))), set("ended_at", tm(now.Add(-21*time.Hour))), set("decisions", str("Housing repair"))),
		overdue, soon, due,
	}
	res, err := s.Client(phone).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: ms})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.GetResults() {
		if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
			t.Fatalf("governance world: mutation %d %s", r.GetCounter(), r)
		}
	}
	return phone
}

// signedIn returns a browser signed in as a manager of house-a.
func signedIn(t *testing.T, s *shiftsynctest.Server, user string) *browser {
	t.Helper()
	b := newBrowser(t, s.URL)
	if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, user, shiftsync.RoleManager)}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}
	return b
}

// TestConsolePageGoldens renders the governance pages against the
// governance world and compares them with their goldens.
func TestConsolePageGoldens(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	governanceWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	for name, path := range map[string]string{
		"actions":        "/console/actions?service=house-a",
		"follow-through": "/console/follow-through?service=house-a",
	} {
		golden(t, name, b, path)
	}
}

// TestConsoleActions filters the tracker by owner, agency, overdue and
// state, and refuses a filter that does not validate with 400, naming no
// action.
func TestConsoleActions(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	governanceWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{actionOverdue, actionSoon, actionDue}},
		{"&overdue=1", []string{actionOverdue}},
		{"&state=breach", []string{actionOverdue}},
		{"&state=warning", []string{actionSoon}},
		{"&state=due", []string{actionDue}},
		{"&agency=housing", []string{actionDue}},
		{"&owner=Registered+manager", []string{actionSoon}},
		{"&owner=Nobody", nil},
	} {
		res, body := b.do("GET", "/console/actions?service=house-a"+c.query, nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("actions%s = %d", c.query, res.StatusCode)
			continue
		}
		for _, id := range []string{actionOverdue, actionSoon, actionDue} {
			if shown, want := strings.Contains(body, id), strings.Contains(strings.Join(c.want, " "), id); shown != want {
				t.Errorf("actions%s: %s shown %v, want %v", c.query, id, shown, want)
			}
		}
	}
	for _, q := range []string{"&state=late", "&overdue=yes", "&owner=" + strings.Repeat("x", 201), "&agency=" + strings.Repeat("x", 101)} {
		res, body := b.do("GET", "/console/actions?service=house-a"+q, nil, nil)
		if res.StatusCode != http.StatusBadRequest || strings.Contains(body, actionOverdue) {
			t.Errorf("actions%.30s = %d, want 400 and no action:\n%s", q, res.StatusCode, body)
		}
	}
}

// TestRuleNames: every governance rule has its words on the pages.
func TestRuleNames(t *testing.T) {
	for rule := range shiftsync.RuleVersions {
		if name := console.RuleName(rule); name == rule || name == "" {
			t.Errorf("rule %s has no name in words", rule)
		}
	}
}

// TestConsoleHomeGovernance: the home page heads each finding with its
// rule in words, the meeting's follow-through naming the meeting, and
// counts the actions overdue and due soon by agency and owner.
func TestConsoleHomeGovernance(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	governanceWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	res, body := b.do("GET", "/console/?service=house-a", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("home = %d", res.StatusCode)
	}
	for _, want := range []string{
		"<strong>Brief and tracker within 24 hours of a multi-agency meeting</strong>: Shift brief and action tracker still to issue 21 h after the professionals meeting of 4 Mar",
		"<td>community LD team</td><td>Community nurse</td><td><a",
		"<td>provider</td><td>Registered manager</td><td>0</td><td><a",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q:\n%s", want, body)
		}
	}
}

// conflicted is the incident of the sync world ([syncWorld]) whose place
// two phones changed at once.
const conflicted = "0190c000-0000-7000-8000-000000000001"

// syncWorld gives house-a one open conflict (phone-cat and phone-dee set
// the place of incident conflicted at once) and one quarantined change
// (an incident of phone-cat's with a field no record has, and no
// description), and returns the conflict's id.
func syncWorld(t *testing.T, s *shiftsynctest.Server) int64 {
	t.Helper()
	ctx := context.Background()
	ann, bo := s.AddDevice("worker-cat", "phone-cat", "house-a"), s.AddDevice("worker-dee", "phone-dee", "house-a")
	now := s.Clock.Now()
	push := func(token string, m *syncv1.Mutation) {
		if _, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}}); err != nil {
			t.Fatal(err)
		}
	}
	push(ann, shiftsynctest.Incident(1, conflicted, "house-a", "sam", now, "Shouted at the door"))
	edit := func(counter uint64, text string, logical uint32) *syncv1.Mutation {
		return &syncv1.Mutation{Counter: counter, RecordId: conflicted, RecordType: "incident", ServiceId: "house-a", PersonId: "sam",
			Hlc: shiftsynctest.HLC(now, logical), Fields: []*syncv1.FieldEdit{shiftsynctest.Edit("place", shiftsynctest.String(text), nil)}}
	}
	push(ann, edit(2, "hallway", 1))
	push(bo, edit(1, "garden", 2))
	bad := shiftsynctest.Incident(3, "0190c000-0000-7000-8000-000000000002", "house-a", "sam", now, "")
	bad.Fields = append(bad.Fields[:1], shiftsynctest.Set("mood", shiftsynctest.String("cross")), shiftsynctest.Set("place", shiftsynctest.String("kitchen")))
	push(ann, bad)
	conflicts, err := s.Review.Conflicts(ctx, shiftsync.Principal{UserID: "test", Services: []string{"house-a"}}, "house-a")
	if err != nil || len(conflicts) != 1 {
		t.Fatalf("sync world: conflicts = %v, %v", conflicts, err)
	}
	return conflicts[0].ID
}

// TestConsoleSyncGoldens renders the quarantine and conflicts pages
// against the sync world and compares them with their goldens.
func TestConsoleSyncGoldens(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	syncWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	for name, path := range map[string]string{
		"quarantine": "/console/quarantine?service=house-a",
		"conflicts":  "/console/conflicts?service=house-a",
	} {
		golden(t, name, b, path)
	}
}

// TestReasonWords: every reason a change is quarantined or refused for
// has its sentence.
func TestReasonWords(t *testing.T) {
	for _, r := range shiftsync.Reasons {
		if s := console.ReasonSentence(r); s == string(r) || s == "" {
			t.Errorf("reason %s has no sentence", r)
		}
	}
}

// TestConsoleResolve resolves a conflict from the form without JS (a
// redirect back to the conflicts) and with htmx (the resolved conflict in
// place of its form), audited as the manager's browser; resolving it
// again is 409, a cross-site POST is refused, and another service's
// manager is answered as for an id that does not exist.
func TestConsoleResolve(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	id := syncWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	path := "/console/conflicts/" + itoa(id) + "/resolve"
	form := url.Values{"resolution": {"Checked with Cat: the hallway"}}

	if res, _ := b.do("POST", path, form, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site resolve = %d, want 403", res.StatusCode)
	}
	other := newBrowser(t, s.URL)
	other.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "manager-bo", shiftsync.RoleManager, "house-b")}}, nil)
	_, theirs := other.do("POST", path, form, nil)
	_, none := other.do("POST", "/console/conflicts/999999/resolve", form, nil)
	if strings.ReplaceAll(theirs, itoa(id), "N") != strings.ReplaceAll(none, "999999", "N") {
		t.Errorf("another service's conflict answered %q, a missing one %q: they must not differ", theirs, none)
	}
	if res, _ := b.do("POST", path, url.Values{}, nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("resolve without a note = %d, want 400", res.StatusCode)
	}
	if n := s.AuditCount(t, shiftsync.AuditConflictResolve); n != 0 {
		t.Fatalf("%d resolutions audited before any succeeded", n)
	}

	res, _ := b.do("POST", path, form, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/conflicts?service=house-a" {
		t.Fatalf("resolve without JS = %d %s, want a redirect to the conflicts", res.StatusCode, res.Header.Get("Location"))
	}
	ev := s.AuditEvents(t, shiftsync.AuditConflictResolve)
	if len(ev) != 1 || ev[0].Subject != itoa(id) || ev[0].Actor.UserID != "manager-mo" || ev[0].Actor.DeviceID == "" {
		t.Fatalf("resolve audit = %+v, want one entry by manager-mo's browser", ev)
	}
	_, body := b.do("GET", "/console/conflicts?service=house-a", nil, nil)
	if !strings.Contains(body, "No open conflict.") || !strings.Contains(body, "resolved by manager-mo") || !strings.Contains(body, "Checked with Cat: the hallway") {
		t.Errorf("conflicts after resolving lack the resolution:\n%s", body)
	}
	if res, _ := b.do("POST", path, form, http.Header{"Hx-Request": {"true"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("resolving again = %d, want 409", res.StatusCode)
	}
}

// TestConsoleResolveHTMX: with htmx the answer is the resolved conflict,
// for its place on the page.
func TestConsoleResolveHTMX(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	id := syncWorld(t, s)
	b := signedIn(t, s, "manager-mo")
	res, body := b.do("POST", "/console/conflicts/"+itoa(id)+"/resolve", url.Values{"resolution": {"the garden"}}, http.Header{"Hx-Request": {"true"}})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(body, `<section class="side" id="conflict-`+itoa(id)+`"`) || !strings.Contains(body, "Resolved</strong> by manager-mo") || strings.Contains(body, "<form") {
		t.Errorf("htmx resolve = %d:\n%s", res.StatusCode, body)
	}
}

// TestConsoleFollowThroughAccess: a safeguarding lead, who reviews
// meetings but not shift briefs, trackers or their acknowledgements, sees
// each meeting's follow-through with when its brief and tracker were
// issued (as its R1 finding says) and neither record, nor who
// acknowledged the brief.
func TestConsoleFollowThroughAccess(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	governanceWorld(t, s)
	b := newBrowser(t, s.URL)
	if res, body := b.do("POST", "/console/sign-in", url.Values{"code": {issue(t, s, "sg-sue", shiftsync.RoleSafeguardingLead)}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d:\n%s", res.StatusCode, body)
	}
	res, body := b.do("GET", "/console/follow-through?service=house-a", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("follow-through = %d:\n%s", res.StatusCode, body)
	}
	for _, want := range []string{"Yes, 3 h after the meeting (the brief is not shown to you)", "Yes, 4 h after the meeting (the tracker is not shown to you)", "<span class=\"state state-met\">met</span>"} {
		if !strings.Contains(body, want) {
			t.Errorf("follow-through lacks %q:\n%s", want, body)
		}
	}
	for _, hidden := range []string{briefID, trackerID, "worker-ann", "LA social work"} {
		if strings.Contains(body, hidden) {
			t.Errorf("follow-through shows %q to a safeguarding lead:\n%s", hidden, body)
		}
	}
}
