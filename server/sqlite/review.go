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
// types in it, for the whole service or a caseload in it; otherwise it
// answers CodePermissionDenied.
func (s *ReviewService) serviceReviewable(ctx context.Context, p shiftsync.Principal, serviceID string, recordTypes ...string) (func(shiftsync.RecordRef) bool, error) {
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	now := s.db.Now()
	if !scope.Manages(serviceID, now) && !slices.ContainsFunc(recordTypes, func(t string) bool { return scope.ReviewsIn(serviceID, t, now) }) {
		return nil, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you may not review service %q", serviceID)
	}
	return reviewFilter(scope, now), nil
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
	allowed, err := s.reviewable(ctx, p)
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
			return shiftsync.Errorf(shiftsync.CodeNotFound, "alert %d does not exist", id)
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
	allowed, err := s.reviewable(ctx, p)
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
			return shiftsync.Errorf(shiftsync.CodeNotFound, "conflict %d does not exist", id)
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

// Quarantine implements [shiftsync.ReviewService].
func (s *ReviewService) Quarantine(ctx context.Context, p shiftsync.Principal, serviceID string) ([]shiftsync.QuarantinedChange, error) {
	allowed, err := s.reviewable(ctx, p)
	if err != nil {
		return nil, err
	}
	// The person and agency a change names are read from the change as
	// received, so a caseload's reviewer and an agency see theirs.
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT id, device_id, user_id, counter, record_id, record_type, service_id,
		       coalesce(json_extract(payload, '$.PersonID'), ''), coalesce(json_extract(payload, '$.Agency'), ''),
		       reason, message, payload, received_at
		FROM quarantine WHERE service_id = ? ORDER BY received_at DESC, id DESC`, serviceID)
	if err != nil {
		return nil, storageError(err)
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
			return nil, storageError(err)
		}
		q.Reason, q.ReceivedAt = shiftsync.Reason(reason), time.UnixMilli(received).UTC()
		if allowed(q.Record) {
			changes = append(changes, q)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	return changes, s.auditRead(ctx, p, "quarantine", serviceID, len(changes))
}
