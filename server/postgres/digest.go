package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// DigestsOf implements [shiftsync.DigestTx]. In a write transaction it
// locks the buckets' rows, making those missing, so that concurrent folds
// into one bucket add to it one after the other (READ COMMITTED would let
// one overwrite the other's sum); one statement for all.
func (tx *Tx) DigestsOf(ctx context.Context, buckets []shiftsync.BucketDigest) ([]shiftsync.BucketDigest, error) {
	cols := digestColumns(buckets)
	q := `SELECT d.service_id, d.person_id, d.record_type, d.agency, d.bucket, d.digest
		FROM digests d JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[]) AS k(s, p, t, a, b)
		ON d.service_id = k.s AND d.person_id = k.p AND d.record_type = k.t AND d.agency = k.a AND d.bucket = k.b`
	args := []any{cols.services, cols.people, cols.types, cols.agencies, cols.buckets}
	if tx.write {
		q = `INSERT INTO digests (service_id, person_id, record_type, agency, bucket, digest)
			SELECT s, p, t, a, b, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[]) AS k(s, p, t, a, b)
			ON CONFLICT (service_id, person_id, record_type, agency, bucket) DO UPDATE SET digest = digests.digest
			RETURNING service_id, person_id, record_type, agency, bucket, digest`
		args = append(args, make([]byte, 32))
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]shiftsync.BucketDigest, len(buckets))
	at := make(map[shiftsync.DigestUnit]map[int]int, len(buckets))
	for i, b := range buckets {
		out[i] = shiftsync.BucketDigest{Unit: b.Unit, Bucket: b.Bucket}
		if at[b.Unit] == nil {
			at[b.Unit] = map[int]int{}
		}
		at[b.Unit][b.Bucket] = i
	}
	for rows.Next() {
		var (
			b   shiftsync.BucketDigest
			raw []byte
		)
		if err := rows.Scan(&b.Unit.ServiceID, &b.Unit.PersonID, &b.Unit.RecordType, &b.Unit.Agency, &b.Bucket, &raw); err != nil {
			return nil, err
		}
		if err := scanDigest(&out[at[b.Unit][b.Bucket]].Digest, raw); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// SetDigests implements [shiftsync.DigestTx]: one statement.
func (tx *Tx) SetDigests(ctx context.Context, ds []shiftsync.BucketDigest) error {
	if len(ds) == 0 {
		return nil
	}
	cols := digestColumns(ds)
	digests := make([][]byte, len(ds))
	for i := range ds {
		digests[i] = ds[i].Digest[:]
	}
	_, err := tx.exec(ctx, `
		INSERT INTO digests (service_id, person_id, record_type, agency, bucket, digest)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bytea[])
		ON CONFLICT (service_id, person_id, record_type, agency, bucket) DO UPDATE SET digest = excluded.digest`,
		cols.services, cols.people, cols.types, cols.agencies, cols.buckets, digests)
	return err
}

// bucketColumns are buckets' keys as columns, for unnest.
type bucketColumns struct {
	services, people, types, agencies []string
	buckets                           []int32
}

func digestColumns(ds []shiftsync.BucketDigest) bucketColumns {
	var c bucketColumns
	for _, d := range ds {
		c.services, c.people = append(c.services, d.Unit.ServiceID), append(c.people, d.Unit.PersonID)
		c.types, c.agencies = append(c.types, d.Unit.RecordType), append(c.agencies, d.Unit.Agency)
		c.buckets = append(c.buckets, int32(d.Bucket))
	}
	return c
}

// AddDigestDeltas implements [shiftsync.DigestTx]: an insert, which
// takes no lock another push waits for.
func (tx *Tx) AddDigestDeltas(ctx context.Context, serviceID string, deltas []byte) (int, error) {
	if _, err := tx.exec(ctx, `INSERT INTO digest_deltas (service_id, deltas) VALUES ($1, $2)`, serviceID, deltas); err != nil {
		return 0, err
	}
	var pending int
	err := tx.queryRow(ctx, `SELECT count(*) FROM digest_deltas`).Scan(&pending)
	return pending, err
}

// TakeDigestDeltas implements [shiftsync.DigestTx]. Two folds at once
// each take the rows the other did not: a row the first deleted is
// skipped by the second once the first commits.
func (tx *Tx) TakeDigestDeltas(ctx context.Context) ([]shiftsync.BucketDigest, error) {
	rows, err := tx.query(ctx, `DELETE FROM digest_deltas RETURNING service_id, deltas`)
	if err != nil {
		return nil, err
	}
	return scanDigestDeltas(rows)
}

// scanDigestDeltas decodes rows of service_id and deltas, and closes them.
func scanDigestDeltas(rows pgx.Rows) ([]shiftsync.BucketDigest, error) {
	defer rows.Close()
	var out []shiftsync.BucketDigest
	for rows.Next() {
		var (
			serviceID string
			raw       []byte
		)
		if err := rows.Scan(&serviceID, &raw); err != nil {
			return nil, err
		}
		ds, err := shiftsync.DecodeDigestDeltas(serviceID, raw)
		if err != nil {
			return nil, fmt.Errorf("postgres: pending digest deltas of %s: %w", serviceID, err)
		}
		out = append(out, ds...)
	}
	return out, rows.Err()
}

// Digests implements [shiftsync.DigestTx]: one statement, so that one
// snapshot holds both a fold's accumulators and the deltas it took, even
// in a READ COMMITTED transaction.
func (tx *Tx) Digests(ctx context.Context, services ...string) ([]shiftsync.BucketDigest, error) {
	q := `SELECT service_id, person_id, record_type, agency, bucket, digest, NULL::bytea FROM digests WHERE $1::text[] IS NULL OR service_id = ANY($1)
		UNION ALL
		SELECT service_id, '', '', '', 0, NULL, deltas FROM digest_deltas WHERE $1::text[] IS NULL OR service_id = ANY($1)`
	var filter []string // NULL: every service
	if len(services) > 0 {
		filter = services
	}
	rows, err := tx.query(ctx, q, filter)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shiftsync.BucketDigest
	for rows.Next() {
		var (
			b           shiftsync.BucketDigest
			raw, deltas []byte
		)
		if err := rows.Scan(&b.Unit.ServiceID, &b.Unit.PersonID, &b.Unit.RecordType, &b.Unit.Agency, &b.Bucket, &raw, &deltas); err != nil {
			return nil, err
		}
		if deltas != nil {
			ds, err := shiftsync.DecodeDigestDeltas(b.Unit.ServiceID, deltas)
			if err != nil {
				return nil, fmt.Errorf("postgres: pending digest deltas of %s: %w", b.Unit.ServiceID, err)
			}
			out = append(out, ds...)
			continue
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
	if _, err := tx.exec(ctx, `DELETE FROM digest_deltas`); err != nil {
		return err
	}
	if err := tx.SetDigests(ctx, ds); err != nil {
		return err
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

// elementColumn is the stored form of a field winner's digest element:
// empty when none was given.
func elementColumn(e shiftsync.Digest) []byte {
	if e.IsZero() {
		return []byte{}
	}
	return e[:]
}
