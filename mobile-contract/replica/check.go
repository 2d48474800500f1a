package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiftsync/shiftsync/server/schema"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// recordSchema is the record schema compiled in: the registry the server
// builds from the same declarations (syncproto records.proto), so a change
// the device accepts is one the server's schema accepts, and one it refuses
// is refused for the reasons the server would give.
var recordSchema = sync.OnceValues(schema.Records)

// checkChange validates a local change against the record schema before it
// is written, as the server will when it receives it: every field set must
// be known, of its kind, within its code list, range and length, and an
// event time no later than the server's clock (the device's clock plus the
// offset last learnt from the server) plus the skew it allows. A creation
// must set every required field and keep its times in order. An edit is
// judged as the server judges one: a required field may not be emptied, and
// the times are in order on the record as it will stand (the local values
// plus the edit), checked once the fields themselves are right, as the
// server does. It returns nil, or a refusal listing every problem (see
// [FieldErrorsJSON]).
func (r *Replica) checkChange(ctx context.Context, tx *sql.Tx, env envelope, fields []fieldValue, create bool) error {
	s, err := recordSchema()
	if err != nil {
		return fmt.Errorf("replica: record schema: %w", err)
	}
	if r.skipChecks.Load() {
		return nil
	}
	st, err := loadState(ctx, tx)
	if err != nil {
		return err
	}
	serverNow := time.UnixMilli(r.nowMS() + st.offsetMS)
	m := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: env.recordID, RecordType: env.recordType, ServiceID: env.serviceID, PersonID: env.personID},
		HLC:       shiftsync.HLC{WallMS: max(serverNow.UnixMilli(), 1)},
		Fields:    make([]shiftsync.FieldEdit, len(fields)),
	}
	for i, f := range fields {
		v, err := parseValue(f.json)
		if err != nil {
			return err
		}
		m.Fields[i] = shiftsync.FieldEdit{Field: f.field, Value: toValue(v)}
	}
	var stored *shiftsync.RecordRef
	if !create {
		stored = &m.RecordRef
		if shiftsync.AgencyAssigned(env.recordType) {
			values, err := localValues(ctx, tx, env.recordID, []string{shiftsync.AgencyField})
			if err != nil {
				return err
			}
			ref := m.RecordRef
			ref.Agency = values[shiftsync.AgencyField].String
			stored = &ref
		}
	}
	rej := shiftsync.JoinMutationErrors(s.Validate(m, stored), s.CheckTimes(m, serverNow, shiftsync.DefaultMaxClockSkew))
	if rej == nil && !create {
		t := s.Type(env.recordType)
		if ordered := t.OrderedFields(); slices.ContainsFunc(fields, func(f fieldValue) bool { return slices.Contains(ordered, f.field) }) {
			values, err := localValues(ctx, tx, env.recordID, ordered)
			if err != nil {
				return err
			}
			for _, e := range m.Fields {
				if slices.Contains(ordered, e.Field) {
					values[e.Field] = e.Value
				}
			}
			rej = t.CheckOrder(values)
		}
	}
	if rej == nil {
		if rej, err = checkReferences(ctx, tx, s, m); err != nil {
			return err
		}
	}
	if rej == nil {
		return nil
	}
	return refusal(s, env.recordType, rej)
}

// checkReferences judges the records the change's reference fields name as
// the server would ([shiftsync.CheckReference]), against the records the
// device holds, and returns the first refusal, as the server does. A record
// the device does not hold may still be on the server, or on another
// device: only an id that is no record id is refused then.
func checkReferences(ctx context.Context, tx *sql.Tx, s *shiftsync.Schema, m *shiftsync.Mutation) (*shiftsync.MutationError, error) {
	t := s.Type(m.RecordType)
	for _, e := range m.Fields {
		f := t.Fields[e.Field]
		if f.References == nil {
			continue
		}
		ids := e.Value.List
		if f.Kind == shiftsync.KindString {
			ids = []string{e.Value.String}
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			held, err := loadEnvelope(ctx, tx, id)
			var target *shiftsync.RecordRef
			switch {
			case err == nil:
				target = &shiftsync.RecordRef{RecordID: id, RecordType: held.recordType, ServiceID: held.serviceID, PersonID: held.personID}
			case ErrorCode(err) != CodeNotFound:
				return nil, err
			case f.References.OnServer && shiftsync.IsRecordID(id):
				continue // only the server can tell
			}
			if rej := shiftsync.CheckReference(f, m, id, target); rej != nil {
				return rej, nil
			}
		}
	}
	return nil, nil
}

// localValues returns the values the device holds for some fields of a
// record; a field with none is absent.
func localValues(ctx context.Context, tx *sql.Tx, recordID string, names []string) (map[string]shiftsync.Value, error) {
	values := map[string]shiftsync.Value{}
	for _, name := range names {
		var s string
		err := tx.QueryRowContext(ctx, `SELECT value FROM fields WHERE record_id = ? AND field = ?`, recordID, name).Scan(&s)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		v, err := parseValue(s)
		if err != nil {
			return nil, err
		}
		values[name] = toValue(v)
	}
	return values, nil
}

// refusal is the error of a change the schema refuses: its code is the
// first problem's reason, its message names every problem.
func refusal(s *shiftsync.Schema, recordType string, rej *shiftsync.MutationError) error {
	t := s.Type(recordType)
	list := rej.List()
	e := &codedError{Code: string(rej.Reason), Fields: make([]fieldError, len(list))}
	msgs := make([]string, len(list))
	for i, fe := range list {
		e.Fields[i] = fieldError{Field: fe.Field, Reason: string(fe.Reason), Message: fe.Message}
		if t != nil && fe.Reason == shiftsync.ReasonInvalidValue {
			e.Fields[i].Allowed = t.Fields[fe.Field].Enum
		}
		msgs[i] = fe.Message
		if len(e.Fields[i].Allowed) > 0 {
			msgs[i] += " (valid values: " + strings.Join(e.Fields[i].Allowed, ", ") + ")"
		}
	}
	e.Message = "not saved: " + strings.Join(msgs, "; ")
	return e
}

// fieldError is one problem of a refused change, in the form
// [FieldErrorsJSON] gives it.
type fieldError struct {
	Field   string   `json:"field"`             // "" for the record as a whole
	Reason  string   `json:"reason"`            // the server's reason code, e.g. "invalid_value"
	Message string   `json:"message"`           // plain words, safe to show
	Allowed []string `json:"allowed,omitempty"` // the field's code list, when its value is not in it
}

// FieldErrorsJSON returns every problem of a change that [Replica.Create]
// or [Replica.Edit] refused before saving it, as a JSON array of objects
// with "field" (the field name; "" for the record as a whole), "reason"
// (the reason code the server would quarantine it with, such as
// "invalid_value" or "missing_required_field"), "message" (plain words to
// show the user) and, for a value not in its field's code list, "allowed"
// (the field's valid values). It returns "[]" for a nil err and for any
// other error. [ErrorCode] of such an error is the first problem's reason.
func FieldErrorsJSON(err error) string {
	var e *codedError
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return "[]"
	}
	b, jerr := json.Marshal(e.Fields)
	if jerr != nil {
		return "[]"
	}
	return string(b)
}

// toValue converts a wire value to the schema's, exactly as the server's
// transport does (server/rpc), so both judge the same value.
func toValue(pb *syncv1.Value) shiftsync.Value {
	switch k := pb.GetKind().(type) {
	case *syncv1.Value_StringValue:
		return shiftsync.Value{Kind: shiftsync.KindString, String: k.StringValue}
	case *syncv1.Value_IntValue:
		return shiftsync.Value{Kind: shiftsync.KindInt, Int: k.IntValue}
	case *syncv1.Value_DoubleValue:
		return shiftsync.Value{Kind: shiftsync.KindDouble, Double: k.DoubleValue}
	case *syncv1.Value_BoolValue:
		return shiftsync.Value{Kind: shiftsync.KindBool, Bool: k.BoolValue}
	case *syncv1.Value_TimestampValue:
		if k.TimestampValue.CheckValid() != nil {
			return shiftsync.Value{Kind: shiftsync.KindTimestamp} // the zero time: refused as out of range
		}
		return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: k.TimestampValue.AsTime()}
	case *syncv1.Value_EnumValue:
		return shiftsync.Value{Kind: shiftsync.KindEnum, String: k.EnumValue}
	case *syncv1.Value_ListValue:
		return shiftsync.Value{Kind: shiftsync.KindList, List: append([]string{}, k.ListValue.GetValues()...)}
	}
	return shiftsync.Value{}
}
