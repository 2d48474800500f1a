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
	// Corrects names the device's earlier mutations of the record, by
	// counter, that were quarantined and that this one corrects (see
	// [MaxCorrects]); not part of its digest.
	Corrects []uint64
}

// MaxCorrects bounds [Mutation.Corrects].
const MaxCorrects = 64

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
	ReasonUnknownPerson     Reason = "unknown_person" // a new record about a person the service does not support
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
	ReasonOutOfOrder        Reason = "out_of_order"       // an end before its start, as the record would stand
	ReasonRecordLocked      Reason = "record_locked"      // a manager locked the record: write an addendum
	ReasonInvalidReference  Reason = "invalid_reference"  // names a record that does not exist or is another's
	ReasonUnknownRecord     Reason = "unknown_record"     // edits a record the server does not hold or the pusher may not see
	ReasonRecordIDTaken     Reason = "record_id_taken"    // creates a record under an id already taken
	ReasonImplausibleTime   Reason = "implausible_time"   // a time something happened is in the future, or before PlausibleTimeFloor
	ReasonInvalidCorrection Reason = "invalid_correction" // corrects more than MaxCorrects mutations, or one not before it
	ReasonClockAhead        Reason = "clock_ahead"        // refused, not quarantined: re-stamp and resend
	// Refused, not quarantined: the quarantine keeps at most
	// MaxQuarantineEntryBytes of one mutation and MaxQuarantineDayBytes of
	// one device's a day. The device keeps the mutation and resends it.
	ReasonTooLargeToQuarantine Reason = "too_large_to_quarantine"
	ReasonQuarantineFull       Reason = "quarantine_full"
)

// Reasons are every reason above, for those that need the closed set
// (metrics label only these, so a label never holds what a device sent).
var Reasons = []Reason{
	ReasonInvalidRecordID, ReasonUnknownRecordType, ReasonMissingService, ReasonMissingPerson, ReasonUnknownPerson,
	ReasonInvalidHLC, ReasonInvalidBase, ReasonNoFields, ReasonTooManyFields, ReasonUnknownField,
	ReasonDuplicateField, ReasonWrongType, ReasonInvalidValue, ReasonMissingRequired,
	ReasonEnvelopeMismatch, ReasonVersionReused, ReasonCounterReused, ReasonPermissionDenied,
	ReasonOutOfOrder, ReasonRecordLocked, ReasonInvalidReference, ReasonUnknownRecord,
	ReasonRecordIDTaken, ReasonImplausibleTime, ReasonInvalidCorrection, ReasonClockAhead, ReasonTooLargeToQuarantine,
	ReasonQuarantineFull,
}

// MutationError says why one mutation was not accepted. Message is safe to
// show to the device's user.
type MutationError struct {
	// Reason and Message are the first problem found: what older apps,
	// which read only one, are told.
	Reason  Reason
	Message string
	// Errors lists every problem found, in the order found, the first being
	// Reason and Message; nil when the error was made with only those (see
	// [MutationError.List]).
	Errors []FieldError
}

// FieldError is one problem with a mutation.
type FieldError struct {
	// Field is the field the problem is with; "" when it is the mutation's
	// as a whole (its record id, service, clock, access).
	Field   string
	Reason  Reason
	Message string
}

// Error implements the error interface.
func (e *MutationError) Error() string { return string(e.Reason) + ": " + e.Message }

// List returns every problem of e, at least one: Errors, or Reason and
// Message alone when Errors is empty.
func (e *MutationError) List() []FieldError {
	if len(e.Errors) > 0 {
		return e.Errors
	}
	return []FieldError{{Reason: e.Reason, Message: e.Message}}
}

func reject(r Reason, format string, args ...any) *MutationError {
	return rejectField("", r, format, args...)
}

// rejectField returns the error of one problem with field.
func rejectField(field string, r Reason, format string, args ...any) *MutationError {
	msg := fmt.Sprintf(format, args...)
	return &MutationError{Reason: r, Message: msg, Errors: []FieldError{{Field: field, Reason: r, Message: msg}}}
}

// JoinMutationErrors returns one error listing the problems of every
// non-nil error in errs, in order, keeping only the first problem found
// with any one field; nil when all are nil. Its Reason and Message are the
// first problem's.
func JoinMutationErrors(errs ...*MutationError) *MutationError {
	var (
		joined *MutationError
		fields = map[string]bool{}
	)
	for _, e := range errs {
		if e == nil {
			continue
		}
		if joined == nil {
			joined = &MutationError{Reason: e.Reason, Message: e.Message}
		}
		for _, fe := range e.List() {
			if fe.Field != "" && fields[fe.Field] {
				continue
			}
			fields[fe.Field] = true
			joined.Errors = append(joined.Errors, fe)
		}
	}
	return joined
}

// problems collects the problems of one mutation.
type problems []*MutationError

func (ps *problems) add(e *MutationError) {
	if e != nil {
		*ps = append(*ps, e)
	}
}

func (ps problems) err() *MutationError { return JoinMutationErrors(ps...) }

// uuidv7 matches the canonical text form of a version 7, variant 10 UUID.
var uuidv7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// MaxIDBytes bounds the ids a client names (services, people, devices,
// memberships): longer ones are refused, on the wire and in a mutation.
const MaxIDBytes = 128

// Validate checks m against the schema. stored is the record's envelope as
// the server holds it, or nil when m creates the record (see [Scope.Claim]).
// It returns nil or every problem found, the first as today's single answer
// (its record id, type and envelope first, then each field in the order m
// sets them, then the required fields m lacks, then, for a create, the
// order of its times): a field's first problem only, and nothing of the
// fields once the record's type is unknown. It does not check the clock
// (see [HLC.AheadOf]), plausible times ([Schema.CheckTimes]) or access.
// Its messages quote only what m says, never the stored envelope.
func (s *Schema) Validate(m *Mutation, stored *RecordRef) *MutationError {
	var ps problems
	if !uuidv7.MatchString(m.RecordID) {
		ps.add(reject(ReasonInvalidRecordID, "record id %q is not a lower-case UUIDv7", truncate(m.RecordID)))
	}
	t := s.Type(m.RecordType)
	if t == nil {
		ps.add(reject(ReasonUnknownRecordType, "unknown record type %q", truncate(m.RecordType)))
		return ps.err()
	}
	if stored != nil && (stored.RecordType != m.RecordType || stored.ServiceID != m.ServiceID || stored.PersonID != m.PersonID) {
		// Nothing more is said of a mutation naming another record's envelope.
		ps.add(reject(ReasonEnvelopeMismatch, "record %s: a record's type, service and person are fixed when it is created, and this mutation names others",
			m.RecordID))
		return ps.err()
	}
	if v, ok := m.Value(AgencyField); ok && stored != nil && AgencyAssigned(stored.RecordType) && v.String != stored.Agency {
		ps.add(rejectField(AgencyField, ReasonEnvelopeMismatch, "%s %s: its agency is fixed when it is created: void it and create one for %q",
			m.RecordType, m.RecordID, truncate(v.String)))
	}
	if m.ServiceID == "" || len(m.ServiceID) > MaxIDBytes {
		ps.add(reject(ReasonMissingService, "service id is missing or longer than %d bytes", MaxIDBytes))
	}
	if len(m.PersonID) > MaxIDBytes || (t.PersonScoped && m.PersonID == "") {
		ps.add(reject(ReasonMissingPerson, "%s records must name the person supported (at most %d bytes)", t.Name, MaxIDBytes))
	}
	hlcValid := m.HLC.Valid()
	if !hlcValid {
		ps.add(reject(ReasonInvalidHLC, "hlc %+v is not a valid timestamp", m.HLC))
	}
	if len(m.Corrects) > MaxCorrects || slices.ContainsFunc(m.Corrects, func(c uint64) bool { return c == 0 || c >= m.Counter }) {
		ps.add(reject(ReasonInvalidCorrection, "a mutation corrects at most %d earlier mutations of this device, each by a counter before its own", MaxCorrects))
	}
	if len(m.Fields) == 0 {
		ps.add(reject(ReasonNoFields, "a mutation must set at least one field"))
	}
	if len(m.Fields) > len(t.Fields) {
		ps.add(reject(ReasonTooManyFields, "%d fields set; %s records have %d", len(m.Fields), t.Name, len(t.Fields)))
	}
	seen := make(map[string]bool, len(m.Fields))
	for _, e := range m.Fields {
		spec, ok := t.Fields[e.Field]
		if !ok {
			ps.add(rejectField(e.Field, ReasonUnknownField, "%s records have no field %q", t.Name, truncate(e.Field)))
			continue
		}
		if seen[e.Field] {
			ps.add(rejectField(e.Field, ReasonDuplicateField, "field %q is set twice", e.Field))
			continue
		}
		seen[e.Field] = true
		if err := spec.check(e.Value); err != nil {
			ps.add(err)
			continue
		}
		if spec.Required && e.Value.Empty() {
			ps.add(rejectField(e.Field, ReasonMissingRequired, "%s records need field %q; it may not be empty", t.Name, e.Field))
			continue
		}
		// A base is judged against the mutation's own stamp, so not when
		// that is invalid.
		if !e.Base.IsZero() && (!e.Base.HLC.Valid() || (hlcValid && e.Base.HLC.Compare(m.HLC) >= 0) || len(e.Base.DeviceID) > MaxIDBytes) {
			ps.add(rejectField(e.Field, ReasonInvalidBase, "field %q: base version must be a valid timestamp before the mutation's", e.Field))
		}
	}
	if stored == nil {
		for _, name := range t.Required() {
			if !seen[name] {
				ps.add(rejectField(name, ReasonMissingRequired, "creating a record of type %s needs required field %q", t.Name, name))
			}
		}
		// A new record stands as the mutation leaves it, so the order of
		// its times is known now, and is listed with its other problems.
		values := make(map[string]Value, len(m.Fields))
		for _, e := range m.Fields {
			if spec, ok := t.Fields[e.Field]; ok && spec.Kind == KindTimestamp && e.Value.Kind == KindTimestamp {
				values[e.Field] = e.Value
			}
		}
		ps.add(t.CheckOrder(values))
	}
	return ps.err()
}

// PlausibleTimeFloor is the earliest time a field declared past
// ([FieldSpec.Past]) may hold: 2000-01-01 UTC. It is later than a phone
// whose clock fell back to the Unix epoch (1970) or a date picker left at
// its first year would send, and earlier than every care record the
// service keeps.
var PlausibleTimeFloor = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// CheckTimes checks the times m sets in fields declared past
// ([FieldSpec.Past]: when something happened): each must be no later than
// received, when the server received m, plus skew, the clock skew allowed
// ([Sync.MaxClockSkew]), and not before [PlausibleTimeFloor]. A record
// written offline hours ago is plausible; one dated beyond the skew is not.
// It returns nil, or one [ReasonImplausibleTime] problem for each field, in
// the order m sets them. It says nothing of fields Validate refuses
// (unknown, of another kind).
func (s *Schema) CheckTimes(m *Mutation, received time.Time, skew time.Duration) *MutationError {
	t := s.Type(m.RecordType)
	if t == nil {
		return nil
	}
	latest := received.Add(skew)
	var ps problems
	for _, e := range m.Fields {
		spec, ok := t.Fields[e.Field]
		if !ok || !spec.Past || e.Value.Kind != KindTimestamp {
			continue
		}
		switch at := e.Value.Time; {
		case at.After(latest):
			ps.add(rejectField(e.Field, ReasonImplausibleTime, "field %q: %s is later than now (%s): it says when something happened, so check the date and the device's clock",
				e.Field, at.UTC().Format(time.RFC3339), received.UTC().Format(time.RFC3339)))
		case at.Before(PlausibleTimeFloor):
			ps.add(rejectField(e.Field, ReasonImplausibleTime, "field %q: %s is before %s: check the date and the device's clock",
				e.Field, at.UTC().Format(time.RFC3339), PlausibleTimeFloor.Format(time.DateOnly)))
		}
	}
	return ps.err()
}

// check validates one value against the field's declaration.
func (f FieldSpec) check(v Value) *MutationError {
	if v.Kind != f.Kind {
		return rejectField(f.Name, ReasonWrongType, "field %q takes a value of kind %s, not %s", f.Name, f.Kind, v.Kind)
	}
	switch v.Kind {
	case KindString:
		return f.checkString(v.String, cmpOr(f.MaxLength, DefaultMaxStringBytes))
	case KindEnum:
		if !slices.Contains(f.Enum, v.String) {
			return rejectField(f.Name, ReasonInvalidValue, "field %q: %q is not one of its values", f.Name, truncate(v.String))
		}
	case KindInt:
		if f.Range != nil && (v.Int < f.Range.Min || v.Int > f.Range.Max) {
			return rejectField(f.Name, ReasonInvalidValue, "field %q: %d is outside %d..%d", f.Name, v.Int, f.Range.Min, f.Range.Max)
		}
	case KindDouble:
		if math.IsNaN(v.Double) || math.IsInf(v.Double, 0) {
			return rejectField(f.Name, ReasonInvalidValue, "field %q: not a finite number", f.Name)
		}
	case KindTimestamp:
		if v.Time.Year() < 1900 || v.Time.Year() > 9999 {
			return rejectField(f.Name, ReasonInvalidValue, "field %q: timestamp %s is out of range", f.Name, v.Time.Format(time.RFC3339))
		}
	case KindList:
		maxItems := cmpOr(f.MaxLength, DefaultMaxListItems)
		if len(v.List) > maxItems {
			return rejectField(f.Name, ReasonInvalidValue, "field %q: %d items, at most %d", f.Name, len(v.List), maxItems)
		}
		for _, item := range v.List {
			if f.Enum != nil && !slices.Contains(f.Enum, item) {
				return rejectField(f.Name, ReasonInvalidValue, "field %q: %q is not one of its values", f.Name, truncate(item))
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
		return rejectField(f.Name, ReasonInvalidValue, "field %q: not valid UTF-8", f.Name)
	}
	if len(s) > maxBytes {
		return rejectField(f.Name, ReasonInvalidValue, "field %q: %d bytes, at most %d", f.Name, len(s), maxBytes)
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
