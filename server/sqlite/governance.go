package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// recordQuery selects records with their current field values, one row per
// field, ordered by record; callers append a WHERE clause on r.
const recordQuery = `
	SELECT r.record_id, r.record_type, r.service_id, r.person_id, r.agency, r.created_by_user, r.created_hlc, r.received_at,
	       f.field, v.value, f.version_seq
	FROM records r JOIN fields f ON f.record_id = r.record_id JOIN field_versions v ON v.seq = f.version_seq`

// loadRecords returns the records a recordQuery with the given condition
// selects, as they stand.
func loadRecords(ctx context.Context, q queryer, where string, args ...any) ([]*shiftsync.Record, error) {
	rows, err := q.QueryContext(ctx, recordQuery+` WHERE `+where+` ORDER BY r.record_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		records []*shiftsync.Record
		cur     *shiftsync.Record
	)
	for rows.Next() {
		var (
			ref                shiftsync.RecordRef
			by, field, raw     string
			hlc, received, seq int64
		)
		if err := rows.Scan(&ref.RecordID, &ref.RecordType, &ref.ServiceID, &ref.PersonID, &ref.Agency, &by, &hlc, &received, &field, &raw, &seq); err != nil {
			return nil, err
		}
		if cur == nil || cur.RecordID != ref.RecordID {
			cur = &shiftsync.Record{RecordRef: ref, Fields: map[string]shiftsync.Value{}, Seqs: map[string]int64{}, CreatedBy: by,
				RecordedAt: shiftsync.UnpackHLC(hlc).Time(), ReceivedAt: time.UnixMilli(received).UTC()}
			records = append(records, cur)
		}
		v, err := shiftsync.UnmarshalValue([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("record %s field %s: %w", ref.RecordID, field, err)
		}
		cur.Fields[field], cur.Seqs[field] = v, seq
		cur.VersionSeq = max(cur.VersionSeq, seq)
	}
	return records, rows.Err()
}

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// frontLineRoles are the roles whose members must acknowledge shift briefs.
var frontLineRoles = []any{string(shiftsync.RoleSupportWorker), string(shiftsync.RoleShiftLead)}

// snapshot loads what governance reads for a service.
func snapshot(ctx context.Context, q queryer, serviceID string) (shiftsync.Snapshot, error) {
	snap := shiftsync.Snapshot{ServiceID: serviceID}
	var err error
	if snap.Records, err = loadRecords(ctx, q, `r.service_id = ?`, serviceID); err != nil {
		return snap, err
	}
	rows, err := q.QueryContext(ctx, `
		SELECT user_id, min(starts_at), max(coalesce(ends_at, 0)), count(*) - count(ends_at)
		FROM memberships WHERE service_id = ? AND role IN (?, ?) GROUP BY user_id ORDER BY user_id`,
		append([]any{serviceID}, frontLineRoles...)...)
	if err != nil {
		return snap, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m          shiftsync.StaffMember
			start, end int64
			openEnded  int
		)
		if err := rows.Scan(&m.UserID, &start, &end, &openEnded); err != nil {
			return snap, err
		}
		m.Start = time.UnixMilli(start).UTC()
		if openEnded == 0 {
			m.End = time.UnixMilli(end).UTC()
		}
		snap.Staff = append(snap.Staff, m)
	}
	return snap, rows.Err()
}

// thresholds returns the governance thresholds of the service's
// organisation: the latest version set, or the defaults (version 0).
func thresholds(ctx context.Context, q queryer, serviceID string) (shiftsync.Thresholds, error) {
	th := shiftsync.DefaultThresholds
	var (
		version int
		raw     string
	)
	err := q.QueryRowContext(ctx, `
		SELECT t.version, t.thresholds FROM governance_thresholds t JOIN services s ON s.organisation_id = t.organisation_id
		WHERE s.id = ? ORDER BY t.version DESC LIMIT 1`, serviceID).Scan(&version, &raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return th, nil
	case err != nil:
		return th, err
	}
	if err := json.Unmarshal([]byte(raw), &th); err != nil {
		return th, fmt.Errorf("thresholds version %d: %w", version, err)
	}
	th.Version = version
	return th, nil
}

// SetThresholds stores a new version of an organisation's governance
// thresholds, audited as actor's. Fields left out of th keep their
// defaults. It returns the version stored.
func (db *DB) SetThresholds(ctx context.Context, actor shiftsync.Principal, organisationID string, th shiftsync.Thresholds) (int, error) {
	if err := th.Validate(); err != nil {
		return 0, err
	}
	raw, err := json.Marshal(th)
	if err != nil {
		return 0, err
	}
	var version int
	err = db.update(ctx, func(tx *Tx) error {
		var exists bool
		if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organisations WHERE id = ?)`, organisationID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return shiftsync.Errorf(shiftsync.CodeNotFound, "no organisation %q", organisationID)
		}
		if err := tx.queryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM governance_thresholds WHERE organisation_id = ?`, organisationID).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO governance_thresholds (organisation_id, version, thresholds, set_by, set_at) VALUES (?, ?, ?, ?, ?)`,
			organisationID, version, string(raw), actor.UserID, tx.now.UnixMilli()); err != nil {
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: actor, Action: shiftsync.AuditThresholdsSet, Subject: organisationID,
			Detail: fmt.Sprintf(`{"version":%d,"thresholds":%s}`, version, raw)})
	})
	return version, err
}

// evaluate runs the governance rules over a service now and stores their
// findings. The records are read outside the write transaction, so pushes
// wait only for the findings to be written: a finding whose state, message
// or deadline changed is inserted or updated (keeping when it was first
// seen, and when it was met), and an open finding the rules no longer
// report is closed as met. Unchanged findings are not rewritten.
// Evaluations run one at a time.
func (db *DB) evaluate(ctx context.Context, serviceID string) error {
	db.evaluating.Lock()
	defer db.evaluating.Unlock()
	snap, err := snapshot(ctx, db.read, serviceID)
	if err != nil {
		return storageError(err)
	}
	th, err := thresholds(ctx, db.read, serviceID)
	if err != nil {
		return storageError(err)
	}
	findings := shiftsync.Evaluate(snap, th, db.Now().UTC())
	return db.update(ctx, func(tx *Tx) error {
		type stored struct {
			state, message, personID, recordID string
			due                                int64
			ruleVersion, thresholdsVersion     int
		}
		existing := map[[2]string]stored{}
		rows, err := tx.query(ctx, `SELECT rule_id, subject, state, message, person_id, record_id, due_at, rule_version, thresholds_version
			FROM findings WHERE service_id = ?`, serviceID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				rule, subject string
				f             stored
			)
			if err := rows.Scan(&rule, &subject, &f.state, &f.message, &f.personID, &f.recordID, &f.due, &f.ruleVersion, &f.thresholdsVersion); err != nil {
				rows.Close()
				return err
			}
			existing[[2]string{rule, subject}] = f
		}
		if err := rows.Close(); err != nil {
			return err
		}
		now := tx.now.UnixMilli()
		for _, f := range findings {
			key := [2]string{f.RuleID, f.Subject}
			old, seen := existing[key]
			delete(existing, key)
			if seen && old == (stored{string(f.State), f.Message, f.PersonID, f.RecordID, f.DueAt.UnixMilli(), f.RuleVersion, f.ThresholdsVersion}) {
				continue
			}
			var closed any
			if f.State == shiftsync.StateMet {
				closed = now
			}
			if _, err := tx.exec(ctx, `
				INSERT INTO findings (service_id, person_id, rule_id, rule_version, thresholds_version, subject, record_id, state, due_at, message, first_seen_at, evaluated_at, closed_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (service_id, rule_id, subject) DO UPDATE SET
					person_id = excluded.person_id, rule_version = excluded.rule_version, thresholds_version = excluded.thresholds_version,
					record_id = excluded.record_id, due_at = excluded.due_at, message = excluded.message, evaluated_at = excluded.evaluated_at,
					closed_at = CASE WHEN excluded.state = 'met' THEN coalesce(findings.closed_at, excluded.closed_at) END,
					state = excluded.state`,
				serviceID, f.PersonID, f.RuleID, f.RuleVersion, f.ThresholdsVersion, f.Subject, f.RecordID, string(f.State),
				f.DueAt.UnixMilli(), f.Message, now, now, closed); err != nil {
				return err
			}
		}
		for key, old := range existing {
			if old.state == string(shiftsync.StateMet) {
				continue
			}
			if _, err := tx.exec(ctx, `
				UPDATE findings SET state = 'met', closed_at = ?, evaluated_at = ?,
					message = message || ' (no longer reported: resolved, or its record voided)'
				WHERE service_id = ? AND rule_id = ? AND subject = ?`, now, now, serviceID, key[0], key[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// EvaluateAll evaluates the governance rules of every service that holds
// records, so findings are found (and their first-seen time kept) even
// when nobody is looking, and returns how many services it evaluated. It
// stops at the first error.
func (db *DB) EvaluateAll(ctx context.Context) (int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT service_id FROM fields ORDER BY service_id`)
	if err != nil {
		return 0, storageError(err)
	}
	var services []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, storageError(err)
		}
		services = append(services, id)
	}
	if err := rows.Close(); err != nil {
		return 0, storageError(err)
	}
	for i, id := range services {
		if err := db.evaluate(ctx, id); err != nil {
			return i, fmt.Errorf("evaluate governance of %s: %w", id, err)
		}
	}
	return len(services), nil
}
