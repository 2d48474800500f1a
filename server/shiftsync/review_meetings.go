package shiftsync

import (
	"context"
	"slices"
)

// FollowThrough implements [ReviewService]. It is listed to those who may
// review meetings in the service; each brief, tracker and acknowledgement
// in it only to those who may review that record, and the staff still to
// acknowledge a brief only to those who review the whole service (who
// works there is the service's, as its devices are).
func (r *Review) FollowThrough(ctx context.Context, p Principal, serviceID string) ([]MeetingFollowThrough, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID, "meeting")
	if err != nil {
		return nil, err
	}
	var (
		snap Snapshot
		th   Thresholds
	)
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		if snap, err = tx.Snapshot(ctx, serviceID); err != nil {
			return err
		}
		th, err = tx.Thresholds(ctx, serviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	snap.Records = slices.DeleteFunc(snap.Records, func(rec *Record) bool { return !allowed(rec.RecordRef) })
	whole := allowed(wholeService(serviceID))
	if !whole {
		snap.Staff = nil
	}
	out := FollowThrough(snap, th, r.now())
	if !whole {
		for i := range out {
			out[i].Pending, out[i].PendingKnown = nil, false
		}
	}
	return out, r.auditRead(ctx, p, "follow_through", serviceID, len(out))
}
