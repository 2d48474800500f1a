package replica_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// problem is one failing field and its reason code.
type problem struct{ Field, Reason string }

// rawPusher pushes mutations as built, over HTTP, as a device that does not
// check them would.
type rawPusher struct {
	t       *testing.T
	s       *shiftsynctest.Server
	token   string
	counter uint64
}

// push sends one change of fieldsJSON (the replica's form) to the record
// and answers its result. Its fields go in name order, as the replica
// sends them.
func (p *rawPusher) push(recordID, recordType, personID, fieldsJSON string) *syncv1.MutationResult {
	p.t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fieldsJSON), &raw); err != nil {
		p.t.Fatalf("fields %s: %v", fieldsJSON, err)
	}
	p.counter++
	m := &syncv1.Mutation{Counter: p.counter, RecordId: recordID, RecordType: recordType, ServiceId: "house-a", PersonId: personID,
		Hlc: shiftsynctest.HLC(p.s.Clock.Now(), uint32(p.counter))}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		v := &syncv1.Value{}
		if err := protojson.Unmarshal(raw[name], v); err != nil {
			p.t.Fatalf("field %s: %v", name, err)
		}
		m.Fields = append(m.Fields, shiftsynctest.Set(name, v))
	}
	res, err := p.s.Client(p.token).Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{m}})
	if err != nil {
		p.t.Fatalf("Push() = %v", err)
	}
	return res.GetResults()[0]
}

// TestReplica_RefusesWhatTheServerWould runs every kind of schema rule on
// both sides: the replica refuses the change before it reaches the outbox,
// naming every failing field with its reason, and a server receiving the
// same change quarantines it with the same reasons, field by field.
func TestReplica_RefusesWhatTheServerWould(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	raw := &rawPusher{t: t, s: s, token: s.AddDevice("worker-raw", "raw-1", "house-a")}
	now := s.Clock.Now()
	ts := func(t time.Time) string { return `{"timestampValue":"` + t.UTC().Format(time.RFC3339) + `"}` }
	started := now.Add(-time.Hour)
	incident := `"started_at":` + ts(started) + `,"behaviour_description":{"stringValue":"Threw a cup"}`
	ids := make([]string, 21)
	for i := range ids {
		ids[i] = `"` + shiftsynctest.RecordID(t) + `"`
	}

	tests := []struct {
		name   string
		person string // default person-ada
		base   string // the record an edit starts from; "" for a creation
		fields string
		want   []problem
	}{
		{name: "missing required field", fields: `{"started_at":` + ts(started) + `}`,
			want: []problem{{"behaviour_description", "missing_required_field"}}},
		{name: "required field emptied by an edit", base: `{` + incident + `}`, fields: `{"behaviour_description":{"stringValue":"  "}}`,
			want: []problem{{"behaviour_description", "missing_required_field"}}},
		{name: "missing person", person: "-", fields: `{` + incident + `}`, want: []problem{{"", "missing_person"}}},
		{name: "unknown field", fields: `{` + incident + `,"mood":{"stringValue":"low"}}`, want: []problem{{"mood", "unknown_field"}}},
		{name: "wrong kind", fields: `{` + incident + `,"intensity_verbal":{"stringValue":"2"}}`, want: []problem{{"intensity_verbal", "wrong_type"}}},
		{name: "enum not in the code list", fields: `{` + incident + `,"harm_to_person":{"enumValue":"HARM_LEVEL_AWFUL"}}`,
			want: []problem{{"harm_to_person", "invalid_value"}}},
		{name: "int out of range", fields: `{` + incident + `,"intensity_verbal":{"intValue":"7"}}`, want: []problem{{"intensity_verbal", "invalid_value"}}},
		{name: "int out of range in an edit", base: `{` + incident + `}`, fields: `{"intensity_self":{"intValue":"-1"}}`,
			want: []problem{{"intensity_self", "invalid_value"}}},
		{name: "text too long", fields: `{` + incident + `,"place":{"stringValue":"` + strings.Repeat("x", 501) + `"}}`,
			want: []problem{{"place", "invalid_value"}}},
		{name: "list too long", fields: `{` + incident + `,"early_warning_sign_ids":{"listValue":{"values":[` + strings.Join(ids, ",") + `]}}}`,
			want: []problem{{"early_warning_sign_ids", "invalid_value"}}},
		{name: "list with an item not in the code list", fields: `{` + incident + `,"setting_events":{"listValue":{"values":["SETTING_EVENT_NOPE"]}}}`,
			want: []problem{{"setting_events", "invalid_value"}}},
		{name: "end before start", fields: `{` + incident + `,"ended_at":` + ts(started.Add(-time.Minute)) + `}`,
			want: []problem{{"ended_at", "out_of_order"}}},
		{name: "end before the start already held, in an edit", base: `{` + incident + `}`, fields: `{"ended_at":` + ts(started.Add(-time.Minute)) + `}`,
			want: []problem{{"ended_at", "out_of_order"}}},
		{name: "start moved after the end already held, in an edit", base: `{` + incident + `,"ended_at":` + ts(started.Add(time.Minute)) + `}`,
			fields: `{"started_at":` + ts(started.Add(2*time.Minute)) + `}`, want: []problem{{"ended_at", "out_of_order"}}},
		{name: "time a month ahead", fields: `{"started_at":` + ts(now.AddDate(0, 1, 0)) + `,"behaviour_description":{"stringValue":"x"}}`,
			want: []problem{{"started_at", "implausible_time"}}},
		{name: "time before 2000", base: `{` + incident + `}`, fields: `{"cqc_notified_at":` + ts(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)) + `}`,
			want: []problem{{"cqc_notified_at", "implausible_time"}}},
		{name: "every problem at once", fields: `{"intensity_verbal":{"intValue":"9"},"place":{"stringValue":"` + strings.Repeat("x", 501) + `"}}`,
			want: []problem{{"intensity_verbal", "invalid_value"}, {"place", "invalid_value"},
				{"behaviour_description", "missing_required_field"}, {"started_at", "missing_required_field"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			person := tt.person
			switch person {
			case "":
				person = "person-ada"
			case "-":
				person = ""
			}
			var localID, serverID string
			if tt.base != "" {
				var err error
				if localID, err = d.Create("incident", "house-a", person, tt.base); err != nil {
					t.Fatalf("Create(base) error = %v", err)
				}
				serverID = shiftsynctest.RecordID(t)
				if r := raw.push(serverID, "incident", person, tt.base); r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
					t.Fatalf("the server refused the base record: %v", r)
				}
			}
			before := d.status()
			var historyBefore int
			if localID != "" {
				historyBefore = len(d.record(localID).History)
			}

			var err error
			if tt.base == "" {
				_, err = d.Create("incident", "house-a", person, tt.fields)
			} else {
				err = d.Edit(localID, tt.fields)
			}
			if err == nil {
				t.Fatalf("the replica saved %s", tt.fields)
			}
			var local []problem
			var listed []struct {
				Field, Reason, Message string
				Allowed                []string
			}
			if jerr := json.Unmarshal([]byte(replica.FieldErrorsJSON(err)), &listed); jerr != nil {
				t.Fatalf("FieldErrorsJSON: %v", jerr)
			}
			for _, fe := range listed {
				local = append(local, problem{fe.Field, fe.Reason})
				if fe.Message == "" || (fe.Field != "" && !strings.Contains(err.Error(), fe.Message)) {
					t.Errorf("problem %+v: want a message, quoted in the error %q", fe, err)
				}
			}
			if diff := cmp.Diff(tt.want, local); diff != "" {
				t.Errorf("the replica's problems (-want +got):\n%s\nerror: %v", diff, err)
			}
			if got := replica.ErrorCode(err); got != tt.want[0].Reason {
				t.Errorf("ErrorCode() = %q, want the first reason %q", got, tt.want[0].Reason)
			}
			if after := d.status(); after.OutboxDepth != before.OutboxDepth || after.Records != before.Records || after.LastCounter != before.LastCounter {
				t.Errorf("status after the refusal = %+v, before %+v: want nothing written", after, before)
			}
			if localID != "" {
				if r := d.record(localID); len(r.History) != historyBefore {
					t.Errorf("history of the edited record = %+v, want only its creation", r.History)
				}
			}

			id := serverID
			if id == "" {
				id = shiftsynctest.RecordID(t)
			}
			r := raw.push(id, "incident", person, tt.fields)
			if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED {
				t.Fatalf("the server's answer = %v, want quarantined", r)
			}
			var server []problem
			for _, fe := range r.GetFieldErrors() {
				server = append(server, problem{fe.GetField(), fe.GetReasonCode()})
			}
			if diff := cmp.Diff(local, server); diff != "" {
				t.Errorf("the server's problems differ from the replica's (-replica +server):\n%s", diff)
			}
			if r.GetReasonCode() != replica.ErrorCode(err) {
				t.Errorf("the server's reason_code %q, the replica's code %q", r.GetReasonCode(), replica.ErrorCode(err))
			}
		})
	}
}

// TestReplica_RefusalListsTheCodeList: a value not in its field's code list
// is refused naming the valid values, in the error and in FieldErrorsJSON.
func TestReplica_RefusalListsTheCodeList(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	id := d.logIncident("Threw a cup", "")
	err := d.Edit(id, `{"harm_to_person":{"enumValue":"HARM_LEVEL_AWFUL"}}`)
	if replica.ErrorCode(err) != "invalid_value" || !strings.Contains(err.Error(), "HARM_LEVEL_LOW") {
		t.Fatalf("Edit() = %v, want invalid_value listing the harm levels", err)
	}
	var listed []struct {
		Field   string
		Allowed []string
	}
	if jerr := json.Unmarshal([]byte(replica.FieldErrorsJSON(err)), &listed); jerr != nil || len(listed) != 1 ||
		listed[0].Field != "harm_to_person" || !slices.Contains(listed[0].Allowed, "HARM_LEVEL_LOW") {
		t.Errorf("FieldErrorsJSON() = %s (%v), want harm_to_person with its values", replica.FieldErrorsJSON(err), jerr)
	}
	if got := replica.FieldErrorsJSON(nil); got != "[]" {
		t.Errorf("FieldErrorsJSON(nil) = %s, want []", got)
	}
	if got := replica.FieldErrorsJSON(d.Edit("019c9d2e-7a00-7000-8000-000000000099", `{"place":{"stringValue":"x"}}`)); got != "[]" {
		t.Errorf("FieldErrorsJSON(not found) = %s, want []", got)
	}
}

// TestReplica_EditOfOneField: an edit of a valid record that changes one
// field is accepted, although it repeats none of the required fields, and
// the server accepts it too; so is an end time after the start the record
// holds.
func TestReplica_EditOfOneField(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	d := newDevice(t, s, "phone-1")
	id := d.logIncident("Threw a cup", "")
	d.sync()
	d.edit(id, `{"intensity_verbal":{"intValue":"4"}}`)
	d.edit(id, `{"ended_at":{"timestampValue":"2026-03-02T06:58:00Z"}}`)
	if rep := d.sync(); rep.Accepted != 2 || rep.Quarantined != 0 {
		t.Errorf("Sync() = %+v, want both edits accepted", rep)
	}
}
