package shiftsync

import (
	"slices"
	"time"
)

// Alert is raised the moment a record that needs a manager's attention
// today syncs, not at the weekly review (care-records.md §2.1; Use of Force
// Act 2018 guidance for prone restraint, seclusion and rapid
// tranquillisation; CQC notifications for injuries).
type Alert struct {
	ID          int64
	RuleID      string
	RuleVersion int
	Record      RecordRef
	Summary     string
	RaisedAt    time.Time
	// The author and device of the change that raised it.
	UserID, DeviceID string
	AcknowledgedAt   time.Time // zero while open
	AcknowledgedBy   string
	Note             string
}

// AlertRule raises an alert when an accepted change to a record matches.
// Rules are identified by ID and Version; a rule whose meaning changes gets
// a new version, and each alert keeps the version that raised it.
type AlertRule struct {
	ID         string
	Version    int
	RecordType string
	Summary    string
	// Matches reports whether the change raises the alert: fields are the
	// mutation's edits by name, created whether it creates the record.
	Matches func(fields map[string]Value, created bool) bool
}

// The restrictive intervention types that alert at once (MHSDS codes, as
// declared in records.proto).
const (
	interventionProne                 = "RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE"
	interventionSeclusion             = "RESTRICTIVE_INTERVENTION_TYPE_SECLUSION"
	interventionRapidTranquillisation = "RESTRICTIVE_INTERVENTION_TYPE_CHEMICAL_RAPID_TRANQUILLISATION"
)

// harmful are the harm levels that count as an injury.
var harmful = []string{"HARM_LEVEL_LOW", "HARM_LEVEL_MODERATE", "HARM_LEVEL_SEVERE", "HARM_LEVEL_FATAL"}

func interventionType(code string) func(map[string]Value, bool) bool {
	return func(f map[string]Value, _ bool) bool { return f["type_code"].String == code }
}

// AlertRules are the immediate alerts.
var AlertRules = []AlertRule{
	{ID: "prone_restraint", Version: 1, RecordType: "restrictive_intervention",
		Summary: "Prone restraint used", Matches: interventionType(interventionProne)},
	{ID: "seclusion", Version: 1, RecordType: "restrictive_intervention",
		Summary: "Seclusion used", Matches: interventionType(interventionSeclusion)},
	{ID: "rapid_tranquillisation", Version: 1, RecordType: "restrictive_intervention",
		Summary: "Rapid tranquillisation used", Matches: interventionType(interventionRapidTranquillisation)},
	{ID: "injury", Version: 1, RecordType: "restrictive_intervention",
		Summary: "Injury during a restrictive intervention",
		Matches: func(f map[string]Value, _ bool) bool { v, ok := f["injury_to_person"]; return ok && v.Bool }},
	{ID: "injury", Version: 1, RecordType: "incident",
		Summary: "Injury to the person supported",
		Matches: func(f map[string]Value, _ bool) bool { return slices.Contains(harmful, f["harm_to_person"].String) }},
	{ID: "restriction_not_in_plan", Version: 1, RecordType: "restrictive_intervention",
		Summary: "Restrictive intervention not in the person's care plan",
		Matches: func(f map[string]Value, created bool) bool {
			v, set := f["in_care_plan"]
			return (set && !v.Bool) || (created && !set)
		}},
}

// AlertsFor returns the alerts an accepted mutation raises, at time now.
func AlertsFor(m *Mutation, created bool, now time.Time) []Alert {
	fields := make(map[string]Value, len(m.Fields))
	for _, f := range m.Fields {
		fields[f.Field] = f.Value
	}
	var alerts []Alert
	for _, rule := range AlertRules {
		if rule.RecordType == m.RecordType && rule.Matches(fields, created) {
			alerts = append(alerts, Alert{RuleID: rule.ID, RuleVersion: rule.Version, Record: m.RecordRef,
				Summary: rule.Summary, RaisedAt: now, UserID: m.UserID, DeviceID: m.DeviceID})
		}
	}
	return alerts
}
