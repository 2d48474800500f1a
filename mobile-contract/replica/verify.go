package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// The outcomes of the verification step of a sync, [SyncReport].Verify.
const (
	VerifyMatch       = "match"         // the replica holds what the server holds of its scope
	VerifyMismatch    = "mismatch"      // it differs still, after one repair: see MismatchJSON
	VerifyNotCaughtUp = "not_caught_up" // the server had changes after the cursor: verified at the next sync
	VerifySkipped     = "skipped"       // the outbox holds changes: the replica is not the server's copy yet
	VerifyFailed      = "failed"        // the Verify call failed; see VerifyError
)

// verify is the last step of a sync that pushed everything and pulled to
// the end: it sends the digests of what the replica holds, and when the
// server answers MISMATCH re-pulls each differing bucket once (a repair
// pull) and verifies again, never more in one sync. A match or mismatch is
// kept as the replica's checkpoint (the server's signed answer). It fails
// the sync only for a local error; a failed call is reported.
func (s *syncer) verify(ctx context.Context) error {
	res, held, err := s.verifyOnce(ctx)
	if err != nil || res == nil {
		return err
	}
	if res.GetStatus() == syncv1.VerifyStatus_VERIFY_STATUS_MISMATCH {
		differ := differingBuckets(res, held)
		s.rep.repaired = differ
		s.rep.Repaired = int64(len(differ))
		for _, b := range differ {
			if err := s.repair(ctx, b); err != nil {
				return s.verifyFailed(err)
			}
		}
		if res, held, err = s.verifyOnce(ctx); err != nil || res == nil {
			return err
		}
	}
	var mismatch []bucketKey
	switch res.GetStatus() {
	case syncv1.VerifyStatus_VERIFY_STATUS_MATCH:
		s.rep.Verify = VerifyMatch
	case syncv1.VerifyStatus_VERIFY_STATUS_MISMATCH:
		s.rep.Verify = VerifyMismatch
		mismatch = differingBuckets(res, held)
		s.rep.mismatch = mismatch
	default:
		s.rep.Verify = VerifyNotCaughtUp
		return nil
	}
	list := ""
	if mismatch != nil {
		list = mustJSON(mismatch)
	}
	_, err = s.r.write.ExecContext(ctx, `
		UPDATE device SET verified_at = ?, verified_cursor = ?, verify_key_id = ?, verify_signature = ?, verify_mismatch = ? WHERE id = 1`,
		s.r.nowMS(), res.GetCursor(), res.GetKeyId(), res.GetSignature(), list)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	return nil
}

// verifyOnce sends one Verify with the digests of the fields held, summed
// from the rows in one read transaction with the cursor; it answers nil
// when there is nothing to verify (the outbox is not empty) or the call
// failed, which it reports.
func (s *syncer) verifyOnce(ctx context.Context) (*syncv1.VerifyResponse, map[bucketKey]digest, error) {
	var (
		held    map[bucketKey]digest
		cursor  string
		waiting int
	)
	err := s.r.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&waiting); err != nil || waiting > 0 {
			return err
		}
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		cursor = st.cursor
		held, err = heldDigests(ctx, tx)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("replica: %w", err)
	}
	if waiting > 0 {
		s.rep.Verify = VerifySkipped
		return nil, nil, nil
	}
	info, err := s.info(ctx)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.client.Verify(cctx, &syncv1.VerifyRequest{Client: info, Cursor: cursor, Units: unitDigests(held)})
	if err != nil {
		return nil, nil, s.verifyFailed(err)
	}
	return res, held, nil
}

// verifyFailed reports a failed Verify call; the sync itself succeeded.
func (s *syncer) verifyFailed(err error) error {
	s.rep.Verify, s.rep.VerifyError = VerifyFailed, err.Error()
	return nil
}

// differingBuckets returns the buckets on which the server's answer and
// the replica's digests differ, sorted.
func differingBuckets(res *syncv1.VerifyResponse, held map[bucketKey]digest) []bucketKey {
	var out []bucketKey
	for _, u := range res.GetUnits() {
		if len(u.GetBuckets()) != digestBuckets {
			continue
		}
		unit := digestUnit{ServiceID: u.GetUnit().GetServiceId(), PersonID: u.GetUnit().GetPersonId(), RecordType: u.GetUnit().GetRecordType()}
		for b, raw := range u.GetBuckets() {
			var server digest
			copy(server[:], raw)
			if k := (bucketKey{unit, b}); held[k] != server {
				out = append(out, k)
			}
		}
	}
	slices.SortFunc(out, func(a, b bucketKey) int {
		if c := a.digestUnit.compare(b.digestUnit); c != 0 {
			return c
		}
		return a.Bucket - b.Bucket
	})
	return out
}

// repair pulls the bucket's records again and writes the server's value
// of each of their fields over the replica's, whatever its version, in one
// transaction per page. Nothing is deleted: a field the replica holds that
// the server does not stays, and the next verify reports it.
func (s *syncer) repair(ctx context.Context, b bucketKey) error {
	cursor := ""
	for {
		info, err := s.info(ctx)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := s.client.Pull(cctx, &syncv1.PullRequest{Client: info, Cursor: cursor, PageSize: s.pageSize,
			Repair: &syncv1.DigestBucket{Unit: b.proto(), Bucket: uint32(b.Bucket)}})
		cancel()
		if err != nil {
			return err
		}
		s.rep.PullPages++
		if err := s.r.applyRepair(ctx, res.GetChanges()); err != nil {
			return err
		}
		if !res.GetHasMore() || res.GetNextCursor() == cursor {
			return nil
		}
		cursor = res.GetNextCursor()
	}
}

// applyRepair writes the server's current values over the replica's.
func (r *Replica) applyRepair(ctx context.Context, changes []*syncv1.FieldChange) error {
	return r.writeTx(ctx, func(tx *sql.Tx) error {
		digests := newDigester(tx)
		now := r.nowMS()
		for _, c := range changes {
			v := versionFromProto(c.GetVersion())
			value, err := valueJSON(c.GetValue())
			if err != nil {
				return fmt.Errorf("replica: repaired value of %s.%s: %w", c.GetRecordId(), c.GetField(), err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO records (record_id, record_type, service_id, person_id, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (record_id) DO NOTHING`, c.GetRecordId(), c.GetRecordType(), c.GetServiceId(), c.GetPersonId(), now); err != nil {
				return err
			}
			if err := digests.remove(ctx, c.GetRecordId(), c.GetField()); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO fields (record_id, field, value, wall_ms, logical, device_id, author_user_id) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value, wall_ms = excluded.wall_ms,
				  logical = excluded.logical, device_id = excluded.device_id, author_user_id = excluded.author_user_id`,
				c.GetRecordId(), c.GetField(), value, v.hlc.wallMS, v.hlc.logical, v.deviceID, c.GetAuthorUserId()); err != nil {
				return err
			}
			if err := digests.add(ctx, c.GetRecordId(), c.GetField()); err != nil {
				return err
			}
		}
		if err := digests.flush(ctx); err != nil {
			return err
		}
		// The stored digests of a corrupted row were kept by the writes,
		// not by the row: make them the rows' again.
		return rebuildDigests(ctx, tx)
	})
}

// Verification is the replica's last verification against the server, as
// JSON: {"verifiedAtMs", "cursor", "keyId", "signature" (base64), and
// "mismatch": the units and buckets that still differed, or null}; "{}" if
// it never verified.
func (r *Replica) Verification() (string, error) {
	var (
		at             int64
		cursor, keyID  string
		sig            []byte
		mismatchColumn string
	)
	err := r.read.QueryRowContext(context.Background(), `SELECT verified_at, verified_cursor, verify_key_id, verify_signature, verify_mismatch FROM device WHERE id = 1`).
		Scan(&at, &cursor, &keyID, &sig, &mismatchColumn)
	if err != nil {
		return "", fmt.Errorf("replica: %w", err)
	}
	if at == 0 {
		return "{}", nil
	}
	out := struct {
		VerifiedAtMs int64           `json:"verifiedAtMs"`
		Cursor       string          `json:"cursor"`
		KeyID        string          `json:"keyId"`
		Signature    []byte          `json:"signature"`
		Mismatch     json.RawMessage `json:"mismatch"`
	}{at, cursor, keyID, sig, json.RawMessage("null")}
	if mismatchColumn != "" {
		out.Mismatch = json.RawMessage(mismatchColumn)
	}
	b, err := json.Marshal(out)
	return string(b), err
}
