package replica

import (
	"context"
	"database/sql"
	"fmt"

	"google.golang.org/protobuf/proto"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// Receipts: the server may be restored from a backup that is older than
// its acknowledgements, so the replica keeps the receipt of every
// mutation the server acknowledged (its counter and the mutation exactly as
// sent) until an answer's backed_up_through covers it. Counters are stored
// in order, so a store's backup holds a prefix of them, and a receipt at or
// below the reach is in a backup of the answering store. When an answer
// names another epoch than the one the receipts were confirmed in, the
// store was restored: every receipt left is re-pushed, oldest first, before
// any newer mutation; the server answers those it still has as replays and
// stores the others. Only then is the new epoch the device's.

// keepReceipt keeps the receipt of the acknowledged mutation under the
// counter, sent as the bytes sentAs; one kept before stays as it was (a
// replayed answer to a resend).
func keepReceipt(ctx context.Context, tx *sql.Tx, counter int64, sentAs []byte, now int64) error {
	if dropReceipts {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO receipts (counter, mutation, acknowledged_at) VALUES (?, ?, ?)`, counter, sentAs, now)
	return err
}

// noteBackups applies an answer's backed_up_through and epoch: receipts it
// covers are dropped, and the epoch is the device's at once when no receipt
// is left that the answering store might lack.
func noteBackups(ctx context.Context, tx *sql.Tx, reach uint64, epoch string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM receipts WHERE counter <= ?`, int64(min(reach, 1<<63-1))); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `
		UPDATE device SET backed_up_through = ?, seen_epoch = ?,
			epoch = CASE WHEN EXISTS (SELECT 1 FROM receipts) THEN epoch ELSE ? END
		WHERE id = 1`, int64(min(reach, 1<<63-1)), epoch, epoch)
	return err
}

// replayDue reports whether the last answer came from a store in another
// epoch than the one known to hold every receipt. An error reads as false:
// replay, which reads the same row, reports it.
func (s *syncer) replayDue(ctx context.Context) bool {
	st, err := loadState(ctx, s.r.read)
	return err == nil && st.epoch != st.seenEpoch
}

// replay re-pushes every receipt, oldest first in batches of at most
// [MaxPushBatch], when the server was restored (see replayDue), then makes
// the server's epoch the device's. A receipt the server will not take
// stops it with code "stalled": NOT_PROCESSED means the restored store
// lacks an earlier counter this device has no receipt of (an acknowledged
// mutation lost with the backup); nothing is deleted, and sync again
// retries.
func (s *syncer) replay(ctx context.Context) error {
	var after int64
	epoch := ""
	for {
		st, err := loadState(ctx, s.r.read)
		if err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		if st.epoch == st.seenEpoch {
			return nil
		}
		if st.seenEpoch != epoch { // restored again while replaying: from the start
			after, epoch = 0, st.seenEpoch
		}
		counters, batch, err := receiptsAfter(ctx, s.r.read, after, MaxPushBatch)
		if err != nil {
			return fmt.Errorf("replica: read receipts: %w", err)
		}
		if len(batch) == 0 {
			_, err := s.r.write.ExecContext(ctx, `UPDATE device SET epoch = seen_epoch WHERE id = 1 AND seen_epoch = ?`, epoch)
			if err != nil {
				return fmt.Errorf("replica: %w", err)
			}
			continue
		}
		info, err := s.info(ctx)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := s.client.Push(cctx, &syncv1.PushRequest{Client: info, Mutations: batch})
		cancel()
		if err != nil {
			return err
		}
		s.rep.PushRounds++
		s.rep.Pushed += int64(len(batch))
		s.rep.Repushed += int64(len(batch))
		results := res.GetResults()
		if len(results) != len(batch) {
			return &codedError{Code: CodeInternal, Message: fmt.Sprintf("push answered %d results for %d mutations", len(results), len(batch))}
		}
		var refused *syncv1.MutationResult
		for i, r := range results {
			if r.GetCounter() != batch[i].GetCounter() {
				return &codedError{Code: CodeInternal, Message: fmt.Sprintf("push result %d is for counter %d, not %d", i, r.GetCounter(), batch[i].GetCounter())}
			}
			switch r.GetStatus() {
			case syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED, syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED:
			default:
				if refused == nil {
					refused = r
				}
			}
		}
		if err := s.r.writeTx(ctx, func(tx *sql.Tx) error {
			return noteBackups(ctx, tx, res.GetBackedUpThrough(), res.GetEpoch())
		}); err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		if refused != nil {
			return &codedError{Code: CodeStalled, Message: fmt.Sprintf(
				"the server was restored from a backup and will not take back acknowledged counter %d (%s; it has acknowledged up to %d): "+
					"it lacks earlier mutations of this device that the device holds no receipt of; the receipts and the outbox are kept",
				refused.GetCounter(), refused.GetStatus(), res.GetAcknowledgedCounter())}
		}
		after = counters[len(counters)-1]
	}
}

// receiptsAfter returns up to limit receipts with counters above after,
// oldest first, with their counters.
func receiptsAfter(ctx context.Context, q queryer, after int64, limit int) ([]int64, []*syncv1.Mutation, error) {
	rows, err := q.QueryContext(ctx, `SELECT counter, mutation FROM receipts WHERE counter > ? ORDER BY counter LIMIT ?`, after, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		counters []int64
		batch    []*syncv1.Mutation
	)
	for rows.Next() {
		var (
			counter int64
			raw     []byte
		)
		if err := rows.Scan(&counter, &raw); err != nil {
			return nil, nil, err
		}
		m := &syncv1.Mutation{}
		if err := proto.Unmarshal(raw, m); err != nil {
			return nil, nil, fmt.Errorf("receipt %d: %w", counter, err)
		}
		counters, batch = append(counters, counter), append(batch, m)
	}
	return counters, batch, rows.Err()
}
