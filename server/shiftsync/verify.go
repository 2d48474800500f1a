package shiftsync

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"slices"
	"time"
)

// VerifyStatus is the outcome of a [Sync.Verify].
type VerifyStatus int

// The outcomes. Their meaning for a device is in mobile-contract/README.md.
const (
	VerifyMatch       VerifyStatus = iota + 1 // the replica holds what the server holds
	VerifyMismatch                            // some units differ
	VerifyNotCaughtUp                         // changes after the cursor: nothing compared
)

// VerifyOutcomes names the outcomes, as metrics label them.
var VerifyOutcomes = map[VerifyStatus]string{VerifyMatch: "match", VerifyMismatch: "mismatch", VerifyNotCaughtUp: "not_caught_up"}

// UnitDigest is the digest of a unit as a device holds it and, in a
// [Verification] of a unit that differs, its [DigestBuckets] bucket
// digests.
type UnitDigest struct {
	Unit    HeldUnit
	Digest  Digest
	Buckets []Digest // nil, or one per bucket
}

// Verification is the server's answer to a Verify: the outcome, the
// server's digests of the units it compared and the checkpoint, signed.
type Verification struct {
	Status VerifyStatus
	// Units are, for a match or mismatch, the server's digest of every
	// non-empty unit of the scope and of every unit of the scope the device
	// named that differs, sorted; Buckets are set for the units that
	// differ.
	Units []UnitDigest
	// StoreID, Epoch, Cursor and At are the checkpoint: the store, at the
	// cursor, compared at the time.
	StoreID, Epoch string
	Cursor         Cursor
	At             time.Time
	// KeyID and Signature sign [Verification.Signed] with the server's
	// active signing key; unset when not caught up.
	KeyID     string
	Signature []byte
}

// verifySignatureVersion is the format of what a Verification's signature
// covers.
const verifySignatureVersion = "shiftsync-verify-1"

// Signed returns what the signature covers: the format name, then, each
// string as uint32 length and bytes and each integer big-endian, the store
// id, the epoch, the cursor's text, the time in Unix milliseconds (int64),
// the status (uint32), and for each unit in order its service, person,
// record type and 32-byte digest.
func (v Verification) Signed() []byte {
	b := appendDigestString(nil, verifySignatureVersion)
	b = appendDigestString(b, v.StoreID)
	b = appendDigestString(b, v.Epoch)
	b = appendDigestString(b, v.Cursor.String())
	b = binary.BigEndian.AppendUint64(b, uint64(v.At.UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, uint32(v.Status))
	for _, u := range v.Units {
		b = appendDigestString(b, u.Unit.ServiceID)
		b = appendDigestString(b, u.Unit.PersonID)
		b = appendDigestString(b, u.Unit.RecordType)
		b = append(b, u.Digest[:]...)
	}
	return b
}

// VerifySignature reports whether pub signed v.
func (v Verification) VerifySignature(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, v.Signed(), v.Signature)
}

// Verify compares the digests a device holds (claimed: one per unit it
// holds records of) with the server's for the principal's scope, at the
// cursor the device pulled to. It compares only when that is exact: in one
// read transaction, when no change of the scope lies after the cursor
// (the pull cannot have missed one) and the scope has not grown since the
// device's last pull; otherwise it answers [VerifyNotCaughtUp]. A unit is
// answered only if the principal may pull it: one the device names outside
// its scope is not answered, whatever the server holds of it, so the
// answer reveals nothing of other scopes (and a device that holds records
// it created but may not pull compares only what it pulls). The answer is
// signed with the active key of Keys.
//
// Returns the errors of Pull for the cursor, CodeResourceExhausted for more
// than [MaxVerifyUnits] units and CodeInvalid for a unit named twice.
func (s *Sync) Verify(ctx context.Context, p Principal, at Cursor, claimed []UnitDigest) (Verification, error) {
	if len(claimed) > MaxVerifyUnits {
		return Verification{}, Errorf(CodeResourceExhausted, "%d unit digests in one verify; at most %d", len(claimed), MaxVerifyUnits)
	}
	device := make(map[HeldUnit]Digest, len(claimed))
	for _, c := range claimed {
		if _, dup := device[c.Unit]; dup {
			return Verification{}, Errorf(CodeInvalid, "unit %s/%s/%s named twice", truncate(c.Unit.ServiceID), truncate(c.Unit.PersonID), truncate(c.Unit.RecordType))
		}
		device[c.Unit] = c.Digest
	}
	scope, err := s.Access.Scope(ctx, p)
	if err != nil {
		return Verification{}, err
	}
	now := s.now()
	keys := scope.Keys(now)
	v := Verification{StoreID: s.Store.StoreID(), Cursor: at, At: now.Truncate(time.Millisecond)}
	server := map[HeldUnit]*[DigestBuckets]Digest{}
	err = s.Store.View(ctx, func(tx Tx) error {
		if err := s.checkCursor(ctx, tx, at); err != nil {
			return err
		}
		if v.Epoch, err = tx.Epoch(ctx); err != nil {
			return err
		}
		served, known, err := tx.ServedScope(ctx, p.DeviceID)
		if err != nil {
			return err
		}
		services := scope.Services(now)
		if len(services) > 0 && (!known || Widened(served, keys)) {
			v.Status = VerifyNotCaughtUp
			return nil
		}
		for _, service := range services {
			head, err := tx.WrittenHead(ctx, service)
			if err != nil {
				return err
			}
			if head > at.Seq {
				v.Status = VerifyNotCaughtUp
				return nil
			}
		}
		if len(services) == 0 {
			return nil
		}
		stored, err := tx.Digests(ctx, services...)
		if err != nil {
			return err
		}
		for _, b := range stored {
			if !scope.Allows(OpPull, b.Unit.ref(), now) {
				continue
			}
			u := b.Unit.Held()
			if server[u] == nil {
				server[u] = new([DigestBuckets]Digest)
			}
			server[u][b.Bucket].Add(b.Digest)
		}
		return nil
	})
	if err != nil {
		return Verification{}, err
	}
	if v.Status == VerifyNotCaughtUp {
		return v, nil
	}
	v.Status = VerifyMatch
	units := make([]HeldUnit, 0, len(server)+len(device))
	for u := range server {
		units = append(units, u)
	}
	for u, d := range device {
		// Held by the device, none on the server: answered if the scope
		// pulls the unit, else not at all (the device may hold records it
		// created but may not pull, and learns nothing of other scopes).
		if server[u] == nil && !d.IsZero() && scope.Allows(OpPull, RecordRef{ServiceID: u.ServiceID, PersonID: u.PersonID, RecordType: u.RecordType}, now) {
			units = append(units, u)
		}
	}
	slices.SortFunc(units, HeldUnit.compare)
	for _, u := range units {
		var buckets [DigestBuckets]Digest
		if server[u] != nil {
			buckets = *server[u]
		}
		d := UnitDigest{Unit: u}
		for _, b := range buckets {
			d.Digest.Add(b)
		}
		if d.Digest.IsZero() && device[u].IsZero() {
			continue
		}
		if d.Digest != device[u] {
			v.Status = VerifyMismatch
			d.Buckets = buckets[:]
		}
		v.Units = append(v.Units, d)
	}
	if s.Keys == nil {
		return Verification{}, Errorf(CodeInternal, "sync: no signing keys to sign a verification")
	}
	key, err := s.Keys.ActiveKey(ctx)
	if err != nil {
		return Verification{}, err
	}
	v.KeyID, v.Signature = key.ID, ed25519.Sign(key.Private, v.Signed())
	return v, nil
}

// HeldBucket is one bucket of a unit as a device holds it.
type HeldBucket struct {
	Unit   HeldUnit
	Bucket int
}

// PullRepair returns a page of the current field states of the records
// of one bucket of a unit that the principal may pull, after the cursor
// (the zero Cursor: from the start), for a device that found the bucket
// differs ([Sync.Verify]) and replaces what it holds of it. Pages are as
// Pull's (a page reads at most limit changes of the unit's service, so
// one may hold few or none of the bucket's), with no purges. Returns the
// errors of Pull, and CodeInvalid for a bucket out of range.
func (s *Sync) PullRepair(ctx context.Context, p Principal, b HeldBucket, after Cursor, limit int) (PullPage, error) {
	if b.Bucket < 0 || b.Bucket >= DigestBuckets {
		return PullPage{}, Errorf(CodeInvalid, "bucket %d: buckets are 0 to %d", b.Bucket, DigestBuckets-1)
	}
	limit = clampPageSize(limit)
	scope, err := s.Access.Scope(ctx, p)
	if err != nil {
		return PullPage{}, err
	}
	now := s.now()
	var page PullPage
	err = s.Store.View(ctx, func(tx Tx) error {
		if err := s.checkCursor(ctx, tx, after); err != nil {
			return err
		}
		if page.BackedUpThrough, page.Epoch, err = backupReach(ctx, tx, p.DeviceID); err != nil {
			return err
		}
		page.Next = Cursor{StoreID: s.Store.StoreID(), Epoch: page.Epoch, Seq: after.Seq}
		if !slices.Contains(scope.Services(now), b.Unit.ServiceID) {
			return nil // none the principal may pull: an empty last page
		}
		window, err := tx.Changes(ctx, b.Unit.ServiceID, after.Seq, limit+1)
		if err != nil {
			return err
		}
		if len(window) > limit {
			window, page.HasMore = window[:limit], true
		}
		if len(window) > 0 {
			page.Next.Seq = window[len(window)-1].Seq
		}
		for _, c := range window {
			if DigestUnitOf(c.RecordRef).Held() == b.Unit && DigestBucket(c.RecordID) == b.Bucket && scope.Allows(OpPull, c.RecordRef, now) {
				page.Changes = append(page.Changes, c)
			}
		}
		return nil
	})
	if err != nil {
		return PullPage{}, err
	}
	// Who read what, as for Pull: the range, the bucket and the scope name
	// the records sent.
	detail, err := json.Marshal(map[string]any{"changes": len(page.Changes), "after": after.Seq, "through": page.Next.Seq,
		"repair": map[string]any{"service": b.Unit.ServiceID, "person": b.Unit.PersonID, "record_type": b.Unit.RecordType, "bucket": b.Bucket}})
	if err != nil {
		return PullPage{}, err
	}
	err = s.Store.Update(ctx, func(tx Tx) error {
		return AppendAudit(ctx, tx, s.now(), AuditEvent{Actor: p, Action: AuditPull, Subject: p.DeviceID, Detail: string(detail)})
	})
	if err != nil {
		return PullPage{}, err
	}
	return page, nil
}
