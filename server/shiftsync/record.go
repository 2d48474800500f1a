package shiftsync

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Default limits for field values when a field declares none.
const (
	DefaultMaxStringBytes = 16 << 10
	DefaultMaxListItems   = 100
)

// RecordRef is a record's identity and envelope: what it is and whose it is.
// Type, ServiceID, PersonID and Agency are fixed when the record is created.
type RecordRef struct {
	RecordID   string
	RecordType string
	ServiceID  string
	PersonID   string
	// Agency is the partner agency a record of an agency-assigned type (an
	// action) is assigned to: the value of its [AgencyField] when it was
	// created. A partner agency's grants cover only records assigned to it.
	// The server sets it; a device never sends it.
	Agency string
}

// StoredRecord is a record as the server holds it: its envelope, when the
// server received the mutation that created it, and the device that sent
// that mutation.
type StoredRecord struct {
	RecordRef
	ReceivedAt      time.Time
	CreatedByDevice string
}

// HeldAt reports whether the device could have held the record at t: the
// server had received it before t, so the device could have pulled it
// then, or the device created it itself (its own offline create, pushed
// first). A time a device stamps on a mutation is the device's to choose;
// it says something of a record only when this holds.
func (r *StoredRecord) HeldAt(deviceID string, t time.Time) bool {
	return r.ReceivedAt.Before(t) || r.CreatedByDevice == deviceID
}

// AgencyField is the field of an agency-assigned record naming the partner
// agency it is assigned to.
const AgencyField = "agency"

// AgencyAssigned reports whether records of the type are assigned to one
// agency, which alone of the partner agencies may see them: actions. Other
// types a partner may see (the shared tracker) are shared with every agency
// working with the person.
func AgencyAssigned(recordType string) bool { return recordType == "action" }

// AssignedAgency returns the agency a new record's mutation assigns it to:
// its [AgencyField] for an agency-assigned type, "" otherwise.
func AssignedAgency(m *Mutation) string {
	if !AgencyAssigned(m.RecordType) {
		return ""
	}
	v, _ := m.Value(AgencyField)
	return v.String
}

// FieldSpec declares one field of a record type.
type FieldSpec struct {
	Name string
	Kind ValueKind
	Enum []string // for KindEnum, and KindList of enums: the allowed names, sorted
	// Labels, for an enum field, holds each allowed name's plain label, as
	// a person reading the record sees it (see [Schema.ValueLabel]).
	Labels    map[string]string
	Required  bool      // the mutation creating a record must set it
	MaxLength int       // bytes for strings, items for lists; 0 means the default
	Range     *IntRange // for KindInt: the allowed values; nil means any int64
	// NotBefore, for a timestamp field, names another timestamp field of
	// the record that this one may not precede (an end before its start).
	NotBefore string
	// Past, for a timestamp field, says it holds when something happened,
	// so it may not be in the future: see [Schema.CheckTimes].
	Past bool
	// References, for a string field or a list of strings, declares that
	// it names another record by its record id (each item of a list does);
	// nil for a field that names none.
	References *Reference
}

// Reference declares what a reference field may name.
type Reference struct {
	// Type is the record type named; empty for a record of any type.
	Type string
	// OnServer is set when the named record must already be stored: a
	// record not received yet is then no record, not a pending one.
	OnServer bool
}

// IntRange is an inclusive range of integers.
type IntRange struct{ Min, Max int64 }

// RecordType declares a type of care record and its fields.
type RecordType struct {
	Name         string
	PersonScoped bool // records of this type are about one person: PersonID is required
	// EventTimeField names the timestamp field holding when the event the
	// record describes happened, as its author states it; "" if none.
	EventTimeField string
	Fields         map[string]FieldSpec
}

// VoidReasonField is the field every record type has for voiding it:
// records are never deleted, and setting a reason voids one. Voiding needs
// [OpVoid]; the record and every earlier version stay readable.
const VoidReasonField = "void_reason"

// voidReasonSpec declares [VoidReasonField].
var voidReasonSpec = FieldSpec{Name: VoidReasonField, Kind: KindString, MaxLength: 2000}

// CheckOrder checks the NotBefore rules of the type against a record's
// values (as they stand after a change): a rule holds when either field is
// unset. It returns nil, or a [ReasonOutOfOrder] problem naming the later
// field of each rule broken, by field name.
func (t *RecordType) CheckOrder(values map[string]Value) *MutationError {
	var ps problems
	var later []string // the fields of the rules, by name: a push checks them for every record
	for name, f := range t.Fields {
		if f.NotBefore != "" {
			later = append(later, name)
		}
	}
	slices.Sort(later)
	for _, name := range later {
		f := t.Fields[name]
		v, ok := values[name]
		first, firstOK := values[f.NotBefore]
		if ok && firstOK && v.Kind == KindTimestamp && first.Kind == KindTimestamp && v.Time.Before(first.Time) {
			ps.add(rejectField(name, ReasonOutOfOrder, "%s %s is before %s %s", name, v.Time.UTC().Format(time.RFC3339),
				f.NotBefore, first.Time.UTC().Format(time.RFC3339)))
		}
	}
	return ps.err()
}

// OrderedFields returns the fields of the type that take part in a
// NotBefore rule, sorted: the stored values a change to them is checked
// against.
func (t *RecordType) OrderedFields() []string {
	var names []string
	for _, f := range t.Fields {
		if f.NotBefore != "" {
			names = append(names, f.Name, f.NotBefore)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Required returns the names of the type's required fields, sorted.
func (t *RecordType) Required() []string {
	var names []string
	for _, f := range t.Fields {
		if f.Required {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	return names
}

// Schema is the set of record types the server accepts, built once at start-up
// from the protocol declarations. It is safe for concurrent use once built.
type Schema struct {
	Version int // the record schema version; see ClientInfo.schema_version
	types   map[string]*RecordType
	labels  map[string]string // of every code: see Label
}

// NewSchema returns a schema of the given version holding types, each
// given [VoidReasonField]. It fails when a NotBefore or EventTimeField
// names no timestamp field of its type, or a field declared Past is not one.
func NewSchema(version int, types ...*RecordType) (*Schema, error) {
	s := &Schema{Version: version, types: make(map[string]*RecordType, len(types)), labels: map[string]string{}}
	for _, t := range types {
		if _, ok := t.Fields[VoidReasonField]; ok {
			return nil, fmt.Errorf("record type %s declares %s, which every record has", t.Name, VoidReasonField)
		}
		t.Fields[VoidReasonField] = voidReasonSpec
		for _, f := range t.Fields {
			if f.NotBefore != "" && (f.Kind != KindTimestamp || t.Fields[f.NotBefore].Kind != KindTimestamp) {
				return nil, fmt.Errorf("record type %s: %s may not precede %q, which is not a timestamp field", t.Name, f.Name, f.NotBefore)
			}
			if f.Past && f.Kind != KindTimestamp {
				return nil, fmt.Errorf("record type %s: %s is declared past, and is not a timestamp field", t.Name, f.Name)
			}
			for code, label := range f.Labels {
				s.labels[code] = label
			}
		}
		if t.EventTimeField != "" && t.Fields[t.EventTimeField].Kind != KindTimestamp {
			return nil, fmt.Errorf("record type %s: event time field %q is not a timestamp field", t.Name, t.EventTimeField)
		}
		s.types[t.Name] = t
	}
	for _, t := range types {
		for _, f := range t.Fields {
			if f.References != nil && f.References.Type != "" && s.types[f.References.Type] == nil {
				return nil, fmt.Errorf("record type %s: %s names records of type %q, which is not declared", t.Name, f.Name, f.References.Type)
			}
		}
	}
	return s, nil
}

// Label returns a code (the name of an enum value, as records hold it) in
// plain words: its label in the record declarations, or the code itself
// when none has one. Codes are unique across record types.
func (s *Schema) Label(code string) string {
	if l, ok := s.labels[code]; ok {
		return l
	}
	return code
}

// Type returns the record type with the given name, or nil.
func (s *Schema) Type(name string) *RecordType { return s.types[name] }

// TypeNames returns the names of all record types, sorted.
func (s *Schema) TypeNames() []string {
	names := make([]string, 0, len(s.types))
	for n := range s.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
