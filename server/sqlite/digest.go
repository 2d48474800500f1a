package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// DigestsOf implements [shiftsync.DigestTx]: one query per unit (a push
// usually touches one), the write lock being the store's.
func (tx *Tx) DigestsOf(ctx context.Context, buckets []shiftsync.BucketDigest) ([]shiftsync.BucketDigest, error) {
	out := make([]shiftsync.BucketDigest, len(buckets))
	at := make(map[shiftsync.DigestUnit]map[int]int, 1)
	var units []shiftsync.DigestUnit
	for i, b := range buckets {
		out[i] = shiftsync.BucketDigest{Unit: b.Unit, Bucket: b.Bucket}
		if at[b.Unit] == nil {
			at[b.Unit] = map[int]int{}
			units = append(units, b.Unit)
		}
		at[b.Unit][b.Bucket] = i
	}
	for _, u := range units {
		args := []any{u.ServiceID, u.PersonID, u.RecordType, u.Agency}
		for b := range at[u] {
			args = append(args, b)
		}
		rows, err := tx.query(ctx, `SELECT bucket, digest FROM digests
			WHERE service_id = ? AND person_id = ? AND record_type = ? AND agency = ? AND bucket IN (`+sqlList(len(at[u]))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				bucket int
				raw    []byte
			)
			if err := rows.Scan(&bucket, &raw); err != nil {
				rows.Close()
				return nil, err
			}
			if err := scanDigest(&out[at[u][bucket]].Digest, raw); err != nil {
				rows.Close()
				return nil, err
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetDigests implements [shiftsync.DigestTx]: one statement.
func (tx *Tx) SetDigests(ctx context.Context, ds []shiftsync.BucketDigest) error {
	if len(ds) == 0 {
		return nil
	}
	args := make([]any, 0, 6*len(ds))
	for _, d := range ds {
		args = append(args, d.Unit.ServiceID, d.Unit.PersonID, d.Unit.RecordType, d.Unit.Agency, d.Bucket, d.Digest[:])
	}
	_, err := tx.exec(ctx, `
		INSERT INTO digests (service_id, person_id, record_type, agency, bucket, digest) VALUES `+rowList(len(ds), 6)+`
		ON CONFLICT (service_id, person_id, record_type, agency, bucket) DO UPDATE SET digest = excluded.digest`, args...)
	return err
}

// rowList returns n rows of width placeholders: "(?, ?), (?, ?)".
func rowList(n, width int) string {
	row := "(" + sqlList(width) + ")"
	return row + strings.Repeat(", "+row, n-1)
}

// AddDigestDeltas implements [shiftsync.DigestTx].
func (tx *Tx) AddDigestDeltas(ctx context.Context, serviceID string, deltas []byte) (int, error) {
	if _, err := tx.exec(ctx, `INSERT INTO digest_deltas (service_id, deltas) VALUES (?, ?)`, serviceID, deltas); err != nil {
		return 0, err
	}
	var pending int
	err := tx.queryRow(ctx, `SELECT count(*) FROM digest_deltas`).Scan(&pending)
	return pending, err
}

// TakeDigestDeltas implements [shiftsync.DigestTx].
func (tx *Tx) TakeDigestDeltas(ctx context.Context) ([]shiftsync.BucketDigest, error) {
	rows, err := tx.query(ctx, `DELETE FROM digest_deltas RETURNING service_id, deltas`)
	if err != nil {
		return nil, err
	}
	return scanDigestDeltas(rows)
}

// scanDigestDeltas decodes rows of service_id and deltas, and closes them.
func scanDigestDeltas(rows *sql.Rows) ([]shiftsync.BucketDigest, error) {
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
			return nil, fmt.Errorf("sqlite: pending digest deltas of %s: %w", serviceID, err)
		}
		out = append(out, ds...)
	}
	return out, rows.Err()
}

// Digests implements [shiftsync.DigestTx]: two queries in the
// transaction's snapshot.
func (tx *Tx) Digests(ctx context.Context, services ...string) ([]shiftsync.BucketDigest, error) {
	q := `SELECT service_id, person_id, record_type, agency, bucket, digest FROM digests`
	pendingQ := `SELECT service_id, deltas FROM digest_deltas`
	args := make([]any, len(services))
	for i, s := range services {
		args[i] = s
	}
	if len(services) > 0 {
		q += ` WHERE service_id IN (` + sqlList(len(services)) + `)`
		pendingQ += ` WHERE service_id IN (` + sqlList(len(services)) + `)`
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	pendingRows, err := tx.query(ctx, pendingQ, args...)
	if err != nil {
		return nil, err
	}
	pending, err := scanDigestDeltas(pendingRows)
	return append(out, pending...), err
}

// ReplaceDigests implements [shiftsync.DigestTx].
func (tx *Tx) ReplaceDigests(ctx context.Context, ds []shiftsync.BucketDigest) error {
	if _, err := tx.exec(ctx, `DELETE FROM digests`); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `DELETE FROM digest_deltas`); err != nil {
		return err
	}
	for chunk := range slices.Chunk(ds, 1000) { // 6,000 parameters a statement, below SQLite's 32,766
		if err := tx.SetDigests(ctx, chunk); err != nil {
			return err
		}
	}
	_, err := tx.exec(ctx, `UPDATE store SET digests_built = 1 WHERE id = 1`)
	return err
}

// DigestsBuilt implements [shiftsync.DigestTx].
func (tx *Tx) DigestsBuilt(ctx context.Context) (bool, error) {
	var built bool
	err := tx.queryRow(ctx, `SELECT digests_built FROM store WHERE id = 1`).Scan(&built)
	return built, err
}

// EachWinner implements [shiftsync.DigestTx].
func (tx *Tx) EachWinner(ctx context.Context, fn func(shiftsync.FieldChange) error) error {
	rows, err := tx.QueryContext(ctx, `
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
		return fmt.Errorf("sqlite: a stored digest of %d bytes", len(raw))
	}
	copy(d[:], raw)
	return nil
}

// WrittenHead implements [shiftsync.DigestTx]: with one writer, every
// position committed is one a pull may read, so it is ServiceHead.
func (tx *Tx) WrittenHead(ctx context.Context, serviceID string) (int64, error) {
	return tx.ServiceHead(ctx, serviceID)
}

// elementColumn is the stored form of a field winner's digest element:
// empty when none was given.
func elementColumn(e shiftsync.Digest) []byte {
	if e.IsZero() {
		return []byte{}
	}
	return e[:]
}
