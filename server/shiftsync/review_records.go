package shiftsync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// maxListedRecords bounds one Records answer.
const maxListedRecords = 5000

// Records implements [ReviewService]: the newest records that match,
// newest event first, from f.Offset on. It filters and orders the
// service's records holding only their event times and void reasons
// ([ReviewTx.ServiceRecordFields]) and loads in full only those it
// returns, in the same View.
func (r *Review) Records(ctx context.Context, p Principal, f RecordFilter) ([]*Record, error) {
	allowed, err := r.serviceReviewable(ctx, p, f.ServiceID)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 || limit > maxListedRecords {
		limit = maxListedRecords
	}
	var out []*Record
	err = r.Store.View(ctx, func(tx Tx) error {
		heads, err := tx.ServiceRecordFields(ctx, f.ServiceID, f.PersonID, f.RecordType, r.listFields())
		if err != nil {
			return err
		}
		matching := heads[:0]
		for _, rec := range heads {
			at := r.eventTime(rec)
			if !allowed(rec.RecordRef) || (rec.Voided() && !f.IncludeVoided) || (!f.From.IsZero() && at.Before(f.From)) || (!f.To.IsZero() && at.After(f.To)) {
				continue
			}
			matching = append(matching, rec)
		}
		slices.SortStableFunc(matching, func(a, b *Record) int { return r.eventTime(b).Compare(r.eventTime(a)) })
		matching = matching[min(len(matching), max(f.Offset, 0)):]
		matching = matching[:min(len(matching), limit)]
		out = make([]*Record, 0, len(matching))
		for _, head := range matching {
			rec, err := tx.CurrentRecord(ctx, head.RecordID)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, r.auditRead(ctx, p, "records", f.ServiceID, len(out))
}

// listFields are the fields Records filters and orders by: every type's
// event time field and the void reason, sorted.
func (r *Review) listFields() []string {
	fields := []string{VoidReasonField}
	for _, name := range r.Schema.TypeNames() {
		if t := r.Schema.Type(name); t.EventTimeField != "" && !slices.Contains(fields, t.EventTimeField) {
			fields = append(fields, t.EventTimeField)
		}
	}
	slices.Sort(fields)
	return fields
}

// reviewableRecords returns the records of a service, of one person and of
// one type when they are set, that allowed lets through, by record id.
func reviewableRecords(ctx context.Context, tx Tx, allowed func(RecordRef) bool, serviceID, personID, recordType string) ([]*Record, error) {
	records, err := tx.ServiceRecords(ctx, serviceID, personID, recordType)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(records, func(rec *Record) bool { return !allowed(rec.RecordRef) }), nil
}

// viewRecords returns the records of a service, of one person and of one
// type when they are set, that p may review, by record id, and calls more,
// if not nil, in the same View.
func (r *Review) viewRecords(ctx context.Context, p Principal, serviceID, personID, recordType string, more func(Tx) error) ([]*Record, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID)
	if err != nil {
		return nil, err
	}
	var records []*Record
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		if records, err = reviewableRecords(ctx, tx, allowed, serviceID, personID, recordType); err != nil || more == nil {
			return err
		}
		return more(tx)
	})
	return records, err
}

// eventTime is when the record's event happened, or when it was recorded.
func (r *Review) eventTime(rec *Record) time.Time {
	if t := r.Schema.Type(rec.RecordType); t != nil && t.EventTimeField != "" {
		if at := rec.Time(t.EventTimeField); !at.IsZero() {
			return at
		}
	}
	return rec.RecordedAt
}

// Record implements [ReviewService].
func (r *Review) Record(ctx context.Context, p Principal, recordID string) (RecordHistory, error) {
	scope, err := r.Access.Scope(ctx, p)
	if err != nil {
		return RecordHistory{}, err
	}
	var h RecordHistory
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		h, err = r.history(ctx, tx, scope, recordID, OpReview)
		return err
	})
	if err != nil {
		return RecordHistory{}, err
	}
	return h, r.audit(ctx, AuditEvent{Actor: p, Action: AuditRecordRead, Subject: recordID,
		Detail: fmt.Sprintf(`{"versions":%d,"addenda":%d}`, len(h.Versions), len(h.Addenda))})
}

// LockRecord implements [ReviewService].
func (r *Review) LockRecord(ctx context.Context, p Principal, recordID string) (RecordHistory, error) {
	scope, err := r.Access.Scope(ctx, p)
	if err != nil {
		return RecordHistory{}, err
	}
	var h RecordHistory
	err = r.Store.Update(ctx, func(tx Tx) error {
		if _, err := r.history(ctx, tx, scope, recordID, OpVoid); err != nil {
			return err
		}
		now := r.now()
		locked, err := tx.LockRecord(ctx, recordID, p.UserID, now)
		if err != nil {
			return err
		}
		if locked {
			if err := AppendAudit(ctx, tx, now, AuditEvent{Actor: p, Action: AuditRecordLock, Subject: recordID}); err != nil {
				return err
			}
		}
		h, err = r.history(ctx, tx, scope, recordID, OpVoid)
		return err
	})
	if err != nil {
		return RecordHistory{}, err
	}
	return h, nil
}

// history loads a record's history, with the addenda the scope may
// review, if the scope may do op with it; a record it may not, and one
// that does not exist, answer CodePermissionDenied alike.
func (r *Review) history(ctx context.Context, tx Tx, scope Scope, recordID string, op Operation) (RecordHistory, error) {
	var h RecordHistory
	rec, err := tx.CurrentRecord(ctx, recordID)
	if err != nil {
		return h, err
	}
	now := r.now()
	if rec == nil || !scope.Allows(op, rec.RecordRef, now) {
		verb := "review"
		if op == OpVoid {
			verb = "lock"
		}
		return h, Errorf(CodePermissionDenied, "no record %q that you may %s", recordID, verb)
	}
	h.Record = rec
	if h.Versions, err = tx.FieldVersions(ctx, recordID); err != nil {
		return h, err
	}
	if h.LockedBy, h.LockedAt, err = tx.RecordLock(ctx, recordID); err != nil {
		return h, err
	}
	if h.Addenda, err = tx.Addenda(ctx, rec.ServiceID, recordID); err != nil {
		return h, err
	}
	h.Addenda = slices.DeleteFunc(h.Addenda, func(a *Record) bool { return !scope.Allows(OpReview, a.RecordRef, now) })
	slices.SortFunc(h.Addenda, func(a, b *Record) int {
		return cmp.Or(a.RecordedAt.Compare(b.RecordedAt), cmp.Compare(a.RecordID, b.RecordID))
	})
	th, err := tx.Thresholds(ctx, rec.ServiceID)
	if err != nil {
		return h, err
	}
	h.LateEntry = LateEntry(h.Record, r.Schema.Type(h.Record.RecordType), time.Duration(th.LateEntryAfter))
	return h, nil
}

// Findings implements [ReviewService]. A finding about a record is listed
// to those who may review the record; one about a person's week of
// restrictions to those who may review their restrictions.
func (r *Review) Findings(ctx context.Context, p Principal, serviceID string, includeMet bool) ([]Finding, error) {
	allowed, err := r.serviceReviewable(ctx, p, serviceID, "restrictive_intervention", "action")
	if err != nil {
		return nil, err
	}
	if err := r.evaluate(ctx, serviceID); err != nil {
		return nil, err
	}
	var findings []Finding
	err = r.Store.View(ctx, func(tx Tx) (err error) {
		findings, err = reviewableFindings(ctx, tx, allowed, serviceID, "", includeMet)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(findings, byDue)
	return findings, r.auditRead(ctx, p, "findings", serviceID, len(findings))
}

// reviewableFindings returns the stored findings of a service (of one
// person, if set; open ones only unless includeMet) that allowed lets
// through: a finding about a record to those who may review the record,
// one about no record (a person's week of restrictions) to those who may
// review the person's restrictive interventions.
func reviewableFindings(ctx context.Context, tx Tx, allowed func(RecordRef) bool, serviceID, personID string, includeMet bool) ([]Finding, error) {
	stored, err := tx.StoredFindings(ctx, serviceID, personID, includeMet)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	for _, f := range stored {
		ref := RecordRef{RecordID: f.RecordID, RecordType: cmp.Or(f.RecordType, "restrictive_intervention"), ServiceID: f.ServiceID, PersonID: f.PersonID, Agency: f.Agency}
		if allowed(ref) {
			findings = append(findings, f.Finding)
		}
	}
	return findings, nil
}

// Trends implements [ReviewService].
func (r *Review) Trends(ctx context.Context, p Principal, serviceID, personID string, from, to time.Time) ([]WeekTrend, error) {
	if from.IsZero() || to.IsZero() {
		return nil, Errorf(CodeInvalid, "a trend needs its period: from and to are both required, e.g. the last 12 weeks up to now")
	}
	if to.Before(from) || to.Sub(from) > 3*366*24*time.Hour {
		return nil, Errorf(CodeInvalid, "a trend covers from a start to an end at most three years later")
	}
	// A trend is of incidents and restrictions: those who review neither
	// are refused rather than shown empty weeks.
	if _, err := r.serviceReviewable(ctx, p, serviceID, "incident", "restrictive_intervention"); err != nil {
		return nil, err
	}
	var th Thresholds
	records, err := r.viewRecords(ctx, p, serviceID, personID, "", func(tx Tx) (err error) {
		th, err = tx.Thresholds(ctx, serviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	weeks := Trends(records, personID, from, to, th.Location())
	return weeks, r.auditRead(ctx, p, "trends", serviceID, len(weeks))
}

// Actions implements [ReviewService].
func (r *Review) Actions(ctx context.Context, p Principal, f ActionFilter) ([]ActionView, error) {
	if !slices.Contains([]FindingState{"", StateDue, StateWarning, StateBreach, StateMet}, f.State) {
		return nil, Errorf(CodeInvalid, "state %q is none of due, warning, breach, met (or empty for every state)", truncate(string(f.State)))
	}
	records, err := r.viewRecords(ctx, p, f.ServiceID, f.PersonID, "action", nil)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var views []ActionView
	for _, rec := range records {
		v := ViewAction(rec, now)
		if rec.Voided() || (f.Agency != "" && rec.Agency != f.Agency) || (f.OwnerRole != "" && rec.Text("owner_role") != f.OwnerRole) || (f.OverdueOnly && !v.Overdue) || (f.State != "" && v.State != f.State) {
			continue
		}
		views = append(views, v)
	}
	slices.SortStableFunc(views, func(a, b ActionView) int {
		return a.Action.Time("deadline").Compare(b.Action.Time("deadline"))
	})
	return views, r.auditRead(ctx, p, "actions", f.ServiceID, len(views))
}
