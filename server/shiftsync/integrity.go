package shiftsync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Replica integrity digests (DESIGN "Backup, restore and integrity").
//
// The server keeps, for each digest unit and bucket, an AdHash-256
// accumulator: the sum modulo 2^256 of the element hashes of the winning
// version of every field of the unit's records in the bucket. The push that
// changes a field's winner subtracts the old winner's element and adds the
// new one's in the same transaction, so the accumulators always equal a
// rebuild from the data ([RebuildDigests]). A replica keeps the same sums
// over what it holds; comparing them, unit by unit and bucket by bucket,
// shows whether it holds exactly what the server does and, when not, which
// records to fetch again.
//
// The element of a field version is SHA-256 over, in order:
//
//	uint32 len(record_id) · record_id · uint32 len(field) · field ·
//	int64 hlc.wall_ms · uint32 hlc.logical ·
//	uint32 len(device_id) · device_id · SHA-256(value encoding)
//
// all integers big-endian, strings as their UTF-8 bytes. The value encoding
// is one kind byte (1 string, 2 int, 3 double, 4 bool, 5 timestamp, 6 enum,
// 7 list, as [ValueKind]) then: a string or enum's UTF-8 bytes; an int as
// int64; a double's IEEE 754 bits as uint64; a bool as one byte 0 or 1; a
// timestamp as int64 Unix seconds then uint32 nanoseconds; a list as, for
// each item, uint32 len · UTF-8 bytes. A digest is the element sum as a
// 256-bit big-endian unsigned integer. A record's bucket is the first byte
// of SHA-256(record_id) modulo [DigestBuckets]. The encoding never changes:
// the mobile contract documents it and devices compute it.

// DigestBuckets is how many buckets each unit's digest is kept in, so that a
// difference is found in about 1/64 of the unit's records.
const DigestBuckets = 64

// MaxVerifyUnits bounds how many unit digests a device may send with one
// Verify call.
const MaxVerifyUnits = 10_000

// Digest is an AdHash-256 value: a sum modulo 2^256 of element hashes, as
// a big-endian unsigned integer. The zero Digest is the digest of nothing.
type Digest [32]byte

// Add adds e to d, modulo 2^256.
func (d *Digest) Add(e Digest) {
	var carry uint64
	for i := 24; i >= 0; i -= 8 {
		var s uint64
		s, carry = bits.Add64(binary.BigEndian.Uint64(d[i:]), binary.BigEndian.Uint64(e[i:]), carry)
		binary.BigEndian.PutUint64(d[i:], s)
	}
}

// Sub subtracts e from d, modulo 2^256.
func (d *Digest) Sub(e Digest) {
	var borrow uint64
	for i := 24; i >= 0; i -= 8 {
		var s uint64
		s, borrow = bits.Sub64(binary.BigEndian.Uint64(d[i:]), binary.BigEndian.Uint64(e[i:]), borrow)
		binary.BigEndian.PutUint64(d[i:], s)
	}
}

// IsZero reports whether d is the digest of nothing (or of elements that
// sum to 2^256, which does not happen by accident).
func (d Digest) IsZero() bool { return d == Digest{} }

// String returns d in hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// DigestUnit is the unit a store keeps accumulators for: the records of one
// service, person (or none), record type and agency. Every access decision
// about pulling a record ([Grant.Covers] and the role's permission for the
// type) depends only on these, so a device holds a unit wholly or not at
// all.
type DigestUnit struct {
	ServiceID, PersonID, RecordType, Agency string
}

// DigestUnitOf returns the unit of the record r.
func DigestUnitOf(r RecordRef) DigestUnit {
	return DigestUnit{ServiceID: r.ServiceID, PersonID: r.PersonID, RecordType: r.RecordType, Agency: r.Agency}
}

// ref is a record of the unit, for access decisions.
func (u DigestUnit) ref() RecordRef {
	return RecordRef{ServiceID: u.ServiceID, PersonID: u.PersonID, RecordType: u.RecordType, Agency: u.Agency}
}

// Held is the unit as a device knows it: a device is never told a record's
// agency, so the server adds the agencies' units a device holds into one.
func (u DigestUnit) Held() HeldUnit {
	return HeldUnit{ServiceID: u.ServiceID, PersonID: u.PersonID, RecordType: u.RecordType}
}

// HeldUnit is a unit as a device holds and verifies it: the records of one
// service, person (or none) and record type that it may pull.
type HeldUnit struct {
	ServiceID, PersonID, RecordType string
}

func (u HeldUnit) compare(o HeldUnit) int {
	return cmp.Or(cmp.Compare(u.ServiceID, o.ServiceID), cmp.Compare(u.PersonID, o.PersonID), cmp.Compare(u.RecordType, o.RecordType))
}

// BucketDigest is the accumulator of one bucket of a unit.
type BucketDigest struct {
	Unit   DigestUnit
	Bucket int
	Digest Digest
}

func (b BucketDigest) compare(o BucketDigest) int {
	return cmp.Or(b.Unit.Held().compare(o.Unit.Held()), cmp.Compare(b.Unit.Agency, o.Unit.Agency), cmp.Compare(b.Bucket, o.Bucket))
}

// DigestBucket returns the bucket of the record with the id.
func DigestBucket(recordID string) int {
	h := sha256.Sum256([]byte(recordID))
	return int(h[0]) % DigestBuckets
}

// DigestElement returns the element hash of a field version with the
// value (see the encoding above).
func DigestElement(recordID, field string, v Version, value Value) Digest {
	var buf [256]byte // most fields' encodings fit: no allocation
	vh := sha256.Sum256(appendDigestValue(buf[:0], value))
	b := appendDigestString(buf[:0], recordID)
	b = appendDigestString(b, field)
	b = binary.BigEndian.AppendUint64(b, uint64(v.HLC.WallMS))
	b = binary.BigEndian.AppendUint32(b, v.HLC.Logical)
	b = appendDigestString(b, v.DeviceID)
	b = append(b, vh[:]...)
	return sha256.Sum256(b)
}

func appendDigestString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendDigestValue appends the value encoding of v.
func appendDigestValue(b []byte, v Value) []byte {
	b = append(b, byte(v.Kind))
	switch v.Kind {
	case KindString, KindEnum:
		b = append(b, v.String...)
	case KindInt:
		b = binary.BigEndian.AppendUint64(b, uint64(v.Int))
	case KindDouble:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.Double))
	case KindBool:
		if v.Bool {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case KindTimestamp:
		b = binary.BigEndian.AppendUint64(b, uint64(v.Time.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(v.Time.Nanosecond()))
	case KindList:
		for _, s := range v.List {
			b = appendDigestString(b, s)
		}
	}
	return b
}

// DigestFoldEvery bounds the pending deltas ([DigestTx.AddDigestDeltas]):
// the push that makes DigestFoldEvery rows pending adds them all into the
// accumulators. A push then writes one row for each service it touches
// instead of reading and writing every bucket it changes, and on
// PostgreSQL concurrent pushes take no lock on an accumulator except while
// folding; a read sums at most this many rows more.
const DigestFoldEvery = 64

// DigestTx is the integrity digests' part of a [Tx].
//
// A bucket's digest is its stored accumulator plus its pending deltas:
// what pushes added since the last fold, kept as one row per push and
// service so that a push need not read and rewrite the accumulators.
type DigestTx interface {
	// DigestsOf returns the stored accumulators of the buckets named (each
	// once), in a write transaction locking them to its end; a bucket with
	// none stored is returned zero. The result is in the order of buckets.
	// Pending deltas are not included.
	DigestsOf(ctx context.Context, buckets []BucketDigest) ([]BucketDigest, error)
	// SetDigests stores the accumulator of each bucket.
	SetDigests(ctx context.Context, ds []BucketDigest) error
	// AddDigestDeltas keeps deltas, the [EncodeDigestDeltas] encoding of
	// what one push adds to buckets of the service, as one pending row,
	// and returns how many pending rows the store then holds.
	AddDigestDeltas(ctx context.Context, serviceID string, deltas []byte) (pending int, err error)
	// TakeDigestDeltas removes the pending rows this transaction sees and
	// returns their deltas, decoded; a bucket may appear more than once.
	TakeDigestDeltas(ctx context.Context) ([]BucketDigest, error)
	// Digests returns every stored accumulator and every pending delta of
	// the services named, of every service when none is, read from one
	// snapshot. A bucket may appear more than once: its digest is the sum
	// ([sumDigests]).
	Digests(ctx context.Context, services ...string) ([]BucketDigest, error)
	// ReplaceDigests replaces every stored accumulator and pending delta
	// with the accumulators ds and marks them built.
	ReplaceDigests(ctx context.Context, ds []BucketDigest) error
	// DigestsBuilt reports whether the accumulators were built since the
	// migration that created them (which cannot compute SHA-256 in SQL).
	DigestsBuilt(ctx context.Context) (bool, error)
	// WrittenHead returns the newest position of a current field state of
	// the service that the transaction sees, whether or not a pull may read
	// it yet ([SyncTx.ServiceHead] may lag it): 0 when none.
	WrittenHead(ctx context.Context, serviceID string) (int64, error)
	// EachWinner calls fn with the winning version of every field of every
	// record, its record's envelope and value, in no particular order; an
	// error from fn stops it and is returned.
	EachWinner(ctx context.Context, fn func(FieldChange) error) error
}

// digestKeeper keeps the integrity accumulators through one push
// transaction: [digestDeltas]. (A benchmark's baseline keeps none.)
type digestKeeper interface {
	// count gathers what the mutation's merge outcomes change: each
	// winning edit takes the field's current winner out, when it had one,
	// and puts the mutation's version in. It returns the element of each
	// winning outcome, by index, for SetFieldHead to keep (nil: none).
	count(ctx context.Context, tx SyncTx, m *Mutation, r RecordRef, outcomes []FieldOutcome, current map[string]FieldHead) ([]Digest, error)
	// apply adds what was gathered to the stored accumulators.
	apply(ctx context.Context, tx DigestTx) error
}

// digestSums are sums of element hashes by bucket.
type digestSums map[bucketKey]Digest

func (s digestSums) add(k bucketKey, e Digest) {
	acc := s[k]
	acc.Add(e)
	s[k] = acc
}

// nonZero returns the buckets whose sum is not zero, sorted by unit and
// bucket.
func (s digestSums) nonZero() []BucketDigest {
	out := make([]BucketDigest, 0, len(s))
	for k, d := range s {
		if !d.IsZero() {
			out = append(out, BucketDigest{Unit: k.unit, Bucket: k.bucket, Digest: d})
		}
	}
	slices.SortFunc(out, BucketDigest.compare)
	return out
}

// sumDigests returns the digest of each bucket that ds name, some more
// than once ([DigestTx.Digests]), leaving out those that sum to zero,
// sorted by unit and bucket.
func sumDigests(ds []BucketDigest) []BucketDigest {
	s := make(digestSums, len(ds))
	for _, d := range ds {
		s.add(bucketKey{d.Unit, d.Bucket}, d.Digest)
	}
	return s.nonZero()
}

// digestDeltas are what one push adds to each bucket it touches, kept as
// pending deltas when the push's mutations are merged.
type digestDeltas struct{ digestSums }

func newDigestDeltas() digestKeeper { return digestDeltas{digestSums{}} }

func (d digestDeltas) count(ctx context.Context, tx SyncTx, m *Mutation, r RecordRef, outcomes []FieldOutcome, current map[string]FieldHead) ([]Digest, error) {
	var unkept []string // winners kept without their element: read their values
	for _, o := range outcomes {
		if h, had := current[o.Field]; o.Wins && had && len(h.Element) != len(Digest{}) {
			unkept = append(unkept, o.Field)
		}
	}
	var old map[string]Value
	if len(unkept) > 0 {
		var err error
		if old, err = tx.FieldValues(ctx, m.RecordID, unkept); err != nil {
			return nil, err
		}
	}
	version := Version{HLC: m.HLC, DeviceID: m.DeviceID}
	k := bucketKey{DigestUnitOf(r), DigestBucket(r.RecordID)}
	acc := d.digestSums[k]
	elements := make([]Digest, len(outcomes))
	for i, o := range outcomes {
		if !o.Wins {
			continue
		}
		if h, had := current[o.Field]; had {
			if len(h.Element) == len(Digest{}) {
				acc.Sub(Digest(h.Element))
			} else {
				acc.Sub(DigestElement(r.RecordID, o.Field, h.Version, old[o.Field]))
			}
		}
		elements[i] = DigestElement(r.RecordID, o.Field, version, m.Fields[i].Value)
		acc.Add(elements[i])
	}
	d.digestSums[k] = acc
	return elements, nil
}

type bucketKey struct {
	unit   DigestUnit
	bucket int
}

// apply keeps the push's deltas as one pending row for each service, and
// folds every pending row into the accumulators when there are
// [DigestFoldEvery] of them.
func (d digestDeltas) apply(ctx context.Context, tx DigestTx) error {
	ds := d.nonZero()
	pending := 0
	for len(ds) > 0 {
		n := 1 // ds is sorted by service first: its first run is one service's
		for n < len(ds) && ds[n].Unit.ServiceID == ds[0].Unit.ServiceID {
			n++
		}
		p, err := tx.AddDigestDeltas(ctx, ds[0].Unit.ServiceID, EncodeDigestDeltas(ds[:n]))
		if err != nil {
			return err
		}
		pending = max(pending, p)
		ds = ds[n:]
	}
	if pending < DigestFoldEvery {
		return nil
	}
	return foldDigests(ctx, tx)
}

// foldDigests adds every pending delta the transaction sees into its
// accumulator, reading and writing each bucket once, the buckets in a
// fixed order so that concurrent folds take their row locks in the same
// order.
func foldDigests(ctx context.Context, tx DigestTx) error {
	taken, err := tx.TakeDigestDeltas(ctx)
	if err != nil {
		return err
	}
	sums := sumDigests(taken)
	if len(sums) == 0 {
		return nil
	}
	stored, err := tx.DigestsOf(ctx, sums)
	if err != nil {
		return err
	}
	for i := range stored {
		stored[i].Digest.Add(sums[i].Digest)
	}
	return tx.SetDigests(ctx, stored)
}

// EncodeDigestDeltas encodes deltas of buckets of one service, sorted by
// unit ([digestSums.nonZero]), for a store to keep as one pending row: the
// number of units as a uvarint, then for each its person id, record type
// and agency, each as a uvarint length then its bytes, the number of its
// buckets as a uvarint, and for each bucket its number as one byte and its
// 32-byte digest. The service is the row's.
func EncodeDigestDeltas(ds []BucketDigest) []byte {
	var units [][]BucketDigest
	for i := 0; i < len(ds); {
		n := 1
		for i+n < len(ds) && ds[i+n].Unit == ds[i].Unit {
			n++
		}
		units, i = append(units, ds[i:i+n]), i+n
	}
	b := make([]byte, 0, 1+len(units)*32+len(ds)*(1+len(Digest{}))) // ids of some 30 bytes a unit
	b = binary.AppendUvarint(b, uint64(len(units)))
	for _, u := range units {
		for _, s := range []string{u[0].Unit.PersonID, u[0].Unit.RecordType, u[0].Unit.Agency} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendUvarint(b, uint64(len(u)))
		for _, d := range u {
			b = append(b, byte(d.Bucket))
			b = append(b, d.Digest[:]...)
		}
	}
	return b
}

// errDigestDeltasCut is the error of decoding deltas that end in the middle
// of one.
var errDigestDeltasCut = errors.New("digest deltas cut short")

// DecodeDigestDeltas decodes what [EncodeDigestDeltas] encoded of deltas
// of the service.
func DecodeDigestDeltas(serviceID string, b []byte) ([]BucketDigest, error) {
	count := func() (uint64, error) {
		n, size := binary.Uvarint(b)
		if size <= 0 || n > uint64(len(b)) { // each thing counted takes a byte at least
			return 0, errDigestDeltasCut
		}
		b = b[size:]
		return n, nil
	}
	units, err := count()
	if err != nil {
		return nil, err
	}
	var out []BucketDigest
	for range units {
		unit := DigestUnit{ServiceID: serviceID}
		for _, s := range []*string{&unit.PersonID, &unit.RecordType, &unit.Agency} {
			n, err := count()
			if err != nil || uint64(len(b)) < n {
				return nil, errDigestDeltasCut
			}
			*s, b = string(b[:n]), b[n:]
		}
		buckets, err := count()
		if err != nil {
			return nil, err
		}
		for range buckets {
			d := BucketDigest{Unit: unit}
			if len(b) < 1+len(d.Digest) {
				return nil, errDigestDeltasCut
			}
			if d.Bucket = int(b[0]); d.Bucket >= DigestBuckets {
				return nil, fmt.Errorf("digest deltas name bucket %d, of %d", d.Bucket, DigestBuckets)
			}
			copy(d.Digest[:], b[1:])
			b = b[1+len(d.Digest):]
			out = append(out, d)
		}
	}
	if len(b) > 0 {
		return nil, fmt.Errorf("digest deltas followed by %d bytes more", len(b))
	}
	return out, nil
}

// RebuildDigests computes every accumulator from the winning versions the
// store holds: what the stored ones must equal. Buckets whose sum is zero
// are left out; the result is sorted by unit and bucket.
func RebuildDigests(ctx context.Context, tx DigestTx) ([]BucketDigest, error) {
	sums := digestSums{}
	err := tx.EachWinner(ctx, func(c FieldChange) error {
		sums.add(bucketKey{DigestUnitOf(c.RecordRef), DigestBucket(c.RecordID)}, DigestElement(c.RecordID, c.Field, c.Version, c.Value))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sums.nonZero(), nil
}

// DigestDifference is a bucket whose stored accumulator differs from the
// one rebuilt from the data.
type DigestDifference struct {
	Unit            DigestUnit
	Bucket          int
	Stored, Rebuilt Digest
}

// VerifyDigests rebuilds every accumulator from the store's data in one
// read transaction and returns the buckets whose stored accumulator
// differs, sorted by unit and bucket: none when the store is sound. It is
// what `shiftsyncd admin verify-digests` runs.
func VerifyDigests(ctx context.Context, st Store) ([]DigestDifference, error) {
	var diffs []DigestDifference
	err := st.View(ctx, func(tx Tx) error {
		rebuilt, err := RebuildDigests(ctx, tx)
		if err != nil {
			return err
		}
		stored, err := tx.Digests(ctx)
		if err != nil {
			return err
		}
		diffs = compareDigests(sumDigests(stored), rebuilt)
		return nil
	})
	return diffs, err
}

// BuildDigests builds the accumulators from the data, once: a store opened
// after the migration that created them calls it, and it does nothing
// when they were built.
func BuildDigests(ctx context.Context, st Store) error {
	return st.Update(ctx, func(tx Tx) error {
		built, err := tx.DigestsBuilt(ctx)
		if err != nil || built {
			return err
		}
		ds, err := RebuildDigests(ctx, tx)
		if err != nil {
			return err
		}
		return tx.ReplaceDigests(ctx, ds)
	})
}

// compareDigests returns the buckets on which two lists of accumulators,
// each naming a bucket once, differ, a bucket missing from one counting as
// zero there.
func compareDigests(stored, rebuilt []BucketDigest) []DigestDifference {
	all := map[bucketKey]*DigestDifference{}
	at := func(b BucketDigest) *DigestDifference {
		k := bucketKey{b.Unit, b.Bucket}
		if all[k] == nil {
			all[k] = &DigestDifference{Unit: b.Unit, Bucket: b.Bucket}
		}
		return all[k]
	}
	for _, b := range stored {
		at(b).Stored = b.Digest
	}
	for _, b := range rebuilt {
		at(b).Rebuilt = b.Digest
	}
	var diffs []DigestDifference
	for _, d := range all {
		if d.Stored != d.Rebuilt {
			diffs = append(diffs, *d)
		}
	}
	slices.SortFunc(diffs, func(a, b DigestDifference) int {
		return BucketDigest{Unit: a.Unit, Bucket: a.Bucket}.compare(BucketDigest{Unit: b.Unit, Bucket: b.Bucket})
	})
	return diffs
}
