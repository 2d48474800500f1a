package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testEngineReferences: a reference field ([shiftsync.FieldSpec.References])
// names a record of its declared type, service and person, or the mutation
// is quarantined naming the field; a record created earlier in the same
// push may be named; one the server has not received is accepted and
// flagged, and so is one the pusher may not see, so that the answer does
// not tell them apart.
func testEngineReferences(t *testing.T, open Factory) {
	phone1 := enginePhone1
	phone3 := shiftsync.Principal{UserID: "worker-3", DeviceID: "phone-3", Services: []string{"house-b"}}

	wantQuarantined := func(t *testing.T, r shiftsync.MutationResult, field string) {
		t.Helper()
		if r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonInvalidReference || !strings.Contains(r.Message, `"`+field+`"`) ||
			len(r.Errors) != 1 || r.Errors[0].Field != field {
			t.Errorf("result %+v, want quarantined %s naming %s", r, shiftsync.ReasonInvalidReference, field)
		}
	}
	wantAccepted := func(t *testing.T, e *engine, p shiftsync.Principal, r shiftsync.MutationResult, flag shiftsync.Flag) {
		t.Helper()
		if r.Status != shiftsync.StatusAccepted {
			t.Fatalf("result %+v, want accepted", r)
		}
		e.view(t, func(tx shiftsync.Tx) error {
			pm, err := tx.ProcessedMutation(context.Background(), p.DeviceID, r.Counter)
			if err != nil {
				return err
			}
			if pm == nil || pm.Flag != flag {
				t.Errorf("processed %+v, want flag %q", pm, flag)
			}
			return nil
		})
	}

	t.Run("PersonOfTheService", func(t *testing.T) {
		// A new record is about a person its service supports: one who does
		// not exist (a typo) and one of another service are refused alike,
		// so the answer tells nothing of who is supported elsewhere.
		e := newEngine(t, open)
		both := shiftsync.Principal{UserID: "worker-4", DeviceID: "phone-4", Services: []string{"house-a", "house-b"}}
		about := func(counter uint64, person string) shiftsync.Mutation {
			m := e.incident(counter, e.id(t), "house-a", e.at(time.Duration(counter)*time.Second), "hit the door")
			m.PersonID = person
			return m
		}
		res := e.push(t, both, about(1, "person-nobody"), about(2, "person-b-lou"), about(3, "person-bob"))
		for i, person := range []string{"person-nobody", "person-b-lou"} {
			r := res.Results[i]
			if r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonUnknownPerson ||
				len(r.Errors) != 1 || r.Errors[0].Reason != shiftsync.ReasonUnknownPerson {
				t.Errorf("incident about %s: %+v, want quarantined %s", person, r, shiftsync.ReasonUnknownPerson)
			}
			if generic := strings.ReplaceAll(r.Message, person, "X"); i > 0 && generic != strings.ReplaceAll(res.Results[0].Message, "person-nobody", "X") {
				t.Errorf("incident about %s answers %q: want the same words as for a person who does not exist", person, r.Message)
			}
		}
		wantAccepted(t, e, both, res.Results[2], "")
		if q := e.quarantined(t, "house-a"); len(q) != 2 || q[0].Reason != shiftsync.ReasonUnknownPerson {
			t.Errorf("house-a's quarantine = %+v, want both incidents kept with their reason", q)
		}
	})

	t.Run("MissingRecord", func(t *testing.T) {
		e := newEngine(t, open)
		for i, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-record"} {
			res := e.push(t, phone1, e.restriction(uint64(i+1), e.id(t), "house-a", "person-ada", e.at(0), id))
			wantQuarantined(t, res.Results[0], "incident_id")
		}
	})

	t.Run("WrongType", func(t *testing.T) {
		e := newEngine(t, open)
		incident, restriction := e.id(t), e.id(t)
		e.push(t, phone1, e.incident(1, incident, "house-a", e.at(-2*time.Minute), "hit the door"),
			e.restriction(2, restriction, "house-a", "person-ada", e.at(-time.Minute), incident))
		res := e.push(t, phone1, e.restriction(3, e.id(t), "house-a", "person-ada", e.at(0), restriction))
		wantQuarantined(t, res.Results[0], "incident_id")
		// It names the type wanted, and quotes nothing of the record named
		// (kept in the quarantine, it is read by reviewers who may not see
		// that record).
		if msg := res.Results[0].Message; !strings.Contains(msg, "no incident ") || strings.Contains(msg, "restrictive_intervention") {
			t.Errorf("message %q: want the type wanted named and the named record's type not quoted", msg)
		}
	})

	t.Run("AnotherPerson", func(t *testing.T) {
		e := newEngine(t, open)
		incident := e.id(t)
		e.push(t, phone1, e.incident(1, incident, "house-a", e.at(-time.Minute), "hit the door"))
		res := e.push(t, phone1, e.restriction(2, e.id(t), "house-a", "person-bob", e.at(0), incident))
		wantQuarantined(t, res.Results[0], "incident_id")
	})

	t.Run("OwnRecordInTheSamePush", func(t *testing.T) {
		e := newEngine(t, open)
		incident := e.id(t)
		res := e.push(t, phone1, e.incident(1, incident, "house-a", e.at(-time.Minute), "hit the door"),
			e.restriction(2, e.id(t), "house-a", "person-ada", e.at(0), incident))
		wantAccepted(t, e, phone1, res.Results[0], "")
		wantAccepted(t, e, phone1, res.Results[1], "")
	})

	t.Run("OwnRecordInAnEarlierPush", func(t *testing.T) {
		e := newEngine(t, open)
		incident := e.id(t)
		e.push(t, phone1, e.incident(1, incident, "house-a", e.at(-time.Minute), "hit the door"))
		res := e.push(t, phone1, e.restriction(2, e.id(t), "house-a", "person-ada", e.at(0), incident))
		wantAccepted(t, e, phone1, res.Results[0], "")
	})

	t.Run("NotReceivedYet", func(t *testing.T) {
		e := newEngine(t, open)
		// Another device's incident, still offline: the restriction is
		// accepted and flagged; once the incident arrives it is plain.
		incident := e.id(t)
		res := e.push(t, phone1, e.restriction(1, e.id(t), "house-a", "person-ada", e.at(0), incident))
		wantAccepted(t, e, phone1, res.Results[0], shiftsync.FlagReferencePending)
		e.push(t, enginePhone2, e.incident(1, incident, "house-a", e.at(-time.Minute), "hit the door"))
		res = e.push(t, phone1, e.restriction(2, e.id(t), "house-a", "person-ada", e.at(time.Second), incident))
		wantAccepted(t, e, phone1, res.Results[0], "")
	})

	t.Run("HiddenIsNotReceived", func(t *testing.T) {
		e := newEngine(t, open)
		hidden := e.id(t)
		e.push(t, phone3, e.incident(1, hidden, "house-b", e.at(-time.Minute), "hit the door"))
		res := e.push(t, phone1, e.restriction(1, e.id(t), "house-a", "person-ada", e.at(0), hidden),
			e.restriction(2, e.id(t), "house-a", "person-ada", e.at(time.Second), e.id(t)))
		for _, r := range res.Results {
			wantAccepted(t, e, phone1, r, shiftsync.FlagReferencePending)
		}
	})

	t.Run("AnotherServiceSeen", func(t *testing.T) {
		e := newEngine(t, open)
		both := shiftsync.Principal{UserID: "worker-4", DeviceID: "phone-4", Services: []string{"house-a", "house-b"}}
		incident := e.id(t)
		e.push(t, both, e.incident(1, incident, "house-b", e.at(-time.Minute), "hit the door"))
		res := e.push(t, both, e.restriction(2, e.id(t), "house-a", "person-ada", e.at(0), incident))
		wantQuarantined(t, res.Results[0], "incident_id")
	})

	t.Run("ListItems", func(t *testing.T) {
		e := newEngine(t, open)
		incident := e.id(t)
		e.push(t, phone1, e.incident(1, incident, "house-a", e.at(-time.Minute), "hit the door"))
		debrief := func(counter uint64, ids ...string) shiftsync.Mutation {
			return shiftsync.Mutation{
				RecordRef: shiftsync.RecordRef{RecordID: e.id(t), RecordType: "debrief", ServiceID: "house-a", PersonID: "person-ada"},
				Counter:   counter, HLC: e.at(time.Duration(counter) * time.Second),
				Fields: []shiftsync.FieldEdit{
					{Field: "kind", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "DEBRIEF_KIND_HOT"}},
					{Field: "held_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: engineEpoch}},
					{Field: "learning_points", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "Warn before the minibus is late"}},
					{Field: "incident_ids", Value: shiftsync.Value{Kind: shiftsync.KindList, List: ids}},
				},
			}
		}
		res := e.push(t, phone1, debrief(2, incident), debrief(3, incident, "00000000-0000-0000-0000-000000000000"))
		if res.Results[0].Status != shiftsync.StatusAccepted {
			t.Errorf("debrief of a stored incident: %+v, want accepted", res.Results[0])
		}
		wantQuarantined(t, res.Results[1], "incident_ids")
	})
}

// restriction returns a mutation creating a restrictive intervention of
// person in the incident incidentID, with its required fields.
func (e *engine) restriction(counter uint64, recordID, service, person string, hlc shiftsync.HLC, incidentID string) shiftsync.Mutation {
	return shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "restrictive_intervention", ServiceID: service, PersonID: person},
		Counter:   counter,
		HLC:       hlc,
		Fields: []shiftsync.FieldEdit{
			{Field: "incident_id", Value: shiftsync.Value{Kind: shiftsync.KindString, String: incidentID}},
			{Field: "type_code", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE"}},
			{Field: "reason_code", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"}},
			{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: hlc.Time().Add(-time.Minute)}},
		},
	}
}
