package shiftsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Backup is a verified copy of a store: where it was written, when, and
// how far it reaches.
type Backup struct {
	Path    string
	StoreID string
	// Epoch is the store's epoch the copy was taken in.
	Epoch string
	// TakenAt is when the copy was begun: what was committed before it is
	// in the copy.
	TakenAt time.Time
	// HeadSeq is the newest change log position the copy holds.
	HeadSeq int64
	// AuditSeq is the newest audit log entry the copy holds.
	AuditSeq int64
	Bytes    int64
	SHA256   []byte // of the file as written
	// Acknowledged is the acknowledged counter of each device the copy
	// holds: a device's mutations are stored in counter order, so the copy
	// holds every one of them up to it. It is the reach push and pull
	// answers report once the backup is recorded ([NoteBackup]).
	Acknowledged map[string]uint64
}

// NoteBackup raises, inside tx, each device's backup reach to what the
// verified backup b holds of it, so push and pull answers tell the devices
// they may drop their receipts up to there. A reach never goes back within
// an epoch. A backup taken in another epoch than the store's is refused
// (CodeConflict): it need not hold what this epoch acknowledged.
func NoteBackup(ctx context.Context, tx SyncTx, b Backup) error {
	epoch, err := tx.Epoch(ctx)
	if err != nil {
		return err
	}
	if b.Epoch != epoch {
		return Errorf(CodeConflict, "the backup %s was taken in epoch %q, and the store is in epoch %q since a restore: it covers nothing of this epoch", b.Path, b.Epoch, epoch)
	}
	raised := map[string]uint64{}
	for device, counter := range b.Acknowledged {
		reach, err := tx.BackedUpThrough(ctx, device)
		if err != nil {
			return err
		}
		if counter > reach {
			raised[device] = counter
		}
	}
	return tx.SetBackedUpThrough(ctx, raised)
}

// NewEpoch returns a new random epoch.
func NewEpoch() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// StartEpoch begins the epoch epoch (see [NewEpoch]) of a store just
// installed from the verified backup from, or restored by its database's
// own tools from the copy from names (Path alone, and TakenAt if known),
// inside tx, audited as done by the principal at at. Every cursor issued
// before is then answered "resync_required", and every device's backup
// reach becomes what the store holds of it: the copy it was restored from
// holds exactly that. Devices that see the new epoch re-push their
// receipts above it.
func StartEpoch(ctx context.Context, tx Tx, epoch string, from Backup, by Principal, at time.Time) error {
	previous, err := tx.Epoch(ctx)
	if err != nil {
		return err
	}
	if epoch == "" || epoch == previous {
		return Errorf(CodeInvalid, "a new epoch must differ from the store's %q", previous)
	}
	if err := tx.SetEpoch(ctx, epoch); err != nil {
		return err
	}
	acked, err := tx.AcknowledgedCounters(ctx)
	if err != nil {
		return err
	}
	if err := tx.SetBackedUpThrough(ctx, acked); err != nil {
		return err
	}
	d := map[string]any{"from": from.Path, "head_seq": from.HeadSeq, "audit_seq": from.AuditSeq, "previous_epoch": previous, "epoch": epoch, "devices": len(acked)}
	if from.SHA256 != nil { // a store restored by its database's own tools names no file shiftsyncd could hash
		d["sha256"] = hex.EncodeToString(from.SHA256)
	}
	if !from.TakenAt.IsZero() {
		d["taken_at"] = from.TakenAt.UTC().Format(time.RFC3339Nano)
	}
	detail, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return AppendAudit(ctx, tx, at, AuditEvent{Actor: by, Action: AuditRestore, Subject: from.Path, Detail: string(detail)})
}

// AcceptCounterGap lets a device push again after a gap in its counters
// that nothing can fill, inside tx, audited as done by the principal at at
// with the reason: the device's acknowledged counter becomes through. The
// gap arises when a store is restored from a backup older than the newest
// (admin restore -older): the mutations only the newer held are on no
// server, and the device, told a backup covered them, dropped its
// receipts, so its next counter is above the store's and every push is
// answered not_processed. It returns the first counter given up; through
// 0 gives up every counter below the first the device pushed past the
// gap. Refused (CodeInvalid) when the device pushed nothing past a gap,
// when through is not above the acknowledged counter, and when it reaches
// the first counter the device pushed past the gap: the device holds that
// one and those after it, and giving them up would quarantine them all.
// Nothing the device still holds is dropped: a mutation it sends later
// under a counter given up is quarantined as counter_reused.
func AcceptCounterGap(ctx context.Context, tx Tx, deviceID string, through uint64, reason string, by Principal, at time.Time) (uint64, error) {
	acked, err := tx.Acknowledged(ctx, deviceID)
	if err != nil {
		return 0, err
	}
	gapFrom, err := tx.GapFrom(ctx, deviceID)
	if err != nil {
		return 0, err
	}
	if gapFrom <= acked+1 {
		return 0, Errorf(CodeInvalid, "device %s has pushed no counter past a gap (the server holds its counters through %d): there is no gap to accept", deviceID, acked)
	}
	if through == 0 {
		through = gapFrom - 1
	}
	if through <= acked {
		return 0, Errorf(CodeInvalid, "device %s has counters through %d on the server: there is no gap through %d to accept", deviceID, acked, through)
	}
	if through >= gapFrom {
		return 0, Errorf(CodeInvalid, "device %s pushed counter %d past the gap and holds it: give up at most counters %d to %d", deviceID, gapFrom, acked+1, gapFrom-1)
	}
	if err := tx.Acknowledge(ctx, deviceID, through, at); err != nil {
		return 0, err
	}
	detail, err := json.Marshal(map[string]any{"from": acked + 1, "through": through, "reason": reason})
	if err != nil {
		return 0, err
	}
	return acked + 1, AppendAudit(ctx, tx, at, AuditEvent{Actor: by, Action: AuditCounterGap, Subject: deviceID, Detail: string(detail)})
}
