package shiftsync_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testSchema is a small schema with one field of each kind.
var testSchema = mustSchema(shiftsync.NewSchema(1, &shiftsync.RecordType{
	Name:           "note",
	PersonScoped:   true,
	EventTimeField: "at",
	Fields: map[string]shiftsync.FieldSpec{
		"text":   {Name: "text", Kind: shiftsync.KindString, Required: true, MaxLength: 10},
		"at":     {Name: "at", Kind: shiftsync.KindTimestamp},
		"end":    {Name: "end", Kind: shiftsync.KindTimestamp, NotBefore: "at"},
		"score":  {Name: "score", Kind: shiftsync.KindInt, Range: &shiftsync.IntRange{Min: 0, Max: 4}},
		"weight": {Name: "weight", Kind: shiftsync.KindDouble},
		"done":   {Name: "done", Kind: shiftsync.KindBool},
		"level":  {Name: "level", Kind: shiftsync.KindEnum, Enum: []string{"HIGH", "LOW"}},
		"tags":   {Name: "tags", Kind: shiftsync.KindList, MaxLength: 2},
		"moods":  {Name: "moods", Kind: shiftsync.KindList, Enum: []string{"CALM", "SAD"}},
	},
}))

func mustSchema(s *shiftsync.Schema, err error) *shiftsync.Schema {
	if err != nil {
		panic(err)
	}
	return s
}

const recordID = "019c9d2e-7a00-7000-8000-000000000001"

func str(s string) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindString, String: s} }

// note returns a valid mutation creating a note, changed by fn.
func note(fn func(m *shiftsync.Mutation)) *shiftsync.Mutation {
	m := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: recordID, RecordType: "note", ServiceID: "house-a", PersonID: "p1"},
		DeviceID:  "phone-1",
		Counter:   1,
		HLC:       shiftsync.HLC{WallMS: 1_772_434_800_000},
		Fields:    []shiftsync.FieldEdit{{Field: "text", Value: str("hello")}},
	}
	if fn != nil {
		fn(m)
	}
	return m
}

func with(field string, v shiftsync.Value) func(*shiftsync.Mutation) {
	return func(m *shiftsync.Mutation) { m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: field, Value: v}) }
}

func TestSchema_Validate(t *testing.T) {
	stored := &shiftsync.RecordRef{RecordID: recordID, RecordType: "note", ServiceID: "house-a", PersonID: "p1"}
	tests := []struct {
		name   string
		m      *shiftsync.Mutation
		stored *shiftsync.RecordRef
		want   shiftsync.Reason
	}{
		{"valid create", note(nil), nil, ""},
		{"valid edit of an existing record without required fields", note(func(m *shiftsync.Mutation) {
			m.Fields = []shiftsync.FieldEdit{{Field: "score", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 3}}}
		}), stored, ""},
		{"every kind valid", note(func(m *shiftsync.Mutation) {
			for _, f := range []func(*shiftsync.Mutation){
				with("at", shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)}),
				with("score", shiftsync.Value{Kind: shiftsync.KindInt, Int: 4}),
				with("weight", shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1.5}),
				with("done", shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}),
				with("level", shiftsync.Value{Kind: shiftsync.KindEnum, String: "LOW"}),
				with("tags", shiftsync.Value{Kind: shiftsync.KindList, List: []string{"a", "b"}}),
				with("moods", shiftsync.Value{Kind: shiftsync.KindList, List: []string{"SAD"}}),
			} {
				f(m)
			}
		}), nil, ""},
		{"upper-case record id", note(func(m *shiftsync.Mutation) { m.RecordID = strings.ToUpper(recordID) }), nil, shiftsync.ReasonInvalidRecordID},
		{"UUIDv4 record id", note(func(m *shiftsync.Mutation) { m.RecordID = "9b2f6a1e-0c3d-4e5f-8a7b-1c2d3e4f5a6b" }), nil, shiftsync.ReasonInvalidRecordID},
		{"unknown record type", note(func(m *shiftsync.Mutation) { m.RecordType = "diary" }), nil, shiftsync.ReasonUnknownRecordType},
		{"moves the record to another service", note(func(m *shiftsync.Mutation) { m.ServiceID = "house-b" }), stored, shiftsync.ReasonEnvelopeMismatch},
		{"changes the record's type", note(func(m *shiftsync.Mutation) { m.RecordType = "note"; m.PersonID = "p2" }), stored, shiftsync.ReasonEnvelopeMismatch},
		{"no service", note(func(m *shiftsync.Mutation) { m.ServiceID = "" }), nil, shiftsync.ReasonMissingService},
		{"service id too long", note(func(m *shiftsync.Mutation) { m.ServiceID = strings.Repeat("s", 129) }), nil, shiftsync.ReasonMissingService},
		{"no person on a person-scoped type", note(func(m *shiftsync.Mutation) { m.PersonID = "" }), nil, shiftsync.ReasonMissingPerson},
		{"zero hlc", note(func(m *shiftsync.Mutation) { m.HLC = shiftsync.HLC{} }), nil, shiftsync.ReasonInvalidHLC},
		{"negative hlc", note(func(m *shiftsync.Mutation) { m.HLC.WallMS = -5 }), nil, shiftsync.ReasonInvalidHLC},
		{"logical overflow", note(func(m *shiftsync.Mutation) { m.HLC.Logical = shiftsync.MaxLogical + 1 }), nil, shiftsync.ReasonInvalidHLC},
		{"hlc past the packed range", note(func(m *shiftsync.Mutation) { m.HLC.WallMS = math.MaxInt64 }), nil, shiftsync.ReasonInvalidHLC},
		{"no fields", note(func(m *shiftsync.Mutation) { m.Fields = nil }), nil, shiftsync.ReasonNoFields},
		{"more fields than the type has", note(func(m *shiftsync.Mutation) {
			for range 10 {
				m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: "text", Value: str("x")})
			}
		}), nil, shiftsync.ReasonTooManyFields},
		{"unknown field", note(with("mood", str("low"))), nil, shiftsync.ReasonUnknownField},
		{"field set twice", note(with("text", str("again"))), nil, shiftsync.ReasonDuplicateField},
		{"wrong type", note(with("score", str("3"))), nil, shiftsync.ReasonWrongType},
		{"no value kind", note(with("score", shiftsync.Value{})), nil, shiftsync.ReasonWrongType},
		{"unknown enum value", note(with("level", shiftsync.Value{Kind: shiftsync.KindEnum, String: "MEDIUM"})), nil, shiftsync.ReasonInvalidValue},
		{"int out of range", note(with("score", shiftsync.Value{Kind: shiftsync.KindInt, Int: 5})), nil, shiftsync.ReasonInvalidValue},
		{"string too long", note(func(m *shiftsync.Mutation) { m.Fields[0].Value = str("eleven char") }), nil, shiftsync.ReasonInvalidValue},
		{"invalid UTF-8", note(func(m *shiftsync.Mutation) { m.Fields[0].Value = str("\xff") }), nil, shiftsync.ReasonInvalidValue},
		{"NaN", note(with("weight", shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.NaN()})), nil, shiftsync.ReasonInvalidValue},
		{"timestamp out of range", note(with("at", shiftsync.Value{Kind: shiftsync.KindTimestamp})), nil, shiftsync.ReasonInvalidValue},
		{"too many list items", note(with("tags", shiftsync.Value{Kind: shiftsync.KindList, List: []string{"a", "b", "c"}})), nil, shiftsync.ReasonInvalidValue},
		{"unknown enum in a list", note(with("moods", shiftsync.Value{Kind: shiftsync.KindList, List: []string{"CALM", "ANGRY"}})), nil, shiftsync.ReasonInvalidValue},
		{"base after the edit", note(func(m *shiftsync.Mutation) {
			m.Fields[0].Base = shiftsync.Version{HLC: shiftsync.HLC{WallMS: m.HLC.WallMS + 1}, DeviceID: "phone-2"}
		}), nil, shiftsync.ReasonInvalidBase},
		{"base equal to the edit", note(func(m *shiftsync.Mutation) { m.Fields[0].Base = m.Version() }), nil, shiftsync.ReasonInvalidBase},
		{"required field set empty on create", note(func(m *shiftsync.Mutation) { m.Fields[0].Value = str("  ") }), nil, shiftsync.ReasonMissingRequired},
		{"required field emptied by an edit", note(func(m *shiftsync.Mutation) { m.Fields[0].Value = str("") }), stored, shiftsync.ReasonMissingRequired},
		{"void reason on any type", note(with(shiftsync.VoidReasonField, str("entered for the wrong person"))), stored, ""},
		{"missing required field on create", note(func(m *shiftsync.Mutation) {
			m.Fields = []shiftsync.FieldEdit{{Field: "done", Value: shiftsync.Value{Kind: shiftsync.KindBool}}}
		}), nil, shiftsync.ReasonMissingRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := testSchema.Validate(tt.m, tt.stored)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Reason != tt.want || err.Message == ""):
				t.Errorf("Validate() = %v, want reason %s with a message", err, tt.want)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("text", uint8(shiftsync.KindString), "hello", int64(3), int64(1_772_434_800_000), uint32(0), recordID)
	f.Add("score", uint8(shiftsync.KindInt), "", int64(9), int64(-1), uint32(70000), "x")
	f.Fuzz(func(t *testing.T, field string, kind uint8, s string, i int64, wall int64, logical uint32, id string) {
		m := note(func(m *shiftsync.Mutation) {
			m.RecordID = id
			m.HLC = shiftsync.HLC{WallMS: wall, Logical: logical}
			m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: field, Value: shiftsync.Value{
				Kind: shiftsync.ValueKind(kind), String: s, Int: i, List: []string{s}}})
		})
		if err := testSchema.Validate(m, nil); err != nil && (err.Reason == "" || err.Message == "") {
			t.Fatalf("Validate() = %+v: a rejection needs a reason and a message", err)
		}
	})
}

func TestRecordType_CheckOrder(t *testing.T) {
	at := func(h int) shiftsync.Value {
		return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: time.Date(2026, 3, 2, h, 0, 0, 0, time.UTC)}
	}
	note := testSchema.Type("note")
	tests := []struct {
		name   string
		values map[string]shiftsync.Value
		want   shiftsync.Reason
	}{
		{"end after start", map[string]shiftsync.Value{"at": at(7), "end": at(8)}, ""},
		{"end at start", map[string]shiftsync.Value{"at": at(7), "end": at(7)}, ""},
		{"end before start", map[string]shiftsync.Value{"at": at(8), "end": at(7)}, shiftsync.ReasonOutOfOrder},
		{"no start", map[string]shiftsync.Value{"end": at(7)}, ""},
		{"no end", map[string]shiftsync.Value{"at": at(7)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := note.CheckOrder(tt.values)
			if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || err.Reason != tt.want)) {
				t.Errorf("CheckOrder() = %v, want %q", err, tt.want)
			}
		})
	}
	if got, want := note.OrderedFields(), []string{"at", "end"}; !slices.Equal(got, want) {
		t.Errorf("OrderedFields() = %v, want %v", got, want)
	}
}

func TestNewSchema_RefusesBadDeclarations(t *testing.T) {
	ts := shiftsync.FieldSpec{Name: "at", Kind: shiftsync.KindTimestamp}
	tests := map[string]*shiftsync.RecordType{
		"not before a missing field": {Name: "a", Fields: map[string]shiftsync.FieldSpec{
			"at": ts, "end": {Name: "end", Kind: shiftsync.KindTimestamp, NotBefore: "start"}}},
		"not before on a string": {Name: "b", Fields: map[string]shiftsync.FieldSpec{
			"at": ts, "end": {Name: "end", Kind: shiftsync.KindString, NotBefore: "at"}}},
		"event time not a timestamp": {Name: "c", EventTimeField: "text", Fields: map[string]shiftsync.FieldSpec{
			"text": {Name: "text", Kind: shiftsync.KindString}}},
		"declares void_reason": {Name: "d", Fields: map[string]shiftsync.FieldSpec{
			shiftsync.VoidReasonField: {Name: shiftsync.VoidReasonField, Kind: shiftsync.KindString}}},
	}
	for name, rt := range tests {
		if _, err := shiftsync.NewSchema(1, rt); err == nil {
			t.Errorf("%s: NewSchema() = nil error", name)
		}
	}
}
