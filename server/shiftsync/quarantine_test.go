package shiftsync_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestScope_Claim: a record the pusher does not see is, to the pusher, one
// that does not exist, and the answers name nothing of it.
func TestScope_Claim(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	worker := shiftsync.Scope{Grants: []shiftsync.Grant{{ServiceID: "s1", Role: shiftsync.RoleSupportWorker, Start: now.AddDate(-1, 0, 0)}}}
	leaver := shiftsync.Scope{Grants: []shiftsync.Grant{{ServiceID: "s1", Role: shiftsync.RoleSupportWorker, Start: now.AddDate(-1, 0, 0), End: now.Add(-time.Hour)}}}
	const id = "019c9d2e-7a00-7000-8000-0000000000a1"
	const device = "phone-1"
	stored := func(r shiftsync.RecordRef, received time.Time, createdBy string) *shiftsync.StoredRecord {
		r.RecordID = id
		return &shiftsync.StoredRecord{RecordRef: r, ReceivedAt: received, CreatedByDevice: createdBy}
	}
	weekAgo := now.AddDate(0, 0, -7)
	ours := stored(shiftsync.RecordRef{RecordType: "incident", ServiceID: "s1", PersonID: "p1"}, weekAgo, "phone-2")
	theirs := stored(shiftsync.RecordRef{RecordType: "incident", ServiceID: "s2", PersonID: "p9"}, weekAgo, "phone-2")
	concern := stored(shiftsync.RecordRef{RecordType: "safeguarding_concern", ServiceID: "s1", PersonID: "p1"}, weekAgo, "phone-2")
	// Received after the leaver left (an hour ago): by a colleague's
	// device, and by the leaver's own (their offline create, pushed first).
	arrivedLater := stored(ours.RecordRef, now.Add(-30*time.Minute), "phone-2")
	ownOffline := stored(ours.RecordRef, now.Add(-30*time.Minute), device)
	base := shiftsync.Version{HLC: shiftsync.HLC{WallMS: now.Add(-2 * time.Hour).UnixMilli()}, DeviceID: "d"}
	mutation := func(withBase bool, written time.Time) *shiftsync.Mutation {
		m := &shiftsync.Mutation{RecordRef: shiftsync.RecordRef{RecordID: id, RecordType: "incident", ServiceID: "s1", PersonID: "p1"}, DeviceID: device,
			HLC: shiftsync.HLC{WallMS: written.UnixMilli()}, Fields: []shiftsync.FieldEdit{{Field: "place"}}}
		if withBase {
			m.Fields[0].Base = base
		}
		return m
	}
	tests := []struct {
		name    string
		scope   shiftsync.Scope
		stored  *shiftsync.StoredRecord
		edit    bool
		written time.Time
		want    *shiftsync.StoredRecord
		reason  shiftsync.Reason
	}{
		{"a create", worker, nil, false, now, nil, ""},
		{"an edit of an unknown id", worker, nil, true, now, nil, shiftsync.ReasonUnknownRecord},
		{"an edit of a visible record", worker, ours, true, now, ours, ""},
		{"a change without base of a visible record", worker, ours, false, now, ours, ""},
		{"an edit of another service's record", worker, theirs, true, now, nil, shiftsync.ReasonUnknownRecord},
		{"a create reusing another service's id", worker, theirs, false, now, nil, shiftsync.ReasonRecordIDTaken},
		{"an edit of a concern support workers only raise", worker, concern, true, now, nil, shiftsync.ReasonUnknownRecord},
		{"a leaver's edit written while a member", leaver, ours, true, now.Add(-2 * time.Hour), ours, ""},
		{"a leaver's edit written after leaving", leaver, ours, true, now, nil, shiftsync.ReasonUnknownRecord},
		{"a leaver's back-dated edit of a record that arrived after they left", leaver, arrivedLater, true, now.Add(-2 * time.Hour), nil, shiftsync.ReasonUnknownRecord},
		{"a leaver's back-dated create reusing such a record's id", leaver, arrivedLater, false, now.Add(-2 * time.Hour), nil, shiftsync.ReasonRecordIDTaken},
		{"a leaver's edit of their own offline create", leaver, ownOffline, true, now.Add(-2 * time.Hour), ownOffline, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rej := tt.scope.Claim(mutation(tt.edit, tt.written), tt.stored, now)
			var want *shiftsync.RecordRef
			if tt.want != nil {
				want = &tt.want.RecordRef
			}
			if !cmp.Equal(want, got) || (rej == nil) != (tt.reason == "") || (rej != nil && rej.Reason != tt.reason) {
				t.Fatalf("Claim() = %v, %v; want %v, %q", got, rej, want, tt.reason)
			}
			if rej == nil {
				return
			}
			for _, secret := range []string{"s2", "p9", "safeguarding"} {
				if strings.Contains(rej.Message, secret) {
					t.Errorf("message %q names %q", rej.Message, secret)
				}
			}
		})
	}
	// A hidden record and an unknown id are answered in the same words.
	_, hidden := worker.Claim(mutation(true, now), theirs, now)
	_, unknown := worker.Claim(mutation(true, now), nil, now)
	if diff := cmp.Diff(unknown, hidden); diff != "" {
		t.Errorf("hidden and unknown answered differently (-unknown +hidden):\n%s", diff)
	}
}

// TestScope_QuarantineServices: a quarantined change is kept under its
// pusher's services, never under one it only names.
func TestScope_QuarantineServices(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	grant := func(service string, start, end time.Time) shiftsync.Grant {
		return shiftsync.Grant{ServiceID: service, Role: shiftsync.RoleSupportWorker, Start: start, End: end}
	}
	year := now.AddDate(-1, 0, 0)
	twoServices := shiftsync.Scope{Grants: []shiftsync.Grant{grant("s1", year, time.Time{}), grant("s2", year, time.Time{})}}
	moved := shiftsync.Scope{Grants: []shiftsync.Grant{grant("s1", year, now.Add(-time.Hour)), grant("s2", now.Add(-time.Hour), time.Time{})}}
	left := shiftsync.Scope{Grants: []shiftsync.Grant{grant("s1", year, now.AddDate(0, -1, 0))}}
	tests := []struct {
		name    string
		scope   shiftsync.Scope
		service string
		written time.Time
		want    []string
	}{
		{"its own service", twoServices, "s2", now, []string{"s2"}},
		{"another organisation's service", twoServices, "org2", now, []string{"s1", "s2"}},
		{"no service", twoServices, "", now, []string{"s1", "s2"}},
		{"the service it was written in before a move", moved, "s1", now.Add(-2 * time.Hour), []string{"s1"}},
		{"a service left before it was written", moved, "s1", now, []string{"s2"}},
		{"a leaver's", left, "org2", now, []string{"s1"}},
		{"of no member", shiftsync.Scope{}, "s1", now, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &shiftsync.Mutation{RecordRef: shiftsync.RecordRef{ServiceID: tt.service}, HLC: shiftsync.HLC{WallMS: tt.written.UnixMilli()}}
			if got := tt.scope.QuarantineServices(m, now); !slices.Equal(got, tt.want) {
				t.Errorf("QuarantineServices() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckQuarantineBounds(t *testing.T) {
	tests := []struct {
		size, day int64
		want      shiftsync.Reason
	}{
		{1 << 10, 0, ""},
		{shiftsync.MaxQuarantineEntryBytes, 0, ""},
		{shiftsync.MaxQuarantineEntryBytes + 1, 0, shiftsync.ReasonTooLargeToQuarantine},
		{1 << 10, shiftsync.MaxQuarantineDayBytes - 1<<10, ""},
		{1 << 10, shiftsync.MaxQuarantineDayBytes - 1<<10 + 1, shiftsync.ReasonQuarantineFull},
		{shiftsync.MaxQuarantineEntryBytes + 1, shiftsync.MaxQuarantineDayBytes, shiftsync.ReasonTooLargeToQuarantine},
	}
	for _, tt := range tests {
		got := shiftsync.CheckQuarantineBounds(tt.size, tt.day)
		if (got == nil) != (tt.want == "") || (got != nil && (got.Reason != tt.want || got.Message == "")) {
			t.Errorf("CheckQuarantineBounds(%d, %d) = %v, want %q", tt.size, tt.day, got, tt.want)
		}
	}
	if day := shiftsync.QuarantineDay(time.Date(2026, 3, 2, 23, 59, 0, 0, time.FixedZone("", -5*3600))); !day.Equal(time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("QuarantineDay = %v, want the UTC day", day)
	}
}

// TestQuarantinePayload_Format2 pins format 2 byte for byte: a change to
// the encoding is a new format, with a migration of the rows stored.
// (migrations/quarantine_test.go checks that protojson reads it as the
// message the device sent.)
func TestQuarantinePayload_Format2(t *testing.T) {
	at := time.Date(2026, 3, 2, 6, 55, 0, 120000000, time.UTC)
	for _, tt := range []struct {
		name string
		m    shiftsync.Mutation
		want string
	}{
		{"nothing set", shiftsync.Mutation{DeviceID: "d1", UserID: "u1", AppVersion: "1.0"}, `{}`},
		{"every value kind", shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: "r1", RecordType: "incident", ServiceID: "s1", PersonID: "p1", Agency: "housing"},
			DeviceID:  "d1", Counter: 18446744073709551615, HLC: shiftsync.HLC{WallMS: at.UnixMilli(), Logical: 2},
			Fields: []shiftsync.FieldEdit{
				{Field: "a", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "<b> & \u2028"},
					Base: shiftsync.Version{HLC: shiftsync.HLC{WallMS: 5}, DeviceID: "d0"}},
				{Field: "b", Value: shiftsync.Value{Kind: shiftsync.KindInt}},
				{Field: "c", Value: shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1.5}},
				{Field: "d", Value: shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.Inf(-1)}},
				{Field: "e", Value: shiftsync.Value{Kind: shiftsync.KindBool}},
				{Field: "f", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at}},
				{Field: "g", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.Truncate(time.Second)}},
				{Field: "h", Value: shiftsync.Value{Kind: shiftsync.KindEnum, String: "high"}},
				{Field: "i", Value: shiftsync.Value{Kind: shiftsync.KindList, List: []string{}}},
				{Field: "j", Value: shiftsync.Value{Kind: shiftsync.KindList, List: []string{"x"}}},
				{Field: "k"},
			}},
			`{"counter":"18446744073709551615","recordId":"r1","recordType":"incident","serviceId":"s1","personId":"p1",` +
				`"hlc":{"wallMs":"1772434500120","logical":2},"fields":[` +
				`{"field":"a","value":{"stringValue":"<b> & \u2028"},"base":{"hlc":{"wallMs":"5"},"deviceId":"d0"}},` +
				`{"field":"b","value":{"intValue":"0"}},{"field":"c","value":{"doubleValue":1.5}},{"field":"d","value":{"doubleValue":"-Infinity"}},` +
				`{"field":"e","value":{"boolValue":false}},{"field":"f","value":{"timestampValue":"2026-03-02T06:55:00.120Z"}},` +
				`{"field":"g","value":{"timestampValue":"2026-03-02T06:55:00Z"}},{"field":"h","value":{"enumValue":"high"}},` +
				`{"field":"i","value":{"listValue":{}}},{"field":"j","value":{"listValue":{"values":["x"]}}},{"field":"k"}]}`},
	} {
		got, err := shiftsync.QuarantinePayload(&tt.m)
		if err != nil {
			t.Fatalf("%s: QuarantinePayload() error = %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("%s: QuarantinePayload() =\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}
