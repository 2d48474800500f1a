package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// recordQuery selects records with their current field values, one row per
// field, ordered by record; callers append a WHERE clause on r.
const recordQuery = `
	SELECT r.record_id, r.record_type, r.service_id, r.person_id, r.agency, r.created_by_user, r.created_hlc, r.received_at,
	       f.field, v.value, f.version_seq
	FROM records r JOIN fields f ON f.record_id = r.record_id JOIN field_versions v ON v.seq = f.version_seq`

// fieldsQuery is recordQuery holding only the fields named by $1, an
// array: a record none of whose fields it names is selected with none.
const fieldsQuery = `
	SELECT r.record_id, r.record_type, r.service_id, r.person_id, r.agency, r.created_by_user, r.created_hlc, r.received_at,
	       f.field, v.value, f.version_seq
	FROM records r LEFT JOIN fields f ON f.record_id = r.record_id AND f.field = ANY($1) LEFT JOIN field_versions v ON v.seq = f.version_seq`

// loadRecords returns the records a recordQuery with the given condition
// selects, as they stand.
func loadRecords(ctx context.Context, q queryer, where string, args ...any) ([]*shiftsync.Record, error) {
	return scanRecords(ctx, q, recordQuery+` WHERE `+where+` ORDER BY r.record_id`, args...)
}

// scanRecords returns the records a recordQuery or fieldsQuery selects.
func scanRecords(ctx context.Context, q queryer, query string, args ...any) ([]*shiftsync.Record, error) {
	rows, err := q.Query(ctx, query, args...)
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
			ref           shiftsync.RecordRef
			by            string
			field, raw    *string // nil for a record none of whose fields a fieldsQuery names
			hlc, received int64
			seq           *int64
		)
		if err := rows.Scan(&ref.RecordID, &ref.RecordType, &ref.ServiceID, &ref.PersonID, &ref.Agency, &by, &hlc, &received, &field, &raw, &seq); err != nil {
			return nil, err
		}
		if cur == nil || cur.RecordID != ref.RecordID {
			cur = &shiftsync.Record{RecordRef: ref, Fields: map[string]shiftsync.Value{}, Seqs: map[string]int64{}, CreatedBy: by,
				RecordedAt: shiftsync.UnpackHLC(hlc).Time(), ReceivedAt: time.UnixMilli(received).UTC()}
			records = append(records, cur)
		}
		if field == nil {
			continue
		}
		v, err := shiftsync.UnmarshalValue([]byte(*raw))
		if err != nil {
			return nil, fmt.Errorf("record %s field %s: %w", ref.RecordID, *field, err)
		}
		cur.Fields[*field], cur.Seqs[*field] = v, *seq
		cur.VersionSeq = max(cur.VersionSeq, *seq)
	}
	return records, rows.Err()
}

// queryer is a *pgxpool.Pool or a pgx.Tx.
type queryer interface {
	Query(ctx context.Context, query string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) pgx.Row
}

// frontLineRoles are the roles whose members must acknowledge shift briefs.
var frontLineRoles = []any{string(shiftsync.RoleSupportWorker), string(shiftsync.RoleShiftLead)}

// snapshot loads what governance reads for a service.
func snapshot(ctx context.Context, q queryer, serviceID string) (shiftsync.Snapshot, error) {
	snap := shiftsync.Snapshot{ServiceID: serviceID}
	var err error
	if snap.Records, err = loadRecords(ctx, q, `r.service_id = $1`, serviceID); err != nil {
		return snap, err
	}
	rows, err := q.Query(ctx, `
		SELECT user_id, min(starts_at), max(coalesce(ends_at, 0)), count(*) - count(ends_at)
		FROM memberships WHERE service_id = $1 AND role IN ($2, $3) GROUP BY user_id ORDER BY user_id`,
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
	version, encoded, err := storedThresholds(ctx, q, serviceID)
	if err != nil {
		return shiftsync.DefaultThresholds, err
	}
	return shiftsync.DecodeThresholds(version, encoded)
}

func storedThresholds(ctx context.Context, q queryer, serviceID string) (int, []byte, error) {
	var (
		version int
		raw     string
	)
	err := q.QueryRow(ctx, `
		SELECT t.version, t.thresholds FROM governance_thresholds t JOIN services s ON s.organisation_id = t.organisation_id
		WHERE s.id = $1 ORDER BY t.version DESC LIMIT 1`, serviceID).Scan(&version, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	return version, []byte(raw), err
}

// Snapshot implements [shiftsync.GovernanceTx].
func (tx *Tx) Snapshot(ctx context.Context, serviceID string) (shiftsync.Snapshot, error) {
	return snapshot(ctx, tx.Tx, serviceID)
}

// StoredThresholds implements [shiftsync.GovernanceTx].
func (tx *Tx) StoredThresholds(ctx context.Context, serviceID string) (int, []byte, error) {
	return storedThresholds(ctx, tx.Tx, serviceID)
}

// Findings implements [shiftsync.GovernanceTx]. In a write transaction it
// first takes the lock of the service's organisation, held to commit, so
// one evaluation at a time writes an organisation's findings, whichever
// instance runs it.
func (tx *Tx) Findings(ctx context.Context, serviceID string) ([]shiftsync.Finding, error) {
	if err := tx.lockOrganisationOf(ctx, serviceID); err != nil {
		return nil, err
	}
	rows, err := tx.query(ctx, `SELECT id, person_id, rule_id, rule_version, thresholds_version, subject, record_id, state, due_at, message,
			first_seen_at, evaluated_at, closed_at
		FROM findings WHERE service_id = $1 ORDER BY id`, serviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var findings []shiftsync.Finding
	for rows.Next() {
		var (
			f                         shiftsync.Finding
			state                     string
			due, firstSeen, evaluated int64
			closed                    sql.NullInt64
		)
		if err := rows.Scan(&f.ID, &f.PersonID, &f.RuleID, &f.RuleVersion, &f.ThresholdsVersion, &f.Subject, &f.RecordID, &state, &due, &f.Message,
			&firstSeen, &evaluated, &closed); err != nil {
			return nil, err
		}
		f.ServiceID, f.State = serviceID, shiftsync.FindingState(state)
		f.DueAt, f.FirstSeenAt, f.EvaluatedAt = time.UnixMilli(due).UTC(), time.UnixMilli(firstSeen).UTC(), time.UnixMilli(evaluated).UTC()
		if closed.Valid {
			f.ClosedAt = time.UnixMilli(closed.Int64).UTC()
		}
		findings = append(findings, f)
	}
	return findings, rows.Err()
}

// PutFinding implements [shiftsync.GovernanceTx].
func (tx *Tx) PutFinding(ctx context.Context, f shiftsync.Finding) error {
	var closed any
	if !f.ClosedAt.IsZero() {
		closed = f.ClosedAt.UnixMilli()
	}
	_, err := tx.exec(ctx, `
		INSERT INTO findings (service_id, person_id, rule_id, rule_version, thresholds_version, subject, record_id, state, due_at, message, first_seen_at, evaluated_at, closed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (service_id, rule_id, subject) DO UPDATE SET
			person_id = excluded.person_id, rule_version = excluded.rule_version, thresholds_version = excluded.thresholds_version,
			record_id = excluded.record_id, state = excluded.state, due_at = excluded.due_at, message = excluded.message,
			first_seen_at = excluded.first_seen_at, evaluated_at = excluded.evaluated_at, closed_at = excluded.closed_at`,
		f.ServiceID, f.PersonID, f.RuleID, f.RuleVersion, f.ThresholdsVersion, f.Subject, f.RecordID, string(f.State),
		f.DueAt.UnixMilli(), f.Message, f.FirstSeenAt.UnixMilli(), f.EvaluatedAt.UnixMilli(), closed)
	return err
}

// ServicesWithRecords implements [shiftsync.GovernanceTx].
func (tx *Tx) ServicesWithRecords(ctx context.Context) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT DISTINCT service_id FROM fields ORDER BY service_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var services []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		services = append(services, id)
	}
	return services, rows.Err()
}

// OrganisationExists implements [shiftsync.GovernanceTx].
func (tx *Tx) OrganisationExists(ctx context.Context, id string) (bool, error) {
	var exists bool
	err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1)`, id).Scan(&exists)
	return exists, err
}

// ThresholdsVersion implements [shiftsync.GovernanceTx]. In a write
// transaction it first takes the organisation's lock, held to commit, so
// two instances never number the same version.
func (tx *Tx) ThresholdsVersion(ctx context.Context, organisationID string) (int, error) {
	if err := tx.lock(ctx, lockGovernance, organisationID); err != nil {
		return 0, err
	}
	var version int
	err := tx.queryRow(ctx, `SELECT coalesce(max(version), 0) FROM governance_thresholds WHERE organisation_id = $1`, organisationID).Scan(&version)
	return version, err
}

// InsertThresholds implements [shiftsync.GovernanceTx].
func (tx *Tx) InsertThresholds(ctx context.Context, organisationID string, version int, encoded []byte, setBy string, at time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO governance_thresholds (organisation_id, version, thresholds, set_by, set_at) VALUES ($1, $2, $3, $4, $5)`,
		organisationID, version, string(encoded), setBy, at.UnixMilli())
	return err
}

// lockOrganisationOf takes the governance lock of the service's
// organisation (of the service itself when it is not registered).
func (tx *Tx) lockOrganisationOf(ctx context.Context, serviceID string) error {
	org := serviceID
	err := tx.queryRow(ctx, `SELECT organisation_id FROM services WHERE id = $1`, serviceID).Scan(&org)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return tx.lock(ctx, lockGovernance, org)
}
