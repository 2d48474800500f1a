package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Acknowledged implements [shiftsync.SyncTx]. In a write transaction it
// first takes the device's lock, held to commit: it is the first thing a
// push reads, so one device's pushes on several instances run one after
// the other (a device that never pushed has no row to lock FOR UPDATE).
func (tx *Tx) Acknowledged(ctx context.Context, deviceID string) (uint64, error) {
	if err := tx.lock(ctx, lockDevice, deviceID); err != nil {
		return 0, err
	}
	var acked uint64
	err := tx.queryRow(ctx, `SELECT acknowledged FROM device_counters WHERE device_id = $1`, deviceID).Scan(&acked)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return acked, err
}

// Acknowledge implements [shiftsync.SyncTx].
func (tx *Tx) Acknowledge(ctx context.Context, deviceID string, counter uint64, at time.Time) error {
	_, err := tx.exec(ctx, `
		INSERT INTO device_counters (device_id, acknowledged, last_push_at) VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET acknowledged = excluded.acknowledged, last_push_at = excluded.last_push_at`,
		deviceID, counter, at.UnixMilli())
	return err
}

// NoteGap implements [shiftsync.SyncTx].
func (tx *Tx) NoteGap(ctx context.Context, deviceID string, counter uint64) error {
	_, err := tx.exec(ctx, `UPDATE device_counters SET gap_from = $1 WHERE device_id = $2 AND (gap_from <= acknowledged OR $1 < gap_from)`,
		counter, deviceID)
	return err
}

// GapFrom implements [shiftsync.SyncTx].
func (tx *Tx) GapFrom(ctx context.Context, deviceID string) (uint64, error) {
	var from uint64
	err := tx.queryRow(ctx, `SELECT gap_from FROM device_counters WHERE device_id = $1`, deviceID).Scan(&from)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := tx.queryRow(ctx, `SELECT digest, status, reason, message, conflicted_fields, field_errors, flag, received_at FROM mutations WHERE device_id = $1 AND counter = $2`,
		deviceID, counter).Scan(&pm.Digest, &status, &reason, &pm.Result.Message, &confl, &errs, &flag, &received)
	if errors.Is(err, pgx.ErrNoRows) {
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
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		m.DeviceID, m.Counter, m.UserID, m.RecordID, m.HLC.Pack(), pm.Digest, int(r.Status), string(r.Reason), r.Message, string(conflicted), string(errs), string(pm.Flag), m.AppVersion, pm.ReceivedAt.UnixMilli())
	return err
}

// PersonService implements [shiftsync.SyncTx].
func (tx *Tx) PersonService(ctx context.Context, personID string) (string, error) {
	var service string
	err := tx.queryRow(ctx, `SELECT service_id FROM people WHERE id = $1`, personID).Scan(&service)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return service, err
}

// Record implements [shiftsync.SyncTx].
func (tx *Tx) Record(ctx context.Context, id string) (*shiftsync.StoredRecord, error) {
	r := shiftsync.StoredRecord{RecordRef: shiftsync.RecordRef{RecordID: id}}
	var received int64
	err := tx.queryRow(ctx, `SELECT record_type, service_id, person_id, agency, received_at, created_by_device FROM records WHERE record_id = $1`, id).
		Scan(&r.RecordType, &r.ServiceID, &r.PersonID, &r.Agency, &received, &r.CreatedByDevice)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	r.ReceivedAt = time.UnixMilli(received).UTC()
	return &r, err
}

// CreateRecord implements [shiftsync.SyncTx].
func (tx *Tx) CreateRecord(ctx context.Context, m *shiftsync.Mutation, at time.Time) error {
	_, err := tx.exec(ctx, `
		INSERT INTO records (record_id, record_type, service_id, person_id, agency, created_by_user, created_by_device, created_hlc, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		m.RecordID, m.RecordType, m.ServiceID, m.PersonID, m.Agency, m.UserID, m.DeviceID, m.HLC.Pack(), at.UnixMilli())
	return err
}

// Locked implements [shiftsync.SyncTx].
func (tx *Tx) Locked(ctx context.Context, recordID string) (bool, error) {
	var locked int
	err := tx.queryRow(ctx, `SELECT 1 FROM record_locks WHERE record_id = $1`, recordID).Scan(&locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// FieldHeads implements [shiftsync.SyncTx]. In a write transaction it
// first locks the record's row, held to commit, so concurrent merges into
// one record (a field's first edit included, which has no row yet) run one
// after the other and each sees the heads the other left.
func (tx *Tx) FieldHeads(ctx context.Context, recordID string) (map[string]shiftsync.FieldHead, error) {
	if tx.write {
		if _, err := tx.exec(ctx, `SELECT 1 FROM records WHERE record_id = $1 FOR UPDATE`, recordID); err != nil {
			return nil, err
		}
	}
	rows, err := tx.query(ctx, `SELECT field, hlc, device_id, version_seq, digest_element FROM fields WHERE record_id = $1`, recordID)
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
	rows, err := tx.query(ctx, `
		SELECT f.field, v.value FROM fields f JOIN field_versions v ON v.seq = f.version_seq
		WHERE f.record_id = $1 AND f.field = ANY($2)`, recordID, names)
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
// transaction's xid8 shifted by [positionBits], plus the number of versions
// it appended before. It is greater than every position of a transaction
// that committed before this one wrote; a transaction still open may hold
// smaller ones, which is why pulls stop at the horizon.
func (tx *Tx) AppendVersion(ctx context.Context, m *shiftsync.Mutation, e shiftsync.FieldEdit, at time.Time) (int64, error) {
	value, err := shiftsync.MarshalValue(e.Value)
	if err != nil {
		return 0, err
	}
	if tx.versions == 1<<positionBits {
		return 0, fmt.Errorf("postgres: more than %d versions in one transaction", 1<<positionBits)
	}
	var seq int64
	err = tx.queryRow(ctx, `
		INSERT INTO field_versions (seq, record_id, field, value, hlc, device_id, user_id, counter, received_at)
		VALUES ((pg_current_xact_id()::text::bigint << `+strconv.Itoa(positionBits)+`) | $1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING seq`,
		tx.versions, m.RecordID, e.Field, string(value), m.HLC.Pack(), m.DeviceID, m.UserID, m.Counter, at.UnixMilli()).Scan(&seq)
	if err != nil {
		return 0, err
	}
	tx.versions++
	return seq, nil
}

// SetFieldHead implements [shiftsync.SyncTx].
func (tx *Tx) SetFieldHead(ctx context.Context, m *shiftsync.Mutation, field string, seq int64, element shiftsync.Digest) error {
	_, err := tx.exec(ctx, `
		INSERT INTO fields (record_id, field, service_id, version_seq, hlc, device_id, digest_element) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (record_id, field) DO UPDATE SET version_seq = excluded.version_seq, hlc = excluded.hlc, device_id = excluded.device_id,
			digest_element = excluded.digest_element`,
		m.RecordID, field, m.ServiceID, seq, m.HLC.Pack(), m.DeviceID, elementColumn(element))
	return err
}

// OpenConflict implements [shiftsync.SyncTx].
func (tx *Tx) OpenConflict(ctx context.Context, c shiftsync.FieldConflict) error {
	_, err := tx.exec(ctx, `
		INSERT INTO conflicts (record_id, field, current_seq, incoming_seq, winner_seq, opened_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.RecordID, c.Field, c.CurrentSeq, c.IncomingSeq, c.WinnerSeq, c.OpenedAt.UnixMilli())
	return err
}

// RaiseAlert implements [shiftsync.SyncTx].
func (tx *Tx) RaiseAlert(ctx context.Context, a shiftsync.Alert) error {
	_, err := tx.exec(ctx, `
		INSERT INTO alerts (rule_id, rule_version, record_id, record_type, service_id, person_id, summary, user_id, device_id, raised_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (rule_id, record_id) DO NOTHING`,
		a.RuleID, a.RuleVersion, a.Record.RecordID, a.Record.RecordType, a.Record.ServiceID, a.Record.PersonID, a.Summary, a.UserID, a.DeviceID, a.RaisedAt.UnixMilli())
	return err
}

// QuarantinedBytes implements [shiftsync.SyncTx].
func (tx *Tx) QuarantinedBytes(ctx context.Context, deviceID string, day time.Time) (int64, error) {
	var bytes int64
	err := tx.queryRow(ctx, `SELECT bytes FROM quarantine_days WHERE device_id = $1 AND day = $2`, deviceID, day.UnixMilli()).Scan(&bytes)
	if errors.Is(err, pgx.ErrNoRows) {
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
	var id int64
	err = tx.queryRow(ctx, `
		INSERT INTO quarantine (device_id, user_id, counter, record_id, record_type, service_id, person_id, agency, app_version,
			reason, message, field_errors, payload, payload_format, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		RETURNING id`,
		m.DeviceID, m.UserID, m.Counter, m.RecordID, m.RecordType, m.ServiceID, m.PersonID, m.Agency, m.AppVersion,
		string(q.Reason), q.Message, string(errs), string(q.Payload), q.PayloadFormat, q.ReceivedAt.UnixMilli()).Scan(&id)
	if err != nil {
		return err
	}
	for _, service := range q.Services {
		if _, err := tx.exec(ctx, `INSERT INTO quarantine_services (service_id, quarantine_id) VALUES ($1, $2)`, service, id); err != nil {
			return err
		}
	}
	_, err = tx.exec(ctx, `
		INSERT INTO quarantine_days (device_id, day, entries, bytes) VALUES ($1, $2, 1, $3)
		ON CONFLICT (device_id, day) DO UPDATE SET entries = quarantine_days.entries + 1, bytes = quarantine_days.bytes + excluded.bytes`,
		m.DeviceID, shiftsync.QuarantineDay(q.ReceivedAt).UnixMilli(), q.Size)
	return err
}

// MarkCorrected implements [shiftsync.SyncTx].
func (tx *Tx) MarkCorrected(ctx context.Context, deviceID, recordID string, counters []uint64, c shiftsync.Correction) error {
	for _, counter := range counters {
		if _, err := tx.exec(ctx, `
			UPDATE quarantine SET corrected_by_user = $1, corrected_by_counter = $2, corrected_at = $3
			WHERE device_id = $4 AND counter = $5 AND record_id = $6 AND corrected_at IS NULL`,
			c.UserID, int64(c.Counter), c.At.UnixMilli(), deviceID, int64(counter), recordID); err != nil {
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
			VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)
			ON CONFLICT (service_id, day, device_id, reason) DO UPDATE SET user_id = excluded.user_id, refused = quarantine_overflow.refused + 1,
				bytes = quarantine_overflow.bytes + excluded.bytes, last_counter = excluded.last_counter, last_refused_at = excluded.last_refused_at`,
			service, shiftsync.QuarantineDay(o.RefusedAt).UnixMilli(), m.DeviceID, string(o.Reason), m.UserID, o.Size, m.Counter, o.RefusedAt.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// ServedScope implements [shiftsync.SyncTx].
func (tx *Tx) ServedScope(ctx context.Context, deviceID string) ([]string, bool, error) {
	var stored string
	err := tx.queryRow(ctx, `SELECT grant_keys FROM device_scopes WHERE device_id = $1`, deviceID).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var keys []string
	if err := json.Unmarshal([]byte(stored), &keys); err != nil {
		return nil, false, fmt.Errorf("postgres: device_scopes of %q: %w", deviceID, err)
	}
	return keys, true, nil
}

// SetServedScope implements [shiftsync.SyncTx].
func (tx *Tx) SetServedScope(ctx context.Context, deviceID string, keys []string, at time.Time) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO device_scopes (device_id, grant_keys, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET grant_keys = excluded.grant_keys, updated_at = excluded.updated_at`,
		deviceID, string(b), at.UnixMilli())
	return err
}

// Changes implements [shiftsync.SyncTx]: one range of the (service_id,
// version_seq) index, below the horizon of the statement's snapshot (in a
// View, the transaction's): the positions of transactions that have all
// ended.
func (tx *Tx) Changes(ctx context.Context, service string, afterSeq int64, limit int) ([]shiftsync.FieldChange, error) {
	rows, err := tx.query(ctx, `
		SELECT f.version_seq, f.record_id, r.record_type, r.service_id, r.person_id, r.agency, f.field, v.value, v.hlc, v.device_id, v.user_id
		FROM fields f
		JOIN field_versions v ON v.seq = f.version_seq
		JOIN records r ON r.record_id = f.record_id
		WHERE f.service_id = $1 AND f.version_seq > $2 AND f.version_seq < `+horizon+`
		ORDER BY f.version_seq
		LIMIT $3`, service, afterSeq, limit)
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

// ServiceHead implements [shiftsync.SyncTx]: the newest position below the
// horizon, so it never names one a pull cannot reach yet.
func (tx *Tx) ServiceHead(ctx context.Context, serviceID string) (int64, error) {
	var seq int64
	err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version_seq), 0) FROM fields WHERE service_id = $1 AND version_seq < `+horizon, serviceID).Scan(&seq)
	return seq, err
}

// horizon is the first change log position a pull may not read yet: that
// of the oldest transaction still running in the cluster.
var horizon = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ` + strconv.Itoa(positionBits) + `)`

// Epoch implements [shiftsync.SyncTx].
func (tx *Tx) Epoch(ctx context.Context) (string, error) {
	var epoch string
	err := tx.queryRow(ctx, `SELECT epoch FROM store WHERE id = 1`).Scan(&epoch)
	return epoch, err
}

// SetEpoch implements [shiftsync.SyncTx].
func (tx *Tx) SetEpoch(ctx context.Context, epoch string) error {
	_, err := tx.exec(ctx, `UPDATE store SET epoch = $1 WHERE id = 1`, epoch)
	return err
}

// BackedUpThrough implements [shiftsync.SyncTx].
func (tx *Tx) BackedUpThrough(ctx context.Context, deviceID string) (uint64, error) {
	var reach uint64
	err := tx.queryRow(ctx, `SELECT counter FROM backup_reach WHERE device_id = $1`, deviceID).Scan(&reach)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return reach, err
}

// SetBackedUpThrough implements [shiftsync.SyncTx].
func (tx *Tx) SetBackedUpThrough(ctx context.Context, reach map[string]uint64) error {
	for device, counter := range reach {
		if _, err := tx.exec(ctx, `INSERT INTO backup_reach (device_id, counter) VALUES ($1, $2)
			ON CONFLICT (device_id) DO UPDATE SET counter = excluded.counter`, device, counter); err != nil {
			return err
		}
	}
	return nil
}

// AcknowledgedCounters implements [shiftsync.SyncTx].
func (tx *Tx) AcknowledgedCounters(ctx context.Context) (map[string]uint64, error) {
	rows, err := tx.query(ctx, `SELECT device_id, acknowledged FROM device_counters`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	acked := map[string]uint64{}
	for rows.Next() {
		var (
			device  string
			counter uint64
		)
		if err := rows.Scan(&device, &counter); err != nil {
			return nil, err
		}
		acked[device] = counter
	}
	return acked, rows.Err()
}
