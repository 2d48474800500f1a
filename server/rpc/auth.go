package rpc

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
)

var _ authv1connect.AuthServiceHandler = (*AuthHandler)(nil)

// Input limits for the unauthenticated auth calls.
const (
	maxCodeBytes       = 64
	maxLabelBytes      = 200
	maxCredentialBytes = 128
)

// AuthHandler serves shiftsync.auth.v1.AuthService: enrolment and token
// refresh. Its calls carry no access token, so they pass no auth
// interceptor; they are authenticated by the code or credential they carry.
type AuthHandler struct {
	identity shiftsync.IdentityService
	admin    shiftsync.Admin // judges codes as they are redeemed
	tokens   shiftsync.TokenIssuer
	audit    shiftsync.AuditLog
	refusals *RefusalLog
	log      *slog.Logger
}

// Enrol implements [authv1connect.AuthServiceHandler].
func (h *AuthHandler) Enrol(ctx context.Context, req *authv1.EnrolRequest) (*authv1.EnrolResponse, error) {
	if len(req.GetCode()) > maxCodeBytes || len(req.GetDeviceLabel()) > maxLabelBytes {
		return nil, newError(shiftsync.CodeInvalid, "the code or the device label is too long")
	}
	d, credential, err := h.identity.Enrol(withSource(ctx), req.GetCode(), req.GetDeviceLabel(), h.admin.RedeemsEnrolmentCode)
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	token, expires, err := h.tokens.Issue(ctx, d.UserID, d.ID)
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.EnrolResponse{
		DeviceId:             d.ID,
		DeviceCredential:     credential,
		AccessToken:          token,
		AccessTokenExpiresAt: timestamppb.New(expires),
		UserId:               d.UserID,
	}, nil
}

// withSource returns ctx carrying the source key of the caller's network
// address, for the throttles, unless the HTTP edge already put one there.
func withSource(ctx context.Context) context.Context {
	if shiftsync.SourceFromContext(ctx) != "" {
		return ctx
	}
	if call, ok := connect.CallInfoForHandlerContext(ctx); ok {
		return shiftsync.NewContextWithSource(ctx, shiftsync.SourceKey(call.Peer().Addr))
	}
	return ctx
}

// Refresh implements [authv1connect.AuthServiceHandler].
func (h *AuthHandler) Refresh(ctx context.Context, req *authv1.RefreshRequest) (*authv1.RefreshResponse, error) {
	if len(req.GetDeviceId()) > maxCodeBytes*2 || len(req.GetDeviceCredential()) > maxCredentialBytes {
		return nil, newError(shiftsync.CodeUnauthenticated, "unknown device or wrong credential")
	}
	d, err := h.identity.CheckCredential(ctx, req.GetDeviceId(), req.GetDeviceCredential())
	if err != nil {
		h.refusals.Refused(ctx, req.GetDeviceId(), err)
		return nil, toConnectError(ctx, h.log, err)
	}
	token, expires, err := h.tokens.Issue(ctx, d.UserID, d.ID)
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	if err := h.audit.Audit(ctx, shiftsync.AuditEvent{Actor: shiftsync.Principal{UserID: d.UserID, DeviceID: d.ID}, Action: shiftsync.AuditRefresh, Subject: d.ID}); err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &authv1.RefreshResponse{AccessToken: token, AccessTokenExpiresAt: timestamppb.New(expires)}, nil
}
