// Package schema builds the server's record-type registry from the protocol
// declarations in shiftsync.records.v1, by protobuf reflection, so the
// .proto files are the one source of truth for which fields a record has,
// their types and which are required.
package schema

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	recordsv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/records/v1"
)

// Version is the record schema version of the declarations compiled in.
// Bump it whenever a record type or field is added.
const Version = 2

// Records returns the schema of every message in shiftsync.records.v1 that
// carries the (shiftsync.records.v1.record) option.
func Records() (*shiftsync.Schema, error) {
	return FromFile(recordsv1.File_shiftsync_records_v1_records_proto)
}

// FromFile builds a schema from the record messages declared in one file.
// It fails on a field whose type a record cannot hold.
func FromFile(fd protoreflect.FileDescriptor) (*shiftsync.Schema, error) {
	var types []*shiftsync.RecordType
	msgs := fd.Messages()
	for i := range msgs.Len() {
		md := msgs.Get(i)
		opts, _ := proto.GetExtension(md.Options(), recordsv1.E_Record).(*recordsv1.RecordOptions)
		if opts == nil || opts.GetType() == "" {
			continue
		}
		t, err := recordType(md, opts)
		if err != nil {
			return nil, err
		}
		types = append(types, t)
	}
	return shiftsync.NewSchema(Version, types...)
}

func recordType(md protoreflect.MessageDescriptor, opts *recordsv1.RecordOptions) (*shiftsync.RecordType, error) {
	t := &shiftsync.RecordType{Name: opts.GetType(), PersonScoped: opts.GetPersonScoped(), EventTimeField: opts.GetEventTimeField(),
		Fields: map[string]shiftsync.FieldSpec{}}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		spec, err := fieldSpec(fd)
		if err != nil {
			return nil, fmt.Errorf("schema: %s.%s: %w", md.FullName(), fd.Name(), err)
		}
		t.Fields[spec.Name] = spec
	}
	return t, nil
}

var timestampName = (&timestamppb.Timestamp{}).ProtoReflect().Descriptor().FullName()

func fieldSpec(fd protoreflect.FieldDescriptor) (shiftsync.FieldSpec, error) {
	spec := shiftsync.FieldSpec{Name: string(fd.Name())}
	if rules, _ := proto.GetExtension(fd.Options(), recordsv1.E_Rules).(*recordsv1.FieldRules); rules != nil {
		spec.Required = rules.GetRequired()
		spec.MaxLength = int(rules.GetMaxLength())
		spec.NotBefore = rules.GetNotBefore()
		spec.Past = rules.GetPast()
		if rules.GetHasRange() {
			spec.Range = &shiftsync.IntRange{Min: rules.GetMin(), Max: rules.GetMax()}
		}
	}
	if proto.HasExtension(fd.Options(), recordsv1.E_References) {
		ref, _ := proto.GetExtension(fd.Options(), recordsv1.E_References).(*recordsv1.Reference)
		spec.References = &shiftsync.Reference{Type: ref.GetType(), OnServer: ref.GetOnServer()}
	}
	if fd.IsMap() {
		return spec, fmt.Errorf("map fields are not supported")
	}
	kind, enum, err := scalarKind(fd)
	if err != nil {
		return spec, err
	}
	spec.Enum = enum
	if kind == shiftsync.KindEnum {
		if spec.Labels, err = enumLabels(fd.Enum()); err != nil {
			return spec, err
		}
	}
	switch {
	case fd.IsList() && (kind == shiftsync.KindString || kind == shiftsync.KindEnum):
		spec.Kind = shiftsync.KindList
	case fd.IsList():
		return spec, fmt.Errorf("repeated %s fields are not supported", kind)
	default:
		spec.Kind = kind
	}
	if spec.References != nil && (spec.Kind != shiftsync.KindString && spec.Kind != shiftsync.KindList || spec.Enum != nil) {
		return spec, fmt.Errorf("a reference names a record id: it must be a string or a list of strings")
	}
	if spec.Kind == shiftsync.KindInt && spec.Range == nil {
		spec.Range = intRange(fd.Kind())
	}
	return spec, nil
}

// scalarKind maps one proto field type to a value kind, with the names of
// an enum's values (all but the zero value, which is never valid).
func scalarKind(fd protoreflect.FieldDescriptor) (shiftsync.ValueKind, []string, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return shiftsync.KindString, nil, nil
	case protoreflect.BoolKind:
		return shiftsync.KindBool, nil, nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return shiftsync.KindInt, nil, nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return shiftsync.KindDouble, nil, nil
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		var names []string
		for i := range values.Len() {
			if v := values.Get(i); v.Number() != 0 {
				names = append(names, string(v.Name()))
			}
		}
		slices.Sort(names)
		return shiftsync.KindEnum, names, nil
	case protoreflect.MessageKind:
		if fd.Message().FullName() == timestampName {
			return shiftsync.KindTimestamp, nil, nil
		}
	}
	return 0, nil, fmt.Errorf("field type %s is not supported in records", fd.Kind())
}

// enumLabels returns the (label) of each value of an enum but the zero
// value, which is never valid; it fails when one has none, so every code a
// record can hold reads in plain words.
func enumLabels(ed protoreflect.EnumDescriptor) (map[string]string, error) {
	labels := map[string]string{}
	values := ed.Values()
	for i := range values.Len() {
		v := values.Get(i)
		if v.Number() == 0 {
			continue
		}
		label, _ := proto.GetExtension(v.Options(), recordsv1.E_Label).(string)
		if label == "" {
			return nil, fmt.Errorf("enum value %s has no (label)", v.FullName())
		}
		labels[string(v.Name())] = label
	}
	return labels, nil
}

// intRange is the range an integer field's proto type can hold.
func intRange(k protoreflect.Kind) *shiftsync.IntRange {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return &shiftsync.IntRange{Min: -1 << 31, Max: 1<<31 - 1}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return &shiftsync.IntRange{Min: 0, Max: 1<<32 - 1}
	}
	return nil
}
