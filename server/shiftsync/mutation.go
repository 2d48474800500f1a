package shiftsync

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Mutation is one local change from a device: the creation of a record or an
// edit of some of its fields. DeviceID and UserID always come from the
// authenticated principal, never from the request.
type Mutation struct {
	RecordRef
	DeviceID   string
	UserID     string
	Counter    uint64 // per device: 1, 2, 3, ... with no gaps
	HLC        HLC
	Fields     []FieldEdit
	AppVersion string
}

// Value returns the value m sets for field, if it sets one.
func (m *Mutation) Value(field string) (Value, bool) {
	for _, e := range m.Fields {
		if e.Field == field {
			return e.Value, true
		}
	}
	return Value{}, false
}

// Edits reports whether m claims to edit a record the server holds: some
// field edit has a base, a version the device can only have from that
// record. A mutation without one creates the record, or sets fields of it
// that had no value.
func (m *Mutation) Edits() bool {
	return slices.ContainsFunc(m.Fields, func(e FieldEdit) bool { return !e.Base.IsZero() })
}

// Version returns the version every field edit of m is written at.
func (m *Mutation) Version() Version { return Version{HLC: m.HLC, DeviceID: m.DeviceID} }

// FieldEdit sets one field. Base is the version of the field the author saw
// (zero when the field had no value).
type FieldEdit struct {
	Field string
	Value Value
	Base  Version
}

// Reason is a stable, machine-readable reason why a mutation was not
// accepted. Reasons are part of the wire contract: never rename or reuse one.
type Reason string

// The reasons a mutation is quarantined or refused.
const (
	ReasonInvalidRecordID   Reason = "invalid_record_id"
	ReasonUnknownRecordType Reason = "unknown_record_type"
	ReasonMissingService    Reason = "missing_service"
	ReasonMissingPerson     Reason = "missing_person"
	ReasonInvalidHLC        Reason = "invalid_hlc"
	ReasonInvalidBase       Reason = "invalid_base"
	ReasonNoFields          Reason = "no_fields"
	ReasonTooManyFields     Reason = "too_many_fields"
	ReasonUnknownField      Reason = "unknown_field"
	ReasonDuplicateField    Reason = "duplicate_field"
	ReasonWrongType         Reason = "wrong_type"
	ReasonInvalidValue      Reason = "invalid_value"
	ReasonMissingRequired   Reason = "missing_required_field"
	ReasonEnvelopeMismatch  Reason = "envelope_mismatch"
	ReasonVersionReused     Reason = "version_reused"
	ReasonCounterReused     Reason = "counter_reused"
	ReasonPermissionDenied  Reason = "permission_denied"
	ReasonOutOfOrder        Reason = "out_of_order"      // an end before its start, as the record would stand
	ReasonRecordLocked      Reason = "record_locked"     // a manager locked the record: write an addendum
	ReasonInvalidReference  Reason = "invalid_reference" // names a record that does not exist or is another's
	ReasonUnknownRecord     Reason = "unknown_record"    // edits a record the server does not hold or the pusher may not see
	ReasonRecordIDTaken     Reason = "record_id_taken"   // creates a record under an id already taken
	ReasonClockAhead        Reason = "clock_ahead"       // refused, not quarantined: re-stamp and resend
	// Refused, not quarantined: the quarantine keeps at most
	// MaxQuarantineEntryBytes of one mutation and MaxQuarantineDayBytes of
	// one device's a day. The device keeps the mutation and resends it.
	ReasonTooLargeToQuarantine Reason = "too_large_to_quarantine"
	ReasonQuarantineFull       Reason = "quarantine_full"
)

// MutationError says why one mutation was not accepted. Message is safe to
// show to the device's user.
type MutationError struct {
	Reason  Reason
	Message string
}

// Error implements the error interface.
func (e *MutationError) Error() string { return string(e.Reason) + ": " + e.Message }

func reject(r Reason, format string, args ...any) *MutationError {
	return &MutationError{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// uuidv7 matches the canonical text form of a version 7, variant 10 UUID.
var uuidv7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// MaxIDBytes bounds the ids a client names (services, people, devices,
// memberships): longer ones are refused, on the wire and in a mutation.
const MaxIDBytes = 128

// Validate checks m against the schema. stored is the record's envelope as
// the server holds it, or nil when m creates the record (see [Scope.Claim]).
// It returns nil or the first problem found; it does not check the clock
// (see [HLC.AheadOf]) or access. Its messages quote only what m says, never
// the stored envelope.
func (s *Schema) Validate(m *Mutation, stored *RecordRef) *MutationError {
	if !uuidv7.MatchString(m.RecordID) {
		return reject(ReasonInvalidRecordID, "record id %q is not a lower-case UUIDv7", truncate(m.RecordID))
	}
	t := s.Type(m.RecordType)
	if t == nil {
		return reject(ReasonUnknownRecordType, "unknown record type %q", truncate(m.RecordType))
	}
	if stored != nil && (stored.RecordType != m.RecordType || stored.ServiceID != m.ServiceID || stored.PersonID != m.PersonID) {
		return reject(ReasonEnvelopeMismatch, "record %s: a record's type, service and person are fixed when it is created, and this mutation names others",
			m.RecordID)
	}
	if v, ok := m.Value(AgencyField); ok && stored != nil && AgencyAssigned(stored.RecordType) && v.String != stored.Agency {
		return reject(ReasonEnvelopeMismatch, "%s %s: its agency is fixed when it is created: void it and create one for %q",
			m.RecordType, m.RecordID, truncate(v.String))
	}
	if m.ServiceID == "" || len(m.ServiceID) > MaxIDBytes {
		return reject(ReasonMissingService, "service id is missing or longer than %d bytes", MaxIDBytes)
	}
	if len(m.PersonID) > MaxIDBytes || (t.PersonScoped && m.PersonID == "") {
		return reject(ReasonMissingPerson, "%s records must name the person supported (at most %d bytes)", t.Name, MaxIDBytes)
	}
	if !m.HLC.Valid() {
		return reject(ReasonInvalidHLC, "hlc %+v is not a valid timestamp", m.HLC)
	}
	if len(m.Fields) == 0 {
		return reject(ReasonNoFields, "a mutation must set at least one field")
	}
	if len(m.Fields) > len(t.Fields) {
		return reject(ReasonTooManyFields, "%d fields set; %s records have %d", len(m.Fields), t.Name, len(t.Fields))
	}
	seen := make(map[string]bool, len(m.Fields))
	for _, e := range m.Fields {
		spec, ok := t.Fields[e.Field]
		if !ok {
			return reject(ReasonUnknownField, "%s records have no field %q", t.Name, truncate(e.Field))
		}
		if seen[e.Field] {
			return reject(ReasonDuplicateField, "field %q is set twice", e.Field)
		}
		seen[e.Field] = true
		if err := spec.check(e.Value); err != nil {
			return err
		}
		if spec.Required && e.Value.Empty() {
			return reject(ReasonMissingRequired, "%s records need field %q; it may not be empty", t.Name, e.Field)
		}
		if !e.Base.IsZero() && (!e.Base.HLC.Valid() || e.Base.HLC.Compare(m.HLC) >= 0 || len(e.Base.DeviceID) > MaxIDBytes) {
			return reject(ReasonInvalidBase, "field %q: base version must be a valid timestamp before the mutation's", e.Field)
		}
	}
	if stored == nil {
		for _, name := range t.Required() {
			if !seen[name] {
				return reject(ReasonMissingRequired, "creating a record of type %s needs required field %q", t.Name, name)
			}
		}
	}
	return nil
}

// check validates one value against the field's declaration.
func (f FieldSpec) check(v Value) *MutationError {
	if v.Kind != f.Kind {
		return reject(ReasonWrongType, "field %q takes a value of kind %s, not %s", f.Name, f.Kind, v.Kind)
	}
	switch v.Kind {
	case KindString:
		return f.checkString(v.String, cmpOr(f.MaxLength, DefaultMaxStringBytes))
	case KindEnum:
		if !slices.Contains(f.Enum, v.String) {
			return reject(ReasonInvalidValue, "field %q: %q is not one of its values", f.Name, truncate(v.String))
		}
	case KindInt:
		if f.Range != nil && (v.Int < f.Range.Min || v.Int > f.Range.Max) {
			return reject(ReasonInvalidValue, "field %q: %d is outside %d..%d", f.Name, v.Int, f.Range.Min, f.Range.Max)
		}
	case KindDouble:
		if math.IsNaN(v.Double) || math.IsInf(v.Double, 0) {
			return reject(ReasonInvalidValue, "field %q: not a finite number", f.Name)
		}
	case KindTimestamp:
		if v.Time.Year() < 1900 || v.Time.Year() > 9999 {
			return reject(ReasonInvalidValue, "field %q: timestamp %s is out of range", f.Name, v.Time.Format(time.RFC3339))
		}
	case KindList:
		maxItems := cmpOr(f.MaxLength, DefaultMaxListItems)
		if len(v.List) > maxItems {
			return reject(ReasonInvalidValue, "field %q: %d items, at most %d", f.Name, len(v.List), maxItems)
		}
		for _, item := range v.List {
			if f.Enum != nil && !slices.Contains(f.Enum, item) {
				return reject(ReasonInvalidValue, "field %q: %q is not one of its values", f.Name, truncate(item))
			}
			if err := f.checkString(item, DefaultMaxStringBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkString checks that s is UTF-8 of at most maxBytes.
func (f FieldSpec) checkString(s string, maxBytes int) *MutationError {
	if !utf8.ValidString(s) {
		return reject(ReasonInvalidValue, "field %q: not valid UTF-8", f.Name)
	}
	if len(s) > maxBytes {
		return reject(ReasonInvalidValue, "field %q: %d bytes, at most %d", f.Name, len(s), maxBytes)
	}
	return nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// truncate shortens untrusted text quoted back in a reason.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
