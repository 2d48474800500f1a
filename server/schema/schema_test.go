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
