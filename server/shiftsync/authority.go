package shiftsync

import (
	"errors"
	"slices"
	"time"
)

// The authority model for administration: who may act on memberships and
// identities through the AdminService. Access to records is decided by the
// policy (policy.go); this decides who may change that access. The rules, each
// judged on what is in force at the time of the request and never on what
// the request itself creates:
//
//  1. Users and services belong to one organisation each; no actor ever acts
//     outside their own.
//  2. An actor administers a service if they hold a whole-service manager
//     grant in it, in force now, as the provider's own staff (not through a
//     partner agency), or if they are an organisation administrator of its
//     organisation (granted only by the operator; it gives authority, never
//     access to records).
//  3. A membership is added only in a service the actor administers, for a
//     user of its organisation other than the actor, a partner agency's user
//     only as a partner, a caseload only for a person of the service, and
//     starting now or later: only the operator records past memberships.
//  4. Issuing an enrolment code for a user, or revoking a device of theirs,
//     acts on the whole user: the actor must administer the service of every
//     membership that binds the user ([Membership.Binds]), and be an
//     organisation administrator of every organisation of which the user
//     holds, or is to hold, that role; a user bound by none is acted on only
//     by an organisation administrator. No actor issues a code for
//     themselves. The rule is judged again as the code is redeemed
//     ([Admin.RedeemsEnrolmentCode]), on the facts of that moment. So
//     becoming a user never gives the actor authority they
//     lack: a manager may do every operation on the records of the services
//     they manage, so a code they issue lets them read and administer
//     nothing they could not, and a membership they give an organisation
//     administrator in their own service does not make that administrator
//     theirs to enrol; a phone holding unsynced records of a service is
//     wiped only with that service's authority. An organisation
//     administrator, who reads nothing, is trusted instead with the
//     identities of their organisation, and no other. The operator, with
//     the database at hand (shiftsyncd admin), is not bound by these rules.
//  5. A service's devices are listed to its administrators: those of the
//     users its memberships bind.
//  6. A membership is ended by an administrator of its service; ending never
//     widens access.
//  7. Towards themselves an actor may only narrow: end their own membership
//     or revoke their own device (on the terms of rules 4 and 6), never give
//     themselves a membership or an enrolment code.
//
// Every refusal answers CodePermissionDenied with the same text for a thing
// that does not exist as for one the actor may not administer, so that ids of
// other organisations cannot be confirmed, and is audited. TestAdminMatrix
// (server/rpc) checks every AdminService call against a reviewed golden.

// AdminLookback is how long after a membership ends it still binds its user
// to its service (see [Membership.Binds]): a phone may hold records of the
// service that it has not synced, which only the service's administrators
// may have wiped.
const AdminLookback = 90 * 24 * time.Hour

// MembershipStartSkew is how long before the server's clock a membership
// added through the AdminService may start: the clock skew of a manager's
// console, not back-dating.
const MembershipStartSkew = time.Minute

// User is a user as the admin rules see one: the organisation they belong
// to and, for a partner agency's user, the agency.
type User struct {
	ID             string
	OrganisationID string
	Agency         string // "" for the organisation's own staff
}

// OrganisationAdmin is the organisation administrator role, which the
// operator grants a user of the organisation from Start until End (zero:
// in force).
type OrganisationAdmin struct {
	UserID         string
	OrganisationID string
	Start          time.Time
	End            time.Time
}

// ActiveAt reports whether the role is in force at t.
func (g OrganisationAdmin) ActiveAt(t time.Time) bool {
	return !t.Before(g.Start) && (g.End.IsZero() || t.Before(g.End))
}

// Binds reports whether the membership ties its user to its service for the
// identity rules at t: it is in force or not yet started, or it ended less
// than [AdminLookback] before t and was recorded before it ended. A
// membership recorded after its end (back-dated) never binds, so recording
// one confers no authority over anyone.
func (m Membership) Binds(t time.Time) bool {
	switch {
	case m.End.IsZero() || t.Before(m.End):
		return true
	case m.Created.After(m.End):
		return false
	}
	return t.Sub(m.End) < AdminLookback
}

// BoundUsers returns the users that memberships bind at t ([Membership.Binds]),
// sorted and without repeats: for a service's memberships, its staff whose
// devices its administrators see (rule 5). A user added back-dated is not
// among them.
func BoundUsers(ms []Membership, t time.Time) []string {
	var ids []string
	for _, m := range ms {
		if m.Binds(t) {
			ids = append(ids, m.UserID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Authority is what an actor may administer at one time: who they are, the
// grants of their memberships and the organisation administrator roles they
// hold. Its methods are the admin rules; each returns nil when the act is
// allowed, and otherwise an error with CodePermissionDenied whose message
// may be shown and whose cause is the reason kept in the audit log.
type Authority struct {
	// Actor is the caller; zero for a caller who is no user (a static
	// token), who administers nothing.
	Actor              User
	Scope              Scope
	OrganisationAdmins []OrganisationAdmin
	At                 time.Time
}

// AdministersOrganisation reports whether the actor is an organisation
// administrator of org: a role in force, of the actor's own organisation.
func (a Authority) AdministersOrganisation(org string) bool {
	return a.Actor.ID != "" && org == a.Actor.OrganisationID && slices.ContainsFunc(a.OrganisationAdmins, func(g OrganisationAdmin) bool {
		return g.UserID == a.Actor.ID && g.OrganisationID == org && g.ActiveAt(a.At)
	})
}

// Administers reports whether the actor administers the service, of
// organisation org (rule 2).
func (a Authority) Administers(serviceID, org string) bool {
	if a.Actor.ID == "" || org == "" || org != a.Actor.OrganisationID {
		return false
	}
	return a.AdministersOrganisation(org) || a.Scope.Manages(serviceID, a.At)
}

// AddsMembership decides whether the actor may give user u membership m in
// its service, of organisation org (rule 3). personService is the service
// of m's person, "" when m names none or an unknown one.
func (a Authority) AddsMembership(u User, m Membership, org, personService string) error {
	switch {
	case !a.Administers(m.ServiceID, org):
		return serviceRefused(m.ServiceID, "service not administered")
	case u.OrganisationID != org:
		return userRefused(u.ID, "user of another organisation")
	case u.ID == a.Actor.ID:
		return refuse("own membership", "you may not give yourself a membership; ask another administrator")
	case u.Agency != "" && m.Role != RolePartner:
		return refuse("partner agency user given a staff role", "a partner agency's user may only be given the partner role")
	case m.PersonID != "" && personService != m.ServiceID:
		return refuse("person not of the service", "you may not administer person %q in service %q", m.PersonID, m.ServiceID)
	case m.Start.Before(a.At.Add(-MembershipStartSkew)):
		return refuse("back-dated start", "a membership may not start in the past; only the operator records past memberships")
	}
	return nil
}

// EndsMembership decides whether the actor may end membership m of user u,
// in a service of organisation org (rule 6).
func (a Authority) EndsMembership(u User, m Membership, org string) error {
	switch {
	case !a.Administers(m.ServiceID, org):
		return membershipRefused(m.ID, "service not administered")
	case u.OrganisationID != org:
		return membershipRefused(m.ID, "user of another organisation")
	}
	return nil
}

// Subject is a user acted on as a whole, as the identity rules see them:
// every membership they have had, the organisation of each of those
// memberships' services, and every organisation administrator role they
// have held.
type Subject struct {
	User
	Memberships        []Membership
	Organisations      map[string]string // service → organisation
	OrganisationAdmins []OrganisationAdmin
}

// ActsOnIdentity decides whether the actor may act on the subject as a
// whole, as revoking a device of theirs does (rule 4).
func (a Authority) ActsOnIdentity(s Subject) error {
	if a.Actor.ID == "" || s.OrganisationID != a.Actor.OrganisationID {
		return userRefused(s.ID, "user of another organisation")
	}
	// A role not yet ended counts: one that starts tomorrow would make a
	// device enrolled today an organisation administrator tomorrow.
	for _, g := range s.OrganisationAdmins {
		if (g.End.IsZero() || a.At.Before(g.End)) && !a.AdministersOrganisation(g.OrganisationID) {
			return userRefused(s.ID, "organisation administrator of "+g.OrganisationID+": its organisation administrators only")
		}
	}
	bound := false
	for _, m := range s.Memberships {
		if !m.Binds(a.At) {
			continue
		}
		// An organisation administrator administers every service of the
		// organisation, and no other: a membership in another
		// organisation's service (the operator's doing) stops them too.
		if !a.Administers(m.ServiceID, s.Organisations[m.ServiceID]) {
			return userRefused(s.ID, "bound to service "+m.ServiceID+", which the caller does not administer")
		}
		bound = true
	}
	if !bound && !a.AdministersOrganisation(s.OrganisationID) {
		return userRefused(s.ID, "bound to no service: organisation administrators only")
	}
	return nil
}

// IssuesEnrolmentCode decides whether the actor may issue an enrolment code
// for the subject: [Authority.ActsOnIdentity], and never for themselves, so
// that a stolen access token cannot mint a lasting device.
func (a Authority) IssuesEnrolmentCode(s Subject) error {
	if s.ID == a.Actor.ID {
		return refuse("own enrolment code", "you may not issue an enrolment code for yourself; ask another administrator")
	}
	return a.ActsOnIdentity(s)
}

// refuse returns a refusal: CodePermissionDenied with a public message, and
// reason, for the audit log only, as its cause.
func refuse(reason, format string, args ...any) error {
	e := Errorf(CodePermissionDenied, format, args...)
	e.Err = errors.New(reason)
	return e
}

// The refusals naming a thing: the same text whether it does not exist or
// the actor may not administer it.
func userRefused(id, reason string) error {
	return refuse(reason, "you may not administer user %q", id)
}

func serviceRefused(id, reason string) error {
	return refuse(reason, "you may not administer service %q", id)
}

func personRefused(id, reason string) error {
	return refuse(reason, "you may not name person %q", id)
}

func deviceRefused(id, reason string) error {
	return refuse(reason, "you may not administer device %q", id)
}

func membershipRefused(id int64, reason string) error {
	return refuse(reason, "you may not administer membership %d", id)
}
