package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Acknowledged implements [shiftsync.SyncTx].
func (tx *Tx) Acknowledged(ctx context.Context, deviceID string) (uint64, error) {
	var acked uint64
	err := tx.queryRow(ctx, `SELECT acknowledged FROM device_counters WHERE device_id = ?`, deviceID).Scan(&acked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return acked, err
}

// Acknowledge implements [shiftsync.SyncTx].
func (tx *Tx) Acknowledge(ctx context.Context, deviceID string, counter uint64, at time.Time) error {
	_, err := tx.exec(ctx, `
		INSERT INTO device_counters (device_id, acknowledged, last_push_at) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET acknowledged = excluded.acknowledged, last_push_at = excluded.last_push_at`,
		deviceID, counter, at.UnixMilli())
	return err
}

// NoteGap implements [shiftsync.SyncTx].
func (tx *Tx) NoteGap(ctx context.Context, deviceID string, counter uint64) error {
	_, err := tx.exec(ctx, `UPDATE device_counters SET gap_from = ? WHERE device_id = ? AND (gap_from <= acknowledged OR ? < gap_from)`,
		counter, deviceID, counter)
	return err
}

// GapFrom implements [shiftsync.SyncTx].
func (tx *Tx) GapFrom(ctx context.Context, deviceID string) (uint64, error) {
	var from uint64
	err := tx.queryRow(ctx, `SELECT gap_from FROM device_counters WHERE device_id = ?`, deviceID).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return from, err
}

// ProcessedMutation implements [shiftsync.SyncTx]. The mutation itself is
// not kept (its versions are); the returned Mutation is nil.
func (tx *Tx) ProcessedMutation(ctx context.Context, deviceID string, counter uint64) (*shiftsync.ProcessedMutation, error) {
	var (
		pm            shiftsync.ProcessedMutation
		status        int
		reason, confl string
		errs, flag    string
		received      int64
	)
	err := tx.queryRow(ctx, `SELECT digest, status, reason, message, conflicted_fields, field_errors, flag, received_at FROM mutations WHERE device_id = ? AND counter = ?`,
		deviceID, counter).Scan(&pm.Digest, &status, &reason, &pm.Result.Message, &confl, &errs, &flag, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pm.Result.Counter, pm.Result.Status, pm.Result.Reason = counter, shiftsync.MutationStatus(status), shiftsync.Reason(reason)
	pm.Flag, pm.ReceivedAt = shiftsync.Flag(flag), time.UnixMilli(received).UTC()
	if err := json.Unmarshal([]byte(confl), &pm.Result.ConflictedFields); err != nil {
		return nil, fmt.Errorf("mutation %s/%d conflicted fields: %w", deviceID, counter, err)
	}
	if pm.Result.Errors, err = shiftsync.UnmarshalFieldErrors([]byte(errs)); err != nil {
		return nil, fmt.Errorf("mutation %s/%d: %w", deviceID, counter, err)
	}
	return &pm, nil
}

// RecordProcessed implements [shiftsync.SyncTx].
func (tx *Tx) RecordProcessed(ctx context.Context, pm shiftsync.ProcessedMutation) error {
	fields := pm.Result.ConflictedFields
	if fields == nil {
		fields = []string{}
	}
	conflicted, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	errs, err := shiftsync.MarshalFieldErrors(pm.Result.Errors)
	if err != nil {
		return err
	}
	m, r := pm.Mutation, pm.Result
	_, err = tx.exec(ctx, `
		INSERT INTO mutations (device_id, counter, user_id, record_id, hlc, digest, status, reason, message, conflicted_fields, field_errors, flag, app_version, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.DeviceID, m.Counter, m.UserID, m.RecordID, m.HLC.Pack(), pm.Digest, int(r.Status), string(r.Reason), r.Message, conflicted, string(errs), string(pm.Flag), m.AppVersion, pm.ReceivedAt.UnixMilli())
	return err
}

// PersonService implements [shiftsync.SyncTx].
func (tx *Tx) PersonService(ctx context.Context, personID string) (string, error) {
	var service string
	err := tx.queryRow(ctx, `SELECT service_id FROM people WHERE id = ?`, personID).Scan(&service)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return service, err
}

// Record implements [shiftsync.SyncTx].
func (tx *Tx) Record(ctx context.Context, id string) (*shiftsync.StoredRecord, error) {
	r := shiftsync.StoredRecord{RecordRef: shiftsync.RecordRef{RecordID: id}}
	var received int64
	err := tx.queryRow(ctx, `SELECT record_type, service_id, person_id, agency, received_at, created_by_device FROM records WHERE record_id = ?`, id).
		Scan(&r.RecordType, &r.ServiceID, &r.PersonID, &r.Agency, &received, &r.CreatedByDevice)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	r.ReceivedAt = time.UnixMilli(received).UTC()
	return &r, err
}

// CreateRecord implements [shiftsync.SyncTx].
func (tx *Tx) CreateRecord(ctx context.Context, m *shiftsync.Mutation, at time.Time) error {
	_, err := tx.exec(ctx, `
		INSERT INTO records (record_id, record_type, service_id, person_id, agency, created_by_user, created_by_device, created_hlc, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.RecordID, m.RecordType, m.ServiceID, m.PersonID, m.Agency, m.UserID, m.DeviceID, m.HLC.Pack(), at.UnixMilli())
	return err
}

// Locked implements [shiftsync.SyncTx].
func (tx *Tx) Locked(ctx context.Context, recordID string) (bool, error) {
	var locked int
	err := tx.queryRow(ctx, `SELECT 1 FROM record_locks WHERE record_id = ?`, recordID).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// FieldHeads implements [shiftsync.SyncTx].
func (tx *Tx) FieldHeads(ctx context.Context, recordID string) (map[string]shiftsync.FieldHead, error) {
	rows, err := tx.query(ctx, `SELECT field, hlc, device_id, version_seq, digest_element FROM fields WHERE record_id = ?`, recordID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	heads := make(map[string]shiftsync.FieldHead)
	for rows.Next() {
		var (
			field string
			hlc   int64
			h     shiftsync.FieldHead
		)
		if err := rows.Scan(&field, &hlc, &h.Version.DeviceID, &h.Seq, &h.Element); err != nil {
			return nil, err
		}
		h.Version.HLC = shiftsync.UnpackHLC(hlc)
		heads[field] = h
	}
	return heads, rows.Err()
}

// FieldValues implements [shiftsync.SyncTx].
func (tx *Tx) FieldValues(ctx context.Context, recordID string, names []string) (map[string]shiftsync.Value, error) {
	values := make(map[string]shiftsync.Value, len(names))
	args := []any{recordID}
	for _, n := range names {
		args = append(args, n)
	}
	rows, err := tx.query(ctx, `
		SELECT f.field, v.value FROM fields f JOIN field_versions v ON v.seq = f.version_seq
		WHERE f.record_id = ? AND f.field IN (`+sqlList(len(names))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var field, raw string
		if err := rows.Scan(&field, &raw); err != nil {
			return nil, err
		}
		v, err := shiftsync.UnmarshalValue([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("record %s field %s: %w", recordID, field, err)
		}
		values[field] = v
	}
	return values, rows.Err()
}

// AppendVersion implements [shiftsync.SyncTx]: the position is the
// field_versions rowid, which SQLite's single writer hands out in commit
// order.
func (tx *Tx) AppendVersion(ctx context.Context, m *shiftsync.Mutation, e shiftsync.FieldEdit, at time.Time) (int64, error) {
	value, err := shiftsync.MarshalValue(e.Value)
	if err != nil {
		return 0, err
	}
	res, err := tx.exec(ctx, `
		INSERT INTO field_versions (record_id, field, value, hlc, device_id, user_id, counter, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.RecordID, e.Field, value, m.HLC.Pack(), m.DeviceID, m.UserID, m.Counter, at.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// SetFieldHead implements [shiftsync.SyncTx].
func (tx *Tx) SetFieldHead(ctx context.Context, m *shiftsync.Mutation, field string, seq int64, element shiftsync.Digest) error {
	_, err := tx.exec(ctx, `
		INSERT INTO fields (record_id, field, service_id, version_seq, hlc, device_id, digest_element) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (record_id, field) DO UPDATE SET version_seq = excluded.version_seq, hlc = excluded.hlc, device_id = excluded.device_id,
			digest_element = excluded.digest_element`,
		m.RecordID, field, m.ServiceID, seq, m.HLC.Pack(), m.DeviceID, elementColumn(element))
	return err
}

// OpenConflict implements [shiftsync.SyncTx].
func (tx *Tx) OpenConflict(ctx context.Context, c shiftsync.FieldConflict) error {
	_, err := tx.exec(ctx, `
		INSERT INTO conflicts (record_id, field, current_seq, incoming_seq, winner_seq, opened_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.RecordID, c.Field, c.CurrentSeq, c.IncomingSeq, c.WinnerSeq, c.OpenedAt.UnixMilli())
	return err
}

// RaiseAlert implements [shiftsync.SyncTx].
func (tx *Tx) RaiseAlert(ctx context.Context, a shiftsync.Alert) error {
	_, err := tx.exec(ctx, `
		INSERT INTO alerts (rule_id, rule_version, record_id, record_type, service_id, person_id, summary, user_id, device_id, raised_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule_id, record_id) DO NOTHING`,
		a.RuleID, a.RuleVersion, a.Record.RecordID, a.Record.RecordType, a.Record.ServiceID, a.Record.PersonID, a.Summary, a.UserID, a.DeviceID, a.RaisedAt.UnixMilli())
	return err
}

// QuarantinedBytes implements [shiftsync.SyncTx].
func (tx *Tx) QuarantinedBytes(ctx context.Context, deviceID string, day time.Time) (int64, error) {
	var bytes int64
	err := tx.queryRow(ctx, `SELECT bytes FROM quarantine_days WHERE device_id = ? AND day = ?`, deviceID, day.UnixMilli()).Scan(&bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return bytes, err
}

// Quarantine implements [shiftsync.SyncTx].
func (tx *Tx) Quarantine(ctx context.Context, q shiftsync.QuarantinedMutation) error {
	m := q.Mutation
	errs, err := shiftsync.MarshalFieldErrors(q.Errors)
	if err != nil {
		return err
	}
	res, err := tx.exec(ctx, `
		INSERT INTO quarantine (device_id, user_id, counter, record_id, record_type, service_id, person_id, agency, app_version,
			reason, message, field_errors, payload, payload_format, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.DeviceID, m.UserID, m.Counter, m.RecordID, m.RecordType, m.ServiceID, m.PersonID, m.Agency, m.AppVersion,
		string(q.Reason), q.Message, string(errs), q.Payload, q.PayloadFormat, q.ReceivedAt.UnixMilli())
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for _, service := range q.Services {
		if _, err := tx.exec(ctx, `INSERT INTO quarantine_services (service_id, quarantine_id) VALUES (?, ?)`, service, id); err != nil {
			return err
		}
	}
	_, err = tx.exec(ctx, `
		INSERT INTO quarantine_days (device_id, day, entries, bytes) VALUES (?, ?, 1, ?)
		ON CONFLICT (device_id, day) DO UPDATE SET entries = entries + 1, bytes = bytes + excluded.bytes`,
		m.DeviceID, shiftsync.QuarantineDay(q.ReceivedAt).UnixMilli(), q.Size)
	return err
}

// MarkCorrected implements [shiftsync.SyncTx].
func (tx *Tx) MarkCorrected(ctx context.Context, deviceID, recordID string, counters []uint64, c shiftsync.Correction) error {
	for _, counter := range counters {
		if _, err := tx.exec(ctx, `
			UPDATE quarantine SET corrected_by_user = ?, corrected_by_counter = ?, corrected_at = ?
			WHERE device_id = ? AND counter = ? AND record_id = ? AND corrected_at IS NULL`,
			c.UserID, c.Counter, c.At.UnixMilli(), deviceID, counter, recordID); err != nil {
			return err
		}
	}
	return nil
}

// CountQuarantineOverflow implements [shiftsync.SyncTx].
func (tx *Tx) CountQuarantineOverflow(ctx context.Context, o shiftsync.OverflowedMutation) error {
	m := o.Mutation
	for _, service := range o.Services {
		if _, err := tx.exec(ctx, `
			INSERT INTO quarantine_overflow (service_id, day, device_id, reason, user_id, refused, bytes, last_counter, last_refused_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)
			ON CONFLICT (service_id, day, device_id, reason) DO UPDATE SET user_id = excluded.user_id, refused = refused + 1,
				bytes = bytes + excluded.bytes, last_counter = excluded.last_counter, last_refused_at = excluded.last_refused_at`,
			service, shiftsync.QuarantineDay(o.RefusedAt).UnixMilli(), m.DeviceID, string(o.Reason), m.UserID, o.Size, m.Counter, o.RefusedAt.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// ServedScope implements [shiftsync.SyncTx].
func (tx *Tx) ServedScope(ctx context.Context, deviceID string) ([]string, bool, error) {
	var stored string
	err := tx.queryRow(ctx, `SELECT grant_keys FROM device_scopes WHERE device_id = ?`, deviceID).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var keys []string
	if err := json.Unmarshal([]byte(stored), &keys); err != nil {
		return nil, false, fmt.Errorf("sqlite: device_scopes of %q: %w", deviceID, err)
	}
	return keys, true, nil
}

// SetServedScope implements [shiftsync.SyncTx].
func (tx *Tx) SetServedScope(ctx context.Context, deviceID string, keys []string, at time.Time) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO device_scopes (device_id, grant_keys, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET grant_keys = excluded.grant_keys, updated_at = excluded.updated_at`,
		deviceID, string(b), at.UnixMilli())
	return err
}

// Changes implements [shiftsync.SyncTx]: one range of the (service_id,
// version_seq) index.
func (tx *Tx) Changes(ctx context.Context, service string, afterSeq int64, limit int) ([]shiftsync.FieldChange, error) {
	rows, err := tx.query(ctx, `
		SELECT f.version_seq, f.record_id, r.record_type, r.service_id, r.person_id, r.agency, f.field, v.value, v.hlc, v.device_id, v.user_id
		FROM fields f
		JOIN field_versions v ON v.seq = f.version_seq
		JOIN records r ON r.record_id = f.record_id
		WHERE f.service_id = ? AND f.version_seq > ?
		ORDER BY f.version_seq
		LIMIT ?`, service, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shiftsync.FieldChange
	for rows.Next() {
		var (
			c     shiftsync.FieldChange
			value []byte
			hlc   int64
		)
		if err := rows.Scan(&c.Seq, &c.RecordID, &c.RecordType, &c.ServiceID, &c.PersonID, &c.Agency, &c.Field, &value, &hlc, &c.Version.DeviceID, &c.Author); err != nil {
			return nil, err
		}
		if c.Value, err = shiftsync.UnmarshalValue(value); err != nil {
			return nil, fmt.Errorf("field %s.%s: %w", c.RecordID, c.Field, err)
		}
		c.Version.HLC = shiftsync.UnpackHLC(hlc)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Head implements [shiftsync.SyncTx].
func (tx *Tx) Head(ctx context.Context) (int64, error) {
	var head int64
	err := tx.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM field_versions`).Scan(&head)
	return head, err
}

// ServiceHead implements [shiftsync.SyncTx].
func (tx *Tx) ServiceHead(ctx context.Context, serviceID string) (int64, error) {
	var seq int64
	err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version_seq), 0) FROM fields WHERE service_id = ?`, serviceID).Scan(&seq)
	return seq, err
}

// recordRefQuery selects the envelope of the record with an id.
const recordRefQuery = `SELECT record_type, service_id, person_id, agency FROM records WHERE record_id = ?`

// scanRecordRef reads the row of recordRefQuery for id: nil when there is
// no such record.
func scanRecordRef(row *sql.Row, id string) (*shiftsync.RecordRef, error) {
	r := shiftsync.RecordRef{RecordID: id}
	err := row.Scan(&r.RecordType, &r.ServiceID, &r.PersonID, &r.Agency)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &r, err
}

// sqlList returns n comma-separated placeholders for an IN list (n > 0).
func sqlList(n int) string {
	return `?` + strings.Repeat(`, ?`, n-1)
}

// Epoch implements [shiftsync.SyncTx].
func (tx *Tx) Epoch(ctx context.Context) (string, error) {
	var epoch string
	err := tx.queryRow(ctx, `SELECT epoch FROM store WHERE id = 1`).Scan(&epoch)
	return epoch, err
}

// SetEpoch implements [shiftsync.SyncTx].
func (tx *Tx) SetEpoch(ctx context.Context, epoch string) error {
	_, err := tx.exec(ctx, `UPDATE store SET epoch = ? WHERE id = 1`, epoch)
	return err
}

// BackedUpThrough implements [shiftsync.SyncTx].
func (tx *Tx) BackedUpThrough(ctx context.Context, deviceID string) (uint64, error) {
	var reach uint64
	err := tx.queryRow(ctx, `SELECT counter FROM backup_reach WHERE device_id = ?`, deviceID).Scan(&reach)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return reach, err
}

// SetBackedUpThrough implements [shiftsync.SyncTx].
func (tx *Tx) SetBackedUpThrough(ctx context.Context, reach map[string]uint64) error {
	for device, counter := range reach {
		if _, err := tx.exec(ctx, `INSERT INTO backup_reach (device_id, counter) VALUES (?, ?)
			ON CONFLICT (device_id) DO UPDATE SET counter = excluded.counter`, device, counter); err != nil {
			return err
		}
	}
	return nil
}

// AcknowledgedCounters implements [shiftsync.SyncTx].
func (tx *Tx) AcknowledgedCounters(ctx context.Context) (map[string]uint64, error) {
	return scanCounters(tx.query(ctx, `SELECT device_id, acknowledged FROM device_counters`))
}

// scanCounters reads rows of (device id, counter) into a map, closing them.
func scanCounters(rows *sql.Rows, err error) (map[string]uint64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counters := map[string]uint64{}
	for rows.Next() {
		var (
			device  string
			counter uint64
		)
		if err := rows.Scan(&device, &counter); err != nil {
			return nil, err
		}
		counters[device] = counter
	}
	return counters, rows.Err()
}
