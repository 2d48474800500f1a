package replica

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// fieldValue is one field set by a local change.
type fieldValue struct {
	field string
	json  string // canonical protojson of the value
}

// parseFields decodes the fields JSON of Create and Edit: an object mapping
// field names to values in the protobuf JSON form of shiftsync.sync.v1.Value.
// Fields come back sorted by name, so a change is always sent the same way.
func parseFields(fieldsJSON string) ([]fieldValue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fieldsJSON), &raw); err != nil {
		return nil, invalidf("fields must be a JSON object of field name to value: %v", err)
	}
	if len(raw) == 0 {
		return nil, invalidf("a change must set at least one field")
	}
	out := make([]fieldValue, 0, len(raw))
	for name, msg := range raw {
		if strings.TrimSpace(name) == "" {
			return nil, invalidf("a field name is empty")
		}
		v := &syncv1.Value{}
		if err := protojson.Unmarshal(msg, v); err != nil {
			return nil, invalidf("field %q: %v", name, err)
		}
		if v.GetKind() == nil {
			return nil, invalidf("field %q: the value must set exactly one kind, such as stringValue", name)
		}
		s, err := valueJSON(v)
		if err != nil {
			return nil, invalidf("field %q: %v", name, err)
		}
		out = append(out, fieldValue{field: name, json: s})
	}
	slices.SortFunc(out, func(a, b fieldValue) int { return strings.Compare(a.field, b.field) })
	return out, nil
}

// valueJSON returns the stored form of a value: its protobuf JSON, compacted
// (protojson varies its spacing on purpose; the replica stores one form).
// The common values, whose JSON is plain, are written here directly, byte
// for byte as protojsonValue writes them; any other goes through it.
func valueJSON(v *syncv1.Value) (string, error) {
	switch k := v.GetKind().(type) {
	case *syncv1.Value_StringValue:
		if plainJSONString(k.StringValue) {
			return `{"stringValue":"` + k.StringValue + `"}`, nil
		}
	case *syncv1.Value_EnumValue:
		if plainJSONString(k.EnumValue) {
			return `{"enumValue":"` + k.EnumValue + `"}`, nil
		}
	case *syncv1.Value_IntValue:
		return `{"intValue":"` + strconv.FormatInt(k.IntValue, 10) + `"}`, nil
	case *syncv1.Value_BoolValue:
		return `{"boolValue":` + strconv.FormatBool(k.BoolValue) + `}`, nil
	case *syncv1.Value_TimestampValue:
		if t := k.TimestampValue; t != nil && t.GetSeconds() >= minTimestampSeconds && t.GetSeconds() <= maxTimestampSeconds &&
			t.GetNanos() >= 0 && t.GetNanos() < 1e9 {
			return `{"timestampValue":"` + timestampJSON(t.GetSeconds(), t.GetNanos()) + `"}`, nil
		}
	case *syncv1.Value_ListValue:
		if l := k.ListValue; l != nil && !slices.ContainsFunc(l.GetValues(), func(s string) bool { return !plainJSONString(s) }) {
			if len(l.GetValues()) == 0 {
				return `{"listValue":{}}`, nil
			}
			return `{"listValue":{"values":["` + strings.Join(l.GetValues(), `","`) + `"]}}`, nil
		}
	}
	return protojsonValue(v)
}

// The range of a google.protobuf.Timestamp in JSON: years 1 to 9999.
const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
)

// plainJSONString reports whether s is valid UTF-8 that JSON writes as it
// is, between quotes: no control character, quote or backslash to escape.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// timestampJSON is the JSON form of a timestamp in range: RFC 3339 in UTC,
// with no fraction for whole seconds, else 3, 6 or 9 digits of it.
func timestampJSON(seconds int64, nanos int32) string {
	b := time.Unix(seconds, 0).UTC().AppendFormat(make([]byte, 0, 30), "2006-01-02T15:04:05")
	if nanos != 0 {
		digits, frac := 9, int64(nanos)
		for digits > 3 && frac%1000 == 0 {
			digits, frac = digits-3, frac/1000
		}
		b = append(b, '.')
		for i := digits - len(strconv.FormatInt(frac, 10)); i > 0; i-- {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return string(append(b, 'Z'))
}

// protojsonValue is valueJSON written by protojson, for any value.
func protojsonValue(v *syncv1.Value) (string, error) {
	b, err := protojson.Marshal(v)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func parseValue(s string) (*syncv1.Value, error) {
	v := &syncv1.Value{}
	if err := protojson.Unmarshal([]byte(s), v); err != nil {
		return nil, fmt.Errorf("replica: stored value %q: %w", s, err)
	}
	return v, nil
}

// Create records a new record on the device and queues its creation for the
// server, in one transaction, and returns the record's new id (a lower-case
// UUIDv7). fieldsJSON maps field names to values in the protobuf JSON form
// of shiftsync.sync.v1.Value, for example
//
//	{"behaviour_description":{"stringValue":"Threw a cup"},"intensity_verbal":{"intValue":"2"}}
//
// The record's type, service and person are fixed here. Before anything
// is written, the change is checked against the record schema the server
// uses, built from the same declarations (records.proto): every field must
// be known and of its kind, within its code list, range and length, every
// required field set, the times in order and no event time later than the
// server's clock plus the skew it allows. A change that fails is not saved:
// the error names every failing field in plain words, [ErrorCode] gives the
// reason code the server would have quarantined it with (the first
// problem's, such as "invalid_value"), and [FieldErrorsJSON] lists them all.
// The server still checks, and quarantines what only it can judge (access,
// references to records the device does not hold), which the replica then
// keeps marked rejected (see [Replica.Sync]). It returns code "invalid" for
// malformed arguments; the record is visible to [Replica.RecordJSON] as
// soon as it returns.
func (r *Replica) Create(recordType, serviceID, personID, fieldsJSON string) (string, error) {
	switch {
	case recordType == "":
		return "", invalidf("a record type is required")
	case serviceID == "" || len(serviceID) > maxIDBytes:
		return "", invalidf("a service id of 1 to %d bytes is required", maxIDBytes)
	case len(personID) > maxIDBytes:
		return "", invalidf("the person id is longer than %d bytes", maxIDBytes)
	}
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return "", err
	}
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("replica: record id: %w", err)
	}
	id := u.String()
	ctx := context.Background()
	err = r.writeTx(ctx, func(tx *sql.Tx) error {
		env := envelope{id, recordType, serviceID, personID}
		// A wiped replica refuses every write: say why first.
		if err := checkNotRevoked(ctx, tx); err != nil {
			return err
		}
		if err := r.checkChange(ctx, tx, env, fields, true); err != nil {
			return err
		}
		now := r.nowMS()
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO records (record_id, record_type, service_id, person_id, created_at) VALUES (?, ?, ?, ?, ?)`,
			id, recordType, serviceID, personID, now); err != nil {
			return err
		}
		return r.writeChange(ctx, tx, env, fields, make([]version, len(fields)), now, nil)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// Edit sets fields of an existing record on the device and queues the edit
// for the server, in one transaction. fieldsJSON has the form described at
// [Replica.Create]. Each field edit carries as its base the version the
// field held on this device before, so the server can tell a concurrent
// edit (kept as a conflict) from a sequential one. The edit is checked as
// the server checks an edit, before anything is written (see
// [Replica.Create]): each field it sets must be valid, a required field may
// not be emptied, and the times must be in order on the record as it will
// stand, the local values plus the edit; required fields the record
// already holds need not be repeated. An edit of a record with rejected
// changes corrects them (see the package doc, "Rejected changes"): it also
// carries their fields and is checked with them, as a creation when the
// server never stored the record. It returns code "not_found" when the
// device has no such record, "invalid" for malformed fields, and the
// server's reason code for a refused edit.
func (r *Replica) Edit(recordID, fieldsJSON string) error {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return err
	}
	ctx := context.Background()
	return r.writeTx(ctx, func(tx *sql.Tx) error {
		// A wiped replica has no records: say why, not "not_found".
		if err := checkNotRevoked(ctx, tx); err != nil {
			return err
		}
		env, err := loadEnvelope(ctx, tx, recordID)
		if err != nil {
			return err
		}
		var me string
		if err := tx.QueryRowContext(ctx, `SELECT device_id FROM device WHERE id = 1`).Scan(&me); err != nil {
			return err
		}
		c, err := uncorrected(ctx, tx, me, recordID)
		if err != nil {
			return err
		}
		for _, carried := range c.carried {
			if !slices.ContainsFunc(fields, func(f fieldValue) bool { return f.field == carried.field }) {
				fields = append(fields, carried)
			}
		}
		bases := make([]version, len(fields))
		for i, f := range fields {
			if bases[i], err = baseFor(ctx, tx, me, recordID, f.field); err != nil {
				return err
			}
		}
		// A correction of the record's creation is checked as a creation.
		if err := r.checkChange(ctx, tx, env, fields, c.recreate); err != nil {
			return err
		}
		return r.writeChange(ctx, tx, env, fields, bases, r.nowMS(), c.corrects)
	})
}

// correctable are the reasons a later edit of the same fields can fix: a
// change refused for any other (access, its envelope, a lock, a field the
// server does not know) is left rejected, and later edits do not carry it.
var correctable = []string{
	string(shiftsync.ReasonMissingRequired), string(shiftsync.ReasonInvalidValue), string(shiftsync.ReasonWrongType),
	string(shiftsync.ReasonOutOfOrder), string(shiftsync.ReasonImplausibleTime), string(shiftsync.ReasonInvalidReference),
}

// correction is what an edit of a record with rejected changes carries
// besides the user's fields: the counters of the rejected outbox entries it
// corrects (at most [shiftsync.MaxCorrects], oldest first; a later edit
// corrects the rest), the fields they set whose value on the device is
// still this device's, with that value (a value another device has since
// replaced is not sent again: the record holds the newer one), and whether
// they include the record's creation, which the server never stored, so
// the correction recreates the record whole.
type correction struct {
	corrects []uint64
	carried  []fieldValue
	recreate bool
}

// uncorrected returns the correction an edit of the record by this device
// (me) carries: the rejected entries that no pending entry corrects yet and
// whose every problem an edit can fix ([correctable]).
func uncorrected(ctx context.Context, tx *sql.Tx, me, recordID string) (correction, error) {
	var c correction
	named := map[uint64]bool{}
	if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		counters, err := parseCorrects(s)
		for _, n := range counters {
			named[n] = true
		}
		return err
	}, `SELECT corrects FROM outbox WHERE status = 'pending' AND record_id = ? AND corrects <> ''`, recordID); err != nil {
		return c, err
	}
	if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
		var (
			n              uint64
			code, problems string
		)
		if err := rows.Scan(&n, &code, &problems); err != nil {
			return err
		}
		reasons := []string{code}
		if problems != "" {
			var list []fieldError
			if err := json.Unmarshal([]byte(problems), &list); err != nil {
				return fmt.Errorf("replica: outbox %d field errors: %w", n, err)
			}
			for _, p := range list {
				reasons = append(reasons, p.Reason)
			}
		}
		fixable := !slices.ContainsFunc(reasons, func(r string) bool { return !slices.Contains(correctable, r) })
		if !named[n] && fixable && len(c.corrects) < shiftsync.MaxCorrects {
			c.corrects = append(c.corrects, n)
		}
		return nil
	}, `SELECT counter, reason_code, field_errors FROM outbox WHERE status = 'rejected' AND record_id = ? ORDER BY counter`, recordID); err != nil {
		return c, err
	}
	if len(c.corrects) == 0 {
		return c, nil
	}
	// The record's creation is its first local change, when it was made
	// here and never pulled from the server.
	var creation sql.NullInt64
	if err := tx.QueryRowContext(ctx, `
		SELECT min(counter) FROM field_history WHERE record_id = ? AND origin = 'local'
		  AND NOT EXISTS (SELECT 1 FROM field_history WHERE record_id = ? AND origin = 'pulled')`,
		recordID, recordID).Scan(&creation); err != nil {
		return c, err
	}
	c.recreate = creation.Valid && slices.Contains(c.corrects, uint64(creation.Int64))
	for _, n := range c.corrects {
		if err := eachRow(ctx, tx, func(rows *sql.Rows) error {
			var f fieldValue
			if err := rows.Scan(&f.field, &f.json); err != nil {
				return err
			}
			if !slices.ContainsFunc(c.carried, func(g fieldValue) bool { return g.field == f.field }) {
				c.carried = append(c.carried, f)
			}
			return nil
		}, `SELECT o.field, cur.value FROM outbox_fields o JOIN fields cur ON cur.record_id = ? AND cur.field = o.field
			WHERE o.counter = ? AND cur.device_id = ? ORDER BY o.position`, recordID, n, me); err != nil {
			return c, err
		}
	}
	return c, nil
}

// envelope is a record's fixed identity.
type envelope struct {
	recordID, recordType, serviceID, personID string
}

func loadEnvelope(ctx context.Context, q queryer, id string) (envelope, error) {
	env := envelope{recordID: id}
	err := q.QueryRowContext(ctx, `SELECT record_type, service_id, person_id FROM records WHERE record_id = ?`, id).
		Scan(&env.recordType, &env.serviceID, &env.personID)
	if errors.Is(err, sql.ErrNoRows) {
		return env, &codedError{Code: CodeNotFound, Message: fmt.Sprintf("no record %q on this device", id)}
	}
	return env, err
}

// baseFor returns the base of a new edit of a field: the version the field
// holds on the device. A value the server quarantined never reached it, so
// an edit on top of one takes that value's own base instead: the version
// the server still holds, as far as the device knows. me is this device's
// id.
func baseFor(ctx context.Context, tx *sql.Tx, me, recordID, field string) (version, error) {
	var v version
	err := tx.QueryRowContext(ctx, `SELECT wall_ms, logical, device_id FROM fields WHERE record_id = ? AND field = ?`, recordID, field).
		Scan(&v.hlc.wallMS, &v.hlc.logical, &v.deviceID)
	if errors.Is(err, sql.ErrNoRows) {
		return version{}, nil
	}
	if err != nil {
		return v, err
	}
	for range 100 { // a chain of rejected edits of one field is short
		if v.deviceID != me {
			return v, nil
		}
		var b version
		err := tx.QueryRowContext(ctx, `
			SELECT f.base_wall_ms, f.base_logical, f.base_device_id
			FROM outbox o JOIN outbox_fields f ON f.counter = o.counter
			WHERE o.status = 'rejected' AND o.record_id = ? AND o.wall_ms = ? AND o.logical = ? AND f.field = ?`,
			recordID, v.hlc.wallMS, v.hlc.logical, field).Scan(&b.hlc.wallMS, &b.hlc.logical, &b.deviceID)
		if errors.Is(err, sql.ErrNoRows) {
			return v, nil
		}
		if err != nil {
			return v, err
		}
		v = b
	}
	return v, nil
}

// writeChange stamps a local change with the next HLC and counter, writes
// its values to the record and appends it to the outbox, all in tx.
func (r *Replica) writeChange(ctx context.Context, tx *sql.Tx, env envelope, fields []fieldValue, bases []version, now int64, corrects []uint64) error {
	if err := checkNotRevoked(ctx, tx); err != nil {
		return err
	}
	st, err := loadState(ctx, tx)
	if err != nil {
		return err
	}
	// The mutation must come after every base it names (the server refuses
	// a base that is not before the mutation); bases are normally behind the
	// clock already, so this is the plain tick.
	var maxBase hlc
	for _, b := range bases {
		maxBase = maxHLC(maxBase, b.hlc)
	}
	h := st.last.observe(maxBase, now+st.offsetMS)
	counter := st.lastCounter + 1
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO outbox (counter, record_id, record_type, service_id, person_id, wall_ms, logical, created_at, corrects)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		counter, env.recordID, env.recordType, env.serviceID, env.personID, h.wallMS, h.logical, now, correctsColumn(corrects)); err != nil {
		return err
	}
	digests := newDigester(tx)
	for i, f := range fields {
		b := bases[i]
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO outbox_fields (counter, position, field, value, base_wall_ms, base_logical, base_device_id)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			counter, i, f.field, f.json, b.hlc.wallMS, b.hlc.logical, b.deviceID); err != nil {
			return err
		}
		// A local edit always shows: it is newer than anything the server is
		// known to hold, and if the server holds something newer still, the
		// next pull brings it by the merge rule.
		if err := digests.remove(ctx, env.recordID, f.field); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO fields (record_id, field, value, wall_ms, logical, device_id, author_user_id)
			VALUES (?, ?, ?, ?, ?, ?, '')
			ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value, wall_ms = excluded.wall_ms,
				logical = excluded.logical, device_id = excluded.device_id, author_user_id = ''`,
			env.recordID, f.field, f.json, h.wallMS, h.logical, st.deviceID); err != nil {
			return err
		}
		if err := digests.add(ctx, env.recordID, f.field); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT OR IGNORE INTO field_history (record_id, field, wall_ms, logical, device_id, value, origin, counter, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?, 'local', ?, ?)`,
			env.recordID, f.field, h.wallMS, h.logical, st.deviceID, f.json, counter, now); err != nil {
			return err
		}
	}
	if err := digests.flush(ctx); err != nil {
		return err
	}
	st.last = h
	if err := saveClock(ctx, tx, st); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE device SET last_counter = ? WHERE id = 1`, counter)
	return err
}

// correctsColumn is the outbox's form of the counters an entry corrects
// (see [parseCorrects]).
func correctsColumn(counters []uint64) string {
	if len(counters) == 0 {
		return ""
	}
	b, _ := json.Marshal(counters)
	return string(b)
}
