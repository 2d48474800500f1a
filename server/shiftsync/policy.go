package shiftsync

import (
	"cmp"
	"slices"
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
	Start  time.Time
	End    time.Time
}

// ActiveAt reports whether the grant is in force at t.
func (g Grant) ActiveAt(t time.Time) bool {
	return !t.Before(g.Start) && (g.End.IsZero() || t.Before(g.End))
}

// Covers reports whether the record is within the grant's service and, for
// a caseload grant, about its person.
func (g Grant) Covers(r RecordRef) bool {
	return g.ServiceID == r.ServiceID && (g.PersonID == "" || g.PersonID == r.PersonID)
}

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

// Manages reports whether the scope has a manager's grant in force at t for
// the whole of the service: what the admin operations require. A partner
// agency's user never manages.
func (s Scope) Manages(serviceID string, at time.Time) bool {
	return slices.ContainsFunc(s.Grants, func(g Grant) bool {
		return g.ServiceID == serviceID && g.PersonID == "" && g.Role == RoleManager && g.Agency == "" && g.ActiveAt(at)
	})
}

// Flag marks an accepted mutation for a reviewer's attention.
type Flag string

// FlagAccessEnded marks a mutation accepted although its author's access had
// ended by the time it arrived.
const FlagAccessEnded Flag = "access_ended"

// AuthorizeWrite decides whether the scope lets its principal make the
// mutation, creating the record or editing it. Access is judged at now, and
// failing that at the mutation's own time: a record written offline while the
// author still had access is accepted after the access ended, so no record
// written in good faith is lost, and flagged [FlagAccessEnded] for review.
// Otherwise it returns [ReasonPermissionDenied].
func (s Scope) AuthorizeWrite(m *Mutation, create bool, now time.Time) (Flag, *MutationError) {
	op := OpEdit
	if create {
		op = OpCreate
	}
	switch {
	case s.Allows(op, m.RecordRef, now):
		return "", nil
	case s.Allows(op, m.RecordRef, m.HLC.Time()):
		return FlagAccessEnded, nil
	}
	return "", reject(ReasonPermissionDenied, "you may not %s %s records of service %q", op, m.RecordType, m.ServiceID)
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

// frontLine are the operations of staff who record on shift.
var frontLine = []Operation{OpPull, OpCreate, OpEdit}

// permissions says which operations each role may do on each record type
// (care-records.md §3.2). A record type missing for a role allows nothing:
// partner agencies, in particular, never see raw incident or restriction
// records. TestRoleAllows_Matrix checks every cell against an independent
// expectation, and fails when a record type has no row.
var permissions = map[Role]map[string][]Operation{
	RoleSupportWorker: {
		"incident":                 frontLine,
		"restrictive_intervention": frontLine,
		"early_warning_sign":       frontLine,
	},
	RoleShiftLead: {
		"incident":                 {OpPull, OpCreate, OpEdit, OpReview},
		"restrictive_intervention": {OpPull, OpCreate, OpEdit, OpReview},
		"early_warning_sign":       {OpPull, OpCreate, OpEdit, OpReview},
	},
	RolePBSLead: {
		"incident":                 {OpPull, OpCreate, OpEdit, OpReview},
		"restrictive_intervention": {OpPull, OpCreate, OpEdit, OpReview},
		"early_warning_sign":       {OpPull, OpCreate, OpEdit, OpReview},
	},
	RoleManager: {
		"incident":                 Operations,
		"restrictive_intervention": Operations,
		"early_warning_sign":       Operations,
	},
	RoleQualityLead: {
		"incident":                 {OpReview},
		"restrictive_intervention": {OpReview},
		"early_warning_sign":       {OpReview},
	},
	RoleSafeguardingLead: {
		"incident":                 {OpReview},
		"restrictive_intervention": {OpReview},
		"early_warning_sign":       {OpReview},
	},
	RolePartner: {},
}

// RoleAllows reports whether the role may do op with records of the type.
func RoleAllows(role Role, recordType string, op Operation) bool {
	return slices.Contains(permissions[role][recordType], op)
}

// Purge names records a device must delete because its user lost access to
// them: the records of a service, or of one person supported in it, except
// those about the people in Keep.
type Purge struct {
	ServiceID string
	PersonID  string   // "" for the whole service
	Keep      []string // people still covered by a caseload grant
}

// Purges returns what a device of the scope's principal must delete at t:
// every service, or caseload within one, that some grant covered before t
// and no grant in force at t still covers. A future grant does not count as
// access. The answer depends only on the grants, so it is the same at every
// pull while the access stays lost, and a device that missed it purges at
// its next pull. Sorted by service, then person.
func (s Scope) Purges(at time.Time) []Purge {
	var purges []Purge
	for _, service := range s.endedServices(at) {
		var wholeService bool
		var caseloads []string
		for _, g := range s.Grants {
			if g.ServiceID != service || !g.ActiveAt(at) {
				continue
			}
			if g.PersonID == "" {
				wholeService = true
			}
			caseloads = append(caseloads, g.PersonID)
		}
		if wholeService {
			continue
		}
		slices.Sort(caseloads)
		caseloads = slices.Compact(caseloads)
		for _, g := range s.Grants {
			if g.ServiceID != service || g.ActiveAt(at) || !g.endedBy(at) {
				continue
			}
			switch {
			case g.PersonID == "":
				purges = append(purges, Purge{ServiceID: service, Keep: caseloads})
			case !slices.Contains(caseloads, g.PersonID):
				purges = append(purges, Purge{ServiceID: service, PersonID: g.PersonID})
			}
		}
	}
	slices.SortFunc(purges, func(a, b Purge) int {
		return cmp.Or(cmp.Compare(a.ServiceID, b.ServiceID), cmp.Compare(a.PersonID, b.PersonID))
	})
	return slices.CompactFunc(purges, func(a, b Purge) bool {
		return a.ServiceID == b.ServiceID && a.PersonID == b.PersonID
	})
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
			keys = append(keys, g.ServiceID+"\x1f"+g.PersonID+"\x1f"+string(g.Role))
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
