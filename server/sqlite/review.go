package sqlite

// The review part of a Tx ([shiftsync.ReviewTx]): alerts, conflicts and
// the quarantine; records and findings are in review_records.go, evidence
// packs in evidence_pack.go, device health in health.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

const alertColumns = `id, rule_id, rule_version, record_id, record_type, service_id, person_id, summary, user_id, device_id, raised_at, acknowledged_at, acknowledged_by, note`

func scanAlert(row interface{ Scan(...any) error }) (shiftsync.Alert, error) {
	var (
		a            shiftsync.Alert
		raised       int64
		acknowledged sql.NullInt64
	)
	err := row.Scan(&a.ID, &a.RuleID, &a.RuleVersion, &a.Record.RecordID, &a.Record.RecordType, &a.Record.ServiceID, &a.Record.PersonID,
		&a.Summary, &a.UserID, &a.DeviceID, &raised, &acknowledged, &a.AcknowledgedBy, &a.Note)
	a.RaisedAt = time.UnixMilli(raised).UTC()
	if acknowledged.Valid {
		a.AcknowledgedAt = time.UnixMilli(acknowledged.Int64).UTC()
	}
	return a, err
}

const conflictQuery = `
	SELECT c.id, r.record_id, r.record_type, r.service_id, r.person_id, r.agency, c.field,
	       cur.value, cur.hlc, cur.device_id, cur.user_id,
	       inc.value, inc.hlc, inc.device_id, inc.user_id,
	       c.winner_seq = c.incoming_seq, c.opened_at, c.resolved_at, COALESCE(c.resolved_by, ''), COALESCE(c.resolution, '')
	FROM conflicts c
	JOIN records r ON r.record_id = c.record_id
	JOIN field_versions cur ON cur.seq = c.current_seq
	JOIN field_versions inc ON inc.seq = c.incoming_seq`

func scanConflict(row interface{ Scan(...any) error }) (shiftsync.Conflict, error) {
	var (
		c                  shiftsync.Conflict
		curValue, incValue []byte
		curHLC, incHLC     int64
		opened             int64
		resolved           sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Record.RecordID, &c.Record.RecordType, &c.Record.ServiceID, &c.Record.PersonID, &c.Record.Agency, &c.Field,
		&curValue, &curHLC, &c.Current.Version.DeviceID, &c.Current.UserID,
		&incValue, &incHLC, &c.Incoming.Version.DeviceID, &c.Incoming.UserID,
		&c.IncomingWins, &opened, &resolved, &c.ResolvedBy, &c.Resolution); err != nil {
		return c, err
	}
	var err error
	if c.Current.Value, err = shiftsync.UnmarshalValue(curValue); err != nil {
		return c, err
	}
	if c.Incoming.Value, err = shiftsync.UnmarshalValue(incValue); err != nil {
		return c, err
	}
	c.Current.Version.HLC, c.Incoming.Version.HLC = shiftsync.UnpackHLC(curHLC), shiftsync.UnpackHLC(incHLC)
	c.OpenedAt = time.UnixMilli(opened).UTC()
	if resolved.Valid {
		c.ResolvedAt = time.UnixMilli(resolved.Int64).UTC()
	}
	return c, nil
}

// Alerts implements [shiftsync.ReviewTx].
func (tx *Tx) Alerts(ctx context.Context, serviceID string, includeAcknowledged bool) ([]shiftsync.Alert, error) {
	rows, err := tx.query(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE service_id = ? AND (? OR acknowledged_at IS NULL) ORDER BY raised_at DESC, id DESC`, serviceID, includeAcknowledged)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var alerts []shiftsync.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		alerts = append(alerts, a)
	}
	return alerts, rows.Err()
}

// Alert implements [shiftsync.ReviewTx].
func (tx *Tx) Alert(ctx context.Context, id int64) (*shiftsync.Alert, error) {
	a, err := scanAlert(tx.queryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &a, nil
}

// AcknowledgeAlert implements [shiftsync.ReviewTx].
func (tx *Tx) AcknowledgeAlert(ctx context.Context, id int64, by, note string, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, note = ? WHERE id = ?`, at.UnixMilli(), by, note, id)
	return err
}

// Conflicts implements [shiftsync.ReviewTx].
func (tx *Tx) Conflicts(ctx context.Context, serviceID string) ([]shiftsync.Conflict, error) {
	rows, err := tx.query(ctx, conflictQuery+` WHERE r.service_id = ? ORDER BY c.status = 'resolved', c.opened_at DESC, c.id DESC`, serviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var conflicts []shiftsync.Conflict
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, err
		}
		conflicts = append(conflicts, c)
	}
	return conflicts, rows.Err()
}

// Conflict implements [shiftsync.ReviewTx].
func (tx *Tx) Conflict(ctx context.Context, id int64) (*shiftsync.Conflict, error) {
	c, err := scanConflict(tx.queryRow(ctx, conflictQuery+` WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &c, nil
}

// ResolveConflict implements [shiftsync.ReviewTx].
func (tx *Tx) ResolveConflict(ctx context.Context, id int64, by, resolution string, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE conflicts SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?`,
		at.UnixMilli(), by, resolution, id)
	return err
}

// QuarantinedChanges implements [shiftsync.ReviewTx].
func (tx *Tx) QuarantinedChanges(ctx context.Context, serviceID string) ([]shiftsync.QuarantinedChange, error) {
	rows, err := tx.query(ctx, `
		SELECT q.id, q.device_id, q.user_id, q.counter, q.record_id, q.record_type, q.service_id, q.person_id, q.agency,
		       q.reason, q.message, q.field_errors, q.payload, q.received_at,
		       q.corrected_by_user, q.corrected_by_counter, q.corrected_at
		FROM quarantine_services qs JOIN quarantine q ON q.id = qs.quarantine_id
		WHERE qs.service_id = ? ORDER BY q.received_at DESC, q.id DESC`, serviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var changes []shiftsync.QuarantinedChange
	for rows.Next() {
		var (
			q          shiftsync.QuarantinedChange
			reason     string
			errs       string
			received   int64
			correction shiftsync.Correction
			corrected  sql.NullInt64
		)
		if err := rows.Scan(&q.ID, &q.DeviceID, &q.UserID, &q.Counter, &q.Record.RecordID, &q.Record.RecordType, &q.Record.ServiceID,
			&q.Record.PersonID, &q.Record.Agency, &reason, &q.Message, &errs, &q.Payload, &received,
			&correction.UserID, &correction.Counter, &corrected); err != nil {
			return nil, err
		}
		if corrected.Valid {
			correction.At = time.UnixMilli(corrected.Int64).UTC()
			q.Correction = &correction
		}
		var err error
		if q.Errors, err = shiftsync.UnmarshalFieldErrors([]byte(errs)); err != nil {
			return nil, fmt.Errorf("quarantine %d: %w", q.ID, err)
		}
		q.Reason, q.ReceivedAt = shiftsync.Reason(reason), time.UnixMilli(received).UTC()
		changes = append(changes, q)
	}
	return changes, rows.Err()
}

// QuarantineOverflows implements [shiftsync.ReviewTx].
func (tx *Tx) QuarantineOverflows(ctx context.Context, serviceID string) ([]shiftsync.QuarantineOverflow, error) {
	rows, err := tx.query(ctx, `
		SELECT device_id, user_id, day, reason, refused, bytes, last_counter, last_refused_at
		FROM quarantine_overflow WHERE service_id = ? ORDER BY day DESC, device_id, reason`, serviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shiftsync.QuarantineOverflow
	for rows.Next() {
		var (
			o       shiftsync.QuarantineOverflow
			reason  string
			day, at int64
		)
		if err := rows.Scan(&o.DeviceID, &o.UserID, &day, &reason, &o.Refused, &o.Bytes, &o.LastCounter, &at); err != nil {
			return nil, err
		}
		o.Day, o.Reason, o.LastRefusedAt = time.UnixMilli(day).UTC(), shiftsync.Reason(reason), time.UnixMilli(at).UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// FlaggedWrites implements [shiftsync.ReviewTx].
func (tx *Tx) FlaggedWrites(ctx context.Context, serviceID string) ([]shiftsync.FlaggedWrite, error) {
	rows, err := tx.query(ctx, `
		SELECT r.record_id, r.record_type, r.service_id, r.person_id, r.agency, m.user_id, m.device_id, m.counter, m.hlc, m.received_at, m.flag
		FROM mutations m JOIN records r ON r.record_id = m.record_id
		WHERE m.flag <> '' AND m.status = ? AND r.service_id = ?
		ORDER BY m.received_at DESC, m.device_id, m.counter`, int(shiftsync.StatusAccepted), serviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var writes []shiftsync.FlaggedWrite
	for rows.Next() {
		var (
			w             shiftsync.FlaggedWrite
			hlc, received int64
		)
		if err := rows.Scan(&w.Record.RecordID, &w.Record.RecordType, &w.Record.ServiceID, &w.Record.PersonID, &w.Record.Agency,
			&w.UserID, &w.DeviceID, &w.Counter, &hlc, &received, &w.Flag); err != nil {
			return nil, err
		}
		w.HLC, w.ReceivedAt = shiftsync.UnpackHLC(hlc), time.UnixMilli(received).UTC()
		writes = append(writes, w)
	}
	return writes, rows.Err()
}

// ServiceNames implements [shiftsync.ReviewTx].
func (tx *Tx) ServiceNames(ctx context.Context, serviceID string) (people, staff map[string]string, err error) {
	if people, err = tx.names(ctx, `SELECT id, name FROM people WHERE service_id = ?`, serviceID); err != nil {
		return nil, nil, err
	}
	staff, err = tx.names(ctx, `SELECT id, name FROM users WHERE id IN (SELECT user_id FROM memberships WHERE service_id = ?)`, serviceID)
	return people, staff, err
}

// names returns the (id, name) rows the query selects, by id.
func (tx *Tx) names(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := tx.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		names[id] = name
	}
	return names, rows.Err()
}
