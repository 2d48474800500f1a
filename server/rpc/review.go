package rpc

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	reviewv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/review/v1/reviewv1connect"
)

var _ reviewv1connect.ReviewServiceHandler = (*ReviewHandler)(nil)

// ReviewHandler serves shiftsync.review.v1.ReviewService; what each caller
// may see is decided by the [shiftsync.ReviewService].
type ReviewHandler struct {
	review shiftsync.ReviewService
	log    *slog.Logger
}

// principal returns the authenticated caller and refuses an over-long
// service id.
func (h *ReviewHandler) principal(ctx context.Context, serviceID string) (shiftsync.Principal, error) {
	p, ok := shiftsync.PrincipalFromContext(ctx)
	if !ok {
		return p, newError(shiftsync.CodeUnauthenticated, "a bearer token is required")
	}
	if len(serviceID) > maxIDBytes {
		return p, newError(shiftsync.CodeInvalid, "an id is longer than 128 bytes")
	}
	return p, nil
}

// ListAlerts implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListAlerts(ctx context.Context, req *reviewv1.ListAlertsRequest) (*reviewv1.ListAlertsResponse, error) {
	p, err := h.principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	alerts, err := h.review.Alerts(ctx, p, req.GetServiceId(), req.GetIncludeAcknowledged())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListAlertsResponse{Alerts: make([]*reviewv1.Alert, len(alerts))}
	for i, a := range alerts {
		res.Alerts[i] = fromAlert(a)
	}
	return res, nil
}

// AcknowledgeAlert implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) AcknowledgeAlert(ctx context.Context, req *reviewv1.AcknowledgeAlertRequest) (*reviewv1.AcknowledgeAlertResponse, error) {
	p, err := h.principal(ctx, "")
	if err != nil {
		return nil, err
	}
	a, err := h.review.AcknowledgeAlert(ctx, p, req.GetAlertId(), req.GetNote())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &reviewv1.AcknowledgeAlertResponse{Alert: fromAlert(a)}, nil
}

// ListConflicts implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListConflicts(ctx context.Context, req *reviewv1.ListConflictsRequest) (*reviewv1.ListConflictsResponse, error) {
	p, err := h.principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	conflicts, err := h.review.Conflicts(ctx, p, req.GetServiceId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListConflictsResponse{Conflicts: make([]*reviewv1.Conflict, len(conflicts))}
	for i, c := range conflicts {
		res.Conflicts[i] = fromConflict(c)
	}
	return res, nil
}

// ResolveConflict implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ResolveConflict(ctx context.Context, req *reviewv1.ResolveConflictRequest) (*reviewv1.ResolveConflictResponse, error) {
	p, err := h.principal(ctx, "")
	if err != nil {
		return nil, err
	}
	c, err := h.review.ResolveConflict(ctx, p, req.GetConflictId(), req.GetResolution())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &reviewv1.ResolveConflictResponse{Conflict: fromConflict(c)}, nil
}

// ListQuarantine implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListQuarantine(ctx context.Context, req *reviewv1.ListQuarantineRequest) (*reviewv1.ListQuarantineResponse, error) {
	p, err := h.principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	changes, err := h.review.Quarantine(ctx, p, req.GetServiceId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListQuarantineResponse{Changes: make([]*reviewv1.QuarantinedChange, len(changes))}
	for i, q := range changes {
		res.Changes[i] = &reviewv1.QuarantinedChange{
			QuarantineId: q.ID, DeviceId: q.DeviceID, UserId: q.UserID, Counter: q.Counter,
			RecordId: q.Record.RecordID, RecordType: q.Record.RecordType,
			ReasonCode: string(q.Reason), Reason: q.Message, PayloadJson: q.Payload,
			ReceivedAt: timestamppb.New(q.ReceivedAt),
		}
	}
	return res, nil
}

func fromAlert(a shiftsync.Alert) *reviewv1.Alert {
	return &reviewv1.Alert{
		AlertId: a.ID, RuleId: a.RuleID, RuleVersion: int32(a.RuleVersion),
		RecordId: a.Record.RecordID, RecordType: a.Record.RecordType, ServiceId: a.Record.ServiceID, PersonId: a.Record.PersonID,
		Summary: a.Summary, AuthorUserId: a.UserID, DeviceId: a.DeviceID,
		RaisedAt: timestamppb.New(a.RaisedAt), AcknowledgedAt: optionalTimestamp(a.AcknowledgedAt),
		AcknowledgedBy: a.AcknowledgedBy, Note: a.Note,
	}
}

func fromConflictVersion(v shiftsync.ConflictVersion) *reviewv1.ConflictVersion {
	return &reviewv1.ConflictVersion{Value: fromValue(v.Value), Version: fromVersion(v.Version), AuthorUserId: v.UserID}
}

func fromConflict(c shiftsync.Conflict) *reviewv1.Conflict {
	winner := "current"
	if c.IncomingWins {
		winner = "incoming"
	}
	return &reviewv1.Conflict{
		ConflictId: c.ID, RecordId: c.Record.RecordID, RecordType: c.Record.RecordType, PersonId: c.Record.PersonID,
		Field: c.Field, Current: fromConflictVersion(c.Current), Incoming: fromConflictVersion(c.Incoming), Winner: winner,
		OpenedAt: timestamppb.New(c.OpenedAt), ResolvedAt: optionalTimestamp(c.ResolvedAt),
		ResolvedBy: c.ResolvedBy, Resolution: c.Resolution,
	}
}
