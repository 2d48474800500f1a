package shiftsync

import (
	"context"
	"slices"
	"time"
)

// DeviceStatus is a device as a manager sees it: whether it is active and
// when it last pushed (zero: never). A device that has not pushed for a
// shift may hold records that exist nowhere else.
type DeviceStatus struct {
	Device
	LastPushAt time.Time
}

// AdminStore is the storage the admin operations change. Its methods do
// not check who asks: [Admin] does, and so does an operator with the
// database at hand (shiftsyncd admin). Every change is audited with the
// actor given.
type AdminStore interface {
	IssueEnrolmentCode(ctx context.Context, actor Principal, userID string) (string, time.Time, error)
	RevokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error)
	AddMembership(ctx context.Context, actor Principal, m Membership) (int64, error)
	EndMembership(ctx context.Context, actor Principal, id int64, at time.Time) error

	// Membership returns a membership, or CodeNotFound.
	Membership(ctx context.Context, id int64) (Membership, error)
	// Memberships returns every membership of a user, ended or not.
	Memberships(ctx context.Context, userID string) ([]Membership, error)
	// Device returns a device, or CodeNotFound.
	Device(ctx context.Context, id string) (Device, error)
	// ListDevices returns the devices of every user who has ever had a
	// membership in the service, newest enrolment first.
	ListDevices(ctx context.Context, serviceID string) ([]DeviceStatus, error)
}

// Admin carries out the admin operations managers call from the AdminService:
// each first checks, through Access, that the actor manages the service
// concerned, and answers CodePermissionDenied otherwise.
type Admin struct {
	Store  AdminStore
	Access Authorizer
	Now    func() time.Time
}

// IssueEnrolmentCode returns a code for userID, who must work in serviceID.
func (a Admin) IssueEnrolmentCode(ctx context.Context, actor Principal, serviceID, userID string) (string, time.Time, error) {
	if err := a.requireManager(ctx, actor, serviceID); err != nil {
		return "", time.Time{}, err
	}
	if err := a.requireWorksIn(ctx, userID, serviceID); err != nil {
		return "", time.Time{}, err
	}
	return a.Store.IssueEnrolmentCode(ctx, actor, userID)
}

// RevokeDevice revokes a device of a user who works, or worked, in a
// service the actor manages.
func (a Admin) RevokeDevice(ctx context.Context, actor Principal, deviceID, reason string) (time.Time, error) {
	d, err := a.Store.Device(ctx, deviceID)
	if err != nil {
		return time.Time{}, err
	}
	ms, err := a.Store.Memberships(ctx, d.UserID)
	if err != nil {
		return time.Time{}, err
	}
	scope, err := a.Access.Scope(ctx, actor)
	if err != nil {
		return time.Time{}, err
	}
	for _, m := range ms {
		if scope.Manages(m.ServiceID, a.Now()) {
			return a.Store.RevokeDevice(ctx, actor, deviceID, reason)
		}
	}
	return time.Time{}, Errorf(CodePermissionDenied, "device %q is not used in a service you manage", deviceID)
}

// ListDevices lists the devices of a service's staff.
func (a Admin) ListDevices(ctx context.Context, actor Principal, serviceID string) ([]DeviceStatus, error) {
	if err := a.requireManager(ctx, actor, serviceID); err != nil {
		return nil, err
	}
	return a.Store.ListDevices(ctx, serviceID)
}

// AddMembership gives a user a role in a service the actor manages. A zero
// Start means now.
func (a Admin) AddMembership(ctx context.Context, actor Principal, m Membership) (int64, error) {
	if err := a.requireManager(ctx, actor, m.ServiceID); err != nil {
		return 0, err
	}
	if m.Start.IsZero() {
		m.Start = a.Now()
	}
	if err := m.Validate(); err != nil {
		return 0, err
	}
	return a.Store.AddMembership(ctx, actor, m)
}

// EndMembership ends a membership of a service the actor manages, at at
// (zero: now). It returns when the membership ends.
func (a Admin) EndMembership(ctx context.Context, actor Principal, id int64, at time.Time) (time.Time, error) {
	m, err := a.Store.Membership(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	if err := a.requireManager(ctx, actor, m.ServiceID); err != nil {
		return time.Time{}, err
	}
	if at.IsZero() {
		at = a.Now()
	}
	if at.Before(m.Start) {
		return time.Time{}, Errorf(CodeInvalid, "membership %d starts at %s; it cannot end before", id, m.Start.Format(time.RFC3339))
	}
	return at, a.Store.EndMembership(ctx, actor, id, at)
}

func (a Admin) requireManager(ctx context.Context, actor Principal, serviceID string) error {
	scope, err := a.Access.Scope(ctx, actor)
	if err != nil {
		return err
	}
	if !scope.Manages(serviceID, a.Now()) {
		return Errorf(CodePermissionDenied, "you do not manage service %q", serviceID)
	}
	return nil
}

func (a Admin) requireWorksIn(ctx context.Context, userID, serviceID string) error {
	ms, err := a.Store.Memberships(ctx, userID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ServiceID == serviceID && (m.End.IsZero() || a.Now().Before(m.End)) {
			return nil
		}
	}
	return Errorf(CodePermissionDenied, "user %q has no current membership in service %q", userID, serviceID)
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
