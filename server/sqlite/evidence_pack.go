package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// safeguardingType is the record type a pack counts and never lists.
const safeguardingType = "safeguarding_concern"

// packReviewer returns what p may review, when p may export or verify packs
// about a person: those who may review the person's restrictive
// interventions. It returns nil when p may not.
func (s *ReviewService) packReviewer(ctx context.Context, p shiftsync.Principal, serviceID, personID string) (func(shiftsync.RecordRef) bool, error) {
	allowed, err := s.reviewable(ctx, p)
	if err != nil || !allowed(shiftsync.RecordRef{RecordType: "restrictive_intervention", ServiceID: serviceID, PersonID: personID}) {
		return nil, err
	}
	return allowed, nil
}

// ExportEvidencePack implements [shiftsync.ReviewService].
func (s *ReviewService) ExportEvidencePack(ctx context.Context, p shiftsync.Principal, serviceID, personID string, from, to time.Time) (shiftsync.EvidencePack, error) {
	pack := shiftsync.EvidencePack{ServiceID: serviceID, PersonID: personID, From: from.UTC(), To: to.UTC()}
	switch {
	case serviceID == "" || personID == "":
		return pack, shiftsync.Errorf(shiftsync.CodeInvalid, "an evidence pack is about one person of one service")
	case !to.After(from) || to.Sub(from) > shiftsync.MaxPackPeriod:
		return pack, shiftsync.Errorf(shiftsync.CodeInvalid, "an evidence pack covers a period of at most a year, ending after it starts")
	}
	allowed, err := s.packReviewer(ctx, p, serviceID, personID)
	if err != nil {
		return pack, err
	} else if allowed == nil {
		return pack, shiftsync.Errorf(shiftsync.CodePermissionDenied, "you may not export evidence about person %q of service %q", personID, serviceID)
	}
	if err := s.db.evaluate(ctx, serviceID); err != nil {
		return pack, err
	}
	err = s.db.update(ctx, func(tx *Tx) error {
		records, err := loadRecords(ctx, tx.Tx, `r.service_id = ? AND r.person_id = ?`, serviceID, personID)
		if err != nil {
			return err
		}
		th, err := thresholds(ctx, tx.Tx, serviceID)
		if err != nil {
			return err
		}
		pack.Records, pack.EventTimes = nil, map[string]time.Time{}
		for _, r := range records {
			at := s.eventTime(r)
			// Every exporter counts safeguarding concerns; none lists them.
			switch {
			case r.Voided() || at.Before(pack.From) || at.After(pack.To):
				continue
			case r.RecordType == safeguardingType:
				pack.SafeguardingConcerns++
				continue
			case !allowed(r.RecordRef):
				continue
			}
			pack.Records, pack.EventTimes[r.RecordID] = append(pack.Records, r), at
			if r.RecordType == "action" {
				pack.Actions = append(pack.Actions, shiftsync.ViewAction(r, tx.now))
			}
		}
		slices.SortStableFunc(pack.Records, func(a, b *shiftsync.Record) int { return s.eventTime(a).Compare(s.eventTime(b)) })
		pack.Weeks = shiftsync.Trends(pack.Records, personID, pack.From, pack.To, th.Location())
		if pack.Findings, err = loadFindings(ctx, tx.Tx, allowed, `f.service_id = ? AND f.person_id = ? AND f.state <> 'met'`,
			`f.due_at, f.rule_id, f.subject`, serviceID, personID); err != nil {
			return err
		}
		pack.Manifest = shiftsync.NewManifest(serviceID, personID, pack.From, pack.To, p.UserID, tx.now, pack.Records)
		pack.ID = uuid.Must(uuid.NewV7()).String()
		sum := pack.Manifest.Hash()
		if _, err := tx.exec(ctx, `
			INSERT INTO evidence_packs (id, service_id, person_id, period_start, period_end, max_version_seq, manifest, manifest_sha256, exported_by, exported_at)
			VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM field_versions), ?, ?, ?, ?)`,
			pack.ID, serviceID, personID, pack.From.UnixMilli(), pack.To.UnixMilli(), string(pack.Manifest.Canonical()), sum, p.UserID, tx.now.UnixMilli()); err != nil {
			return err
		}
		return appendAudit(ctx, tx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditEvidenceExport, Subject: pack.ID,
			Detail: fmt.Sprintf(`{"service":%q,"person":%q,"records":%d,"manifest_sha256":%q}`, serviceID, personID, len(pack.Records), sum)})
	})
	return pack, err
}

// VerifyEvidencePack implements [shiftsync.ReviewService].
func (s *ReviewService) VerifyEvidencePack(ctx context.Context, p shiftsync.Principal, packID string) (shiftsync.PackVerification, error) {
	v := shiftsync.PackVerification{PackID: packID}
	var serviceID, personID, raw, sum string
	err := s.db.read.QueryRowContext(ctx, `SELECT service_id, person_id, manifest, manifest_sha256 FROM evidence_packs WHERE id = ?`, packID).
		Scan(&serviceID, &personID, &raw, &sum)
	denied := shiftsync.Errorf(shiftsync.CodePermissionDenied, "no evidence pack %q that you may verify", packID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return v, denied
	case err != nil:
		return v, storageError(err)
	}
	if allowed, err := s.packReviewer(ctx, p, serviceID, personID); err != nil {
		return v, err
	} else if allowed == nil {
		return v, denied
	}
	audited, err := s.auditedPackHash(ctx, packID)
	if err != nil {
		return v, err
	}
	var m shiftsync.Manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		v.ManifestAltered = true
		return v, nil
	}
	v.ManifestAltered = m.Hash() != sum || sum != audited
	for _, e := range m.Entries {
		v.Records++
		r, err := s.recordAt(ctx, e)
		if err != nil {
			return v, err
		}
		if r == nil || shiftsync.RecordHash(r) != e.SHA256 {
			v.Mismatched = append(v.Mismatched, e.RecordID)
		}
	}
	return v, s.db.Audit(ctx, shiftsync.AuditEvent{Actor: p, Action: shiftsync.AuditReviewRead, Subject: packID,
		Detail: fmt.Sprintf(`{"verify_pack":%t,"records":%d}`, v.OK(), v.Records)})
}

// auditedPackHash returns the manifest hash the audit log recorded when
// the pack was exported.
func (s *ReviewService) auditedPackHash(ctx context.Context, packID string) (string, error) {
	var detail string
	err := s.db.read.QueryRowContext(ctx, `SELECT detail FROM audit_log WHERE action = ? AND subject = ?`, shiftsync.AuditEvidenceExport, packID).Scan(&detail)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil // no audit entry: the pack row cannot be trusted
	} else if err != nil {
		return "", storageError(err)
	}
	var d struct {
		SHA256 string `json:"manifest_sha256"`
	}
	_ = json.Unmarshal([]byte(detail), &d)
	return d.SHA256, nil
}

// recordAt rebuilds a manifest entry's record from the field versions it
// names; nil when a version is missing or belongs elsewhere.
func (s *ReviewService) recordAt(ctx context.Context, e shiftsync.ManifestEntry) (*shiftsync.Record, error) {
	ref, err := scanRecordRef(s.db.read.QueryRowContext(ctx, recordRefQuery, e.RecordID), e.RecordID)
	if err != nil {
		return nil, storageError(err)
	} else if ref == nil {
		return nil, nil
	}
	r := &shiftsync.Record{RecordRef: *ref, Fields: map[string]shiftsync.Value{}}
	if len(e.Versions) == 0 {
		return r, nil
	}
	seqs := make([]any, 0, len(e.Versions))
	for _, seq := range e.Versions {
		seqs = append(seqs, seq)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT seq, record_id, field, value FROM field_versions WHERE seq IN (`+sqlList(len(seqs))+`)`, seqs...)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq       int64
			id, field string
			raw       []byte
		)
		if err := rows.Scan(&seq, &id, &field, &raw); err != nil {
			return nil, storageError(err)
		}
		value, err := shiftsync.UnmarshalValue(raw)
		if err != nil || id != e.RecordID || e.Versions[field] != seq {
			return nil, nil
		}
		r.Fields[field] = value
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	if len(r.Fields) != len(e.Versions) {
		return nil, nil
	}
	return r, nil
}

// InsertEvidencePack implements [shiftsync.ReviewTx]: the pack's id is a
// new UUIDv7.
func (tx *Tx) InsertEvidencePack(ctx context.Context, p shiftsync.StoredPack) (string, error) {
	id := uuid.Must(uuid.NewV7()).String()
	_, err := tx.exec(ctx, `
		INSERT INTO evidence_packs (id, service_id, person_id, period_start, period_end, max_version_seq, manifest, manifest_sha256, exported_by, exported_at)
		VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM field_versions), ?, ?, ?, ?)`,
		id, p.ServiceID, p.PersonID, p.From.UnixMilli(), p.To.UnixMilli(), string(p.Manifest), p.ManifestSHA256, p.ExportedBy, p.ExportedAt.UnixMilli())
	return id, err
}

// EvidencePack implements [shiftsync.ReviewTx].
func (tx *Tx) EvidencePack(ctx context.Context, id string) (*shiftsync.StoredPack, error) {
	p := shiftsync.StoredPack{ID: id}
	var (
		manifest     string
		from, to, at int64
	)
	err := tx.queryRow(ctx, `SELECT service_id, person_id, period_start, period_end, manifest, manifest_sha256, exported_by, exported_at FROM evidence_packs WHERE id = ?`, id).
		Scan(&p.ServiceID, &p.PersonID, &from, &to, &manifest, &p.ManifestSHA256, &p.ExportedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	p.Manifest, p.From, p.To, p.ExportedAt = []byte(manifest), time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC(), time.UnixMilli(at).UTC()
	return &p, nil
}

// AuditDetail implements [shiftsync.ReviewTx].
func (tx *Tx) AuditDetail(ctx context.Context, action, subject string) (string, bool, error) {
	var detail string
	err := tx.queryRow(ctx, `SELECT detail FROM audit_log WHERE action = ? AND subject = ?`, action, subject).Scan(&detail)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return detail, err == nil, err
}

// VersionsAt implements [shiftsync.ReviewTx].
func (tx *Tx) VersionsAt(ctx context.Context, seqs []int64) ([]shiftsync.StoredVersion, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(seqs))
	for _, seq := range seqs {
		args = append(args, seq)
	}
	rows, err := tx.Tx.QueryContext(ctx, `SELECT seq, record_id, field, value FROM field_versions WHERE seq IN (`+sqlList(len(args))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shiftsync.StoredVersion
	for rows.Next() {
		var v shiftsync.StoredVersion
		if err := rows.Scan(&v.Seq, &v.RecordID, &v.Field, &v.Value); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
