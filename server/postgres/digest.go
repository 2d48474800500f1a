package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// Digest implements [shiftsync.DigestTx]. In a write transaction it locks
// the bucket's row, making it first if need be, so that concurrent pushes
// into one bucket add to it one after the other (READ COMMITTED would let
// one overwrite the other's sum).
func (tx *Tx) Digest(ctx context.Context, u shiftsync.DigestUnit, bucket int) (shiftsync.Digest, error) {
	var (
		d   shiftsync.Digest
		raw []byte
		err error
	)
	if tx.write {
		err = tx.queryRow(ctx, `
			INSERT INTO digests (service_id, person_id, record_type, agency, bucket, digest) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (service_id, person_id, record_type, agency, bucket) DO UPDATE SET digest = digests.digest
			RETURNING digest`, u.ServiceID, u.PersonID, u.RecordType, u.Agency, bucket, d[:]).Scan(&raw)
	} else {
		err = tx.queryRow(ctx, `SELECT digest FROM digests WHERE service_id = $1 AND person_id = $2 AND record_type = $3 AND agency = $4 AND bucket = $5`,
			u.ServiceID, u.PersonID, u.RecordType, u.Agency, bucket).Scan(&raw)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	return d, scanDigest(&d, raw)
}

// SetDigest implements [shiftsync.DigestTx].
func (tx *Tx) SetDigest(ctx context.Context, b shiftsync.BucketDigest) error {
	u := b.Unit
	_, err := tx.exec(ctx, `
		INSERT INTO digests (service_id, person_id, record_type, agency, bucket, digest) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (service_id, person_id, record_type, agency, bucket) DO UPDATE SET digest = excluded.digest`,
		u.ServiceID, u.PersonID, u.RecordType, u.Agency, b.Bucket, b.Digest[:])
	return err
}

// Digests implements [shiftsync.DigestTx].
func (tx *Tx) Digests(ctx context.Context, services ...string) ([]shiftsync.BucketDigest, error) {
	q := `SELECT service_id, person_id, record_type, agency, bucket, digest FROM digests`
	var args []any
	if len(services) > 0 {
		q += ` WHERE service_id = ANY($1)`
		args = append(args, services)
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shiftsync.BucketDigest
	for rows.Next() {
		var (
			b   shiftsync.BucketDigest
			raw []byte
		)
		if err := rows.Scan(&b.Unit.ServiceID, &b.Unit.PersonID, &b.Unit.RecordType, &b.Unit.Agency, &b.Bucket, &raw); err != nil {
			return nil, err
		}
		if err := scanDigest(&b.Digest, raw); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ReplaceDigests implements [shiftsync.DigestTx].
func (tx *Tx) ReplaceDigests(ctx context.Context, ds []shiftsync.BucketDigest) error {
	if _, err := tx.exec(ctx, `DELETE FROM digests`); err != nil {
		return err
	}
	for _, d := range ds {
		if err := tx.SetDigest(ctx, d); err != nil {
			return err
		}
	}
	_, err := tx.exec(ctx, `UPDATE store SET digests_built = true WHERE id = 1`)
	return err
}

// DigestsBuilt implements [shiftsync.DigestTx]. In a write transaction it
// locks the store's row, so instances opening together build once.
func (tx *Tx) DigestsBuilt(ctx context.Context) (bool, error) {
	q := `SELECT digests_built FROM store WHERE id = 1`
	if tx.write {
		q += ` FOR UPDATE`
	}
	var built bool
	err := tx.queryRow(ctx, q).Scan(&built)
	return built, err
}

// WrittenHead implements [shiftsync.DigestTx]: unlike ServiceHead, it
// counts positions above the horizon too.
func (tx *Tx) WrittenHead(ctx context.Context, serviceID string) (int64, error) {
	var seq int64
	err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version_seq), 0) FROM fields WHERE service_id = $1`, serviceID).Scan(&seq)
	return seq, err
}

// EachWinner implements [shiftsync.DigestTx].
func (tx *Tx) EachWinner(ctx context.Context, fn func(shiftsync.FieldChange) error) error {
	rows, err := tx.query(ctx, `
		SELECT f.version_seq, f.record_id, r.record_type, r.service_id, r.person_id, r.agency, f.field, v.value, f.hlc, f.device_id, v.user_id
		FROM fields f
		JOIN field_versions v ON v.seq = f.version_seq
		JOIN records r ON r.record_id = f.record_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c     shiftsync.FieldChange
			value []byte
			hlc   int64
		)
		if err := rows.Scan(&c.Seq, &c.RecordID, &c.RecordType, &c.ServiceID, &c.PersonID, &c.Agency, &c.Field, &value, &hlc, &c.Version.DeviceID, &c.Author); err != nil {
			return err
		}
		if c.Value, err = shiftsync.UnmarshalValue(value); err != nil {
			return fmt.Errorf("field %s.%s: %w", c.RecordID, c.Field, err)
		}
		c.Version.HLC = shiftsync.UnpackHLC(hlc)
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanDigest copies a stored digest, which must be 32 bytes.
func scanDigest(d *shiftsync.Digest, raw []byte) error {
	if len(raw) != len(d) {
		return fmt.Errorf("postgres: a stored digest of %d bytes", len(raw))
	}
	copy(d[:], raw)
	return nil
}
