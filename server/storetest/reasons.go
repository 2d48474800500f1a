package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testEngineReasons checks that a quarantined mutation names every
// problem it has, as its result, its replay and its quarantine entry (an
// outcome kept before the list replays with its one reason), and
// that the times a record says something happened are plausible: no later
// than the push plus the allowed skew, however long ago it was written.
func testEngineReasons(t *testing.T, open Factory) {
	t.Run("EveryMissingFieldIsListed", func(t *testing.T) {
		e := newEngine(t, open)
		// A restrictive intervention with one of its four required fields.
		m := shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: e.id(t), RecordType: "restrictive_intervention", ServiceID: "house-a", PersonID: "person-ada"},
			Counter:   1, HLC: e.at(-time.Minute),
			Fields: []shiftsync.FieldEdit{
				{Field: "started_at", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: engineEpoch.Add(-10 * time.Minute)}},
				{Field: "in_care_plan", Value: shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}},
			},
		}
		res := e.push(t, enginePhone1, m)
		r := res.Results[0]
		if r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonMissingRequired {
			t.Fatalf("result %+v, want quarantined missing_required_field", r)
		}
		want := []string{"incident_id", "reason_code", "type_code"}
		if diff := cmp.Diff(want, problemFields(r.Errors, shiftsync.ReasonMissingRequired)); diff != "" {
			t.Errorf("missing fields listed (-want +got):\n%s", diff)
		}
		if len(r.Errors) != 3 || r.Errors[0].Reason != r.Reason || r.Errors[0].Message != r.Message {
			t.Errorf("errors %+v: want the three, the first being the result's reason %q and message", r.Errors, r.Reason)
		}

		replay := e.push(t, enginePhone1, m).Results[0]
		want1 := r
		want1.Replayed = true
		if diff := cmp.Diff(want1, replay); diff != "" {
			t.Errorf("replay differs from the first answer (-want +got):\n%s", diff)
		}

		qs := e.quarantined(t, "house-a")
		if len(qs) != 1 {
			t.Fatalf("%d quarantined changes, want 1", len(qs))
		}
		if diff := cmp.Diff(r.Errors, qs[0].Errors); diff != "" {
			t.Errorf("quarantine entry's errors differ from the result's (-result +entry):\n%s", diff)
		}
	})

	t.Run("EveryKindOfProblemIsListed", func(t *testing.T) {
		e := newEngine(t, open)
		str := func(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }
		at := func(d time.Duration) shiftsync.Value {
			return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: engineEpoch.Add(d)}
		}
		m := shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: e.id(t), RecordType: "incident", ServiceID: "house-a", PersonID: "person-ada"},
			Counter:   1, HLC: e.at(-time.Minute),
			Fields: []shiftsync.FieldEdit{
				{Field: "mood", Value: str("low")},
				{Field: "place", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 4}},
				{Field: "intensity_self", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 9}},
				{Field: "harm_to_person", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "HARM_LEVEL_CATASTROPHIC"}},
				{Field: "police_reference", Value: str(string(make([]byte, 101)))},
				{Field: "started_at", Value: at(-30 * time.Minute)},
				{Field: "ended_at", Value: at(-40 * time.Minute)},
				{Field: "cqc_notified_at", Value: at(30 * 24 * time.Hour)},
			},
		}
		r := e.push(t, enginePhone1, m).Results[0]
		want := []shiftsync.FieldError{
			{Field: "mood", Reason: shiftsync.ReasonUnknownField},
			{Field: "place", Reason: shiftsync.ReasonWrongType},
			{Field: "intensity_self", Reason: shiftsync.ReasonInvalidValue},
			{Field: "harm_to_person", Reason: shiftsync.ReasonInvalidValue},
			{Field: "police_reference", Reason: shiftsync.ReasonInvalidValue},
			{Field: "behaviour_description", Reason: shiftsync.ReasonMissingRequired},
			{Field: "ended_at", Reason: shiftsync.ReasonOutOfOrder},
			{Field: "cqc_notified_at", Reason: shiftsync.ReasonImplausibleTime},
		}
		got := make([]shiftsync.FieldError, len(r.Errors))
		for i, fe := range r.Errors {
			if fe.Message == "" {
				t.Errorf("problem %+v has no message", fe)
			}
			got[i] = shiftsync.FieldError{Field: fe.Field, Reason: fe.Reason}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("problems listed (-want +got):\n%s", diff)
		}
		if r.Status != shiftsync.StatusQuarantined || r.Reason != shiftsync.ReasonUnknownField {
			t.Errorf("result %+v, want quarantined unknown_field, the first problem", r)
		}
	})

	t.Run("ReplayOfAnOutcomeKeptWithoutTheList", func(t *testing.T) {
		// A mutation quarantined before the list was kept: its stored
		// outcome has a reason and message and no errors.
		e := newEngine(t, open)
		m := e.incident(1, e.id(t), "house-a", e.at(-time.Minute), "kept before the list")
		m.DeviceID, m.UserID = enginePhone1.DeviceID, enginePhone1.UserID
		d := shiftsync.MutationDigest(&m)
		old := shiftsync.MutationResult{Counter: 1, Status: shiftsync.StatusQuarantined, Reason: shiftsync.ReasonUnknownField, Message: "incident records have no field \"mood\""}
		err := e.store.Update(context.Background(), func(tx shiftsync.Tx) error {
			if err := tx.RecordProcessed(context.Background(), shiftsync.ProcessedMutation{Mutation: &m, Digest: d[:], Result: old, ReceivedAt: engineEpoch}); err != nil {
				return err
			}
			return tx.Acknowledge(context.Background(), m.DeviceID, 1, engineEpoch)
		})
		if err != nil {
			t.Fatal(err)
		}
		r := e.push(t, enginePhone1, m).Results[0]
		want := old
		want.Replayed, want.Errors = true, []shiftsync.FieldError{{Reason: old.Reason, Message: old.Message}}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("replay (-want +got):\n%s", diff)
		}
	})

	t.Run("ImplausibleTimeIsQuarantined", func(t *testing.T) {
		e := newEngine(t, open)
		skew := shiftsync.DefaultMaxClockSkew
		tests := []struct {
			name    string
			started time.Time
			want    shiftsync.Reason
		}{
			{"a month ahead", engineEpoch.AddDate(0, 1, 0), shiftsync.ReasonImplausibleTime},
			{"just beyond the skew", engineEpoch.Add(skew + time.Second), shiftsync.ReasonImplausibleTime},
			{"within the skew", engineEpoch.Add(skew - time.Second), ""},
			{"at the skew", engineEpoch.Add(skew), ""},
			{"written offline hours ago", engineEpoch.Add(-9 * time.Hour), ""},
			{"last year", engineEpoch.AddDate(-1, 0, 0), ""},
			{"a clock at the Unix epoch", time.Unix(0, 0).UTC(), shiftsync.ReasonImplausibleTime},
			{"before the floor", shiftsync.PlausibleTimeFloor.Add(-time.Second), shiftsync.ReasonImplausibleTime},
			{"at the floor", shiftsync.PlausibleTimeFloor, ""},
		}
		for i, tt := range tests {
			m := e.incident(uint64(i+1), e.id(t), "house-a", e.at(-time.Minute), tt.name)
			m.Fields[0].Value.Time = tt.started
			r := e.push(t, enginePhone1, m).Results[0]
			if tt.want == "" {
				if r.Status != shiftsync.StatusAccepted {
					t.Errorf("%s: result %+v, want accepted", tt.name, r)
				}
				continue
			}
			if r.Status != shiftsync.StatusQuarantined || r.Reason != tt.want || len(r.Errors) != 1 || r.Errors[0].Field != "started_at" || r.Message == "" {
				t.Errorf("%s: result %+v, want quarantined %s naming started_at", tt.name, r, tt.want)
			}
		}
		// A time something is due may be in the future.
		action := shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: e.id(t), RecordType: "action", ServiceID: "house-a"},
			Counter:   uint64(len(tests) + 1), HLC: e.at(-time.Minute),
		}
		for field, v := range map[string]shiftsync.Value{
			"action_text": {Kind: shiftsync.KindString, String: "Review the plan"}, "definition_of_done": {Kind: shiftsync.KindString, String: "Plan shared"},
			"owner_role": {Kind: shiftsync.KindString, String: "Manager"}, "agency": {Kind: shiftsync.KindString, String: "provider"},
			"created_at": {Kind: shiftsync.KindTimestamp, Time: engineEpoch.Add(-time.Hour)},
			"deadline":   {Kind: shiftsync.KindTimestamp, Time: engineEpoch.AddDate(0, 1, 0)},
		} {
			action.Fields = append(action.Fields, shiftsync.FieldEdit{Field: field, Value: v})
		}
		if r := e.push(t, enginePhone1, action).Results[0]; r.Status != shiftsync.StatusAccepted {
			t.Errorf("an action due in a month: %+v, want accepted", r)
		}
	})
}

// problemFields returns the fields of the problems of one reason.
func problemFields(errs []shiftsync.FieldError, r shiftsync.Reason) []string {
	var fields []string
	for _, fe := range errs {
		if fe.Reason == r {
			fields = append(fields, fe.Field)
		}
	}
	return fields
}
