package shiftsync

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Role is what a user does in a service. Roles are stored and sent on the
// wire: never rename one.
type Role string

// The roles.
const (
	RoleSupportWorker    Role = "support_worker"
	RoleShiftLead        Role = "shift_lead"
	RolePBSLead          Role = "pbs_lead"
	RoleManager          Role = "manager"
	RoleQualityLead      Role = "quality_lead"
	RoleSafeguardingLead Role = "safeguarding_lead"
	RolePartner          Role = "partner" // an external agency
)

// Roles lists every role.
var Roles = []Role{RoleSupportWorker, RoleShiftLead, RolePBSLead, RoleManager, RoleQualityLead, RoleSafeguardingLead, RolePartner}

// Operation is something a principal does with a record.
type Operation string

// The operations that access is decided for.
const (
	OpPull   Operation = "pull"        // receive the record on a device
	OpCreate Operation = "push_create" // create it from a device
	OpEdit   Operation = "push_edit"   // edit its fields from a device
	OpVoid   Operation = "void"        // mark it voided, with a reason
	OpReview Operation = "review_read" // read it in the review API
)

// Operations lists every operation.
var Operations = []Operation{OpPull, OpCreate, OpEdit, OpVoid, OpReview}

// Grant is one membership: a role in a service, or for one person supported
// in it (a caseload), from Start until End (zero End: open-ended).
type Grant struct {
	ServiceID string
	PersonID  string // "" for the whole service
	Role      Role
	// Agency is the partner agency the user works for; "" for the
	// provider's own staff. An agency's users get at most what is shared
	// with partner agencies, whatever role they were given.
	Agency string
	// ServiceOnly limits a grant for the whole service to the service's
	// own records, those about no one person (its rota, forecasts and
	// huddles): a rostered support worker's reach beside the people on
	// their shifts ([Scope.Rostered]).
	ServiceOnly bool
	Start       time.Time
	End         time.Time
}

// ActiveAt reports whether the grant is in force at t.
func (g Grant) ActiveAt(t time.Time) bool {
	return !t.Before(g.Start) && (g.End.IsZero() || t.Before(g.End))
}

// Covers reports whether the record is within the grant's service, for a
// caseload grant about its person, and for a partner agency's grant, when
// the record is assigned to an agency, assigned to the grant's.
func (g Grant) Covers(r RecordRef) bool {
	return g.ServiceID == r.ServiceID && (g.PersonID == "" || g.PersonID == r.PersonID) && (!g.ServiceOnly || r.PersonID == "") &&
		(g.Agency == "" || !AgencyAssigned(r.RecordType) || g.Agency == r.Agency)
}

// wholeService reports whether the grant covers every record of its
// service, not one person's nor only the service's own.
func (g Grant) wholeService() bool { return g.PersonID == "" && !g.ServiceOnly }

// Scope is what a principal may read and write, decided by an [Authorizer]
// at the time of a request: the grants of the principal's memberships.
type Scope struct {
	Grants []Grant
}

// Allows reports whether some grant in force at time at lets its role do op
// with the record. It is the one access decision of the system.
func (s Scope) Allows(op Operation, r RecordRef, at time.Time) bool {
	for _, g := range s.Grants {
		if g.ActiveAt(at) && g.Covers(r) && g.allows(r.RecordType, op) {
			return true
		}
	}
	return false
}

// allows reports whether the grant's role, limited for a partner agency's
// user to what partners may do, allows op on records of the type.
func (g Grant) allows(recordType string, op Operation) bool {
	if g.Agency != "" && !RoleAllows(RolePartner, recordType, op) {
		return false
	}
	return RoleAllows(g.Role, recordType, op)
}

// ReviewsIn reports whether some grant in force at at lets its role review
// records of the type in the service: for the whole service, a caseload in
// it, or a partner agency's share of it.
func (s Scope) ReviewsIn(serviceID, recordType string, at time.Time) bool {
	return slices.ContainsFunc(s.Grants, func(g Grant) bool {
		return g.ServiceID == serviceID && g.ActiveAt(at) && g.allows(recordType, OpReview)
	})
}

// Manages reports whether the scope has a manager's grant in force at t for
// the whole of the service: what the admin operations require. A partner
// agency's user never manages.
func (s Scope) Manages(serviceID string, at time.Time) bool {
	return slices.ContainsFunc(s.Grants, func(g Grant) bool {
		return g.ServiceID == serviceID && g.wholeService() && g.Role == RoleManager && g.Agency == "" && g.ActiveAt(at)
	})
}

// Sees reports whether some grant in force at one of the times lets the
// scope pull, review or edit the record. A record the scope does not see
// is, to its principal, a record that does not exist.
func (s Scope) Sees(r RecordRef, at ...time.Time) bool {
	return slices.ContainsFunc(at, func(t time.Time) bool {
		return s.Allows(OpPull, r, t) || s.Allows(OpReview, r, t) || s.Allows(OpEdit, r, t)
	})
}

// Knows reports whether the principal of the scope, pushing m, may know the
// stored record: the scope [Scope.Sees] it at now, or at the mutation's own
// time for a record the mutation's device could have held then
// ([StoredRecord.HeldAt]). The mutation's time is device-chosen, so a
// back-dated stamp shows nothing of a record that arrived after it.
func (s Scope) Knows(r *StoredRecord, m *Mutation, now time.Time) bool {
	return s.Sees(r.RecordRef, now) || r.HeldAt(m.DeviceID, m.HLC.Time()) && s.Sees(r.RecordRef, m.HLC.Time())
}

// Claim judges the record a mutation names as its pusher may know it.
// stored is the record held under the mutation's id, nil if none. Claim
// returns the record as the pusher sees it: stored, or nil when there is
// none or it is hidden (the scope does not [Scope.Knows] it). Or it returns
// the answer to a mutation naming a record it may not have:
// [ReasonUnknownRecord] for an edit ([Mutation.Edits]) of a record that
// does not exist or is hidden, [ReasonRecordIDTaken] for a create under a
// hidden record's id. Neither names anything of the stored record, and an
// edit of a hidden record is answered exactly as an edit of an id never
// used, so a push cannot probe for records.
func (s Scope) Claim(m *Mutation, stored *StoredRecord, now time.Time) (*RecordRef, *MutationError) {
	if stored == nil || !s.Knows(stored, m, now) {
		if stored != nil && !m.Edits() {
			return nil, reject(ReasonRecordIDTaken, "record id %s is already taken; this change is kept for your managers to review. If it adds to a record you wrote, do not record it again; otherwise record it under a new id", truncate(m.RecordID))
		}
		if m.Edits() {
			return nil, reject(ReasonUnknownRecord, "no record %s that you may edit", truncate(m.RecordID))
		}
		return nil, nil
	}
	return &stored.RecordRef, nil
}

// Flag marks an accepted mutation for a reviewer's attention.
type Flag string

// FlagAccessEnded marks a mutation accepted although its author's access had
// ended by the time it arrived.
const FlagAccessEnded Flag = "access_ended"

// AuthorizeWrite decides whether the scope lets its principal make the
// mutation, creating a record (stored nil) or editing the stored one. Access
// is judged at now, and failing that at the mutation's own time: a record
// written offline while the author still had access is accepted after the
// access ended, so no record written in good faith is lost, and flagged
// [FlagAccessEnded] for review. For an edit the mutation's time counts only
// if its device could have held the record then ([StoredRecord.HeldAt]): a
// back-dated stamp writes nothing into a record that arrived after it.
// Otherwise it returns [ReasonPermissionDenied].
//
// A mutation that sets [VoidReasonField] also needs [OpVoid].
func (s Scope) AuthorizeWrite(m *Mutation, stored *StoredRecord, now time.Time) (Flag, *MutationError) {
	ops := []Operation{OpEdit}
	if stored == nil {
		ops[0] = OpCreate
	}
	if _, voids := m.Value(VoidReasonField); voids {
		ops = append(ops, OpVoid)
	}
	allowedAt := func(at time.Time) bool {
		return !slices.ContainsFunc(ops, func(op Operation) bool { return !s.Allows(op, m.RecordRef, at) })
	}
	switch {
	case allowedAt(now):
		return "", nil
	case (stored == nil || stored.HeldAt(m.DeviceID, m.HLC.Time())) && allowedAt(m.HLC.Time()):
		return FlagAccessEnded, nil
	}
	return "", reject(ReasonPermissionDenied, "you may not %s %s records of service %q", ops[len(ops)-1], m.RecordType, m.ServiceID)
}

// Services returns the services any grant in force at t covers, sorted and
// without repeats: the places a pull must look.
func (s Scope) Services(at time.Time) []string {
	var ids []string
	for _, g := range s.Grants {
		if g.ActiveAt(at) {
			ids = append(ids, g.ServiceID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Sets of operations the permission table is written in.
var (
	frontLine = []Operation{OpPull, OpCreate, OpEdit}           // staff who record on shift
	lead      = []Operation{OpPull, OpCreate, OpEdit, OpReview} // record and review
	readOnly  = []Operation{OpPull, OpReview}                   // read on a device and in review
	review    = []Operation{OpReview}                           // review only, never on a device
	none      = []Operation{}                                   // declared: nothing
)

// permissions says which operations each role may do on each record type
// (care-records.md §3.2). A record type missing for a role allows nothing:
// partner agencies, in particular, never see raw incident or restriction
// records, only the shared tracker of the people they work with and the
// actions assigned to their agency (see [Grant.Covers]). Voiding
// is a manager's. Addenda are written by anyone who records and read beside
// the record they add to, so only reviewers and managers read them.
// TestAccessMatrix checks every cell against a reviewed golden and fails
// when a record type has no row.
var permissions = map[Role]map[string][]Operation{
	RoleSupportWorker: {
		"incident":                 frontLine,
		"restrictive_intervention": frontLine,
		"early_warning_sign":       frontLine,
		"prn_administration":       frontLine,
		"shift_reflection":         frontLine,
		"brief_acknowledgement":    frontLine,
		"shift_brief":              {OpPull},
		"standing_restriction":     {OpPull},
		"risk_forecast":            {OpPull},
		"action":                   {OpPull},
		"debrief":                  {OpPull},
		"safeguarding_concern":     {OpCreate}, // raise one; never browse others'
		"addendum":                 {OpCreate},
		"meeting":                  none,
		"action_tracker":           none,
		"escalation":               none,
		"risk_huddle":              none,
		"quality_check":            none,
		"shift":                    {OpPull}, // their rota
		"shift_assignment":         {OpPull},
		"high_risk_period":         {OpPull},
		"competency":               none,
	},
	RoleShiftLead: {
		"incident":                 lead,
		"restrictive_intervention": lead,
		"early_warning_sign":       lead,
		"prn_administration":       lead,
		"shift_reflection":         lead,
		"brief_acknowledgement":    lead,
		"debrief":                  lead,
		"risk_forecast":            lead,
		"risk_huddle":              lead,
		"action":                   {OpPull, OpEdit, OpReview},
		"shift_brief":              readOnly,
		"standing_restriction":     readOnly,
		"meeting":                  readOnly,
		"action_tracker":           readOnly,
		"escalation":               review,
		"quality_check":            review,
		"safeguarding_concern":     {OpCreate}, // raise one; the details are the safeguarding lead's and the manager's
		"addendum":                 {OpCreate, OpReview},
		"shift":                    lead, // a shift lead swaps a shift on a phone with no signal
		"shift_assignment":         lead,
		"high_risk_period":         readOnly,
		"competency":               readOnly,
	},
	RolePBSLead: {
		"incident":                 lead,
		"restrictive_intervention": lead,
		"early_warning_sign":       lead,
		"prn_administration":       lead,
		"shift_reflection":         lead,
		"brief_acknowledgement":    lead,
		"debrief":                  lead,
		"risk_forecast":            lead,
		"risk_huddle":              lead,
		"action":                   lead,
		"shift_brief":              lead,
		"standing_restriction":     lead,
		"meeting":                  lead,
		"action_tracker":           lead,
		"escalation":               lead,
		"quality_check":            lead,
		"safeguarding_concern":     {OpCreate}, // "read if involved": no involvement is recorded yet
		"addendum":                 {OpCreate, OpReview},
		"shift":                    readOnly,
		"shift_assignment":         readOnly,
		"high_risk_period":         lead,
		"competency":               lead, // confirms competence by observation
	},
	RoleManager: {
		"incident":                 Operations,
		"restrictive_intervention": Operations,
		"early_warning_sign":       Operations,
		"prn_administration":       Operations,
		"shift_reflection":         Operations,
		"brief_acknowledgement":    Operations,
		"debrief":                  Operations,
		"risk_forecast":            Operations,
		"risk_huddle":              Operations,
		"action":                   Operations,
		"shift_brief":              Operations,
		"standing_restriction":     Operations,
		"meeting":                  Operations,
		"action_tracker":           Operations,
		"escalation":               Operations,
		"quality_check":            Operations,
		"safeguarding_concern":     Operations,
		"addendum":                 Operations,
		"shift":                    Operations,
		"shift_assignment":         Operations,
		"high_risk_period":         Operations,
		"competency":               Operations,
	},
	RoleQualityLead: {
		"incident":                 review,
		"restrictive_intervention": review,
		"early_warning_sign":       review,
		"prn_administration":       review,
		"shift_reflection":         review,
		"brief_acknowledgement":    review,
		"debrief":                  review,
		"risk_forecast":            review,
		"risk_huddle":              review,
		"action":                   review,
		"shift_brief":              review,
		"standing_restriction":     review,
		"meeting":                  review,
		"action_tracker":           review,
		"escalation":               review,
		"quality_check":            lead,
		"addendum":                 review,
		"safeguarding_concern":     none, // aggregates only
		"shift":                    review,
		"shift_assignment":         review,
		"high_risk_period":         review,
		"competency":               lead, // observes practice
	},
	RoleSafeguardingLead: {
		"incident":                 review,
		"restrictive_intervention": review,
		"early_warning_sign":       review,
		"prn_administration":       review,
		"debrief":                  review,
		"action":                   review,
		"standing_restriction":     review,
		"meeting":                  review,
		"escalation":               review,
		"safeguarding_concern":     lead,
		"addendum":                 {OpCreate, OpReview},
		"shift_reflection":         none,
		"brief_acknowledgement":    none,
		"risk_forecast":            none,
		"risk_huddle":              none,
		"shift_brief":              none,
		"action_tracker":           none,
		"quality_check":            none,
		"shift":                    none,
		"shift_assignment":         none,
		"high_risk_period":         none,
		"competency":               none,
	},
	RolePartner: {
		// The shared tracker of the people the agency works with, and
		// progress on the agency's own actions (see PartnerEdit).
		"action":         {OpPull, OpEdit, OpReview},
		"action_tracker": readOnly,
	},
}

// PartnerAgencies returns the agencies of the grants in force at at that
// let the scope edit the record, when only partner agencies' grants do;
// nil when a provider grant allows it (or none does).
func (s Scope) PartnerAgencies(r RecordRef, at time.Time) []string {
	var agencies []string
	for _, g := range s.Grants {
		if !g.ActiveAt(at) || !g.Covers(r) || !g.allows(r.RecordType, OpEdit) {
			continue
		}
		if g.Agency == "" {
			return nil
		}
		agencies = append(agencies, g.Agency)
	}
	return agencies
}

// partnerEditable are the action fields a partner agency updates on its own
// actions: progress and evidence. Verifying completion, and everything that
// defines the action, stay with the provider (no self-certification).
var partnerEditable = []string{"status", "interim_check_result", "evidence_received"}

// partnerStatuses are the statuses a partner agency may set.
var partnerStatuses = []string{"ACTION_STATUS_NOT_STARTED", "ACTION_STATUS_ON_TRACK", "ACTION_STATUS_AT_RISK", "ACTION_STATUS_DONE_PENDING_EVIDENCE"}

// PartnerEdit decides an edit of an action by a user whose access comes
// only from partner agencies (agencies): the action must be assigned to one
// of them (owner, its current agency field), and the edit may only record
// progress and evidence, never verify or cancel.
func PartnerEdit(m *Mutation, agencies []string, owner string) *MutationError {
	if !slices.Contains(agencies, owner) {
		return reject(ReasonPermissionDenied, "action %s is not assigned to your agency", m.RecordID)
	}
	for _, e := range m.Fields {
		switch {
		case !slices.Contains(partnerEditable, e.Field):
			return reject(ReasonPermissionDenied, "a partner agency updates an action's %s, not its %s", strings.Join(partnerEditable, ", "), e.Field)
		case e.Field == "status" && !slices.Contains(partnerStatuses, e.Value.String):
			return reject(ReasonPermissionDenied, "the provider verifies or cancels an action, not the agency that owns it")
		}
	}
	return nil
}

// RoleAllows reports whether the role may do op with records of the type.
func RoleAllows(role Role, recordType string, op Operation) bool {
	return slices.Contains(permissions[role][recordType], op)
}

// Purge names records a device must delete because its user lost access to
// them: the records of a service, or of one person supported in it, except
// those about the people in Keep, and only those of RecordTypes (none:
// every type).
type Purge struct {
	ServiceID   string
	PersonID    string   // "" for the whole service
	Keep        []string // people still covered by a caseload or a rostered shift; "" keeps the service's own records
	RecordTypes []string // sorted; nil for every type
}

// Purges returns what a device of the scope's principal must delete at t:
// records of the given types that a grant ended by t let it pull and that
// no grant in force at t still does. That covers leaving a service or a
// caseload, and a role narrowed within a service (a manager who becomes a
// support worker no longer pulls meetings). A future grant does not count
// as access. The answer depends only on the grants, so it is the same at
// every pull while the access stays lost, and a device that missed it
// purges at its next pull. Sorted by service, then person.
func (s Scope) Purges(at time.Time, recordTypes []string) []Purge {
	var purges []Purge
	for _, service := range s.endedServices(at) {
		var active, ended []Grant
		for _, g := range s.Grants {
			switch {
			case g.ServiceID != service:
			case g.ActiveAt(at):
				active = append(active, g)
			case g.endedBy(at):
				ended = append(ended, g)
			}
		}
		pulls := func(grants []Grant, person, recordType string) bool {
			return slices.ContainsFunc(grants, func(g Grant) bool {
				return g.PersonID == person && !g.ServiceOnly && g.allows(recordType, OpPull)
			})
		}
		// Gather the lost types by the scope they are lost in.
		type scope struct{ person, keep string }
		lost := map[scope][]string{}
		keeps := map[string][]string{} // each scope's keep, by its key
		var anyEnded []string          // types some ended grant could pull
		for _, t := range recordTypes {
			if !slices.ContainsFunc(ended, func(g Grant) bool { return g.allows(t, OpPull) }) {
				continue
			}
			anyEnded = append(anyEnded, t)
			if pulls(active, "", t) {
				continue // the whole service is still pulled
			}
			var keep []string // "" keeps the service's own records
			for _, g := range active {
				if (g.PersonID != "" || g.ServiceOnly) && g.allows(t, OpPull) {
					keep = append(keep, g.PersonID)
				}
			}
			slices.Sort(keep)
			keep = slices.Compact(keep)
			if pulls(ended, "", t) {
				k := strings.Join(keep, "\x00")
				keeps[k] = keep
				lost[scope{"", k}] = append(lost[scope{"", k}], t)
				continue
			}
			for _, g := range ended {
				if g.PersonID != "" && g.allows(t, OpPull) && !slices.Contains(keep, g.PersonID) {
					lost[scope{g.PersonID, ""}] = append(lost[scope{g.PersonID, ""}], t)
				}
			}
		}
		stillWhole := slices.ContainsFunc(active, Grant.wholeService)
		for sc, types := range lost {
			types = slices.Compact(types) // a type is added once per ended caseload
			p := Purge{ServiceID: service, PersonID: sc.person, RecordTypes: types}
			if len(keeps[sc.keep]) > 0 {
				p.Keep = keeps[sc.keep]
			}
			if !stillWhole && slices.Equal(types, anyEnded) {
				p.RecordTypes = nil // everything the device was sent of this scope
			}
			purges = append(purges, p)
		}
	}
	slices.SortFunc(purges, func(a, b Purge) int {
		return cmp.Or(cmp.Compare(a.ServiceID, b.ServiceID), cmp.Compare(a.PersonID, b.PersonID),
			cmp.Compare(strings.Join(a.Keep, ","), strings.Join(b.Keep, ",")), cmp.Compare(strings.Join(a.RecordTypes, ","), strings.Join(b.RecordTypes, ",")))
	})
	return purges
}

// endedServices returns the services of the grants that ended by t, sorted.
func (s Scope) endedServices(at time.Time) []string {
	var ids []string
	for _, g := range s.Grants {
		if g.endedBy(at) {
			ids = append(ids, g.ServiceID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// endedBy reports whether the grant ended at or before t.
func (g Grant) endedBy(t time.Time) bool { return !g.End.IsZero() && !t.Before(g.End) }

// Keys returns one key per grant in force at t (service, person and role),
// sorted: what a device was sent is a function of these keys, so a device
// whose scope gains a key must pull again from the start to receive the
// records it could not see before.
func (s Scope) Keys(at time.Time) []string {
	var keys []string
	for _, g := range s.Grants {
		if g.ActiveAt(at) {
			key := g.ServiceID + "\x1f" + g.PersonID + "\x1f" + string(g.Role)
			if g.ServiceOnly {
				key += "\x1fservice-only"
			}
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Widened reports whether keys holds a key that before does not: the scope
// grew since before was recorded. Both must be sorted, as [Scope.Keys]
// returns them.
func Widened(before, keys []string) bool {
	for _, k := range keys {
		if _, found := slices.BinarySearch(before, k); !found {
			return true
		}
	}
	return false
}
