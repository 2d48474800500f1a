package rpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
)

var _ authv1connect.AdminServiceHandler = (*AdminHandler)(nil)

// maxReasonBytes bounds the reasons given to the admin calls.
const maxReasonBytes = 1000

// AdminHandler serves shiftsync.auth.v1.AdminService. It checks the shape
// of each request; whether the caller may make it is decided by
// [shiftsync.Admin].
type AdminHandler struct {
	admin shiftsync.Admin
	log   *slog.Logger
}

// IssueEnrolmentCode implements [authv1connect.AdminServiceHandler].
func (h *AdminHandler) IssueEnrolmentCode(ctx context.Context, req *authv1.IssueEnrolmentCodeRequest) (*authv1.IssueEnrolmentCodeResponse, error) {
	actor, err := principal(ctx, req.GetUserId(), req.GetServiceId())
	if err != nil {
		return nil, err
	}
	code, expires, err := h.admin.IssueEnrolmentCode(ctx, actor, req.GetServiceId(), req.GetUserId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.IssueEnrolmentCodeResponse{Code: code, ExpiresAt: timestamppb.New(expires)}, nil
}

// RevokeDevice implements [authv1connect.AdminServiceHandler].
func (h *AdminHandler) RevokeDevice(ctx context.Context, req *authv1.RevokeDeviceRequest) (*authv1.RevokeDeviceResponse, error) {
	actor, err := principal(ctx, req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	if len(req.GetReason()) > maxReasonBytes {
		return nil, newError(shiftsync.CodeInvalid, "the reason is too long")
	}
	at, err := h.admin.RevokeDevice(ctx, actor, req.GetDeviceId(), req.GetReason())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.RevokeDeviceResponse{RevokedAt: timestamppb.New(at)}, nil
}

// ListDevices implements [authv1connect.AdminServiceHandler].
func (h *AdminHandler) ListDevices(ctx context.Context, req *authv1.ListDevicesRequest) (*authv1.ListDevicesResponse, error) {
	actor, err := principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	list, err := h.admin.ListDevices(ctx, actor, req.GetServiceId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &authv1.ListDevicesResponse{Devices: make([]*authv1.Device, len(list))}
	for i, d := range list {
		res.Devices[i] = &authv1.Device{
			DeviceId:   d.ID,
			UserId:     d.UserID,
			Label:      d.Label,
			EnrolledAt: timestamppb.New(d.EnrolledAt),
			RevokedAt:  optionalTimestamp(d.RevokedAt),
			LastPushAt: optionalTimestamp(d.LastPushAt),
		}
	}
	return res, nil
}

// AddMembership implements [authv1connect.AdminServiceHandler].
func (h *AdminHandler) AddMembership(ctx context.Context, req *authv1.AddMembershipRequest) (*authv1.AddMembershipResponse, error) {
	actor, err := principal(ctx, req.GetUserId(), req.GetServiceId(), req.GetPersonId())
	if err != nil {
		return nil, err
	}
	id, err := h.admin.AddMembership(ctx, actor, shiftsync.Membership{
		UserID:    req.GetUserId(),
		ServiceID: req.GetServiceId(),
		PersonID:  req.GetPersonId(),
		Role:      roleFromProto[req.GetRole()],
		Start:     optionalTime(req.GetStartsAt()),
		End:       optionalTime(req.GetEndsAt()),
	})
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.AddMembershipResponse{MembershipId: id}, nil
}

// EndMembership implements [authv1connect.AdminServiceHandler].
func (h *AdminHandler) EndMembership(ctx context.Context, req *authv1.EndMembershipRequest) (*authv1.EndMembershipResponse, error) {
	actor, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	at, err := h.admin.EndMembership(ctx, actor, req.GetMembershipId(), optionalTime(req.GetEndsAt()))
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.EndMembershipResponse{EndsAt: timestamppb.New(at)}, nil
}

// SetPersonName implements [authv1connect.AdminServiceHandler].
func (h *AdminHandler) SetPersonName(ctx context.Context, req *authv1.SetPersonNameRequest) (*authv1.SetPersonNameResponse, error) {
	actor, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.admin.SetPersonName(ctx, actor, req.GetPersonId(), req.GetName()); err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.SetPersonNameResponse{}, nil
}

// roleFromProto maps wire roles to domain roles; an unknown or unset role
// maps to "", which validation refuses.
var roleFromProto = map[authv1.Role]shiftsync.Role{
	authv1.Role_ROLE_SUPPORT_WORKER:    shiftsync.RoleSupportWorker,
	authv1.Role_ROLE_SHIFT_LEAD:        shiftsync.RoleShiftLead,
	authv1.Role_ROLE_PBS_LEAD:          shiftsync.RolePBSLead,
	authv1.Role_ROLE_MANAGER:           shiftsync.RoleManager,
	authv1.Role_ROLE_QUALITY_LEAD:      shiftsync.RoleQualityLead,
	authv1.Role_ROLE_SAFEGUARDING_LEAD: shiftsync.RoleSafeguardingLead,
	authv1.Role_ROLE_PARTNER:           shiftsync.RolePartner,
}

// optionalTime returns the time of ts, or the zero time if ts is unset.
func optionalTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// optionalTimestamp returns t as a timestamp, or nil for the zero time.
func optionalTimestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
