package shiftsync

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DeviceStatus is a device as a manager sees it: whether it is active and
// when it last pushed (zero: never). A device that has not pushed for a
// shift may hold records that exist nowhere else.
type DeviceStatus struct {
	Device
	LastPushAt time.Time
}

// AdminStore is the storage the admin operations read and change. Its
// methods do not check who asks: [Admin] does, by the rules of
// [Authority], and so does an operator with the database at hand
// (shiftsyncd admin). Every change is audited with the actor given.
type AdminStore interface {
	IssueEnrolmentCode(ctx context.Context, actor Principal, userID string) (string, time.Time, error)
	RevokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error)
	// AddMembership records a membership, with when and by whom (the
	// actor) it was recorded.
	AddMembership(ctx context.Context, actor Principal, m Membership) (int64, error)
	EndMembership(ctx context.Context, actor Principal, id int64, at time.Time) error
	// SetPersonName sets the name of a person supported, or answers
	// CodeNotFound.
	SetPersonName(ctx context.Context, actor Principal, personID, name string) error

	// User returns a user, or CodeNotFound.
	User(ctx context.Context, id string) (User, error)
	// ServiceOrganisation returns the organisation of a service, or
	// CodeNotFound.
	ServiceOrganisation(ctx context.Context, serviceID string) (string, error)
	// PersonService returns the service of a person supported, or
	// CodeNotFound.
	PersonService(ctx context.Context, personID string) (string, error)
	// OrganisationAdmins returns every organisation administrator role the
	// user has held, ended or not.
	OrganisationAdmins(ctx context.Context, userID string) ([]OrganisationAdmin, error)
	// Membership returns a membership, or CodeNotFound.
	Membership(ctx context.Context, id int64) (Membership, error)
	// Memberships returns every membership of a user, ended or not.
	Memberships(ctx context.Context, userID string) ([]Membership, error)
	// ServiceMemberships returns every membership in a service, ended or
	// not.
	ServiceMemberships(ctx context.Context, serviceID string) ([]Membership, error)
	// Device returns a device, or CodeNotFound.
	Device(ctx context.Context, id string) (Device, error)
	// Devices returns the devices of the users, newest enrolment first.
	Devices(ctx context.Context, userIDs []string) ([]DeviceStatus, error)
}

// Admin carries out the admin operations that managers and organisation
// administrators call from the AdminService. Each first decides, by the
// rules of [Authority] at the time of the call, whether the actor may, and
// answers CodePermissionDenied otherwise; every refusal is written to Audit
// ([AuditAdminRefused]) with the call, its subject and the reason.
type Admin struct {
	Store  AdminStore
	Access Authorizer
	Audit  AuditLog
	Now    func() time.Time
}

// IssueEnrolmentCode returns a code with which userID enrols a device, and
// when it expires. serviceID is optional; when set, it must be a service the
// user works in now.
func (a Admin) IssueEnrolmentCode(ctx context.Context, actor Principal, serviceID, userID string) (string, time.Time, error) {
	code, expires, err := a.issueEnrolmentCode(ctx, actor, serviceID, userID)
	return code, expires, a.audited(ctx, actor, "IssueEnrolmentCode", userID, err)
}

func (a Admin) issueEnrolmentCode(ctx context.Context, actor Principal, serviceID, userID string) (string, time.Time, error) {
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return "", time.Time{}, err
	}
	sub, err := a.subject(ctx, userID)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := auth.IssuesEnrolmentCode(sub); err != nil {
		return "", time.Time{}, err
	}
	if serviceID != "" && !slices.ContainsFunc(sub.Memberships, func(m Membership) bool { return m.ServiceID == serviceID && m.Grant().ActiveAt(auth.At) }) {
		return "", time.Time{}, refuse("not a current service of the user", "user %q has no current membership in service %q", userID, serviceID)
	}
	return a.Store.IssueEnrolmentCode(ctx, actor, userID)
}

// RedeemsEnrolmentCode is the [RedemptionCheck] of the server: a code
// issued by issuedBy for userID enrols a device only if its issuer may
// still issue it, by [Authority.IssuesEnrolmentCode] on the memberships and
// roles in force now, so that what happened to the user since the code was
// issued (made an organisation administrator, added to another service)
// gives the issuer nothing. A code whose issuer is no user was issued by the
// operator (shiftsyncd admin), who is not bound by these rules, and is not
// checked: the AdminService issues codes only to actors who are users
// ([Admin.IssueEnrolmentCode]), and users are never deleted, so no code of
// a manager is taken for the operator's. Returns nil, a refusal
// (CodePermissionDenied, its reason as cause), or a storage error.
func (a Admin) RedeemsEnrolmentCode(ctx context.Context, userID, issuedBy string) error {
	auth, err := a.authority(ctx, Principal{UserID: issuedBy})
	if err != nil || auth.Actor.ID == "" {
		return err
	}
	sub, err := a.subject(ctx, userID)
	if err != nil {
		return err
	}
	return auth.IssuesEnrolmentCode(sub)
}

// RevokeDevice revokes a device, of a user the actor may act on as a whole.
func (a Admin) RevokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error) {
	at, err := a.revokeDevice(ctx, actor, deviceID, reason)
	return at, a.audited(ctx, actor, "RevokeDevice", deviceID, err)
}

func (a Admin) revokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error) {
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return time.Time{}, err
	}
	d, err := a.Store.Device(ctx, deviceID)
	if ErrorCode(err) == CodeNotFound {
		return time.Time{}, deviceRefused(deviceID, "unknown device")
	} else if err != nil {
		return time.Time{}, err
	}
	sub, err := a.subject(ctx, d.UserID)
	if err != nil {
		return time.Time{}, err
	}
	if err := auth.ActsOnIdentity(sub); err != nil {
		return time.Time{}, deviceRefused(deviceID, RefusalReason(err))
	}
	return a.Store.RevokeDevice(ctx, actor, deviceID, reason)
}

// ListDevices lists the devices of the users a service's memberships bind
// ([BoundUsers]), to an administrator of the service.
func (a Admin) ListDevices(ctx context.Context, actor Principal, serviceID string) ([]DeviceStatus, error) {
	list, err := a.listDevices(ctx, actor, serviceID)
	return list, a.audited(ctx, actor, "ListDevices", serviceID, err)
}

func (a Admin) listDevices(ctx context.Context, actor Principal, serviceID string) ([]DeviceStatus, error) {
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return nil, err
	}
	if _, err := a.requireAdministers(ctx, auth, serviceID); err != nil {
		return nil, err
	}
	ms, err := a.Store.ServiceMemberships(ctx, serviceID)
	if err != nil {
		return nil, err
	}
	users := BoundUsers(ms, auth.At)
	if len(users) == 0 {
		return nil, nil
	}
	return a.Store.Devices(ctx, users)
}

// ListMemberships lists every membership in a service, ended or not,
// oldest first, to an administrator of the service (as ListDevices).
func (a Admin) ListMemberships(ctx context.Context, actor Principal, serviceID string) ([]Membership, error) {
	list, err := a.listMemberships(ctx, actor, serviceID)
	return list, a.audited(ctx, actor, "ListMemberships", serviceID, err)
}

func (a Admin) listMemberships(ctx context.Context, actor Principal, serviceID string) ([]Membership, error) {
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return nil, err
	}
	if _, err := a.requireAdministers(ctx, auth, serviceID); err != nil {
		return nil, err
	}
	return a.Store.ServiceMemberships(ctx, serviceID)
}

// AddMembership gives a user a role in a service, by the rules of
// [Authority.AddsMembership]. A zero Start means now.
func (a Admin) AddMembership(ctx context.Context, actor Principal, m Membership) (int64, error) {
	id, err := a.addMembership(ctx, actor, m)
	return id, a.audited(ctx, actor, "AddMembership", m.UserID, err)
}

func (a Admin) addMembership(ctx context.Context, actor Principal, m Membership) (int64, error) {
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return 0, err
	}
	if m.Start.IsZero() {
		m.Start = auth.At
	}
	if err := m.Validate(); err != nil {
		return 0, err
	}
	org, err := a.requireAdministers(ctx, auth, m.ServiceID)
	if err != nil {
		return 0, err
	}
	u, err := a.Store.User(ctx, m.UserID)
	if ErrorCode(err) == CodeNotFound {
		return 0, userRefused(m.UserID, "unknown user")
	} else if err != nil {
		return 0, err
	}
	var personService string
	if m.PersonID != "" {
		if personService, err = a.Store.PersonService(ctx, m.PersonID); err != nil && ErrorCode(err) != CodeNotFound {
			return 0, err
		}
	}
	if err := auth.AddsMembership(u, m, org, personService); err != nil {
		return 0, err
	}
	return a.Store.AddMembership(ctx, actor, m)
}

// EndMembership ends a membership at at (zero: now, or its start if it
// has not started, which cancels it) and returns when it ends. Ending never
// widens access: a membership that already ends by at keeps its end.
func (a Admin) EndMembership(ctx context.Context, actor Principal, id int64, at time.Time) (time.Time, error) {
	end, err := a.endMembership(ctx, actor, id, at)
	return end, a.audited(ctx, actor, "EndMembership", strconv.FormatInt(id, 10), err)
}

func (a Admin) endMembership(ctx context.Context, actor Principal, id int64, at time.Time) (time.Time, error) {
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return time.Time{}, err
	}
	m, err := a.Store.Membership(ctx, id)
	if ErrorCode(err) == CodeNotFound {
		return time.Time{}, membershipRefused(id, "unknown membership")
	} else if err != nil {
		return time.Time{}, err
	}
	org, err := a.Store.ServiceOrganisation(ctx, m.ServiceID)
	if err != nil {
		return time.Time{}, err
	}
	u, err := a.Store.User(ctx, m.UserID)
	if err != nil {
		return time.Time{}, err
	}
	if err := auth.EndsMembership(u, m, org); err != nil {
		return time.Time{}, err
	}
	if at.IsZero() {
		at = auth.At
		if at.Before(m.Start) {
			at = m.Start
		}
	}
	switch {
	case at.Before(m.Start):
		return time.Time{}, Errorf(CodeInvalid, "membership %d starts at %s; it cannot end before", id, m.Start.Format(time.RFC3339))
	case !m.End.IsZero() && !at.Before(m.End):
		return m.End, nil
	}
	return at, a.Store.EndMembership(ctx, actor, id, at)
}

// authority returns what the actor may administer now.
func (a Admin) authority(ctx context.Context, actor Principal) (Authority, error) {
	auth := Authority{At: a.Now()}
	var err error
	if auth.Scope, err = a.Access.Scope(ctx, actor); err != nil {
		return auth, err
	}
	u, err := a.Store.User(ctx, actor.UserID)
	switch {
	case ErrorCode(err) == CodeNotFound:
		return auth, nil // no user, no authority
	case err != nil:
		return auth, err
	}
	auth.Actor = u
	auth.OrganisationAdmins, err = a.Store.OrganisationAdmins(ctx, actor.UserID)
	return auth, err
}

// subject returns a user acted on as a whole ([Subject]). An unknown user
// is refused as one the actor may not administer.
func (a Admin) subject(ctx context.Context, userID string) (Subject, error) {
	u, err := a.Store.User(ctx, userID)
	if ErrorCode(err) == CodeNotFound {
		return Subject{}, userRefused(userID, "unknown user")
	} else if err != nil {
		return Subject{}, err
	}
	s := Subject{User: u, Organisations: map[string]string{}}
	if s.Memberships, err = a.Store.Memberships(ctx, userID); err != nil {
		return Subject{}, err
	}
	for _, m := range s.Memberships {
		if _, ok := s.Organisations[m.ServiceID]; ok {
			continue
		}
		if s.Organisations[m.ServiceID], err = a.Store.ServiceOrganisation(ctx, m.ServiceID); err != nil {
			return Subject{}, err
		}
	}
	if s.OrganisationAdmins, err = a.Store.OrganisationAdmins(ctx, userID); err != nil {
		return Subject{}, err
	}
	return s, nil
}

// SetPersonName sets the name a person supported is shown by, for an
// administrator of their service; a person of another service is refused
// as one that does not exist. The name is 1 to 200 bytes of UTF-8 with no
// control characters.
func (a Admin) SetPersonName(ctx context.Context, actor Principal, personID, name string) error {
	return a.audited(ctx, actor, "SetPersonName", personID, a.setPersonName(ctx, actor, personID, name))
}

func (a Admin) setPersonName(ctx context.Context, actor Principal, personID, name string) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return Errorf(CodeInvalid, "a person's name is 1 to 200 bytes of text")
	}
	auth, err := a.authority(ctx, actor)
	if err != nil {
		return err
	}
	service, err := a.Store.PersonService(ctx, personID)
	if service == "" && (err == nil || ErrorCode(err) == CodeNotFound) {
		return personRefused(personID, "unknown person")
	}
	if err != nil {
		return err
	}
	if _, err := a.requireAdministers(ctx, auth, service); err != nil {
		if ErrorCode(err) == CodePermissionDenied {
			return personRefused(personID, RefusalReason(err))
		}
		return err
	}
	return a.Store.SetPersonName(ctx, actor, personID, name)
}

// requireAdministers returns the organisation of a service the actor
// administers, and refuses one that does not exist exactly as one the actor
// does not administer.
func (a Admin) requireAdministers(ctx context.Context, auth Authority, serviceID string) (string, error) {
	org, err := a.Store.ServiceOrganisation(ctx, serviceID)
	switch {
	case ErrorCode(err) == CodeNotFound:
		return "", serviceRefused(serviceID, "unknown service")
	case err != nil:
		return "", err
	case !auth.Administers(serviceID, org):
		return "", serviceRefused(serviceID, "service not administered")
	}
	return org, nil
}

// audited returns err, having first written it to the audit log if it is a
// refusal (CodePermissionDenied or CodeInvalid), with the call, its subject
// and the reason. A refusal that cannot be audited is not answered as one.
func (a Admin) audited(ctx context.Context, actor Principal, call, subject string, err error) error {
	if code := ErrorCode(err); code != CodePermissionDenied && code != CodeInvalid {
		return err
	}
	detail, _ := json.Marshal(map[string]string{"call": call, "reason": RefusalReason(err)})
	if aerr := a.Audit.Audit(ctx, AuditEvent{Actor: actor, Action: AuditAdminRefused, Subject: subject, Detail: string(detail)}); aerr != nil {
		return aerr
	}
	return err
}

// RefusalReason returns the reason of a refusal, for the audit log only:
// its internal cause, or its public message when it has none.
func RefusalReason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err.Error()
	}
	return ErrorMessage(err)
}

// Validate checks a membership's fields.
func (m Membership) Validate() error {
	switch {
	case m.UserID == "" || m.ServiceID == "":
		return Errorf(CodeInvalid, "a membership needs a user and a service")
	case !slices.Contains(Roles, m.Role):
		return Errorf(CodeInvalid, "unknown role %q", m.Role)
	case m.Start.IsZero():
		return Errorf(CodeInvalid, "a membership needs a start")
	case !m.End.IsZero() && !m.End.After(m.Start):
		return Errorf(CodeInvalid, "a membership must end after it starts")
	}
	return nil
}
