package shiftsync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

var _ ReviewService = (*Review)(nil)

// Review is the review engine: it implements [ReviewService] over a
// [Store], deciding what each reviewer may see and do with an
// [Authorizer], auditing what they read and change, and assembling and
// verifying evidence packs; the store only finds and keeps (see
// [ReviewTx]). Lists are read in one View and their read audited after
// it; each change commits with its audit entry in one Update. It is safe
// for concurrent use once built.
type Review struct {
	Store  Store
	Schema *Schema
	Access Authorizer
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Governance, if set, brings a service's findings up to date before
	// they are listed or exported; otherwise they are listed as stored.
	Governance *Governance
}

func (r *Review) now() time.Time {
	if r.Now == nil {
		return time.Now().UTC()
	}
	return r.Now().UTC()
}

// evaluate brings the service's findings up to date, if r has a
// Governance.
func (r *Review) evaluate(ctx context.Context, serviceID string) error {
	if r.Governance == nil {
		return nil
	}
	return r.Governance.Evaluate(ctx, serviceID)
}

// reviewable returns a filter keeping the rows p may review now. A
// service's managers also see rows of record types no policy row names
// (a quarantined change of an unknown type), so nothing refused is hidden.
func (r *Review) reviewable(ctx context.Context, p Principal) (func(RecordRef) bool, error) {
	scope, err := r.Access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	return reviewFilter(scope, r.now()), nil
}

// reviewFilter keeps the rows the scope may review at now.
func reviewFilter(scope Scope, now time.Time) func(RecordRef) bool {
	return func(ref RecordRef) bool {
		return scope.Allows(OpReview, ref, now) || scope.Manages(ref.ServiceID, now)
	}
}

// serviceReviewable is [Review.reviewable] for a list about a whole
// service: p must manage it, or be able to review records of one of the
// types in it (none given: of any type), for the whole service, a caseload
// in it or an agency's share; otherwise it answers [deniedService].
func (r *Review) serviceReviewable(ctx context.Context, p Principal, serviceID string, recordTypes ...string) (func(RecordRef) bool, error) {
	scope, err := r.Access.Scope(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(recordTypes) == 0 {
		recordTypes = r.Schema.TypeNames()
	}
	now := r.now()
	if !scope.Manages(serviceID, now) && !slices.ContainsFunc(recordTypes, func(t string) bool { return scope.ReviewsIn(serviceID, t, now) }) {
		return nil, deniedService(serviceID)
	}
	return reviewFilter(scope, now), nil
}

// deniedService is the answer to a call about a service in which the
// caller holds no right that it needs: the same whether the service exists
// or not.
func deniedService(serviceID string) error {
	return Errorf(CodePermissionDenied, "you may not review service %q", serviceID)
}

// wholeService is the record an answer about the whole of a service (its
// devices, its quarantine's overflow) is decided on: those who may review
// its restrictive interventions, the service's own reviewers, see it; a
// caseload's or an agency's do not.
func wholeService(serviceID string) RecordRef {
	return RecordRef{RecordType: "restrictive_intervention", ServiceID: serviceID}
}

// audit appends e, in a transaction of its own, stamped now.
func (r *Review) audit(ctx context.Context, e AuditEvent) error {
	return r.Store.Update(ctx, func(tx Tx) error { return AppendAudit(ctx, tx, r.now(), e) })
}

// auditRead records what a reviewer listed.
func (r *Review) auditRead(ctx context.Context, p Principal, what, serviceID string, n int) error {
	return r.audit(ctx, AuditEvent{Actor: p, Action: AuditReviewRead, Subject: serviceID,
		Detail: fmt.Sprintf(`{"list":%q,"rows":%d}`, what, n)})
}

// Names implements [ReviewService].
func (r *Review) Names(ctx context.Context, p Principal, serviceID string) (Names, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return Names{}, err
	}
	var n Names
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		n.People, n.Staff, err = tx.ServiceNames(ctx, serviceID)
		return err
	})
	if err != nil {
		return Names{}, err
	}
	types := r.Schema.TypeNames()
	maps.DeleteFunc(n.People, func(id, _ string) bool {
		return !slices.ContainsFunc(types, func(t string) bool { return allowed(RecordRef{RecordType: t, ServiceID: serviceID, PersonID: id}) })
	})
	return n, nil
}

// Alerts implements [ReviewService].
func (r *Review) Alerts(ctx context.Context, p Principal, serviceID string, includeAcknowledged bool) ([]Alert, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	var alerts []Alert
	err = r.Store.View(ctx, func(tx Tx) error {
		all, err := tx.Alerts(ctx, serviceID, includeAcknowledged)
		alerts = slices.DeleteFunc(all, func(a Alert) bool { return !allowed(a.Record) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return alerts, r.auditRead(ctx, p, "alerts", serviceID, len(alerts))
}

// FlaggedWrites implements [ReviewService].
func (r *Review) FlaggedWrites(ctx context.Context, p Principal, serviceID string, flag Flag) ([]FlaggedWrite, error) {
	if flag != "" && flag != FlagAccessEnded && flag != FlagReferencePending {
		return nil, Errorf(CodeInvalid, "flag %q is none of %q, %q (or empty for every flag)", truncate(string(flag)), FlagAccessEnded, FlagReferencePending)
	}
	allowed, err := r.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	var writes []FlaggedWrite
	err = r.Store.View(ctx, func(tx Tx) error {
		all, err := tx.FlaggedWrites(ctx, serviceID)
		writes = slices.DeleteFunc(all, func(w FlaggedWrite) bool { return !allowed(w.Record) || (flag != "" && w.Flag != flag) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return writes, r.auditRead(ctx, p, "flagged_writes", serviceID, len(writes))
}

// AcknowledgeAlert implements [ReviewService].
func (r *Review) AcknowledgeAlert(ctx context.Context, p Principal, id int64, note string) (Alert, error) {
	if len(note) > MaxReviewNoteBytes {
		return Alert{}, Errorf(CodeInvalid, "the note is longer than %d bytes", MaxReviewNoteBytes)
	}
	allowed, err := r.reviewable(ctx, p)
	if err != nil {
		return Alert{}, err
	}
	var a Alert
	err = r.Store.Update(ctx, func(tx Tx) error {
		found, err := tx.Alert(ctx, id)
		if err != nil {
			return err
		}
		if found == nil || !allowed(found.Record) {
			return Errorf(CodePermissionDenied, "no alert %d that you may acknowledge", id)
		}
		if a = *found; !a.AcknowledgedAt.IsZero() {
			return nil
		}
		now := r.now()
		if err := tx.AcknowledgeAlert(ctx, id, p.UserID, note, now); err != nil {
			return err
		}
		a.AcknowledgedAt, a.AcknowledgedBy, a.Note = now, p.UserID, note
		return AppendAudit(ctx, tx, now, AuditEvent{Actor: p, Action: AuditAlertAcknowledge, Subject: fmt.Sprint(id),
			Detail: auditDetail(map[string]string{"record": a.Record.RecordID, "rule": a.RuleID})})
	})
	return a, err
}

// Conflicts implements [ReviewService].
func (r *Review) Conflicts(ctx context.Context, p Principal, serviceID string) ([]Conflict, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	var conflicts []Conflict
	err = r.Store.View(ctx, func(tx Tx) error {
		all, err := tx.Conflicts(ctx, serviceID)
		conflicts = slices.DeleteFunc(all, func(c Conflict) bool { return !allowed(c.Record) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return conflicts, r.auditRead(ctx, p, "conflicts", serviceID, len(conflicts))
}

// ResolveConflict implements [ReviewService].
func (r *Review) ResolveConflict(ctx context.Context, p Principal, id int64, resolution string) (Conflict, error) {
	if resolution == "" || len(resolution) > MaxReviewNoteBytes {
		return Conflict{}, Errorf(CodeInvalid, "a resolution note of 1 to %d bytes is required", MaxReviewNoteBytes)
	}
	allowed, err := r.reviewable(ctx, p)
	if err != nil {
		return Conflict{}, err
	}
	var c Conflict
	err = r.Store.Update(ctx, func(tx Tx) error {
		found, err := tx.Conflict(ctx, id)
		if err != nil {
			return err
		}
		if found == nil || !allowed(found.Record) {
			return Errorf(CodePermissionDenied, "no conflict %d that you may resolve", id)
		}
		if c = *found; !c.ResolvedAt.IsZero() {
			return Errorf(CodeConflict, "conflict %d was resolved by %s", id, c.ResolvedBy)
		}
		now := r.now()
		if err := tx.ResolveConflict(ctx, id, p.UserID, resolution, now); err != nil {
			return err
		}
		c.ResolvedAt, c.ResolvedBy, c.Resolution = now, p.UserID, resolution
		return AppendAudit(ctx, tx, now, AuditEvent{Actor: p, Action: AuditConflictResolve, Subject: fmt.Sprint(id),
			Detail: auditDetail(map[string]string{"record": c.Record.RecordID, "field": c.Field})})
	})
	return c, err
}

// Quarantine implements [ReviewService]. A change is listed under the
// services it was kept under, its pusher's, to those who manage the
// service or may review a record of its type about the person it names
// there (a caseload's reviewer sees the changes about their people).
func (r *Review) Quarantine(ctx context.Context, p Principal, serviceID string) (QuarantineListing, error) {
	var list QuarantineListing
	allowed, err := r.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return list, err
	}
	err = r.Store.View(ctx, func(tx Tx) error {
		changes, err := tx.QuarantinedChanges(ctx, serviceID)
		if err != nil {
			return err
		}
		// The service a change is decided on is the one it is listed
		// under, whatever it names.
		list.Changes = slices.DeleteFunc(changes, func(q QuarantinedChange) bool {
			listed := q.Record
			listed.ServiceID = serviceID
			return !allowed(listed)
		})
		for i, q := range list.Changes {
			if len(q.Errors) == 0 {
				list.Changes[i].Errors = []FieldError{{Reason: q.Reason, Message: q.Message}}
			}
		}
		if allowed(wholeService(serviceID)) {
			list.Overflows, err = tx.QuarantineOverflows(ctx, serviceID)
		}
		return err
	})
	if err != nil {
		return QuarantineListing{}, err
	}
	return list, r.auditRead(ctx, p, "quarantine", serviceID, len(list.Changes)+len(list.Overflows))
}

// DeviceHealth implements [HealthService].
func (r *Review) DeviceHealth(ctx context.Context, p Principal, serviceID string) ([]DeviceHealth, error) {
	// Who works where, and on which phone, is the service's: it is listed to
	// those who review the whole service, not a caseload or an agency's share.
	allowed, err := r.reviewable(ctx, p)
	if err != nil {
		return nil, err
	}
	if !allowed(wholeService(serviceID)) {
		return nil, deniedService(serviceID)
	}
	var out []DeviceHealth
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		out, err = tx.DeviceHealth(ctx, serviceID, r.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	// Only phones hold an outbox to report; a browser is no phone.
	out = slices.DeleteFunc(out, func(d DeviceHealth) bool { return d.Kind != KindPhone })
	return out, r.auditRead(ctx, p, "device_health", serviceID, len(out))
}
