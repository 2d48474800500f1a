package replica_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
)

// TestReplica_CorrectRejected fixes a record the server refused, on the
// phone: an incident saved by an app that did not check it (an older
// version) lacks its description and is quarantined naming it; the worker
// types the description, and the edit goes as a correction carrying every
// field the record needs, so the server accepts it as the record's
// creation. The phone's record is no longer rejected, the server holds the
// whole record, and the manager's quarantine shows who corrected the
// change, when and by which counter. A rejected edit of a stored record is
// corrected the same way, carrying only its own fields; until the value
// the server refused is fixed, the phone refuses further edits naming it.
func TestReplica_CorrectRejected(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	d.SetSchemaChecks(false) // as an older app that did not check
	id, err := d.Create("incident", "house-a", "person-ada", `{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"place":{"stringValue":"hall"}}`)
	if err != nil {
		t.Fatal(err)
	}
	d.SetSchemaChecks(true)
	if rep := d.sync(); rep.Quarantined != 1 {
		t.Fatalf("Sync() = %+v, want the incident quarantined", rep)
	}
	rec := d.rejection(id)
	if rec.Code != "missing_required_field" || !slices.ContainsFunc(rec.FieldErrors, func(p fieldProblem) bool { return p.Field == "behaviour_description" }) {
		t.Fatalf("rejected = %+v, want missing_required_field naming behaviour_description", rec)
	}

	s.Clock.Advance(time.Minute)
	d.edit(id, `{"behaviour_description":{"stringValue":"Kicked the door"}}`)
	if rep := d.sync(); rep.Accepted != 1 || rep.Quarantined != 0 {
		t.Fatalf("Sync() after the fix = %+v, want the correction accepted", rep)
	}
	if r := d.record(id); r.Rejected != nil || len(r.Outbox) != 0 {
		t.Errorf("record after the fix: rejected %+v, outbox %+v; want neither", r.Rejected, r.Outbox)
	}
	if st := d.status(); st.Rejected != 0 || st.RejectedRecords != 0 || st.OutboxDepth != 0 {
		t.Errorf("Status() = %+v, want nothing rejected or pending", st)
	}
	other := newDevice(t, s, "phone-2")
	other.sync()
	if r := other.record(id); value(r, "behaviour_description") != "Kicked the door" || value(r, "place") != "hall" || r.Fields["started_at"].Value == nil {
		t.Errorf("the server's record = %+v, want every field the phone holds", r.Fields)
	}

	review := reviewv1connect.NewReviewServiceClient(shiftsynctest.HTTPClient(), s.URL, shiftsynctest.WithToken(s.AddDevice("manager", "manager-phone", "house-a")))
	list, err := review.ListQuarantine(context.Background(), &reviewv1.ListQuarantineRequest{ServiceId: "house-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetChanges()) != 1 {
		t.Fatalf("quarantine holds %d changes, want the one", len(list.GetChanges()))
	}
	c := list.GetChanges()[0].GetCorrection()
	if c.GetUserId() != "worker-phone-1" || c.GetCounter() != 2 || !c.GetCorrectedAt().AsTime().Equal(s.Clock.Now()) {
		t.Errorf("correction = %v, want worker-phone-1's counter 2 at %s", c, s.Clock.Now())
	}

	// A rejected edit of the stored record: out of range, then fixed.
	s.Clock.Advance(time.Minute)
	d.SetSchemaChecks(false)
	d.edit(id, `{"intensity_verbal":{"intValue":"9"}}`)
	d.SetSchemaChecks(true)
	if rep := d.sync(); rep.Quarantined != 1 {
		t.Fatalf("Sync() = %+v, want the edit quarantined", rep)
	}
	// The phone says what is still wrong before it saves another change.
	s.Clock.Advance(time.Minute)
	err = d.Edit(id, `{"place":{"stringValue":"garden"}}`)
	if replica.ErrorCode(err) != "invalid_value" || !strings.Contains(replica.FieldErrorsJSON(err), "intensity_verbal") {
		t.Errorf("an edit leaving the rejected value = %v, want refused naming intensity_verbal", err)
	}
	d.edit(id, `{"place":{"stringValue":"garden"},"intensity_verbal":{"intValue":"3"}}`)
	r := d.record(id)
	if n := len(r.Outbox); n != 2 || r.Outbox[1].Status != "pending" || !slices.Equal(r.Outbox[1].Fields, []string{"intensity_verbal", "place"}) {
		t.Fatalf("outbox %+v, want the rejected edit and its correction", r.Outbox)
	}
	if rep := d.sync(); rep.Accepted != 1 || rep.Conflicts != 0 {
		t.Fatalf("Sync() = %+v, want the correction accepted without conflict", rep)
	}
	other.sync()
	if got, want := other.state(), d.state(); !maps.Equal(got, want) {
		t.Errorf("replicas differ after the corrections:\n%v\n%v", got, want)
	}
	if st := d.status(); st.Rejected != 0 {
		t.Errorf("Status() = %+v, want no rejection left", st)
	}
	if code := replica.ErrorCode(d.Edit(id, `{"intensity_verbal":{"intValue":"12"}}`)); code != "invalid_value" {
		t.Errorf("an out-of-range edit = %q, want refused on the phone", code)
	}

	// A rejected first value of a field (no base) is corrected by setting
	// that field alone: an edit of the stored record, not its creation.
	s.Clock.Advance(time.Minute)
	d.SetSchemaChecks(false)
	d.edit(id, `{"intensity_property":{"intValue":"7"}}`)
	d.SetSchemaChecks(true)
	if rep := d.sync(); rep.Quarantined != 1 {
		t.Fatalf("Sync() = %+v, want the edit quarantined", rep)
	}
	s.Clock.Advance(time.Minute)
	d.edit(id, `{"intensity_property":{"intValue":"2"}}`)
	if rep := d.sync(); rep.Accepted != 1 || d.status().Rejected != 0 {
		t.Errorf("Sync() = %+v, status %+v; want the correction of the first value accepted", rep, d.status())
	}
}

// TestReplica_UncorrectableRejectionDoesNotBlock: a change refused for a
// reason no edit of its fields can fix (here a field the server does not
// know, sent by an app built against another schema) stays rejected, and
// later edits of the record neither carry it nor correct it, so they reach
// the server.
func TestReplica_UncorrectableRejectionDoesNotBlock(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	id := d.logIncident("Shouted", "")
	d.sync()
	s.Clock.Advance(time.Minute)
	d.SetSchemaChecks(false)
	d.edit(id, `{"mood":{"stringValue":"low"}}`)
	d.SetSchemaChecks(true)
	if rep := d.sync(); rep.Quarantined != 1 {
		t.Fatalf("Sync() = %+v, want the edit quarantined unknown_field", rep)
	}
	s.Clock.Advance(time.Minute)
	d.edit(id, `{"place":{"stringValue":"hall"}}`)
	r := d.record(id)
	if n := len(r.Outbox); n != 2 || !slices.Equal(r.Outbox[1].Fields, []string{"place"}) {
		t.Fatalf("outbox %+v, want the rejected edit and a plain edit of place", r.Outbox)
	}
	if rep := d.sync(); rep.Accepted != 1 {
		t.Errorf("Sync() = %+v, want the edit of place accepted", rep)
	}
	if st := d.status(); st.Rejected != 1 {
		t.Errorf("Status() = %+v, want the unknown field's change still shown rejected", st)
	}
}

// fieldProblem is one entry of a rejection's fieldErrors.
type fieldProblem struct {
	Field   string `json:"field"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// rejection is a record's "rejected" object.
type rejection struct {
	Code        string         `json:"code"`
	Reason      string         `json:"reason"`
	FieldErrors []fieldProblem `json:"fieldErrors"`
}

func (d *device) rejection(id string) rejection {
	d.t.Helper()
	s, err := d.RecordJSON(id)
	if err != nil {
		d.t.Fatal(err)
	}
	var r struct {
		Rejected rejection `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		d.t.Fatal(err)
	}
	return r.Rejected
}
