package shiftsync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

var _ SyncService = (*Sync)(nil)

// Sync is the sync engine: it implements [SyncService] over a [Store],
// making every decision of a push and a pull itself (batch rules, replay,
// skew, validation, authorisation, merge, record-level checks, alerts,
// quarantine; the pull window, scope filter and purges) and asking the
// store only to keep and find. It is safe for concurrent use once built.
type Sync struct {
	Store  Store
	Schema *Schema
	Access Authorizer
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// MaxClockSkew is how far ahead of Now a mutation may be stamped;
	// defaults to DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Feed, if set, is told the services of every push that stored a
	// change, after it commits.
	Feed ChangeFeed
	// Keys signs the answers of Verify, which needs it.
	Keys KeyStore
}

func (s *Sync) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// Push implements [SyncService]. All the batch's effects commit in one
// transaction, durable before it returns, so the acknowledgement it
// returns is durable.
func (s *Sync) Push(ctx context.Context, p Principal, batch []Mutation) (PushResult, error) {
	return s.push(ctx, p, batch, newDigestDeltas)
}

// push is Push, keeping the integrity accumulators with a keeper from
// keeper for each attempt of the transaction.
func (s *Sync) push(ctx context.Context, p Principal, batch []Mutation, keeper func() digestKeeper) (PushResult, error) {
	if len(batch) > MaxMutationsPerPush {
		return PushResult{}, Errorf(CodeResourceExhausted, "%d mutations in one push; at most %d", len(batch), MaxMutationsPerPush)
	}
	for i := 1; i < len(batch); i++ {
		if batch[i].Counter <= batch[i-1].Counter {
			return PushResult{}, Errorf(CodeInvalid, "mutation counters must increase within a push (%d after %d)", batch[i].Counter, batch[i-1].Counter)
		}
	}
	scope, err := s.Access.Scope(ctx, p)
	if err != nil {
		return PushResult{}, err
	}
	var (
		res     PushResult
		changed []string // the services of accepted changes, and RotaFeedKey when one changed a rota
	)
	err = s.Store.Update(ctx, func(tx Tx) error {
		now := s.now()
		push := pushTx{Sync: s, tx: tx, scope: scope, now: now, digests: keeper(), people: map[string]string{}}
		res, changed = PushResult{Results: make([]MutationResult, 0, len(batch)), ServerTime: now}, nil
		acked, err := tx.Acknowledged(ctx, p.DeviceID)
		if err != nil {
			return err
		}
		maxSkew := cmp.Or(s.MaxClockSkew, DefaultMaxClockSkew)
		stopped := false
		var gapFrom uint64 // the counter refused for not following acked
		for i := range batch {
			m := &batch[i]
			m.DeviceID, m.UserID = p.DeviceID, p.UserID
			var r MutationResult
			switch {
			case m.Counter <= acked:
				r, err = push.replay(ctx, m)
			case stopped || m.Counter != acked+1:
				r = MutationResult{Counter: m.Counter, Status: StatusNotProcessed}
				if !stopped {
					gapFrom = m.Counter
					r.Message = fmt.Sprintf("counter %d does not follow %d, the last this server holds of this device: push %d first; if the device holds it no more (the server was restored from an older backup), an operator must accept the gap (shiftsyncd admin accept-gap)",
						m.Counter, acked, acked+1)
				}
				stopped = true
			case m.HLC.AheadOf(now, maxSkew):
				r = MutationResult{Counter: m.Counter, Status: StatusRestampRequired, Reason: ReasonClockAhead,
					Message: fmt.Sprintf("timestamp %s is more than %s ahead of the server clock %s; re-stamp and push again",
						m.HLC.Time().Format(time.RFC3339), maxSkew, now.Format(time.RFC3339))}
				stopped = true
			default:
				r, err = push.apply(ctx, m)
				if r.Status != StatusNotProcessed {
					acked = m.Counter
				}
				if r.Status == StatusAccepted && !slices.Contains(changed, m.ServiceID) {
					changed = append(changed, m.ServiceID)
				}
				if r.Status == StatusAccepted && slices.Contains(rotaTypes, m.RecordType) && !slices.Contains(changed, RotaFeedKey) {
					changed = append(changed, RotaFeedKey)
				}
			}
			if err != nil {
				return err
			}
			// A mutation the quarantine refused stays on the device, like one
			// to re-stamp: nothing after it is processed.
			stopped = stopped || r.Status == StatusNotProcessed
			res.Results = append(res.Results, r)
		}
		res.Acknowledged = acked
		if err := push.digests.apply(ctx, tx); err != nil {
			return err
		}
		if err := tx.Acknowledge(ctx, p.DeviceID, acked, now); err != nil {
			return err
		}
		if gapFrom > 0 {
			if err := tx.NoteGap(ctx, p.DeviceID, gapFrom); err != nil {
				return err
			}
		}
		if res.BackedUpThrough, res.Epoch, err = backupReach(ctx, tx, p.DeviceID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, now, AuditEvent{Actor: p, Action: AuditPush, Subject: p.DeviceID, Detail: pushDetail(res.Results, acked)})
	})
	if err != nil {
		return PushResult{}, err
	}
	if len(changed) > 0 && s.Feed != nil {
		s.Feed.Publish(changed...)
	}
	return res, nil
}

// pushTx is one push's transaction: the engine, the pusher's scope and
// the push's time.
type pushTx struct {
	*Sync
	tx    Tx
	scope Scope
	now   time.Time
	// digests gathers the push's changes to the integrity accumulators.
	digests digestKeeper
	// people are the services of the people the push's records are about,
	// as read once in its transaction ("" for a person who does not exist).
	people map[string]string
}

// replay answers a mutation whose counter was processed before with the
// outcome it had then. A different mutation under a used counter (a device
// that lost its counter, say after a reinstall) is quarantined, not dropped.
func (p pushTx) replay(ctx context.Context, m *Mutation) (MutationResult, error) {
	done, err := p.tx.ProcessedMutation(ctx, m.DeviceID, m.Counter)
	if err != nil {
		return MutationResult{}, err
	}
	// An acknowledged counter with no record of it is treated as reused.
	if d := MutationDigest(m); done == nil || string(d[:]) != string(done.Digest) {
		return p.quarantine(ctx, m, &MutationError{Reason: ReasonCounterReused,
			Message: fmt.Sprintf("counter %d was already used by a different mutation from this device", m.Counter)})
	}
	r := done.Result
	r.Replayed = true
	if len(r.ConflictedFields) == 0 {
		r.ConflictedFields = nil // as the first answer had it
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
		if r.Status == StatusQuarantined {
			// Processed before the list was kept: its one reason.
			r.Errors = []FieldError{{Reason: r.Reason, Message: r.Message}}
		}
	}
	return r, nil
}

// apply validates, authorises and merges one new mutation, or quarantines
// it, and records that it was processed; unless the quarantine refuses it
// (StatusNotProcessed), when nothing of it is stored.
func (p pushTx) apply(ctx context.Context, m *Mutation) (MutationResult, error) {
	held, err := p.tx.Record(ctx, m.RecordID)
	if err != nil {
		return MutationResult{}, err
	}
	var (
		outcomes []FieldOutcome
		current  map[string]FieldHead
	)
	// From here on the record is what the pusher may know of it: a record
	// hidden from them is none, and nothing of it is used or quoted.
	stored, rej := p.scope.Claim(m, held, p.now)
	m.Agency = AssignedAgency(m)
	if stored != nil {
		m.Agency = stored.Agency
	}
	if rej == nil {
		// Every problem with the mutation's content is listed at once, so
		// its author can fix them all.
		rej = JoinMutationErrors(p.Schema.Validate(m, stored), p.Schema.CheckTimes(m, p.now, cmp.Or(p.MaxClockSkew, DefaultMaxClockSkew)))
	}
	var flag Flag
	if rej == nil {
		// Claim let held through: it is the record stored names, or none.
		flag, rej = p.scope.AuthorizeWrite(m, held, p.now)
	}
	if rej == nil && held != nil { // a record never stored has no field heads
		if current, err = p.tx.FieldHeads(ctx, m.RecordID); err != nil {
			return MutationResult{}, err
		}
	}
	if rej == nil {
		versions := make(map[string]Version, len(current))
		for f, h := range current {
			versions[f] = h.Version
		}
		outcomes, rej = Merge(m, versions)
	}
	if rej == nil {
		if rej, err = p.checkRecord(ctx, m, held != nil, stored, outcomes); err != nil {
			return MutationResult{}, err
		}
	}
	if rej == nil && stored == nil {
		if rej, err = p.checkPerson(ctx, m); err != nil {
			return MutationResult{}, err
		}
	}
	if rej == nil {
		var pending bool
		if pending, rej, err = p.checkReferences(ctx, m); err != nil {
			return MutationResult{}, err
		}
		// One flag per mutation: an author whose access had ended is the
		// graver news for a reviewer.
		if pending && flag == "" {
			flag = FlagReferencePending
		}
	}
	if rej != nil {
		r, err := p.quarantine(ctx, m, rej)
		if err != nil || r.Status != StatusQuarantined {
			return r, err
		}
		return r, p.recordProcessed(ctx, m, r, "")
	}

	if stored == nil {
		if err := p.tx.CreateRecord(ctx, m, p.now); err != nil {
			return MutationResult{}, err
		}
	}
	r := MutationResult{Counter: m.Counter, Status: StatusAccepted}
	ref := m.RecordRef
	if stored != nil {
		ref = *stored
	}
	elements, err := p.digests.count(ctx, p.tx, m, ref, outcomes, current)
	if err != nil {
		return r, err
	}
	for i, o := range outcomes {
		seq, err := p.tx.AppendVersion(ctx, m, m.Fields[i], p.now)
		if err != nil {
			return r, err
		}
		winner := current[o.Field].Seq
		if o.Wins {
			winner = seq
			var element Digest
			if elements != nil {
				element = elements[i]
			}
			if err := p.tx.SetFieldHead(ctx, m, o.Field, seq, element); err != nil {
				return r, err
			}
		}
		if o.Conflict {
			r.ConflictedFields = append(r.ConflictedFields, o.Field)
			if err := p.tx.OpenConflict(ctx, FieldConflict{RecordID: m.RecordID, Field: o.Field,
				CurrentSeq: current[o.Field].Seq, IncomingSeq: seq, WinnerSeq: winner, OpenedAt: p.now}); err != nil {
				return r, err
			}
		}
	}
	if len(m.Corrects) > 0 {
		if err := p.tx.MarkCorrected(ctx, m.DeviceID, m.RecordID, m.Corrects, Correction{UserID: m.UserID, Counter: m.Counter, At: p.now}); err != nil {
			return r, err
		}
	}
	for _, a := range AlertsFor(m, stored == nil, p.now) {
		a.Record, a.UserID, a.DeviceID, a.RaisedAt = m.RecordRef, m.UserID, m.DeviceID, p.now
		if err := p.tx.RaiseAlert(ctx, a); err != nil {
			return r, err
		}
	}
	return r, p.recordProcessed(ctx, m, r, flag)
}

func (p pushTx) recordProcessed(ctx context.Context, m *Mutation, r MutationResult, flag Flag) error {
	d := MutationDigest(m)
	return p.tx.RecordProcessed(ctx, ProcessedMutation{Mutation: m, Digest: d[:], Result: r, Flag: flag, ReceivedAt: p.now})
}

// checkRecord checks what a merged mutation would make of its record: a
// locked record takes no edit but a manager's void; the NotBefore rules
// hold on the record as it would stand; an addendum's target is fixed.
// held says whether the store holds the record at all: one it does not
// has no values to read.
func (p pushTx) checkRecord(ctx context.Context, m *Mutation, held bool, stored *RecordRef, outcomes []FieldOutcome) (*MutationError, error) {
	if stored != nil {
		locked, err := p.tx.Locked(ctx, m.RecordID)
		if err != nil {
			return nil, err
		}
		if locked && (len(m.Fields) > 1 || m.Fields[0].Field != VoidReasonField) {
			return &MutationError{Reason: ReasonRecordLocked, Message: fmt.Sprintf(
				"record %s is locked by a manager: write an addendum to correct it", m.RecordID)}, nil
		}
	}
	t := p.Schema.Type(m.RecordType)
	if ordered := t.OrderedFields(); slices.ContainsFunc(m.Fields, func(e FieldEdit) bool { return slices.Contains(ordered, e.Field) }) {
		values := map[string]Value{}
		if held {
			var err error
			if values, err = p.tx.FieldValues(ctx, m.RecordID, ordered); err != nil {
				return nil, err
			}
		}
		for i, o := range outcomes {
			if o.Wins {
				values[o.Field] = m.Fields[i].Value
			}
		}
		if rej := t.CheckOrder(values); rej != nil {
			return rej, nil
		}
	}
	if _, ok := m.Value(AddendumTarget); ok && stored != nil && m.RecordType == AddendumType {
		return &MutationError{Reason: ReasonInvalidReference, Message: "an addendum's record_id cannot change; write another addendum"}, nil
	}
	if stored != nil && AgencyAssigned(m.RecordType) {
		return p.checkPartnerEdit(m), nil
	}
	return nil, nil
}

// checkPartnerEdit holds an edit of an action made through a partner
// agency's access to [PartnerEdit].
func (p pushTx) checkPartnerEdit(m *Mutation) *MutationError {
	agencies := p.scope.PartnerAgencies(m.RecordRef, p.now)
	if agencies == nil {
		agencies = p.scope.PartnerAgencies(m.RecordRef, m.HLC.Time())
	}
	if agencies == nil {
		return nil
	}
	return PartnerEdit(m, agencies, m.Agency)
}

// checkPerson checks that the person a new record is about is supported by
// its service (an edit keeps its record's person, which was checked when
// it was created). A person who does not exist and one of another service
// get the same answer, quoting only the id sent, so it cannot probe for
// people elsewhere.
func (p pushTx) checkPerson(ctx context.Context, m *Mutation) (*MutationError, error) {
	if m.PersonID == "" {
		return nil, nil
	}
	service, known := p.people[m.PersonID]
	if !known {
		var err error
		if service, err = p.tx.PersonService(ctx, m.PersonID); err != nil {
			return nil, err
		}
		p.people[m.PersonID] = service
	}
	if service == m.ServiceID {
		return nil, nil
	}
	return reject(ReasonUnknownPerson, "person %q is not supported by this record's service: check who the record is about",
		truncate(m.PersonID)), nil
}

// AddendumType is the record type of corrections to locked records, and
// AddendumTarget its field naming the record it adds to.
const (
	AddendumType   = "addendum"
	AddendumTarget = "record_id"
)

// FlagReferencePending marks a mutation accepted although a record it
// names is not one the server held when it arrived (or one its author may
// see): the record may still be on another device, offline. Reviewers list
// such writes ([ReviewService.FlaggedWrites]) and check the record named
// arrived. A mutation keeps one flag: one that is also [FlagAccessEnded]
// is flagged that.
const FlagReferencePending Flag = "reference_pending"

// checkReferences checks the records a mutation's reference fields
// ([FieldSpec.References]) name, each item of a list: each is of the
// declared type, of the mutation's service and, when both are about a
// person, about the same one. A record created earlier in the same push is
// already stored in the push's transaction, so a device may name its own
// records in the push that creates them. A record the server does not hold
// is pending when its id is a record id (the device cannot have made it up:
// a device offers only records it holds, and another device may still hold
// it offline), unless the field wants it [Reference.OnServer]; then, and
// for an id that is no record id, the mutation is refused
// [ReasonInvalidReference] naming the field.
func (p pushTx) checkReferences(ctx context.Context, m *Mutation) (pending bool, _ *MutationError, _ error) {
	t := p.Schema.Type(m.RecordType)
	for _, e := range m.Fields {
		f := t.Fields[e.Field]
		if f.References == nil {
			continue
		}
		ids := e.Value.List
		if f.Kind == KindString {
			ids = []string{e.Value.String}
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			missing, rej, err := p.checkReference(ctx, m, f, id)
			if err != nil || rej != nil {
				return false, rej, err
			}
			pending = pending || missing
		}
	}
	return pending, nil, nil
}

// checkReference checks the record one reference field names, and reports
// whether the server does not hold it (yet).
func (p pushTx) checkReference(ctx context.Context, m *Mutation, f FieldSpec, id string) (pending bool, _ *MutationError, _ error) {
	held, err := p.tx.Record(ctx, id)
	if err != nil {
		return false, nil, err
	}
	var target *RecordRef
	if held != nil && p.scope.Knows(held, m, p.now) {
		target = &held.RecordRef
	}
	rej := CheckReference(f, m, id, target)
	return target == nil && rej == nil, rej, nil
}

// CheckReference checks the record target that the reference field f of m
// names by id, as m's author may know it (nil: a record not held, or not
// one they may see). A record m may name is of the declared type, of m's
// service and, when both are about people, about the same one (an
// addendum, read beside its record, has its record's person exactly; a
// record about no one, a meeting, names and is named from anyone's of its
// service). A nil target is refused when the field wants it
// [Reference.OnServer] or id is no record id (a device offers only records
// it holds, so it cannot have made that up); otherwise it is nil: the
// record may still be on another device, offline. Every refusal is in the
// same words, naming the field and quoting only id, so that a reference
// cannot probe for records, and the answer, kept in the quarantine, tells
// its reviewers (who may not see the record named) nothing of it. The
// engine and a device's replica both judge references with it.
func CheckReference(f FieldSpec, m *Mutation, id string, target *RecordRef) *MutationError {
	refused := rejectField(f.Name, ReasonInvalidReference, "field %q: no %s %q of this record's service and person that you may name here",
		f.Name, cmp.Or(f.References.Type, "record"), truncate(id))
	if target == nil {
		if f.References.OnServer || !IsRecordID(id) {
			return refused
		}
		return nil
	}
	if want := f.References.Type; want != "" && target.RecordType != want {
		return refused
	}
	samePerson := target.PersonID == m.PersonID ||
		m.RecordType != AddendumType && (target.PersonID == "" || m.PersonID == "")
	if target.ServiceID != m.ServiceID || !samePerson {
		return refused
	}
	return nil
}

// IsRecordID reports whether id is a record id: a UUIDv7 in canonical
// lower-case text.
func IsRecordID(id string) bool { return uuidv7.MatchString(id) }

// quarantine keeps a mutation refused for rej, whole, under its pusher's
// services ([Scope.QuarantineServices]), and answers it quarantined. When
// the quarantine's bounds will not keep it, it stores nothing of it,
// counts the overflow under the same services, and answers it not
// processed with the bound's reason: the device keeps it.
func (p pushTx) quarantine(ctx context.Context, m *Mutation, rej *MutationError) (MutationResult, error) {
	payload, err := QuarantinePayload(m)
	if err != nil {
		return MutationResult{}, err
	}
	size, day := QuarantineSize(m), QuarantineDay(p.now)
	dayBytes, err := p.tx.QuarantinedBytes(ctx, m.DeviceID, day)
	if err != nil {
		return MutationResult{}, err
	}
	services := p.scope.QuarantineServices(m, p.now)
	if refused := CheckQuarantineBounds(size, dayBytes); refused != nil {
		if len(services) == 0 {
			services = []string{""}
		}
		if err := p.tx.CountQuarantineOverflow(ctx, OverflowedMutation{Mutation: m, Reason: refused.Reason, Size: size, Services: services, RefusedAt: p.now}); err != nil {
			return MutationResult{}, err
		}
		return MutationResult{Counter: m.Counter, Status: StatusNotProcessed, Reason: refused.Reason, Message: refused.Message}, nil
	}
	errs := rej.List()
	if err := p.tx.Quarantine(ctx, QuarantinedMutation{Mutation: m, Reason: rej.Reason, Message: rej.Message, Errors: errs,
		Payload: payload, PayloadFormat: QuarantinePayloadFormat, Size: size, Services: services, ReceivedAt: p.now}); err != nil {
		return MutationResult{}, err
	}
	return MutationResult{Counter: m.Counter, Status: StatusQuarantined, Reason: rej.Reason, Message: rej.Message, Errors: errs}, nil
}

// pushDetail summarises a push for the audit log: counts per outcome and
// the records written.
func pushDetail(results []MutationResult, acked uint64) string {
	var d struct {
		Acknowledged uint64   `json:"acknowledged"`
		Accepted     int      `json:"accepted"`
		Quarantined  int      `json:"quarantined"`
		Replayed     int      `json:"replayed"`
		Refused      int      `json:"refused"`
		Counters     []uint64 `json:"counters"`
	}
	d.Acknowledged = acked
	for _, r := range results {
		switch {
		case r.Replayed:
			d.Replayed++
		case r.Status == StatusAccepted:
			d.Accepted++
		case r.Status == StatusQuarantined:
			d.Quarantined++
		default:
			d.Refused++
		}
		d.Counters = append(d.Counters, r.Counter)
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// backupReach returns how far the store's backups reach for the device
// and the store's epoch, as push and pull answers carry them.
func backupReach(ctx context.Context, tx SyncTx, deviceID string) (uint64, string, error) {
	reach, err := tx.BackedUpThrough(ctx, deviceID)
	if err != nil {
		return 0, "", err
	}
	epoch, err := tx.Epoch(ctx)
	return reach, epoch, err
}
