package schema_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	recordsv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/records/v1"
)

// TestRecords checks that the registry says what records.proto declares.
func TestRecords(t *testing.T) {
	s, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"action", "action_tracker", "addendum", "brief_acknowledgement", "debrief", "early_warning_sign",
		"escalation", "incident", "meeting", "prn_administration", "quality_check", "restrictive_intervention",
		"risk_forecast", "risk_huddle", "safeguarding_concern", "shift_brief", "shift_reflection", "standing_restriction"}
	if diff := cmp.Diff(want, s.TypeNames()); diff != "" {
		t.Errorf("record types (-want +got):\n%s", diff)
	}
	incident := s.Type("incident")
	if !incident.PersonScoped {
		t.Error("incident is not person-scoped")
	}
	if diff := cmp.Diff([]string{"behaviour_description", "started_at"}, incident.Required()); diff != "" {
		t.Errorf("incident required fields (-want +got):\n%s", diff)
	}
	tests := []struct {
		record, field string
		want          shiftsync.FieldSpec
	}{
		{"incident", "started_at", shiftsync.FieldSpec{Name: "started_at", Kind: shiftsync.KindTimestamp, Required: true, Past: true}},
		{"incident", "place", shiftsync.FieldSpec{Name: "place", Kind: shiftsync.KindString, MaxLength: 500}},
		{"incident", "intensity_verbal", shiftsync.FieldSpec{Name: "intensity_verbal", Kind: shiftsync.KindInt, Range: &shiftsync.IntRange{Min: 0, Max: 4}}},
		{"restrictive_intervention", "in_care_plan", shiftsync.FieldSpec{Name: "in_care_plan", Kind: shiftsync.KindBool}},
		{"restrictive_intervention", "staff_involved", shiftsync.FieldSpec{Name: "staff_involved", Kind: shiftsync.KindList, MaxLength: 20}},
		{"restrictive_intervention", "ended_at", shiftsync.FieldSpec{Name: "ended_at", Kind: shiftsync.KindTimestamp, NotBefore: "started_at", Past: true}},
		// A time something is due may be in the future.
		{"action", "deadline", shiftsync.FieldSpec{Name: "deadline", Kind: shiftsync.KindTimestamp, Required: true, NotBefore: "created_at"}},
		{"risk_forecast", "forecast_for", shiftsync.FieldSpec{Name: "forecast_for", Kind: shiftsync.KindTimestamp, Required: true}},
		{"action", "owner_role", shiftsync.FieldSpec{Name: "owner_role", Kind: shiftsync.KindString, Required: true, MaxLength: 200}},
		{"restrictive_intervention", "incident_id", shiftsync.FieldSpec{Name: "incident_id", Kind: shiftsync.KindString, Required: true, MaxLength: 36,
			References: &shiftsync.Reference{Type: "incident"}}},
		{"debrief", "incident_ids", shiftsync.FieldSpec{Name: "incident_ids", Kind: shiftsync.KindList, MaxLength: 50,
			References: &shiftsync.Reference{Type: "incident"}}},
		{"action", "source_record_id", shiftsync.FieldSpec{Name: "source_record_id", Kind: shiftsync.KindString, MaxLength: 36,
			References: &shiftsync.Reference{}}},
		{"addendum", "record_id", shiftsync.FieldSpec{Name: "record_id", Kind: shiftsync.KindString, Required: true, MaxLength: 36,
			References: &shiftsync.Reference{OnServer: true}}},
		{"meeting", shiftsync.VoidReasonField, shiftsync.FieldSpec{Name: shiftsync.VoidReasonField, Kind: shiftsync.KindString, MaxLength: 2000}},
	}
	for _, name := range s.TypeNames() {
		if _, ok := s.Type(name).Fields[shiftsync.VoidReasonField]; !ok {
			t.Errorf("%s has no %s", name, shiftsync.VoidReasonField)
		}
	}
	if got := s.Type("incident").EventTimeField; got != "started_at" {
		t.Errorf("incident event time field = %q, want started_at", got)
	}
	for _, tt := range tests {
		got := s.Type(tt.record).Fields[tt.field]
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s.%s (-want +got):\n%s", tt.record, tt.field, diff)
		}
	}

	// Enums carry every named value but the zero one, which is never valid.
	typeCode := s.Type("restrictive_intervention").Fields["type_code"]
	if typeCode.Kind != shiftsync.KindEnum || !slices.Contains(typeCode.Enum, "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE") ||
		slices.Contains(typeCode.Enum, "RESTRICTIVE_INTERVENTION_TYPE_UNSPECIFIED") {
		t.Errorf("type_code = %+v", typeCode)
	}
	settings := s.Type("incident").Fields["setting_events"]
	if settings.Kind != shiftsync.KindList || len(settings.Enum) != 8 {
		t.Errorf("setting_events = %+v, want a list of the 8 setting events", settings)
	}
}

// TestRecords_Labels: every code a record can hold reads in plain words,
// from the (label) beside it in records.proto.
func TestRecords_Labels(t *testing.T) {
	s, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	codes := 0
	for _, name := range s.TypeNames() {
		for _, f := range s.Type(name).Fields {
			for _, code := range f.Enum {
				codes++
				if label := s.Label(code); label == code || label == "" || label != f.Labels[code] {
					t.Errorf("%s.%s: %s reads %q", name, f.Name, code, label)
				}
			}
		}
	}
	if codes == 0 {
		t.Fatal("no record field holds a code")
	}
	if got := s.Label("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE"); got != "Physical restraint, prone (face down)" {
		t.Errorf("prone restraint reads %q", got)
	}
	if got := s.Label("NOT_A_CODE"); got != "NOT_A_CODE" {
		t.Errorf("a string no record declares reads %q, want it as it is", got)
	}
}

// TestFromFile_RefusesACodeWithoutALabel: a record type whose enum has a
// value without a (label) is refused, so no code reaches a reader raw.
func TestFromFile_RefusesACodeWithoutALabel(t *testing.T) {
	recordOpts := &descriptorpb.MessageOptions{}
	proto.SetExtension(recordOpts, recordsv1.E_Record, &recordsv1.RecordOptions{Type: "note"})
	labelled := &descriptorpb.EnumValueOptions{}
	proto.SetExtension(labelled, recordsv1.E_Label, "Calm")
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("labels_test.proto"), Package: proto.String("labels.test"), Syntax: proto.String("proto3"),
		Dependency: []string{"shiftsync/records/v1/options.proto"},
		EnumType: []*descriptorpb.EnumDescriptorProto{{Name: proto.String("Mood"), Value: []*descriptorpb.EnumValueDescriptorProto{
			{Name: proto.String("MOOD_UNSPECIFIED"), Number: proto.Int32(0)},
			{Name: proto.String("MOOD_CALM"), Number: proto.Int32(1), Options: labelled},
			{Name: proto.String("MOOD_TENSE"), Number: proto.Int32(2)},
		}}},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Note"), Options: recordOpts, Field: []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("mood"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_ENUM.Enum(),
			TypeName: proto.String(".labels.test.Mood"), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}}}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schema.FromFile(fd); err == nil || !strings.Contains(err.Error(), "MOOD_TENSE has no (label)") {
		t.Fatalf("FromFile with an unlabelled code = %v, want it refused naming MOOD_TENSE", err)
	}
}
