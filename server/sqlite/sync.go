package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var _ shiftsync.SyncService = (*SyncService)(nil)

// SyncService implements [shiftsync.SyncService] on a [DB].
type SyncService struct {
	db     *DB
	schema *shiftsync.Schema
	access shiftsync.Authorizer
	// MaxClockSkew is how far ahead of this server's clock a mutation may be
	// stamped; defaults to shiftsync.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Feed, if set, is published to after every push that stored a change.
	Feed shiftsync.ChangeFeed
}

// NewSyncService returns a SyncService validating against schema and asking
// access what each principal may read and write.
func NewSyncService(db *DB, schema *shiftsync.Schema, access shiftsync.Authorizer) *SyncService {
	return &SyncService{db: db, schema: schema, access: access, MaxClockSkew: shiftsync.DefaultMaxClockSkew}
}

// Push implements [shiftsync.SyncService]. All the batch's effects commit in
// one transaction, fsynced before it returns, so the acknowledgement it
// returns is durable.
func (s *SyncService) Push(ctx context.Context, p shiftsync.Principal, batch []shiftsync.Mutation) (shiftsync.PushResult, error) {
	if len(batch) > shiftsync.MaxMutationsPerPush {
		return shiftsync.PushResult{}, shiftsync.Errorf(shiftsync.CodeResourceExhausted, "%d mutations in one push; at most %d", len(batch), shiftsync.MaxMutationsPerPush)
	}
	for i := 1; i < len(batch); i++ {
		if batch[i].Counter <= batch[i-1].Counter {
			return shiftsync.PushResult{}, shiftsync.Errorf(shiftsync.CodeInvalid, "mutation counters must increase within a push (%d after %d)", batch[i].Counter, batch[i-1].Counter)
		}
	}
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return shiftsync.PushResult{}, err
	}

	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return shiftsync.PushResult{}, err
	}
	defer func() { _ = tx.Rollback() }()

	var acked uint64
	if err := tx.queryRow(ctx, `SELECT acknowledged FROM device_counters WHERE device_id = ?`, p.DeviceID).Scan(&acked); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return shiftsync.PushResult{}, storageError(err)
	}
	maxSkew := cmp.Or(s.MaxClockSkew, shiftsync.DefaultMaxClockSkew)
	res := shiftsync.PushResult{Results: make([]shiftsync.MutationResult, 0, len(batch)), ServerTime: tx.now}
	stopped, changed := false, false
	for i := range batch {
		m := &batch[i]
		m.DeviceID, m.UserID = p.DeviceID, p.UserID
		var r shiftsync.MutationResult
		switch {
		case m.Counter <= acked:
			r, err = s.replay(ctx, tx, scope, m)
		case stopped || m.Counter != acked+1:
			r = shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.StatusNotProcessed}
			stopped = true
		case m.HLC.AheadOf(tx.now, maxSkew):
			r = shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.StatusRestampRequired,
				Reason: shiftsync.ReasonClockAhead,
				Message: fmt.Sprintf("timestamp %s is more than %s ahead of the server clock %s; re-stamp and push again",
					m.HLC.Time().Format(time.RFC3339), maxSkew, tx.now.Format(time.RFC3339))}
			stopped = true
		default:
			r, err = s.apply(ctx, tx, scope, m)
			if r.Status != shiftsync.StatusNotProcessed {
				acked = m.Counter
			}
			changed = changed || r.Status == shiftsync.StatusAccepted
		}
		if err != nil {
			return shiftsync.PushResult{}, storageError(err)
		}
		// A mutation the quarantine refused stays on the device, like one
		// to re-stamp: nothing after it is processed.
		stopped = stopped || r.Status == shiftsync.StatusNotProcessed
		res.Results = append(res.Results, r)
	}
	if _, err := tx.exec(ctx, `
		INSERT INTO device_counters (device_id, acknowledged, last_push_at) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET acknowledged = excluded.acknowledged, last_push_at = excluded.last_push_at`,
		p.DeviceID, acked, tx.now.UnixMilli()); err != nil {
		return shiftsync.PushResult{}, storageError(err)
	}
	if err := appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditPush, Subject: p.DeviceID, Detail: pushDetail(res.Results, acked)}); err != nil {
		return shiftsync.PushResult{}, storageError(err)
	}
	if err := tx.Commit(); err != nil {
		return shiftsync.PushResult{}, storageError(err)
	}
	if changed && s.Feed != nil {
		s.Feed.Publish()
	}
	res.Acknowledged = acked
	return res, nil
}

// replay answers a mutation whose counter was processed before with the
// outcome it had then. A different mutation under a used counter (a device
// that lost its counter, say after a reinstall) is quarantined, not dropped.
func (s *SyncService) replay(ctx context.Context, tx *Tx, scope shiftsync.Scope, m *shiftsync.Mutation) (shiftsync.MutationResult, error) {
	var (
		digest             []byte
		status             int
		reason, msg, confl string
	)
	err := tx.queryRow(ctx, `SELECT digest, status, reason, message, conflicted_fields FROM mutations WHERE device_id = ? AND counter = ?`,
		m.DeviceID, m.Counter).Scan(&digest, &status, &reason, &msg, &confl)
	if errors.Is(err, sql.ErrNoRows) {
		digest = nil // acknowledged counter with no record of it: treat as reused
	} else if err != nil {
		return shiftsync.MutationResult{}, err
	}
	if d := mutationDigest(m); digest == nil || string(d[:]) != string(digest) {
		rej := &shiftsync.MutationError{Reason: shiftsync.ReasonCounterReused,
			Message: fmt.Sprintf("counter %d was already used by a different mutation from this device", m.Counter)}
		return quarantine(ctx, tx, scope, m, rej)
	}
	r := shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.MutationStatus(status), Reason: shiftsync.Reason(reason), Message: msg, Replayed: true}
	if err := json.Unmarshal([]byte(confl), &r.ConflictedFields); err != nil {
		return shiftsync.MutationResult{}, err
	}
	if len(r.ConflictedFields) == 0 {
		r.ConflictedFields = nil // as the first answer had it
	}
	return r, nil
}

// apply validates, authorises and merges one new mutation, or quarantines
// it, and records that it was processed; unless the quarantine refuses it
// (StatusNotProcessed), when nothing of it is stored.
func (s *SyncService) apply(ctx context.Context, tx *Tx, scope shiftsync.Scope, m *shiftsync.Mutation) (shiftsync.MutationResult, error) {
	held, err := loadRecord(ctx, tx, m.RecordID)
	if err != nil {
		return shiftsync.MutationResult{}, err
	}
	var (
		outcomes []shiftsync.FieldOutcome
		current  map[string]fieldHead
	)
	// From here on the record is what the pusher may know of it: a record
	// hidden from them is none, and nothing of it is used or quoted.
	stored, rej := scope.Claim(m, held, tx.now)
	m.Agency = shiftsync.AssignedAgency(m)
	if stored != nil {
		m.Agency = stored.Agency
	}
	if rej == nil {
		rej = s.schema.Validate(m, stored)
	}
	var flag shiftsync.Flag
	if rej == nil {
		// Claim let held through: it is the record stored names, or none.
		flag, rej = scope.AuthorizeWrite(m, held, tx.now)
	}
	if rej == nil {
		if current, err = loadFieldHeads(ctx, tx, m.RecordID); err != nil {
			return shiftsync.MutationResult{}, err
		}
		versions := make(map[string]shiftsync.Version, len(current))
		for f, h := range current {
			versions[f] = h.version
		}
		outcomes, rej = shiftsync.Merge(m, versions)
	}
	if rej == nil {
		if rej, err = s.checkRecord(ctx, tx, scope, m, stored, outcomes); err != nil {
			return shiftsync.MutationResult{}, err
		}
	}
	if rej != nil {
		r, err := quarantine(ctx, tx, scope, m, rej)
		if err != nil || r.Status != shiftsync.StatusQuarantined {
			return r, err
		}
		return r, insertMutation(ctx, tx, m, r, "")
	}

	if stored == nil {
		if _, err := tx.exec(ctx, `
			INSERT INTO records (record_id, record_type, service_id, person_id, agency, created_by_user, created_by_device, created_hlc, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.RecordID, m.RecordType, m.ServiceID, m.PersonID, m.Agency, m.UserID, m.DeviceID, m.HLC.Pack(), tx.now.UnixMilli()); err != nil {
			return shiftsync.MutationResult{}, err
		}
	}
	r := shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.StatusAccepted}
	for i, o := range outcomes {
		seq, err := insertVersion(ctx, tx, m, m.Fields[i])
		if err != nil {
			return r, err
		}
		winner := current[o.Field].seq
		if o.Wins {
			winner = seq
			if _, err := tx.exec(ctx, `
				INSERT INTO fields (record_id, field, service_id, version_seq, hlc, device_id) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (record_id, field) DO UPDATE SET version_seq = excluded.version_seq, hlc = excluded.hlc, device_id = excluded.device_id`,
				m.RecordID, o.Field, m.ServiceID, seq, m.HLC.Pack(), m.DeviceID); err != nil {
				return r, err
			}
		}
		if o.Conflict {
			r.ConflictedFields = append(r.ConflictedFields, o.Field)
			if _, err := tx.exec(ctx, `
				INSERT INTO conflicts (record_id, field, current_seq, incoming_seq, winner_seq, opened_at) VALUES (?, ?, ?, ?, ?, ?)`,
				m.RecordID, o.Field, current[o.Field].seq, seq, winner, tx.now.UnixMilli()); err != nil {
				return r, err
			}
		}
	}
	for _, a := range shiftsync.AlertsFor(m, stored == nil, tx.now) {
		if _, err := tx.exec(ctx, `
			INSERT INTO alerts (rule_id, rule_version, record_id, record_type, service_id, person_id, summary, user_id, device_id, raised_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule_id, record_id) DO NOTHING`,
			a.RuleID, a.RuleVersion, m.RecordID, m.RecordType, m.ServiceID, m.PersonID, a.Summary, m.UserID, m.DeviceID, tx.now.UnixMilli()); err != nil {
			return r, err
		}
	}
	return r, insertMutation(ctx, tx, m, r, flag)
}

// checkRecord checks what a merged mutation would make of its record: a
// locked record takes no edit but a manager's void; the NotBefore rules
// hold on the record as it would stand; an addendum names a record of its
// own service and person that its author may read.
func (s *SyncService) checkRecord(ctx context.Context, tx *Tx, scope shiftsync.Scope, m *shiftsync.Mutation, stored *shiftsync.RecordRef, outcomes []shiftsync.FieldOutcome) (*shiftsync.MutationError, error) {
	if stored != nil {
		var locked int
		err := tx.queryRow(ctx, `SELECT 1 FROM record_locks WHERE record_id = ?`, m.RecordID).Scan(&locked)
		switch {
		case err == nil:
			if len(m.Fields) > 1 || m.Fields[0].Field != shiftsync.VoidReasonField {
				return &shiftsync.MutationError{Reason: shiftsync.ReasonRecordLocked, Message: fmt.Sprintf(
					"record %s is locked by a manager: write an addendum to correct it", m.RecordID)}, nil
			}
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
	}
	t := s.schema.Type(m.RecordType)
	if ordered := t.OrderedFields(); slices.ContainsFunc(m.Fields, func(e shiftsync.FieldEdit) bool { return slices.Contains(ordered, e.Field) }) {
		values, err := currentValues(ctx, tx, m.RecordID, ordered)
		if err != nil {
			return nil, err
		}
		for i, o := range outcomes {
			if o.Wins {
				values[o.Field] = m.Fields[i].Value
			}
		}
		if rej := t.CheckOrder(values); rej != nil {
			return rej, nil
		}
	}
	if m.RecordType == addendumType {
		return checkAddendum(ctx, tx, scope, m, stored)
	}
	if stored != nil && shiftsync.AgencyAssigned(m.RecordType) {
		return checkPartnerEdit(scope, m, tx.now), nil
	}
	return nil, nil
}

// checkPartnerEdit holds an edit of an action made through a partner
// agency's access to [shiftsync.PartnerEdit].
func checkPartnerEdit(scope shiftsync.Scope, m *shiftsync.Mutation, now time.Time) *shiftsync.MutationError {
	agencies := scope.PartnerAgencies(m.RecordRef, now)
	if agencies == nil {
		agencies = scope.PartnerAgencies(m.RecordRef, m.HLC.Time())
	}
	if agencies == nil {
		return nil
	}
	return shiftsync.PartnerEdit(m, agencies, m.Agency)
}

// addendumType is the record type of corrections to locked records, and
// addendumTarget its field naming the record it adds to.
const (
	addendumType   = "addendum"
	addendumTarget = "record_id"
)

// checkAddendum checks the record an addendum names: it exists, has the
// addendum's service and person, and its author may read or write it. The
// target is fixed once the addendum exists.
func checkAddendum(ctx context.Context, tx *Tx, scope shiftsync.Scope, m *shiftsync.Mutation, stored *shiftsync.RecordRef) (*shiftsync.MutationError, error) {
	v, ok := m.Value(addendumTarget)
	if !ok {
		return nil, nil
	}
	if stored != nil {
		return &shiftsync.MutationError{Reason: shiftsync.ReasonInvalidReference, Message: "an addendum's record_id cannot change; write another addendum"}, nil
	}
	target, err := loadRecord(ctx, tx, v.String)
	if err != nil {
		return nil, err
	}
	// A record its author may not see and one that does not exist get the
	// same answer, so an addendum cannot probe for records; nor does the
	// answer quote the envelope of one it may see.
	if target == nil || !scope.Knows(target, m, tx.now) {
		return &shiftsync.MutationError{Reason: shiftsync.ReasonInvalidReference, Message: fmt.Sprintf("no record %q that you may add to", v.String)}, nil
	}
	if target.ServiceID != m.ServiceID || target.PersonID != m.PersonID {
		return &shiftsync.MutationError{Reason: shiftsync.ReasonInvalidReference, Message: fmt.Sprintf(
			"record %s is of another service or person: an addendum names its record's service and person", target.RecordID)}, nil
	}
	return nil, nil
}

// currentValues returns the winning values of the named fields of a
// record (at least one name), for those it has.
func currentValues(ctx context.Context, tx *Tx, recordID string, names []string) (map[string]shiftsync.Value, error) {
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

// pushDetail summarises a push for the audit log: counts per outcome and
// the records written.
func pushDetail(results []shiftsync.MutationResult, acked uint64) string {
	var d struct {
		Acknowledged uint64   `json:"acknowledged"`
		Accepted     int      `json:"accepted"`
		Quarantined  int      `json:"quarantined"`
		Replayed     int      `json:"replayed"`
		Refused      int      `json:"refused"`
		Counters     []uint64 `json:"counters"`
	}
	d.Acknowledged = acked
	for _, r := range results {
		switch {
		case r.Replayed:
			d.Replayed++
		case r.Status == shiftsync.StatusAccepted:
			d.Accepted++
		case r.Status == shiftsync.StatusQuarantined:
			d.Quarantined++
		default:
			d.Refused++
		}
		d.Counters = append(d.Counters, r.Counter)
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// fieldHead is the winning version of a field and its change log position.
type fieldHead struct {
	version shiftsync.Version
	seq     int64
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

// loadRecord returns the record stored under id: nil when there is none.
func loadRecord(ctx context.Context, tx *Tx, id string) (*shiftsync.StoredRecord, error) {
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

// sqlList returns n comma-separated placeholders for an IN list (n > 0).
func sqlList(n int) string {
	return `?` + strings.Repeat(`, ?`, n-1)
}

func loadFieldHeads(ctx context.Context, tx *Tx, recordID string) (map[string]fieldHead, error) {
	rows, err := tx.query(ctx, `SELECT field, hlc, device_id, version_seq FROM fields WHERE record_id = ?`, recordID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	heads := make(map[string]fieldHead)
	for rows.Next() {
		var (
			field string
			hlc   int64
			h     fieldHead
		)
		if err := rows.Scan(&field, &hlc, &h.version.DeviceID, &h.seq); err != nil {
			return nil, err
		}
		h.version.HLC = shiftsync.UnpackHLC(hlc)
		heads[field] = h
	}
	return heads, rows.Err()
}

func insertVersion(ctx context.Context, tx *Tx, m *shiftsync.Mutation, e shiftsync.FieldEdit) (int64, error) {
	value, err := shiftsync.MarshalValue(e.Value)
	if err != nil {
		return 0, err
	}
	res, err := tx.exec(ctx, `
		INSERT INTO field_versions (record_id, field, value, hlc, device_id, user_id, counter, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.RecordID, e.Field, value, m.HLC.Pack(), m.DeviceID, m.UserID, m.Counter, tx.now.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func insertMutation(ctx context.Context, tx *Tx, m *shiftsync.Mutation, r shiftsync.MutationResult, flag shiftsync.Flag) error {
	fields := r.ConflictedFields
	if fields == nil {
		fields = []string{}
	}
	conflicted, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	d := mutationDigest(m)
	_, err = tx.exec(ctx, `
		INSERT INTO mutations (device_id, counter, user_id, record_id, hlc, digest, status, reason, message, conflicted_fields, flag, app_version, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.DeviceID, m.Counter, m.UserID, m.RecordID, m.HLC.Pack(), d[:], int(r.Status), string(r.Reason), r.Message, conflicted, string(flag), m.AppVersion, tx.now.UnixMilli())
	return err
}

// quarantine keeps a mutation refused for rej, whole, under its pusher's
// services ([shiftsync.Scope.QuarantineServices]), and answers it
// quarantined. When the quarantine's bounds will not keep it, it stores
// nothing of it, counts the overflow under the same services, and answers
// it not processed with the bound's reason: the device keeps it.
func quarantine(ctx context.Context, tx *Tx, scope shiftsync.Scope, m *shiftsync.Mutation, rej *shiftsync.MutationError) (shiftsync.MutationResult, error) {
	payload, err := shiftsync.QuarantinePayload(m)
	if err != nil {
		return shiftsync.MutationResult{}, err
	}
	size, day := shiftsync.QuarantineSize(m), shiftsync.QuarantineDay(tx.now).UnixMilli()
	var dayBytes int64
	err = tx.queryRow(ctx, `SELECT bytes FROM quarantine_days WHERE device_id = ? AND day = ?`, m.DeviceID, day).Scan(&dayBytes)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return shiftsync.MutationResult{}, err
	}
	services := scope.QuarantineServices(m, tx.now)
	if refused := shiftsync.CheckQuarantineBounds(size, dayBytes); refused != nil {
		if len(services) == 0 {
			services = []string{""}
		}
		for _, service := range services {
			if _, err := tx.exec(ctx, `
				INSERT INTO quarantine_overflow (service_id, day, device_id, reason, user_id, refused, bytes, last_counter, last_refused_at)
				VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)
				ON CONFLICT (service_id, day, device_id, reason) DO UPDATE SET user_id = excluded.user_id, refused = refused + 1,
					bytes = bytes + excluded.bytes, last_counter = excluded.last_counter, last_refused_at = excluded.last_refused_at`,
				service, day, m.DeviceID, string(refused.Reason), m.UserID, size, m.Counter, tx.now.UnixMilli()); err != nil {
				return shiftsync.MutationResult{}, err
			}
		}
		return shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.StatusNotProcessed, Reason: refused.Reason, Message: refused.Message}, nil
	}
	res, err := tx.exec(ctx, `
		INSERT INTO quarantine (device_id, user_id, counter, record_id, record_type, service_id, reason, message, payload, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.DeviceID, m.UserID, m.Counter, m.RecordID, m.RecordType, m.ServiceID, string(rej.Reason), rej.Message, payload, tx.now.UnixMilli())
	if err != nil {
		return shiftsync.MutationResult{}, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return shiftsync.MutationResult{}, err
	}
	for _, service := range services {
		if _, err := tx.exec(ctx, `INSERT INTO quarantine_services (service_id, quarantine_id) VALUES (?, ?)`, service, id); err != nil {
			return shiftsync.MutationResult{}, err
		}
	}
	if _, err := tx.exec(ctx, `
		INSERT INTO quarantine_days (device_id, day, entries, bytes) VALUES (?, ?, 1, ?)
		ON CONFLICT (device_id, day) DO UPDATE SET entries = entries + 1, bytes = bytes + excluded.bytes`,
		m.DeviceID, day, size); err != nil {
		return shiftsync.MutationResult{}, err
	}
	return shiftsync.MutationResult{Counter: m.Counter, Status: shiftsync.StatusQuarantined, Reason: rej.Reason, Message: rej.Message}, nil
}

// mutationDigest fingerprints what a device sent of a mutation: not the
// app version (an app updated between two retries still sends the same
// mutation), nor what the server derives (an action's agency). Its
// encoding is fixed, since stored digests must keep matching retries after
// an upgrade: TestMutationDigest pins it.
func mutationDigest(m *shiftsync.Mutation) [sha256.Size]byte {
	return shiftsync.MutationDigest(m)
}

// Pull implements [shiftsync.SyncService]. Its cost is one index range per
// service in scope, bounded by limit: it grows with the changes after the
// cursor, not with the size of the store.
func (s *SyncService) Pull(ctx context.Context, p shiftsync.Principal, after shiftsync.Cursor, limit int) (shiftsync.PullPage, error) {
	limit = clampPageSize(limit)
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return shiftsync.PullPage{}, err
	}
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return shiftsync.PullPage{}, storageError(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkCursor(ctx, tx, after); err != nil {
		return shiftsync.PullPage{}, err
	}
	now := s.db.Now()
	keys := scope.Keys(now)
	served, known, err := servedScope(ctx, tx, p.DeviceID)
	if err != nil {
		return shiftsync.PullPage{}, err
	}
	if after != (shiftsync.Cursor{}) && (!known || shiftsync.Widened(served, keys)) {
		return shiftsync.PullPage{}, shiftsync.Errorf(shiftsync.CodeResyncRequired,
			"your access has grown since your last pull; pull again from an empty cursor to receive the records now in scope")
	}

	// Each service in scope is one index range; limit+1 rows of each, merged
	// in seq order, show every change up to the limit-th and whether more
	// follow. Rows the principal may not see are skipped, but still move the
	// cursor on, so a page costs at most limit rows whatever is filtered.
	var window []shiftsync.FieldChange
	for _, service := range scope.Services(now) {
		cs, err := pullService(ctx, tx, service, after.Seq, limit+1)
		if err != nil {
			return shiftsync.PullPage{}, storageError(err)
		}
		window = append(window, cs...)
	}
	slices.SortFunc(window, func(a, b shiftsync.FieldChange) int { return cmp.Compare(a.Seq, b.Seq) })
	page := shiftsync.PullPage{Next: shiftsync.Cursor{StoreID: s.db.storeID, Seq: after.Seq}}
	if len(window) > limit {
		window, page.HasMore = window[:limit], true
	}
	if len(window) > 0 {
		page.Next.Seq = window[len(window)-1].Seq
	}
	changes := window[:0:0]
	for _, c := range window {
		if scope.Allows(shiftsync.OpPull, c.RecordRef, now) {
			changes = append(changes, c)
		}
	}
	page.Changes, page.Purges = changes, scope.Purges(now, s.schema.TypeNames())
	// Who read what: the page's range of the change log names exactly the
	// records sent, given the scope, without listing them.
	err = s.db.update(ctx, func(tx *Tx) error {
		if !known || !slices.Equal(served, keys) {
			if err := recordServedScope(ctx, tx, p.DeviceID, keys); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditPull, Subject: p.DeviceID,
			Detail: fmt.Sprintf(`{"changes":%d,"after":%d,"through":%d,"purges":%d}`, len(changes), after.Seq, page.Next.Seq, len(page.Purges))})
	})
	if err != nil {
		return shiftsync.PullPage{}, err
	}
	return page, nil
}

// servedScope returns the grant keys the device was last served, and
// whether it has pulled before.
func servedScope(ctx context.Context, tx *sql.Tx, deviceID string) ([]string, bool, error) {
	var stored string
	err := tx.QueryRowContext(ctx, `SELECT grant_keys FROM device_scopes WHERE device_id = ?`, deviceID).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storageError(err)
	}
	var keys []string
	if err := json.Unmarshal([]byte(stored), &keys); err != nil {
		return nil, false, fmt.Errorf("sqlite: device_scopes of %q: %w", deviceID, err)
	}
	return keys, true, nil
}

// recordServedScope stores the grant keys the device is being served.
func recordServedScope(ctx context.Context, tx *Tx, deviceID string, keys []string) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO device_scopes (device_id, grant_keys, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET grant_keys = excluded.grant_keys, updated_at = excluded.updated_at`,
		deviceID, string(b), tx.now.UnixMilli())
	return err
}

// Latest implements [shiftsync.SyncService].
func (s *SyncService) Latest(ctx context.Context, p shiftsync.Principal, after shiftsync.Cursor) (shiftsync.Cursor, error) {
	scope, err := s.access.Scope(ctx, p)
	if err != nil {
		return shiftsync.Cursor{}, err
	}
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return shiftsync.Cursor{}, storageError(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkCursor(ctx, tx, after); err != nil {
		return shiftsync.Cursor{}, err
	}
	latest := shiftsync.Cursor{StoreID: s.db.storeID, Seq: after.Seq}
	for _, service := range scope.Services(s.db.Now()) {
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_seq), 0) FROM fields WHERE service_id = ?`, service).Scan(&seq); err != nil {
			return shiftsync.Cursor{}, storageError(err)
		}
		latest.Seq = max(latest.Seq, seq)
	}
	return latest, nil
}

// checkCursor refuses cursors this store did not issue, or that point past
// its end (the store was restored from an older copy): following them would
// skip changes.
func (s *SyncService) checkCursor(ctx context.Context, tx *sql.Tx, c shiftsync.Cursor) error {
	if c == (shiftsync.Cursor{}) {
		return nil
	}
	if c.StoreID != s.db.storeID {
		return shiftsync.Errorf(shiftsync.CodeResyncRequired, "cursor is from another store; pull again from an empty cursor")
	}
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM field_versions`).Scan(&head); err != nil {
		return storageError(err)
	}
	if c.Seq > head {
		return shiftsync.Errorf(shiftsync.CodeResyncRequired, "cursor is ahead of this store; pull again from an empty cursor")
	}
	return nil
}

func pullService(ctx context.Context, tx *sql.Tx, service string, afterSeq int64, limit int) ([]shiftsync.FieldChange, error) {
	rows, err := tx.QueryContext(ctx, `
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

func clampPageSize(n int) int {
	switch {
	case n <= 0:
		return shiftsync.DefaultPullPageSize
	case n > shiftsync.MaxPullPageSize:
		return shiftsync.MaxPullPageSize
	}
	return n
}
