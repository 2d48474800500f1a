package rpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// secondOrganisation creates organisation org-2 with service org2-house,
// supporting person-z-mo, and its users (the test harness enrols users into org-test unless they exist).
func secondOrganisation(t *testing.T, s *shiftsynctest.Server, users ...string) {
	t.Helper()
	ctx := context.Background()
	admin := shiftsync.Principal{UserID: "shiftsynctest"}
	if err := s.Identity.CreateOrganisation(ctx, admin, "org-2", "Other Care"); err != nil {
		t.Fatal(err)
	}
	if err := s.Identity.CreateService(ctx, admin, "org2-house", "org-2", "Other house"); err != nil {
		t.Fatal(err)
	}
	if err := s.Identity.CreatePerson(ctx, admin, "person-z-mo", "org2-house", "Mo"); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := s.Identity.CreateUser(ctx, admin, u, "org-2", u, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// pusher pushes from one device with increasing counters.
type pusher struct {
	t       *testing.T
	s       *shiftsynctest.Server
	token   string
	counter uint64
}

// push pushes m under the device's next counter.
func (p *pusher) push(m *syncv1.Mutation) *syncv1.MutationResult {
	p.t.Helper()
	p.counter++
	m.Counter = p.counter
	r := pushOne(p.t, p.s, p.token, m)
	if r.GetStatus() == syncv1.MutationStatus_MUTATION_STATUS_NOT_PROCESSED {
		p.counter-- // not acknowledged: the device sends it again
	}
	return r
}

// quarantineOf lists what the manager's token sees of a service's
// quarantine, the newest change of each record by record id.
func quarantineOf(t *testing.T, s *shiftsynctest.Server, token, service string) (map[string]*reviewv1.QuarantinedChange, *reviewv1.ListQuarantineResponse) {
	t.Helper()
	res, err := reviewClient(s, token).ListQuarantine(context.Background(), &reviewv1.ListQuarantineRequest{ServiceId: service})
	if err != nil {
		t.Fatalf("ListQuarantine(%s) = %v", service, err)
	}
	byRecord := map[string]*reviewv1.QuarantinedChange{}
	for _, c := range res.GetChanges() {
		if byRecord[c.GetRecordId()] == nil { // the newest
			byRecord[c.GetRecordId()] = c
		}
	}
	return byRecord, res
}

// answer is what a pusher learns of a refused mutation, and what its
// managers see of it, with the ids it names replaced: what must not differ
// between a record the pusher may not see and one that does not exist.
type answer struct {
	Status                  syncv1.MutationStatus
	ReasonCode, Reason      string
	Listed                  bool
	ListedCode, ListedText  string
	ListedType, ListedUser  string
	ListedPayloadWithoutIDs map[string]any
}

func answerOf(t *testing.T, r *syncv1.MutationResult, id string, listed *reviewv1.QuarantinedChange) answer {
	t.Helper()
	a := answer{Status: r.GetStatus(), ReasonCode: r.GetReasonCode(), Reason: strings.ReplaceAll(r.GetReason(), id, "<id>")}
	if listed != nil {
		a.Listed, a.ListedCode, a.ListedText = true, listed.GetReasonCode(), strings.ReplaceAll(listed.GetReason(), id, "<id>")
		a.ListedType, a.ListedUser = listed.GetRecordType(), listed.GetUserId()
		if err := json.Unmarshal([]byte(listed.GetPayloadJson()), &a.ListedPayloadWithoutIDs); err != nil {
			t.Fatal(err)
		}
		delete(a.ListedPayloadWithoutIDs, "recordId")
		delete(a.ListedPayloadWithoutIDs, "counter")
	}
	return a
}

// TestPush_ProbesLearnNothing: for every record a pusher may not see (of
// another service, of another organisation, a safeguarding concern of the
// pusher's own service that support workers only raise, another agency's
// action), an edit naming it is answered exactly as an edit naming an id
// never used, and listed to the pusher's managers exactly alike; a create
// reusing its id is refused saying only that the id is taken. Nothing of the
// record (type, service, person, agency) is in any answer, and nothing of
// the probes reaches the quarantine of the service the record is in.
func TestPush_ProbesLearnNothing(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	secondOrganisation(t, s, "zed", "zara")
	now := s.Clock.Now()
	at := func(logical uint32) *syncv1.HybridTimestamp { return shiftsynctest.HLC(now, logical) }

	ana := &pusher{t: t, s: s, token: s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a").Token}
	meera := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	if err := s.Identity.CreateUser(ctx, shiftsync.Principal{UserID: "test"}, "nurse", "org-test", "Community nurse", "community_ld_team"); err != nil {
		t.Fatal(err)
	}
	nurse := &pusher{t: t, s: s, token: s.EnrolDevice(t, "nurse", shiftsync.RolePartner, "house-a").Token}
	managers := map[string]string{ // the managers of the services the hidden records are in
		"house-b":    s.EnrolDevice(t, "bo", shiftsync.RoleManager, "house-b").Token,
		"org2-house": s.EnrolDevice(t, "zara", shiftsync.RoleManager, "org2-house").Token,
	}

	// The records to hide, each written by someone who may.
	type hidden struct {
		name      string
		from      *pusher // the prober
		envelope  *syncv1.Mutation
		editField *syncv1.FieldEdit // of its type, with a base
		agency    string
	}
	base := &syncv1.Version{Hlc: shiftsynctest.HLC(now.Add(-time.Hour), 0), DeviceId: "phone-x"}
	place := shiftsynctest.Edit("place", shiftsynctest.String("probe"), base)
	ben := &pusher{t: t, s: s, token: s.EnrolDevice(t, "ben", shiftsync.RoleSupportWorker, "house-b").Token}
	zed := &pusher{t: t, s: s, token: s.EnrolDevice(t, "zed", shiftsync.RoleSupportWorker, "org2-house").Token}
	cara := &pusher{t: t, s: s, token: s.EnrolDevice(t, "cara", shiftsync.RoleSupportWorker, "house-a").Token}
	lead := &pusher{t: t, s: s, token: s.EnrolDevice(t, "priya", shiftsync.RolePBSLead, "house-a").Token}
	concern := &syncv1.Mutation{RecordId: shiftsynctest.RecordID(t), RecordType: "safeguarding_concern", ServiceId: "house-a", PersonId: "person-a-kit",
		Hlc: at(0), Fields: []*syncv1.FieldEdit{
			shiftsynctest.Set("raised_at", shiftsynctest.Time(now)),
			shiftsynctest.Set("category", shiftsynctest.Enum("ABUSE_CATEGORY_PHYSICAL")),
			shiftsynctest.Set("description", shiftsynctest.String("bruise on the arm")),
		}}
	records := []hidden{
		{"another service", ana, shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "house-b", "person-b-lou", now, "in house B"), place, ""},
		{"another organisation", ana, shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "org2-house", "person-z-mo", now, "in org 2"), place, ""},
		{"a concern of the pusher's own service", ana, concern, shiftsynctest.Edit("description", shiftsynctest.String("probe"), base), ""},
		{"another agency's action", nurse, shiftsynctest.Action(0, shiftsynctest.RecordID(t), "house-a", "sam", now.Add(-time.Hour), "housing", now.Add(72*time.Hour)),
			shiftsynctest.Edit("status", shiftsynctest.Enum("ACTION_STATUS_ON_TRACK"), base), "housing"},
		{"an incident a partner may not see", nurse, shiftsynctest.Incident(0, shiftsynctest.RecordID(t), "house-a", "sam", now, "in house A"), place, ""},
	}
	authors := map[string]*pusher{"house-b": ben, "org2-house": zed}
	for _, h := range records {
		author := authors[h.envelope.GetServiceId()]
		switch {
		case h.envelope.GetRecordType() == "safeguarding_concern":
			author = cara
		case h.envelope.GetServiceId() == "house-a":
			author = lead
		}
		wantResult(t, "hidden "+h.name, author.push(h.envelope), accepted, "")
	}

	type probe struct {
		result *syncv1.MutationResult
		id     string
	}
	var probes []probe
	for _, h := range records {
		// Edits as the prober would guess them: with the prober's own
		// envelope, and with the record's real one.
		guesses := map[string]func(id string) *syncv1.Mutation{
			"own envelope": func(id string) *syncv1.Mutation {
				return &syncv1.Mutation{RecordId: id, RecordType: "incident", ServiceId: "house-a", PersonId: "sam", Hlc: at(1), Fields: []*syncv1.FieldEdit{place}}
			},
			"the record's envelope": func(id string) *syncv1.Mutation {
				e := h.envelope
				return &syncv1.Mutation{RecordId: id, RecordType: e.GetRecordType(), ServiceId: e.GetServiceId(), PersonId: e.GetPersonId(), Hlc: at(1),
					Fields: []*syncv1.FieldEdit{h.editField}}
			},
		}
		for guess, edit := range guesses {
			unknown := shiftsynctest.RecordID(t)
			rh, ru := h.from.push(edit(h.envelope.GetRecordId())), h.from.push(edit(unknown))
			probes = append(probes, probe{rh, h.envelope.GetRecordId()}, probe{ru, unknown})
			listed, _ := quarantineOf(t, s, meera.Token, "house-a")
			got, want := answerOf(t, rh, h.envelope.GetRecordId(), listed[h.envelope.GetRecordId()]), answerOf(t, ru, unknown, listed[unknown])
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("edit of %s, %s: answered unlike an edit of an unknown id (-unknown +hidden):\n%s", h.name, guess, diff)
			}
			if got.Status != quarantined || got.ReasonCode != string(shiftsync.ReasonUnknownRecord) || !got.Listed {
				t.Errorf("edit of %s, %s: %+v, want quarantined unknown_record and listed to the pusher's manager", h.name, guess, got)
			}
		}

		// Creates reusing its id, as a complete new record of the prober's
		// and of the record's own envelope.
		own := shiftsynctest.Incident(0, h.envelope.GetRecordId(), "house-a", "sam", now, "a new incident")
		again := &syncv1.Mutation{RecordId: h.envelope.GetRecordId(), RecordType: h.envelope.GetRecordType(), ServiceId: h.envelope.GetServiceId(),
			PersonId: h.envelope.GetPersonId(), Hlc: at(2), Fields: h.envelope.GetFields()}
		for guess, create := range map[string]*syncv1.Mutation{"own envelope": own, "the record's envelope": again} {
			r := h.from.push(create)
			probes = append(probes, probe{r, h.envelope.GetRecordId()})
			wantResult(t, "create reusing the id of "+h.name+", "+guess, r, quarantined, shiftsync.ReasonRecordIDTaken)
		}
	}

	// No answer names anything of a hidden record, and the probes are in
	// no quarantine of the services the records are in.
	secrets := []string{"house-b", "org2-house", "person-b-lou", "person-z-mo", "person-a-kit", "housing", "safeguarding", "incident", "action", "cara", "priya", "ben", "zed"}
	listed, _ := quarantineOf(t, s, meera.Token, "house-a")
	for _, p := range probes {
		text := strings.ReplaceAll(p.result.GetReason(), p.id, "<id>")
		if c := listed[p.id]; c != nil {
			text += " | " + strings.ReplaceAll(c.GetReason(), p.id, "<id>")
		}
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("reason %q names %q", text, secret)
			}
		}
	}
	for service, token := range managers {
		theirs, _ := quarantineOf(t, s, token, service)
		for _, p := range probes {
			if c := theirs[p.id]; c != nil {
				t.Errorf("%s's manager lists %s's probe of record %s", service, c.GetUserId(), p.id)
			}
		}
	}
}

// TestPush_LeaverBackDatingLearnsNothing: a mutation's time is the device's
// to choose, so it vouches only for records the device could have held
// then. Lee leaves house-a; 48 hours later a PBS lead records incident R;
// Lee's device edits R stamped before Lee left: answered and listed exactly
// as an edit of an id never used, and nothing of it is written into R. Lee's
// honest offline work arriving after the leaving is still accepted and
// flagged: an edit of a record pulled before leaving, and an edit of a
// record Lee's own device created offline and pushed first.
func TestPush_LeaverBackDatingLearnsNothing(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	ctx := context.Background()
	lee := s.EnrolDevice(t, "lee", shiftsync.RoleSupportWorker, "house-a")
	meera := s.EnrolDevice(t, "meera", shiftsync.RoleManager, "house-a")
	priya := s.EnrolDevice(t, "priya", shiftsync.RolePBSLead, "house-a")
	lead := &pusher{t: t, s: s, token: priya.Token}

	pulled := shiftsynctest.RecordID(t)
	wantResult(t, "incident before Lee leaves", lead.push(shiftsynctest.Incident(0, pulled, "house-a", "sam", s.Clock.Now(), "before")), accepted, "")
	if seen, _, _, err := pullAll(t, s, lee.Token, ""); err != nil || seen[pulled] == "" {
		t.Fatalf("Lee's pull before leaving = %v, %v; want %s", seen, err, pulled)
	}
	s.Clock.Advance(time.Minute)
	written := s.Clock.Now() // offline, while Lee is still a member
	base := &syncv1.Version{Hlc: shiftsynctest.HLC(written.Add(-time.Minute), 0), DeviceId: "phone-x"}
	edit := func(id string, logical uint32) *syncv1.Mutation {
		return &syncv1.Mutation{RecordId: id, RecordType: "incident", ServiceId: "house-a", PersonId: "sam", Hlc: shiftsynctest.HLC(written, logical),
			Fields: []*syncv1.FieldEdit{shiftsynctest.Edit("place", shiftsynctest.String("kitchen"), base)}}
	}
	s.Clock.Advance(time.Minute)
	ms, err := s.Identity.Memberships(ctx, "lee")
	if err != nil || len(ms) != 1 {
		t.Fatalf("memberships = %v, %v", ms, err)
	}
	if err := s.Identity.EndMembership(ctx, shiftsync.Principal{UserID: "manager"}, ms[0].ID, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(48 * time.Hour)
	tokens := map[string]string{}
	for user, device := range map[string]string{"lee": lee.DeviceID, "priya": priya.DeviceID, "meera": meera.DeviceID} {
		if tokens[user], _, err = s.Issuer.Issue(ctx, user, device); err != nil {
			t.Fatal(err)
		}
	}
	lead.token = tokens["priya"]
	later := shiftsynctest.RecordID(t)
	wantResult(t, "incident 48 h after Lee left", lead.push(shiftsynctest.Incident(0, later, "house-a", "sam", s.Clock.Now(), "after")), accepted, "")

	leaver := &pusher{t: t, s: s, token: tokens["lee"]}
	own := shiftsynctest.RecordID(t)
	wantResult(t, "Lee's offline edit of a record pulled before leaving", leaver.push(edit(pulled, 1)), accepted, "")
	wantResult(t, "Lee's offline create", leaver.push(shiftsynctest.Incident(0, own, "house-a", "sam", written.Add(-time.Second), "offline")), accepted, "")
	wantResult(t, "Lee's offline edit of their own offline create", leaver.push(edit(own, 2)), accepted, "")

	unknown := shiftsynctest.RecordID(t)
	rh, ru := leaver.push(edit(later, 3)), leaver.push(edit(unknown, 3))
	listed, _ := quarantineOf(t, s, tokens["meera"], "house-a")
	got, want := answerOf(t, rh, later, listed[later]), answerOf(t, ru, unknown, listed[unknown])
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("back-dated edit of a record created after Lee left: answered unlike an edit of an unknown id (-unknown +hidden):\n%s", diff)
	}
	if got.Status != quarantined || got.ReasonCode != string(shiftsync.ReasonUnknownRecord) {
		t.Errorf("back-dated edit of a record created after Lee left: %+v, want quarantined unknown_record", got)
	}
	wantResult(t, "back-dated create reusing its id", leaver.push(shiftsynctest.Incident(0, later, "house-a", "sam", written, "again")), quarantined, shiftsync.ReasonRecordIDTaken)

	review := reviewClient(s, tokens["meera"])
	history, err := review.GetRecord(ctx, &reviewv1.GetRecordRequest{RecordId: later})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range history.GetVersions() {
		if v.GetVersion().GetDeviceId() == lee.DeviceID {
			t.Errorf("Lee's device wrote %v into the record created after Lee left; want nothing", v)
		}
	}
	// Lee's accepted changes (every push above that was accepted) are
	// the flagged writes listed to the manager, each flagged access_ended.
	late, err := review.ListFlaggedWrites(ctx, &reviewv1.ListFlaggedWritesRequest{ServiceId: "house-a"})
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{}
	for _, w := range late.GetWrites() {
		if w.GetDeviceId() == lee.DeviceID {
			flags[w.GetRecordId()] += w.GetFlag() + " "
		}
	}
	wantFlags := map[string]string{pulled: "access_ended ", own: "access_ended access_ended "}
	if diff := cmp.Diff(wantFlags, flags); diff != "" {
		t.Errorf("Lee's flagged writes by record (-want +got):\n%s", diff)
	}
}
