package shiftsync

import (
	"context"
	"slices"
)

// FollowThrough implements [ReviewService]. It is worked out over every
// record of the service, as the R1 finding is, so its states and times
// agree with the findings; each meeting is listed to those who may review
// it, with when its brief and tracker were issued (as its R1 finding says),
// but the brief, the tracker and each acknowledgement only to those who
// may review that record, and the staff still to acknowledge a brief only
// to those who review the whole service (who works there is the
// service's, as its devices are).
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
	whole := allowed(wholeService(serviceID))
	all := FollowThrough(snap, th, r.now())
	out := all[:0]
	for _, f := range all {
		if !allowed(f.Meeting.RecordRef) {
			continue
		}
		if f.Brief != nil && !allowed(f.Brief.RecordRef) {
			f.Brief = nil
		}
		if f.Tracker != nil && !allowed(f.Tracker.RecordRef) {
			f.Tracker = nil
		}
		f.Acknowledged = slices.DeleteFunc(f.Acknowledged, func(a BriefAcknowledged) bool { return !allowed(a.Ref) })
		if !whole {
			f.Pending, f.PendingKnown = nil, false
		}
		out = append(out, f)
	}
	return out, r.auditRead(ctx, p, "follow_through", serviceID, len(out))
}
