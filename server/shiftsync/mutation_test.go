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

// testSchema is a small schema with one field of each kind.
var testSchema = mustSchema(shiftsync.NewSchema(1, &shiftsync.RecordType{
	Name:           "note",
	PersonScoped:   true,
	EventTimeField: "at",
	Fields: map[string]shiftsync.FieldSpec{
		"text":   {Name: "text", Kind: shiftsync.KindString, Required: true, MaxLength: 10},
		"at":     {Name: "at", Kind: shiftsync.KindTimestamp, Past: true},
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

// TestSchema_Validate_ListsEveryProblem: a mutation with several problems
// is answered with all of them, each field once, the first being the
// error's Reason and Message as a single answer would have it.
func TestSchema_Validate_ListsEveryProblem(t *testing.T) {
	ts := func(h int) shiftsync.Value {
		return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: time.Date(2026, 3, 2, h, 0, 0, 0, time.UTC)}
	}
	tests := []struct {
		name string
		m    *shiftsync.Mutation
		want []shiftsync.FieldError // Field and Reason
	}{
		{"three missing required fields", mustSchemaNote(t), []shiftsync.FieldError{
			{Field: "level", Reason: shiftsync.ReasonMissingRequired},
			{Field: "score", Reason: shiftsync.ReasonMissingRequired},
			{Field: "text", Reason: shiftsync.ReasonMissingRequired},
		}},
		{"one problem per field, in the order set, then what is missing, then order", note(func(m *shiftsync.Mutation) {
			m.Fields = []shiftsync.FieldEdit{
				{Field: "mood", Value: str("low")},
				{Field: "score", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 9}},
				{Field: "score", Value: shiftsync.Value{Kind: shiftsync.KindInt, Int: 2}},
				{Field: "level", Value: str("HIGH")},
				{Field: "end", Value: ts(7)},
				{Field: "at", Value: ts(8)},
			}
		}), []shiftsync.FieldError{
			{Field: "mood", Reason: shiftsync.ReasonUnknownField},
			{Field: "score", Reason: shiftsync.ReasonInvalidValue}, // and set twice: its first problem only
			{Field: "level", Reason: shiftsync.ReasonWrongType},
			{Field: "text", Reason: shiftsync.ReasonMissingRequired},
			{Field: "end", Reason: shiftsync.ReasonOutOfOrder},
		}},
		{"the envelope first, then the fields", note(func(m *shiftsync.Mutation) {
			m.RecordID, m.ServiceID = "not-a-uuid", ""
			m.Fields[0].Value = str("far too long")
		}), []shiftsync.FieldError{
			{Reason: shiftsync.ReasonInvalidRecordID},
			{Reason: shiftsync.ReasonMissingService},
			{Field: "text", Reason: shiftsync.ReasonInvalidValue},
			{Field: "level", Reason: shiftsync.ReasonMissingRequired},
			{Field: "score", Reason: shiftsync.ReasonMissingRequired},
		}},
		{"nothing of the fields of an unknown type", note(func(m *shiftsync.Mutation) {
			m.RecordType = "diary"
			m.Fields = append(m.Fields, shiftsync.FieldEdit{Field: "mood", Value: str("low")})
		}), []shiftsync.FieldError{{Reason: shiftsync.ReasonUnknownRecordType}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := withTextRequired.Validate(tt.m, nil)
			if err == nil {
				t.Fatalf("Validate() = nil, want %v", tt.want)
			}
			var got []shiftsync.FieldError
			for _, fe := range err.List() {
				if fe.Message == "" {
					t.Errorf("problem %+v has no message", fe)
				}
				got = append(got, shiftsync.FieldError{Field: fe.Field, Reason: fe.Reason})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if first := err.List()[0]; first.Reason != err.Reason || first.Message != err.Message {
				t.Errorf("first problem %+v, want the error's %s %q", first, err.Reason, err.Message)
			}
		})
	}
}

// withTextRequired is testSchema's note with three required fields.
var withTextRequired = mustSchema(shiftsync.NewSchema(1, &shiftsync.RecordType{
	Name: "note", PersonScoped: true,
	Fields: map[string]shiftsync.FieldSpec{
		"text":  {Name: "text", Kind: shiftsync.KindString, Required: true, MaxLength: 10},
		"score": {Name: "score", Kind: shiftsync.KindInt, Required: true, Range: &shiftsync.IntRange{Min: 0, Max: 4}},
		"level": {Name: "level", Kind: shiftsync.KindEnum, Required: true, Enum: []string{"HIGH", "LOW"}},
		"at":    {Name: "at", Kind: shiftsync.KindTimestamp},
		"end":   {Name: "end", Kind: shiftsync.KindTimestamp, NotBefore: "at"},
		"done":  {Name: "done", Kind: shiftsync.KindBool},
	},
}))

// mustSchemaNote returns a note setting none of its required fields.
func mustSchemaNote(t *testing.T) *shiftsync.Mutation {
	t.Helper()
	return note(func(m *shiftsync.Mutation) {
		m.Fields = []shiftsync.FieldEdit{{Field: "done", Value: shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}}}
	})
}

// TestSchema_CheckTimes: a time a record says something happened may be
// hours old but not beyond the allowed skew ahead of the receipt, nor
// before the floor; times of fields not declared past may be anything.
func TestSchema_CheckTimes(t *testing.T) {
	received := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	const skew = 5 * time.Minute
	ts := func(t time.Time) shiftsync.Value { return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: t} }
	tests := []struct {
		name string
		at   time.Time
		want shiftsync.Reason
	}{
		{"now", received, ""},
		{"written offline hours ago", received.Add(-11 * time.Hour), ""},
		{"within the skew", received.Add(skew), ""},
		{"beyond the skew", received.Add(skew + time.Millisecond), shiftsync.ReasonImplausibleTime},
		{"a month ahead", received.AddDate(0, 1, 0), shiftsync.ReasonImplausibleTime},
		{"the floor", shiftsync.PlausibleTimeFloor, ""},
		{"before the floor", shiftsync.PlausibleTimeFloor.Add(-time.Millisecond), shiftsync.ReasonImplausibleTime},
		{"a clock reset to 1970", time.Unix(0, 0), shiftsync.ReasonImplausibleTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := testSchema.CheckTimes(note(with("at", ts(tt.at))), received, skew)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckTimes() = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Reason != tt.want || len(err.List()) != 1 || err.List()[0].Field != "at" || err.Message == ""):
				t.Errorf("CheckTimes() = %+v, want %s naming at", err, tt.want)
			}
		})
	}
	// end is not declared past: it may be due in a month.
	if err := testSchema.CheckTimes(note(with("end", ts(received.AddDate(0, 1, 0)))), received, skew); err != nil {
		t.Errorf("CheckTimes() of a field not declared past = %v, want nil", err)
	}
}

// TestMarshalFieldErrors pins the stored form of a mutation's problems.
func TestMarshalFieldErrors(t *testing.T) {
	errs := []shiftsync.FieldError{
		{Field: "started_at", Reason: shiftsync.ReasonMissingRequired, Message: `needs "started_at"`},
		{Reason: shiftsync.ReasonMissingService, Message: "no service"},
	}
	const want = `[{"field":"started_at","reason":"missing_required_field","message":"needs \"started_at\""},{"field":"","reason":"missing_service","message":"no service"}]`
	b, err := shiftsync.MarshalFieldErrors(errs)
	if err != nil || string(b) != want {
		t.Fatalf("MarshalFieldErrors() = %s, %v; want %s", b, err, want)
	}
	got, err := shiftsync.UnmarshalFieldErrors(b)
	if err != nil || !slices.Equal(got, errs) {
		t.Errorf("UnmarshalFieldErrors() = %+v, %v; want %+v", got, err, errs)
	}
	if none, err := shiftsync.MarshalFieldErrors(nil); err != nil || string(none) != "[]" {
		t.Errorf("MarshalFieldErrors(nil) = %s, %v; want []", none, err)
	}
	if got, err := shiftsync.UnmarshalFieldErrors([]byte("[]")); err != nil || got != nil {
		t.Errorf("UnmarshalFieldErrors([]) = %+v, %v; want nil", got, err)
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
