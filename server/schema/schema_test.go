package schema_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestRecords checks that the registry says what records.proto declares.
func TestRecords(t *testing.T) {
	s, err := schema.Records()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"early_warning_sign", "incident", "restrictive_intervention"}, s.TypeNames()); diff != "" {
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
		{"incident", "started_at", shiftsync.FieldSpec{Name: "started_at", Kind: shiftsync.KindTimestamp, Required: true}},
		{"incident", "place", shiftsync.FieldSpec{Name: "place", Kind: shiftsync.KindString, MaxLength: 500}},
		{"incident", "intensity_verbal", shiftsync.FieldSpec{Name: "intensity_verbal", Kind: shiftsync.KindInt, Range: &shiftsync.IntRange{Min: 0, Max: 4}}},
		{"restrictive_intervention", "in_care_plan", shiftsync.FieldSpec{Name: "in_care_plan", Kind: shiftsync.KindBool}},
		{"restrictive_intervention", "staff_involved", shiftsync.FieldSpec{Name: "staff_involved", Kind: shiftsync.KindList, MaxLength: 20}},
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
