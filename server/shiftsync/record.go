package shiftsync

import (
	"slices"
	"sort"
)

// Default limits for field values when a field declares none.
const (
	DefaultMaxStringBytes = 16 << 10
	DefaultMaxListItems   = 100
)

// RecordRef is a record's identity and envelope: what it is and whose it is.
// Type, ServiceID and PersonID are fixed when the record is created.
type RecordRef struct {
	RecordID   string
	RecordType string
	ServiceID  string
	PersonID   string
}

// FieldSpec declares one field of a record type.
type FieldSpec struct {
	Name      string
	Kind      ValueKind
	Enum      []string  // for KindEnum, and KindList of enums: the allowed names, sorted
	Required  bool      // the mutation creating a record must set it
	MaxLength int       // bytes for strings, items for lists; 0 means the default
	Range     *IntRange // for KindInt: the allowed values; nil means any int64
}

// IntRange is an inclusive range of integers.
type IntRange struct{ Min, Max int64 }

// RecordType declares a type of care record and its fields.
type RecordType struct {
	Name         string
	PersonScoped bool // records of this type are about one person: PersonID is required
	Fields       map[string]FieldSpec
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
}

// NewSchema returns a schema of the given version holding types.
func NewSchema(version int, types ...*RecordType) *Schema {
	s := &Schema{Version: version, types: make(map[string]*RecordType, len(types))}
	for _, t := range types {
		s.types[t.Name] = t
	}
	return s
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
