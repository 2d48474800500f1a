package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// ServiceRecords implements [shiftsync.ReviewTx].
func (tx *Tx) ServiceRecords(ctx context.Context, serviceID, personID, recordType string) ([]*shiftsync.Record, error) {
	where, args := `r.service_id = ?`, []any{serviceID}
	if personID != "" {
		where, args = where+` AND r.person_id = ?`, append(args, personID)
	}
	if recordType != "" {
		where, args = where+` AND r.record_type = ?`, append(args, recordType)
	}
	return loadRecords(ctx, tx.Tx, where, args...)
}

// ServiceRecordFields implements [shiftsync.ReviewTx].
func (tx *Tx) ServiceRecordFields(ctx context.Context, serviceID, personID, recordType string, fields []string) ([]*shiftsync.Record, error) {
	args := make([]any, 0, len(fields)+3)
	for _, f := range fields {
		args = append(args, f)
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(fields)), ",")
	if in == "" {
		in = "NULL"
	}
	where := ` WHERE r.service_id = ?`
	args = append(args, serviceID)
	if personID != "" {
		where, args = where+` AND r.person_id = ?`, append(args, personID)
	}
	if recordType != "" {
		where, args = where+` AND r.record_type = ?`, append(args, recordType)
	}
	return scanRecords(ctx, tx.Tx, fmt.Sprintf(fieldsQuery, in)+where+` ORDER BY r.record_id`, args...)
}

// CurrentRecord implements [shiftsync.ReviewTx].
func (tx *Tx) CurrentRecord(ctx context.Context, id string) (*shiftsync.Record, error) {
	records, err := loadRecords(ctx, tx.Tx, `r.record_id = ?`, id)
	if err != nil || len(records) == 0 {
		return nil, err
	}
	return records[0], nil
}

// FieldVersions implements [shiftsync.ReviewTx].
func (tx *Tx) FieldVersions(ctx context.Context, recordID string) ([]shiftsync.FieldVersion, error) {
	rows, err := tx.query(ctx, `
		SELECT v.field, v.value, v.hlc, v.device_id, v.user_id, v.received_at, f.version_seq IS NOT NULL
		FROM field_versions v LEFT JOIN fields f ON f.version_seq = v.seq
		WHERE v.record_id = ? ORDER BY v.field, v.hlc, v.seq`, recordID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var versions []shiftsync.FieldVersion
	for rows.Next() {
		var (
			v             shiftsync.FieldVersion
			raw           string
			hlc, received int64
		)
		if err := rows.Scan(&v.Field, &raw, &hlc, &v.Version.DeviceID, &v.UserID, &received, &v.Current); err != nil {
			return nil, err
		}
		if v.Value, err = shiftsync.UnmarshalValue([]byte(raw)); err != nil {
			return nil, err
		}
		v.Version.HLC, v.ReceivedAt = shiftsync.UnpackHLC(hlc), time.UnixMilli(received).UTC()
		versions = append(versions, v)
	}
	return versions, rows.Err()
}

// RecordLock implements [shiftsync.ReviewTx].
func (tx *Tx) RecordLock(ctx context.Context, recordID string) (string, time.Time, error) {
	var (
		by string
		at int64
	)
	err := tx.queryRow(ctx, `SELECT locked_by, locked_at FROM record_locks WHERE record_id = ?`, recordID).Scan(&by, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", time.Time{}, nil
	case err != nil:
		return "", time.Time{}, err
	}
	return by, time.UnixMilli(at).UTC(), nil
}

// LockRecord implements [shiftsync.ReviewTx].
func (tx *Tx) LockRecord(ctx context.Context, recordID, by string, at time.Time) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO record_locks (record_id, locked_by, locked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		recordID, by, at.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Addenda implements [shiftsync.ReviewTx].
func (tx *Tx) Addenda(ctx context.Context, serviceID, recordID string) ([]*shiftsync.Record, error) {
	target, err := shiftsync.MarshalValue(shiftsync.Value{Kind: shiftsync.KindString, String: recordID})
	if err != nil {
		return nil, err
	}
	return loadRecords(ctx, tx.Tx, `r.record_type = ? AND r.record_id IN (
		SELECT f.record_id FROM fields f JOIN field_versions v ON v.seq = f.version_seq
		WHERE f.service_id = ? AND f.field = ? AND v.value = ?)`, shiftsync.AddendumType, serviceID, shiftsync.AddendumTarget, target) // values are stored as blobs
}

// Thresholds implements [shiftsync.ReviewTx].
func (tx *Tx) Thresholds(ctx context.Context, serviceID string) (shiftsync.Thresholds, error) {
	return thresholds(ctx, tx.Tx, serviceID)
}

// StoredFindings implements [shiftsync.ReviewTx].
func (tx *Tx) StoredFindings(ctx context.Context, serviceID, personID string, includeMet bool) ([]shiftsync.StoredFinding, error) {
	where, args := `f.service_id = ? AND (? OR f.state <> 'met')`, []any{serviceID, includeMet}
	if personID != "" {
		where, args = where+` AND f.person_id = ?`, append(args, personID)
	}
	rows, err := tx.query(ctx, `
		SELECT f.id, f.service_id, f.person_id, f.rule_id, f.rule_version, f.thresholds_version, f.subject, f.record_id,
		       coalesce(r.record_type, ''), coalesce(r.agency, ''),
		       f.state, f.due_at, f.message, f.first_seen_at, f.evaluated_at, f.closed_at
		FROM findings f LEFT JOIN records r ON r.record_id = f.record_id
		WHERE `+where+` ORDER BY f.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var findings []shiftsync.StoredFinding
	for rows.Next() {
		var (
			f                     shiftsync.StoredFinding
			state                 string
			due, first, evaluated int64
			closed                sql.NullInt64
		)
		if err := rows.Scan(&f.ID, &f.ServiceID, &f.PersonID, &f.RuleID, &f.RuleVersion, &f.ThresholdsVersion, &f.Subject, &f.RecordID,
			&f.RecordType, &f.Agency, &state, &due, &f.Message, &first, &evaluated, &closed); err != nil {
			return nil, err
		}
		f.State = shiftsync.FindingState(state)
		f.DueAt, f.FirstSeenAt, f.EvaluatedAt = time.UnixMilli(due).UTC(), time.UnixMilli(first).UTC(), time.UnixMilli(evaluated).UTC()
		if closed.Valid {
			f.ClosedAt = time.UnixMilli(closed.Int64).UTC()
		}
		findings = append(findings, f)
	}
	return findings, rows.Err()
}
