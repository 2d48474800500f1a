package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var _ shiftsync.ReviewService = (*ReviewService)(nil)

// ReviewService implements [shiftsync.ReviewService] on a [DB], deciding
// access with an [shiftsync.Authorizer].
type ReviewService struct {
	db     *DB
	schema *shiftsync.Schema
	access shiftsync.Authorizer
}

// NewReviewService returns the review service of db, whose records are of
// schema.
func NewReviewService(db *DB, schema *shiftsync.Schema, access shiftsync.Authorizer) *ReviewService {
	return &ReviewService{db: db, schema: schema, access: access}
}

// reviewable returns a filter keeping the rows p may review now. A
// service's managers also see rows of record types no policy row names
// (a quarantined change of an unknown type), so nothing refused is hidden.
func (s *ReviewService) reviewable(ctx context.Context, p shiftsync.Principal) (func(shiftsync.RecordRef) bool, error) {
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	return reviewFilter(scope, s.db.Now()), nil
}

// reviewFilter keeps the rows the scope may review at now.
func reviewFilter(scope shiftsync.Scope, now time.Time) func(shiftsync.RecordRef) bool {
	return func(r shiftsync.RecordRef) bool {
		return scope.Allows(shiftsync.OpReview, r, now) || scope.Manages(r.ServiceID, now)
	}
}

// serviceReviewable is [ReviewService.reviewable] for a list about a whole
// service: p must manage it, or be able to review records of one of the
// types in it (none given: of any type), for the whole service, a caseload
// in it or an agency's share; otherwise it answers [deniedService].
func (s *ReviewService) serviceReviewable(ctx context.Context, p shiftsync.Principal, serviceID string, recordTypes ...string) (func(shiftsync.RecordRef) bool, error) {
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(recordTypes) == 0 {
		recordTypes = s.schema.TypeNames()
	}
	now := s.db.Now()
	if !scope.Manages(serviceID, now) && !slices.ContainsFunc(recordTypes, func(t string) bool { return scope.ReviewsIn(serviceID, t, now) }) {
		return nil, deniedService(serviceID)
	}
	return reviewFilter(scope, now), nil
}

// deniedService is the answer to a call about a service in which the
// caller holds no right that it needs: the same whether the service exists
// or not.
func deniedService(serviceID string) error {
	return shiftsync.Errorf(shiftsync.CodePermissionDenied, "you may not review service %q", serviceID)
}

// wholeService is the record an answer about the whole of a service (its
// devices, its quarantine's overflow) is decided on: those who may review
// its restrictive interventions, the service's own reviewers, see it; a
// caseload's or an agency's do not.
func wholeService(serviceID string) shiftsync.RecordRef {
	return shiftsync.RecordRef{RecordType: "restrictive_intervention", ServiceID: serviceID}
}

// auditRead records what a reviewer listed.
func (s *ReviewService) auditRead(ctx context.Context, p shiftsync.Principal, what, serviceID string, n int) error {
	return s.db.Audit(ctx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditReviewRead, Subject: serviceID,
		Detail: fmt.Sprintf(`{"list":%q,"rows":%d}`, what, n)})
}

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

// Alerts implements [shiftsync.ReviewService].
func (s *ReviewService) Alerts(ctx context.Context, p shiftsync.Principal, serviceID string, includeAcknowledged bool) ([]shiftsync.Alert, error) {
	allowed, err := s.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE service_id = ? AND (? OR acknowledged_at IS NULL) ORDER BY raised_at DESC, id DESC`, serviceID, includeAcknowledged)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var alerts []shiftsync.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, storageError(err)
		}
		if allowed(a.Record) {
			alerts = append(alerts, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	return alerts, s.auditRead(ctx, p, "alerts", serviceID, len(alerts))
}

// AcknowledgeAlert implements [shiftsync.ReviewService].
func (s *ReviewService) AcknowledgeAlert(ctx context.Context, p shiftsync.Principal, id int64, note string) (shiftsync.Alert, error) {
	if len(note) > shiftsync.MaxReviewNoteBytes {
		return shiftsync.Alert{}, shiftsync.Errorf(shiftsync.CodeInvalid, "the note is longer than %d bytes", shiftsync.MaxReviewNoteBytes)
	}
	allowed, err := s.reviewable(ctx, p)
	if err != nil {
		return shiftsync.Alert{}, err
	}
	var a shiftsync.Alert
	err = s.db.update(ctx, func(tx *Tx) error {
		if a, err = scanAlert(tx.queryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id)); errors.Is(err, sql.ErrNoRows) || (err == nil && !allowed(a.Record)) {
			return shiftsync.Errorf(shiftsync.CodePermissionDenied, "no alert %d that you may acknowledge", id)
		} else if err != nil {
			return err
		}
		if !a.AcknowledgedAt.IsZero() {
			return nil
		}
		if _, err := tx.exec(ctx, `UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?, note = ? WHERE id = ?`, tx.now.UnixMilli(), p.UserID, note, id); err != nil {
			return err
		}
		a.AcknowledgedAt, a.AcknowledgedBy, a.Note = tx.now, p.UserID, note
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditAlertAcknowledge, Subject: fmt.Sprint(id),
			Detail: detail(map[string]string{"record": a.Record.RecordID, "rule": a.RuleID})})
	})
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

// Conflicts implements [shiftsync.ReviewService].
func (s *ReviewService) Conflicts(ctx context.Context, p shiftsync.Principal, serviceID string) ([]shiftsync.Conflict, error) {
	allowed, err := s.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.read.QueryContext(ctx, conflictQuery+` WHERE r.service_id = ? ORDER BY c.status = 'resolved', c.opened_at DESC, c.id DESC`, serviceID)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var conflicts []shiftsync.Conflict
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, storageError(err)
		}
		if allowed(c.Record) {
			conflicts = append(conflicts, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	return conflicts, s.auditRead(ctx, p, "conflicts", serviceID, len(conflicts))
}

// ResolveConflict implements [shiftsync.ReviewService].
func (s *ReviewService) ResolveConflict(ctx context.Context, p shiftsync.Principal, id int64, resolution string) (shiftsync.Conflict, error) {
	if resolution == "" || len(resolution) > shiftsync.MaxReviewNoteBytes {
		return shiftsync.Conflict{}, shiftsync.Errorf(shiftsync.CodeInvalid, "a resolution note of 1 to %d bytes is required", shiftsync.MaxReviewNoteBytes)
	}
	allowed, err := s.reviewable(ctx, p)
	if err != nil {
		return shiftsync.Conflict{}, err
	}
	var c shiftsync.Conflict
	err = s.db.update(ctx, func(tx *Tx) error {
		if c, err = scanConflict(tx.queryRow(ctx, conflictQuery+` WHERE c.id = ?`, id)); errors.Is(err, sql.ErrNoRows) || (err == nil && !allowed(c.Record)) {
			return shiftsync.Errorf(shiftsync.CodePermissionDenied, "no conflict %d that you may resolve", id)
		} else if err != nil {
			return err
		}
		if !c.ResolvedAt.IsZero() {
			return shiftsync.Errorf(shiftsync.CodeConflict, "conflict %d was resolved by %s", id, c.ResolvedBy)
		}
		if _, err := tx.exec(ctx, `UPDATE conflicts SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?`,
			tx.now.UnixMilli(), p.UserID, resolution, id); err != nil {
			return err
		}
		c.ResolvedAt, c.ResolvedBy, c.Resolution = tx.now, p.UserID, resolution
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditConflictResolve, Subject: fmt.Sprint(id),
			Detail: detail(map[string]string{"record": c.Record.RecordID, "field": c.Field})})
	})
	return c, err
}

// Quarantine implements [shiftsync.ReviewService]. A change is listed
// under the services it was kept under, its pusher's, to those who manage
// the service or may review a record of its type about the person it
// names there (a caseload's reviewer sees the changes about their people).
func (s *ReviewService) Quarantine(ctx context.Context, p shiftsync.Principal, serviceID string) (shiftsync.QuarantineListing, error) {
	var list shiftsync.QuarantineListing
	allowed, err := s.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return list, err
	}
	// The person and agency a change names are read from the change as
	// received; the service is the one it is listed under, whatever it
	// names.
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT q.id, q.device_id, q.user_id, q.counter, q.record_id, q.record_type, q.service_id,
		       coalesce(json_extract(q.payload, '$.PersonID'), ''), coalesce(json_extract(q.payload, '$.Agency'), ''),
		       q.reason, q.message, q.payload, q.received_at
		FROM quarantine_services qs JOIN quarantine q ON q.id = qs.quarantine_id
		WHERE qs.service_id = ? ORDER BY q.received_at DESC, q.id DESC`, serviceID)
	if err != nil {
		return list, storageError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			q        shiftsync.QuarantinedChange
			reason   string
			received int64
		)
		if err := rows.Scan(&q.ID, &q.DeviceID, &q.UserID, &q.Counter, &q.Record.RecordID, &q.Record.RecordType, &q.Record.ServiceID,
			&q.Record.PersonID, &q.Record.Agency, &reason, &q.Message, &q.Payload, &received); err != nil {
			return list, storageError(err)
		}
		q.Reason, q.ReceivedAt = shiftsync.Reason(reason), time.UnixMilli(received).UTC()
		listed := q.Record
		listed.ServiceID = serviceID
		if allowed(listed) {
			list.Changes = append(list.Changes, q)
		}
	}
	if err := rows.Err(); err != nil {
		return list, storageError(err)
	}
	if allowed(wholeService(serviceID)) {
		if list.Overflows, err = quarantineOverflows(ctx, s.db.read, serviceID); err != nil {
			return list, storageError(err)
		}
	}
	return list, s.auditRead(ctx, p, "quarantine", serviceID, len(list.Changes)+len(list.Overflows))
}

// quarantineOverflows returns the overflow counted under a service, newest
// day first.
func quarantineOverflows(ctx context.Context, q queryer, serviceID string) ([]shiftsync.QuarantineOverflow, error) {
	rows, err := q.QueryContext(ctx, `
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

// QuarantinedChanges implements [shiftsync.ReviewTx]. The person and
// agency a change names are read from the change as received.
func (tx *Tx) QuarantinedChanges(ctx context.Context, serviceID string) ([]shiftsync.QuarantinedChange, error) {
	rows, err := tx.query(ctx, `
		SELECT q.id, q.device_id, q.user_id, q.counter, q.record_id, q.record_type, q.service_id,
		       coalesce(json_extract(q.payload, '$.PersonID'), ''), coalesce(json_extract(q.payload, '$.Agency'), ''),
		       q.reason, q.message, q.payload, q.received_at
		FROM quarantine_services qs JOIN quarantine q ON q.id = qs.quarantine_id
		WHERE qs.service_id = ? ORDER BY q.received_at DESC, q.id DESC`, serviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var changes []shiftsync.QuarantinedChange
	for rows.Next() {
		var (
			q        shiftsync.QuarantinedChange
			reason   string
			received int64
		)
		if err := rows.Scan(&q.ID, &q.DeviceID, &q.UserID, &q.Counter, &q.Record.RecordID, &q.Record.RecordType, &q.Record.ServiceID,
			&q.Record.PersonID, &q.Record.Agency, &reason, &q.Message, &q.Payload, &received); err != nil {
			return nil, err
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
