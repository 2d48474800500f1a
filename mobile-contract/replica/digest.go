package replica

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// Integrity digests (mobile-contract/README.md, "Integrity digests"). The
// replica keeps, per unit and bucket, the sum modulo 2^256 of the element
// hashes of the fields it holds, as the server does of its records; every
// write to fields updates it in the same transaction. A sync that caught up
// with an empty outbox sends the digests of what the replica holds (summed
// from its rows, so a corrupted row shows) with Verify, re-pulls the
// buckets the server says differ, and verifies once more.

// digestBuckets is how many buckets a unit's digest is kept in.
const digestBuckets = 64

// digest is an AdHash-256 sum, big-endian: the server's arithmetic, over
// elements this file encodes from the contract on its own (elementOf), so
// the pinned vectors check the documented encoding, not a shared one.
type digest = shiftsync.Digest

// digestUnit is a unit as a device holds it.
type digestUnit struct {
	ServiceID  string `json:"serviceId"`
	PersonID   string `json:"personId"`
	RecordType string `json:"recordType"`
}

func (u digestUnit) compare(o digestUnit) int {
	return cmp.Or(cmp.Compare(u.ServiceID, o.ServiceID), cmp.Compare(u.PersonID, o.PersonID), cmp.Compare(u.RecordType, o.RecordType))
}

func (u digestUnit) proto() *syncv1.DigestUnit {
	return &syncv1.DigestUnit{ServiceId: u.ServiceID, PersonId: u.PersonID, RecordType: u.RecordType}
}

// bucketKey is one bucket of a unit.
type bucketKey struct {
	digestUnit
	Bucket int `json:"bucket"`
}

// digestBucket returns the bucket of the record with the id.
func digestBucket(recordID string) int {
	h := sha256.Sum256([]byte(recordID))
	return int(h[0]) % digestBuckets
}

// element returns the element hash of a field version with the value (its
// stored protobuf JSON).
func element(recordID, field string, v version, valueJSON string) (digest, error) {
	pv, err := parseValue(valueJSON)
	if err != nil {
		return digest{}, err
	}
	return elementOf(recordID, field, v, pv), nil
}

// elementOf returns the element hash of a field version with the value.
// It equals element of the value's stored form (valueJSON) whenever that
// form reads back as the same value, which is every value but a NaN double
// with another payload than [math.NaN]'s: see storedElement.
func elementOf(recordID, field string, v version, pv *syncv1.Value) digest {
	var buf [256]byte // most fields' encodings fit: no allocation
	vh := sha256.Sum256(appendValue(buf[:0], pv))
	b := appendString(buf[:0], recordID)
	b = appendString(b, field)
	b = binary.BigEndian.AppendUint64(b, uint64(v.hlc.wallMS))
	b = binary.BigEndian.AppendUint32(b, uint32(v.hlc.logical))
	b = appendString(b, v.deviceID)
	b = append(b, vh[:]...)
	return sha256.Sum256(b)
}

// storedElement returns the element of a field version with the value pv,
// whose stored form is valueJSON, as element would compute it from the
// stored row, without reading the form back but for a NaN double (the form
// keeps no NaN payload: it reads back as [math.NaN]).
func storedElement(recordID, field string, v version, pv *syncv1.Value, valueJSON string) (digest, error) {
	if d, ok := pv.GetKind().(*syncv1.Value_DoubleValue); ok && math.IsNaN(d.DoubleValue) {
		return element(recordID, field, v, valueJSON)
	}
	return elementOf(recordID, field, v, pv), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendValue appends the value encoding: a kind byte, then the value.
func appendValue(b []byte, v *syncv1.Value) []byte {
	switch k := v.GetKind().(type) {
	case *syncv1.Value_StringValue:
		b = append(append(b, 1), k.StringValue...)
	case *syncv1.Value_IntValue:
		b = binary.BigEndian.AppendUint64(append(b, 2), uint64(k.IntValue))
	case *syncv1.Value_DoubleValue:
		b = binary.BigEndian.AppendUint64(append(b, 3), math.Float64bits(k.DoubleValue))
	case *syncv1.Value_BoolValue:
		b = append(b, 4, 0)
		if k.BoolValue {
			b[len(b)-1] = 1
		}
	case *syncv1.Value_TimestampValue:
		b = binary.BigEndian.AppendUint64(append(b, 5), uint64(k.TimestampValue.GetSeconds()))
		b = binary.BigEndian.AppendUint32(b, uint32(k.TimestampValue.GetNanos()))
	case *syncv1.Value_EnumValue:
		b = append(append(b, 6), k.EnumValue...)
	case *syncv1.Value_ListValue:
		b = append(b, 7)
		for _, s := range k.ListValue.GetValues() {
			b = appendString(b, s)
		}
	default:
		b = append(b, 0)
	}
	return b
}

// fieldRow is a held field with its record's unit.
const fieldRowQuery = `
	SELECT f.record_id, f.field, r.service_id, r.person_id, r.record_type, f.value, f.wall_ms, f.logical, f.device_id
	FROM fields f JOIN records r ON r.record_id = f.record_id`

// scanElement reads a row of fieldRowQuery as its bucket and element.
func scanElement(rows interface{ Scan(...any) error }) (bucketKey, digest, error) {
	var (
		recordID, field, value string
		u                      digestUnit
		v                      version
	)
	if err := rows.Scan(&recordID, &field, &u.ServiceID, &u.PersonID, &u.RecordType, &value, &v.hlc.wallMS, &v.hlc.logical, &v.deviceID); err != nil {
		return bucketKey{}, digest{}, err
	}
	e, err := element(recordID, field, v, value)
	return bucketKey{u, digestBucket(recordID)}, e, err
}

// digester gathers, in one write transaction, what its writes to fields
// change in the digests: call remove before changing or deleting a field
// row and add after writing it, then flush before committing.
type digester struct {
	tx     *sql.Tx
	deltas map[bucketKey]digest
}

func newDigester(tx *sql.Tx) *digester { return &digester{tx: tx, deltas: map[bucketKey]digest{}} }

// remove takes the field row as it is now, if there is one, out.
func (d *digester) remove(ctx context.Context, recordID, field string) error {
	return d.each(ctx, recordID, field, d.subElement)
}

// add puts the field row as it is now in.
func (d *digester) add(ctx context.Context, recordID, field string) error {
	return d.each(ctx, recordID, field, d.addElement)
}

// subElement takes the element e, of a field row of the bucket k, out: for
// a writer that knows the row it changes without reading it.
func (d *digester) subElement(k bucketKey, e digest) {
	acc := d.deltas[k]
	acc.Sub(e)
	d.deltas[k] = acc
}

// addElement puts the element e, of a field row of the bucket k, in.
func (d *digester) addElement(k bucketKey, e digest) {
	acc := d.deltas[k]
	acc.Add(e)
	d.deltas[k] = acc
}

func (d *digester) each(ctx context.Context, recordID, field string, fn func(bucketKey, digest)) error {
	k, e, err := scanElement(d.tx.QueryRowContext(ctx, fieldRowQuery+` WHERE f.record_id = ? AND f.field = ?`, recordID, field))
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("replica: digest of %s.%s: %w", recordID, field, err)
	}
	fn(k, e)
	return nil
}

// flush adds the deltas to the stored digests.
func (d *digester) flush(ctx context.Context) error {
	for k, delta := range d.deltas {
		if delta.IsZero() {
			continue
		}
		acc, err := storedDigest(ctx, d.tx, k)
		if err != nil {
			return err
		}
		acc.Add(delta)
		if err := setDigest(ctx, d.tx, k, acc); err != nil {
			return err
		}
	}
	clear(d.deltas)
	return nil
}

func storedDigest(ctx context.Context, tx *sql.Tx, k bucketKey) (digest, error) {
	var (
		d   digest
		raw []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT digest FROM digests WHERE service_id = ? AND person_id = ? AND record_type = ? AND bucket = ?`,
		k.ServiceID, k.PersonID, k.RecordType, k.Bucket).Scan(&raw)
	if err == sql.ErrNoRows {
		return d, nil
	}
	if err != nil || len(raw) != len(d) {
		return d, fmt.Errorf("replica: stored digest of %v: %d bytes, %v", k, len(raw), err)
	}
	copy(d[:], raw)
	return d, nil
}

func setDigest(ctx context.Context, tx *sql.Tx, k bucketKey, d digest) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO digests (service_id, person_id, record_type, bucket, digest) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (service_id, person_id, record_type, bucket) DO UPDATE SET digest = excluded.digest`,
		k.ServiceID, k.PersonID, k.RecordType, k.Bucket, d[:])
	return err
}

// heldDigests sums the elements of every field the replica holds, by
// bucket: what its digests must equal.
func heldDigests(ctx context.Context, q queryer) (map[bucketKey]digest, error) {
	rows, err := q.QueryContext(ctx, fieldRowQuery)
	if err != nil {
		return nil, fmt.Errorf("replica: digests: %w", err)
	}
	defer rows.Close()
	sums := map[bucketKey]digest{}
	for rows.Next() {
		k, e, err := scanElement(rows)
		if err != nil {
			return nil, fmt.Errorf("replica: digests: %w", err)
		}
		acc := sums[k]
		acc.Add(e)
		sums[k] = acc
	}
	return sums, rows.Err()
}

// storedDigests returns the digests the replica kept, by bucket.
func storedDigests(ctx context.Context, q queryer) (map[bucketKey]digest, error) {
	rows, err := q.QueryContext(ctx, `SELECT service_id, person_id, record_type, bucket, digest FROM digests`)
	if err != nil {
		return nil, fmt.Errorf("replica: digests: %w", err)
	}
	defer rows.Close()
	out := map[bucketKey]digest{}
	for rows.Next() {
		var (
			k   bucketKey
			raw []byte
			d   digest
		)
		if err := rows.Scan(&k.ServiceID, &k.PersonID, &k.RecordType, &k.Bucket, &raw); err != nil {
			return nil, fmt.Errorf("replica: digests: %w", err)
		}
		copy(d[:], raw)
		if !d.IsZero() {
			out[k] = d
		}
	}
	return out, rows.Err()
}

// rebuildDigests replaces the stored digests with those of the fields held
// and marks them built: after a migration that created them, and after
// writes that delete many rows (purges).
func rebuildDigests(ctx context.Context, tx *sql.Tx) error {
	sums, err := heldDigests(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM digests`); err != nil {
		return err
	}
	for k, d := range sums {
		if !d.IsZero() {
			if err := setDigest(ctx, tx, k, d); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE device SET digests_built = 1 WHERE id = 1`)
	return err
}

// unitDigests sums bucket digests into unit digests, sorted by unit.
func unitDigests(buckets map[bucketKey]digest) []*syncv1.UnitDigest {
	sums := map[digestUnit]digest{}
	for k, d := range buckets {
		acc := sums[k.digestUnit]
		acc.Add(d)
		sums[k.digestUnit] = acc
	}
	units := make([]digestUnit, 0, len(sums))
	for u, d := range sums {
		if !d.IsZero() {
			units = append(units, u)
		}
	}
	slices.SortFunc(units, digestUnit.compare)
	out := make([]*syncv1.UnitDigest, len(units))
	for i, u := range units {
		d := sums[u]
		out[i] = &syncv1.UnitDigest{Unit: u.proto(), Digest: d[:]}
	}
	return out
}
