package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// InsertEvidencePack implements [shiftsync.ReviewTx]: the pack's id is a
// new UUIDv7.
func (tx *Tx) InsertEvidencePack(ctx context.Context, p shiftsync.StoredPack) (string, error) {
	id := uuid.Must(uuid.NewV7()).String()
	_, err := tx.exec(ctx, `
		INSERT INTO evidence_packs (id, service_id, person_id, period_start, period_end, max_version_seq, manifest, manifest_sha256, exported_by, exported_at)
		VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(seq), 0) FROM field_versions), $6, $7, $8, $9)`,
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
	err := tx.queryRow(ctx, `SELECT service_id, person_id, period_start, period_end, manifest, manifest_sha256, exported_by, exported_at FROM evidence_packs WHERE id = $1`, id).
		Scan(&p.ServiceID, &p.PersonID, &from, &to, &manifest, &p.ManifestSHA256, &p.ExportedBy, &at)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := tx.queryRow(ctx, `SELECT detail FROM audit_log WHERE action = $1 AND subject = $2`, action, subject).Scan(&detail)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return detail, err == nil, err
}

// VersionsAt implements [shiftsync.ReviewTx].
func (tx *Tx) VersionsAt(ctx context.Context, seqs []int64) ([]shiftsync.StoredVersion, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	rows, err := tx.query(ctx, `SELECT seq, record_id, field, value FROM field_versions WHERE seq = ANY($1)`, seqs)
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
