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

// maxListedRecords bounds one Records answer.
const maxListedRecords = 5000

// Records implements [shiftsync.ReviewService]: the newest records that
// match, newest event first.
func (s *ReviewService) Records(ctx context.Context, p shiftsync.Principal, f shiftsync.RecordFilter) ([]*shiftsync.Record, error) {
	records, err := s.reviewableRecords(ctx, p, f.ServiceID, f.PersonID, f.RecordType)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 || limit > maxListedRecords {
		limit = maxListedRecords
	}
	out := records[:0]
	for _, r := range records {
		at := s.eventTime(r)
		if (r.Voided() && !f.IncludeVoided) || (!f.From.IsZero() && at.Before(f.From)) || (!f.To.IsZero() && at.After(f.To)) {
			continue
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b *shiftsync.Record) int { return s.eventTime(b).Compare(s.eventTime(a)) })
	out = out[:min(len(out), limit)]
	return out, s.auditRead(ctx, p, "records", f.ServiceID, len(out))
}

// reviewableRecords returns the records of a service, of one person and of
// one type when they are set, that p may review.
func (s *ReviewService) reviewableRecords(ctx context.Context, p shiftsync.Principal, serviceID, personID, recordType string) ([]*shiftsync.Record, error) {
	allowed, err := s.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	where, args := `r.service_id = ?`, []any{serviceID}
	if personID != "" {
		where, args = where+` AND r.person_id = ?`, append(args, personID)
	}
	if recordType != "" {
		where, args = where+` AND r.record_type = ?`, append(args, recordType)
	}
	records, err := loadRecords(ctx, s.db.read, where, args...)
	if err != nil {
		return nil, storageError(err)
	}
	return slices.DeleteFunc(records, func(r *shiftsync.Record) bool { return !allowed(r.RecordRef) }), nil
}

// eventTime is when the record's event happened, or when it was recorded.
func (s *ReviewService) eventTime(r *shiftsync.Record) time.Time {
	if t := s.schema.Type(r.RecordType); t != nil && t.EventTimeField != "" {
		if at := r.Time(t.EventTimeField); !at.IsZero() {
			return at
		}
	}
	return r.RecordedAt
}

// Record implements [shiftsync.ReviewService].
func (s *ReviewService) Record(ctx context.Context, p shiftsync.Principal, recordID string) (shiftsync.RecordHistory, error) {
	h, err := s.history(ctx, p, recordID, shiftsync.OpReview)
	if err != nil {
		return h, err
	}
	return h, s.db.Audit(ctx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditRecordRead, Subject: recordID,
		Detail: fmt.Sprintf(`{"versions":%d,"addenda":%d}`, len(h.Versions), len(h.Addenda))})
}

// LockRecord implements [shiftsync.ReviewService].
func (s *ReviewService) LockRecord(ctx context.Context, p shiftsync.Principal, recordID string) (shiftsync.RecordHistory, error) {
	if _, err := s.history(ctx, p, recordID, shiftsync.OpVoid); err != nil {
		return shiftsync.RecordHistory{}, err
	}
	err := s.db.update(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `INSERT INTO record_locks (record_id, locked_by, locked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			recordID, p.UserID, tx.now.UnixMilli())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditRecordLock, Subject: recordID})
	})
	if err != nil {
		return shiftsync.RecordHistory{}, err
	}
	return s.history(ctx, p, recordID, shiftsync.OpVoid)
}

// history loads a record's history, with the addenda p may review, if p
// may do op with it; a record p may not, and one that does not exist,
// answer CodePermissionDenied alike.
func (s *ReviewService) history(ctx context.Context, p shiftsync.Principal, recordID string, op shiftsync.Operation) (shiftsync.RecordHistory, error) {
	var h shiftsync.RecordHistory
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return h, err
	}
	records, err := loadRecords(ctx, s.db.read, `r.record_id = ?`, recordID)
	if err != nil {
		return h, storageError(err)
	}
	now := s.db.Now()
	if len(records) == 0 || !scope.Allows(op, records[0].RecordRef, now) {
		verb := "review"
		if op == shiftsync.OpVoid {
			verb = "lock"
		}
		return h, shiftsync.Errorf(shiftsync.CodePermissionDenied, "no record %q that you may %s", recordID, verb)
	}
	h.Record = records[0]
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT v.field, v.value, v.hlc, v.device_id, v.user_id, v.received_at, f.version_seq IS NOT NULL
		FROM field_versions v LEFT JOIN fields f ON f.version_seq = v.seq
		WHERE v.record_id = ? ORDER BY v.field, v.hlc, v.seq`, recordID)
	if err != nil {
		return h, storageError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v             shiftsync.FieldVersion
			raw           string
			hlc, received int64
		)
		if err := rows.Scan(&v.Field, &raw, &hlc, &v.Version.DeviceID, &v.UserID, &received, &v.Current); err != nil {
			return h, storageError(err)
		}
		if v.Value, err = shiftsync.UnmarshalValue([]byte(raw)); err != nil {
			return h, storageError(err)
		}
		v.Version.HLC, v.ReceivedAt = shiftsync.UnpackHLC(hlc), time.UnixMilli(received).UTC()
		h.Versions = append(h.Versions, v)
	}
	if err := rows.Err(); err != nil {
		return h, storageError(err)
	}
	var lockedAt int64
	err = s.db.read.QueryRowContext(ctx, `SELECT locked_by, locked_at FROM record_locks WHERE record_id = ?`, recordID).Scan(&h.LockedBy, &lockedAt)
	switch {
	case err == nil:
		h.LockedAt = time.UnixMilli(lockedAt).UTC()
	case !errors.Is(err, sql.ErrNoRows):
		return h, storageError(err)
	}
	target, err := shiftsync.MarshalValue(shiftsync.Value{Kind: shiftsync.KindString, String: recordID})
	if err != nil {
		return h, err
	}
	if h.Addenda, err = loadRecords(ctx, s.db.read, `r.record_type = ? AND r.record_id IN (
		SELECT f.record_id FROM fields f JOIN field_versions v ON v.seq = f.version_seq
		WHERE f.service_id = ? AND f.field = ? AND v.value = ?)`, shiftsync.AddendumType, h.Record.ServiceID, shiftsync.AddendumTarget, target); err != nil { // values are stored as blobs
		return h, storageError(err)
	}
	h.Addenda = slices.DeleteFunc(h.Addenda, func(a *shiftsync.Record) bool { return !scope.Allows(shiftsync.OpReview, a.RecordRef, now) })
	slices.SortFunc(h.Addenda, func(a, b *shiftsync.Record) int { return a.RecordedAt.Compare(b.RecordedAt) })
	th, err := thresholds(ctx, s.db.read, h.Record.ServiceID)
	if err != nil {
		return h, storageError(err)
	}
	h.LateEntry = shiftsync.LateEntry(h.Record, s.schema.Type(h.Record.RecordType), time.Duration(th.LateEntryAfter))
	return h, nil
}

// Findings implements [shiftsync.ReviewService]. A finding about a record
// is listed to those who may review the record; one about a person's week
// of restrictions to those who may review their restrictions.
func (s *ReviewService) Findings(ctx context.Context, p shiftsync.Principal, serviceID string, includeMet bool) ([]shiftsync.Finding, error) {
	allowed, err := s.serviceReviewable(ctx, p, serviceID, "restrictive_intervention", "action")
	if err != nil {
		return nil, err
	}
	if err := s.db.evaluate(ctx, serviceID); err != nil {
		return nil, err
	}
	findings, err := loadFindings(ctx, s.db.read, allowed, `f.service_id = ? AND (? OR f.state <> 'met')`, `f.due_at, f.id`, serviceID, includeMet)
	if err != nil {
		return nil, storageError(err)
	}
	return findings, s.auditRead(ctx, p, "findings", serviceID, len(findings))
}

// loadFindings returns the findings that a condition on f selects, in the
// given order, that allowed lets through: a finding about a record to those
// who may review the record, one about a person's week of restrictions to
// those who may review the person's restrictive interventions.
func loadFindings(ctx context.Context, q queryer, allowed func(shiftsync.RecordRef) bool, where, order string, args ...any) ([]shiftsync.Finding, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT f.id, f.service_id, f.person_id, f.rule_id, f.rule_version, f.thresholds_version, f.subject, f.record_id,
		       coalesce(r.record_type, 'restrictive_intervention'), coalesce(r.agency, ''),
		       f.state, f.due_at, f.message, f.first_seen_at, f.evaluated_at, f.closed_at
		FROM findings f LEFT JOIN records r ON r.record_id = f.record_id
		WHERE `+where+` ORDER BY `+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var findings []shiftsync.Finding
	for rows.Next() {
		var (
			f                     shiftsync.Finding
			ref                   shiftsync.RecordRef
			state                 string
			due, first, evaluated int64
			closed                sql.NullInt64
		)
		if err := rows.Scan(&f.ID, &f.ServiceID, &f.PersonID, &f.RuleID, &f.RuleVersion, &f.ThresholdsVersion, &f.Subject, &f.RecordID,
			&ref.RecordType, &ref.Agency, &state, &due, &f.Message, &first, &evaluated, &closed); err != nil {
			return nil, err
		}
		ref.RecordID, ref.ServiceID, ref.PersonID = f.RecordID, f.ServiceID, f.PersonID
		if !allowed(ref) {
			continue
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

// Trends implements [shiftsync.ReviewService].
func (s *ReviewService) Trends(ctx context.Context, p shiftsync.Principal, serviceID, personID string, from, to time.Time) ([]shiftsync.WeekTrend, error) {
	if to.Before(from) || to.Sub(from) > 3*366*24*time.Hour {
		return nil, shiftsync.Errorf(shiftsync.CodeInvalid, "a trend covers from a start to an end at most three years later")
	}
	// A trend is of incidents and restrictions: those who review neither
	// are refused rather than shown empty weeks.
	if _, err := s.serviceReviewable(ctx, p, serviceID, "incident", "restrictive_intervention"); err != nil {
		return nil, err
	}
	records, err := s.reviewableRecords(ctx, p, serviceID, personID, "")
	if err != nil {
		return nil, err
	}
	th, err := thresholds(ctx, s.db.read, serviceID)
	if err != nil {
		return nil, storageError(err)
	}
	weeks := shiftsync.Trends(records, personID, from, to, th.Location())
	return weeks, s.auditRead(ctx, p, "trends", serviceID, len(weeks))
}

// Actions implements [shiftsync.ReviewService].
func (s *ReviewService) Actions(ctx context.Context, p shiftsync.Principal, f shiftsync.ActionFilter) ([]shiftsync.ActionView, error) {
	records, err := s.reviewableRecords(ctx, p, f.ServiceID, f.PersonID, "action")
	if err != nil {
		return nil, err
	}
	now := s.db.Now()
	var views []shiftsync.ActionView
	for _, r := range records {
		v := shiftsync.ViewAction(r, now)
		if r.Voided() || (f.Agency != "" && r.Agency != f.Agency) || (f.OwnerRole != "" && r.Text("owner_role") != f.OwnerRole) || (f.OverdueOnly && !v.Overdue) {
			continue
		}
		views = append(views, v)
	}
	slices.SortStableFunc(views, func(a, b shiftsync.ActionView) int {
		return a.Action.Time("deadline").Compare(b.Action.Time("deadline"))
	})
	return views, s.auditRead(ctx, p, "actions", f.ServiceID, len(views))
}

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
