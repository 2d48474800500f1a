package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	recordsv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/records/v1"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// recordMessage returns the declaration of a record type in
// shiftsync.records.v1, or nil if the simulator does not know the type.
func recordMessage(recordType string) protoreflect.MessageDescriptor {
	msgs := recordsv1.File_shiftsync_records_v1_records_proto.Messages()
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if opts, _ := proto.GetExtension(md.Options(), recordsv1.E_Record).(*recordsv1.RecordOptions); opts.GetType() == recordType {
			return md
		}
	}
	return nil
}

// recordTypes lists the record types the simulator knows.
func recordTypes() []string {
	var out []string
	msgs := recordsv1.File_shiftsync_records_v1_records_proto.Messages()
	for i := range msgs.Len() {
		if opts, _ := proto.GetExtension(msgs.Get(i).Options(), recordsv1.E_Record).(*recordsv1.RecordOptions); opts.GetType() != "" {
			out = append(out, opts.GetType())
		}
	}
	return out
}

// fieldSet accumulates field values for one change and renders them as the
// fields JSON of replica.Create and replica.Edit.
type fieldSet struct {
	md     protoreflect.MessageDescriptor // nil: type unknown, only raw values
	now    time.Time                      // what "now" means for a timestamp
	values map[string]json.RawMessage
}

func newFieldSet(recordType string, now time.Time) *fieldSet {
	return &fieldSet{md: recordMessage(recordType), now: now, values: map[string]json.RawMessage{}}
}

// setArg parses "field=value", typed by the record's declaration, or
// "field:=JSON", a shiftsync.sync.v1.Value in protobuf JSON taken as is
// (for fields the simulator does not know).
func (s *fieldSet) setArg(arg string) error {
	if name, raw, ok := strings.Cut(arg, ":="); ok && !strings.Contains(name, "=") {
		if !json.Valid([]byte(raw)) {
			return fmt.Errorf("%s: %q is not JSON", name, raw)
		}
		s.values[name] = json.RawMessage(raw)
		return nil
	}
	name, text, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want field=value or field:=JSON", arg)
	}
	return s.set(name, text)
}

// set sets one field from its text form.
func (s *fieldSet) set(name, text string) error {
	var fd protoreflect.FieldDescriptor
	if s.md != nil {
		fd = s.md.Fields().ByName(protoreflect.Name(name))
	}
	if fd == nil {
		return fmt.Errorf("%s: not a field of this record type (its fields: %s)", name, strings.Join(s.fieldNames(), ", "))
	}
	v, err := parseValue(fd, text, s.now)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return err
	}
	s.values[name] = b
	return nil
}

// fieldNames lists the fields of the record type, in declaration order.
func (s *fieldSet) fieldNames() []string {
	if s.md == nil {
		return nil
	}
	var out []string
	fields := s.md.Fields()
	for i := range fields.Len() {
		out = append(out, string(fields.Get(i).Name()))
	}
	return out
}

func (s *fieldSet) json() string {
	b, err := json.Marshal(s.values)
	if err != nil {
		panic(err) // raw values were checked as valid JSON
	}
	return string(b)
}

// parseValue turns text into the wire value for a declared field.
func parseValue(fd protoreflect.FieldDescriptor, text string, now time.Time) (*syncv1.Value, error) {
	if fd.IsList() {
		var items []string
		for item := range strings.SplitSeq(text, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			if fd.Kind() == protoreflect.EnumKind {
				name, err := enumName(fd.Enum(), item)
				if err != nil {
					return nil, err
				}
				item = name
			}
			items = append(items, item)
		}
		return &syncv1.Value{Kind: &syncv1.Value_ListValue{ListValue: &syncv1.StringList{Values: items}}}, nil
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: text}}, nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind,
		protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", text)
		}
		return &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: i}}, nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return &syncv1.Value{Kind: &syncv1.Value_DoubleValue{DoubleValue: f}}, nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return &syncv1.Value{Kind: &syncv1.Value_BoolValue{BoolValue: b}}, nil
	case protoreflect.EnumKind:
		name, err := enumName(fd.Enum(), text)
		if err != nil {
			return nil, err
		}
		return &syncv1.Value{Kind: &syncv1.Value_EnumValue{EnumValue: name}}, nil
	case protoreflect.MessageKind:
		if fd.Message().FullName() == "google.protobuf.Timestamp" {
			t, err := parseTime(text, now)
			if err != nil {
				return nil, err
			}
			return &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: timestamppb.New(t)}}, nil
		}
	}
	return nil, fmt.Errorf("fields of kind %s are not supported", fd.Kind())
}

// enumName accepts an enum value's full name (HARM_LEVEL_LOW) or its
// suffix in any case (low).
func enumName(ed protoreflect.EnumDescriptor, text string) (string, error) {
	values := ed.Values()
	var names []string
	for i := range values.Len() {
		name := string(values.Get(i).Name())
		if strings.HasSuffix(name, "_UNSPECIFIED") {
			continue
		}
		names = append(names, name)
		upper := strings.ToUpper(strings.ReplaceAll(text, "-", "_"))
		if name == upper || strings.HasSuffix(name, "_"+upper) {
			return name, nil
		}
	}
	return "", fmt.Errorf("%q is not one of %s", text, strings.Join(names, ", "))
}

// parseTime accepts RFC 3339 or "now".
func parseTime(text string, now time.Time) (time.Time, error) {
	if text == "now" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, text)
	if err != nil {
		return t, fmt.Errorf("%q is not an RFC 3339 time such as 2026-03-02T07:00:00Z", text)
	}
	return t, nil
}

// refusal is a change the replica refused before saving it, because the
// server would quarantine it: it lists every problem, one a line, with the
// valid values where a code list applies. It exits 2, as a mistyped
// command does: fix the values and run it again.
type refusal struct {
	err      error
	problems []struct {
		Field   string   `json:"field"`
		Reason  string   `json:"reason"`
		Message string   `json:"message"`
		Allowed []string `json:"allowed"`
	}
}

// refused returns err as a [refusal] when the replica refused the change
// for its values, else err.
func refused(err error) error {
	r := &refusal{err: err}
	if json.Unmarshal([]byte(replica.FieldErrorsJSON(err)), &r.problems) != nil || len(r.problems) == 0 {
		return err
	}
	return r
}

func (r *refusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not saved (%s): nothing was written; fix these and run it again:", replica.ErrorCode(r.err))
	for _, p := range r.problems {
		where := p.Field
		if where == "" {
			where = "record"
		}
		fmt.Fprintf(&b, "\n  %s: %s: %s", where, p.Reason, p.Message)
		if len(p.Allowed) > 0 {
			fmt.Fprintf(&b, "\n    valid values: %s", strings.Join(p.Allowed, ", "))
		}
	}
	return b.String()
}

func (r *refusal) Unwrap() error { return r.err }
