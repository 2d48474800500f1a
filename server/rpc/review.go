package rpc

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/evidence"
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

// ListAlerts implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListAlerts(ctx context.Context, req *reviewv1.ListAlertsRequest) (*reviewv1.ListAlertsResponse, error) {
	p, err := principal(ctx, req.GetServiceId())
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
	p, err := principal(ctx, "")
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
	p, err := principal(ctx, req.GetServiceId())
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
	p, err := principal(ctx, "")
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
	p, err := principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	list, err := h.review.Quarantine(ctx, p, req.GetServiceId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListQuarantineResponse{
		Changes:   make([]*reviewv1.QuarantinedChange, len(list.Changes)),
		Overflows: make([]*reviewv1.QuarantineOverflow, len(list.Overflows)),
	}
	for i, q := range list.Changes {
		res.Changes[i] = &reviewv1.QuarantinedChange{
			QuarantineId: q.ID, DeviceId: q.DeviceID, UserId: q.UserID, Counter: q.Counter,
			RecordId: q.Record.RecordID, RecordType: q.Record.RecordType,
			ReasonCode: string(q.Reason), Reason: q.Message, PayloadJson: q.Payload,
			ReceivedAt: timestamppb.New(q.ReceivedAt), FieldErrors: fromFieldErrors(q.Errors),
		}
		if c := q.Correction; c != nil {
			res.Changes[i].Correction = &reviewv1.QuarantineCorrection{UserId: c.UserID, Counter: c.Counter, CorrectedAt: timestamppb.New(c.At)}
		}
	}
	for i, o := range list.Overflows {
		res.Overflows[i] = &reviewv1.QuarantineOverflow{
			DeviceId: o.DeviceID, UserId: o.UserID, Day: timestamppb.New(o.Day), ReasonCode: string(o.Reason),
			Refused: uint32(o.Refused), RefusedBytes: uint64(o.Bytes), LastCounter: o.LastCounter, LastRefusedAt: timestamppb.New(o.LastRefusedAt),
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

// ListRecords implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListRecords(ctx context.Context, req *reviewv1.ListRecordsRequest) (*reviewv1.ListRecordsResponse, error) {
	p, err := principal(ctx, req.GetServiceId(), req.GetPersonId(), req.GetRecordType())
	if err != nil {
		return nil, err
	}
	records, err := h.review.Records(ctx, p, shiftsync.RecordFilter{
		ServiceID: req.GetServiceId(), PersonID: req.GetPersonId(), RecordType: req.GetRecordType(),
		From: optionalTime(req.GetFrom()), To: optionalTime(req.GetTo()), IncludeVoided: req.GetIncludeVoided(), Limit: int(req.GetLimit()),
	})
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListRecordsResponse{Records: make([]*reviewv1.Record, len(records))}
	for i, r := range records {
		res.Records[i] = fromRecord(r)
	}
	return res, nil
}

// GetRecord implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) GetRecord(ctx context.Context, req *reviewv1.GetRecordRequest) (*reviewv1.GetRecordResponse, error) {
	p, err := principal(ctx, req.GetRecordId())
	if err != nil {
		return nil, err
	}
	rh, err := h.review.Record(ctx, p, req.GetRecordId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return fromHistory(rh), nil
}

// LockRecord implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) LockRecord(ctx context.Context, req *reviewv1.LockRecordRequest) (*reviewv1.LockRecordResponse, error) {
	p, err := principal(ctx, req.GetRecordId())
	if err != nil {
		return nil, err
	}
	rh, err := h.review.LockRecord(ctx, p, req.GetRecordId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &reviewv1.LockRecordResponse{Record: fromHistory(rh)}, nil
}

// ListFindings implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListFindings(ctx context.Context, req *reviewv1.ListFindingsRequest) (*reviewv1.ListFindingsResponse, error) {
	p, err := principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	findings, err := h.review.Findings(ctx, p, req.GetServiceId(), req.GetIncludeMet())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListFindingsResponse{Findings: make([]*reviewv1.Finding, len(findings))}
	for i, f := range findings {
		res.Findings[i] = &reviewv1.Finding{
			FindingId: f.ID, ServiceId: f.ServiceID, PersonId: f.PersonID, RuleId: f.RuleID, RuleVersion: int32(f.RuleVersion),
			ThresholdsVersion: int32(f.ThresholdsVersion), Subject: f.Subject, RecordId: f.RecordID, State: string(f.State),
			DueAt: timestamppb.New(f.DueAt), Message: f.Message, FirstSeenAt: timestamppb.New(f.FirstSeenAt),
			EvaluatedAt: timestamppb.New(f.EvaluatedAt), ClosedAt: optionalTimestamp(f.ClosedAt),
		}
	}
	return res, nil
}

// GetTrends implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) GetTrends(ctx context.Context, req *reviewv1.GetTrendsRequest) (*reviewv1.GetTrendsResponse, error) {
	p, err := principal(ctx, req.GetServiceId(), req.GetPersonId())
	if err != nil {
		return nil, err
	}
	// An unset from or to is the zero time, which the domain refuses, not
	// the Unix epoch AsTime would make of it.
	weeks, err := h.review.Trends(ctx, p, req.GetServiceId(), req.GetPersonId(), optionalTime(req.GetFrom()), optionalTime(req.GetTo()))
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.GetTrendsResponse{Weeks: make([]*reviewv1.WeekTrend, len(weeks))}
	for i, w := range weeks {
		res.Weeks[i] = &reviewv1.WeekTrend{
			WeekStart: timestamppb.New(w.WeekStart), Incidents: int32(w.Incidents), SeverityScore: w.SeverityScore,
			HarmModerateOrWorse: int32(w.HarmModerateOrWorse), Restrictions: int32(w.Restrictions), RestrainedMinutes: w.RestrainedMinutes,
			Prn: int32(w.PRN), EarlyWarningSigns: int32(w.EarlyWarningSigns), SuccessfulDeescalations: int32(w.SuccessfulDeescalations),
			MedianRecoveryMinutes: w.MedianRecoveryMinutes, RecoveryMeasured: int32(w.RecoveryMeasured), SupportHours: w.SupportHours,
			IncidentsPer_1000Hours: w.IncidentsPer1000Hours, RestrictionsPer_1000Hours: w.RestrictionsPer1000Hours,
			BriefsPublished: int32(w.BriefsPublished), Debriefs: int32(w.Debriefs), TransitionIncidents: int32(w.TransitionIncidents),
			LearningPoints: int32(w.LearningPointsFromReflections),
		}
	}
	return res, nil
}

// ListActions implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListActions(ctx context.Context, req *reviewv1.ListActionsRequest) (*reviewv1.ListActionsResponse, error) {
	p, err := principal(ctx, req.GetServiceId(), req.GetPersonId(), req.GetAgency(), req.GetOwnerRole())
	if err != nil {
		return nil, err
	}
	views, err := h.review.Actions(ctx, p, shiftsync.ActionFilter{
		ServiceID: req.GetServiceId(), PersonID: req.GetPersonId(), Agency: req.GetAgency(), OwnerRole: req.GetOwnerRole(), OverdueOnly: req.GetOverdueOnly(),
	})
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListActionsResponse{Actions: make([]*reviewv1.TrackedAction, len(views))}
	for i, v := range views {
		res.Actions[i] = &reviewv1.TrackedAction{Action: fromRecord(v.Action), Overdue: v.Overdue, InterimCheckMissed: v.InterimCheckMissed}
	}
	return res, nil
}

func fromRecord(r *shiftsync.Record) *reviewv1.Record {
	pb := &reviewv1.Record{
		RecordId: r.RecordID, RecordType: r.RecordType, ServiceId: r.ServiceID, PersonId: r.PersonID, CreatedBy: r.CreatedBy,
		RecordedAt: timestamppb.New(r.RecordedAt), ReceivedAt: timestamppb.New(r.ReceivedAt), VoidReason: r.Text(shiftsync.VoidReasonField),
	}
	for _, name := range slices.Sorted(maps.Keys(r.Fields)) {
		pb.Fields = append(pb.Fields, &reviewv1.FieldValue{Field: name, Value: fromValue(r.Fields[name])})
	}
	return pb
}

func fromHistory(h shiftsync.RecordHistory) *reviewv1.GetRecordResponse {
	res := &reviewv1.GetRecordResponse{Record: fromRecord(h.Record), LockedBy: h.LockedBy, LockedAt: optionalTimestamp(h.LockedAt), LateEntry: h.LateEntry}
	for _, v := range h.Versions {
		res.Versions = append(res.Versions, &reviewv1.FieldVersion{Field: v.Field, Value: fromValue(v.Value), Version: fromVersion(v.Version),
			AuthorUserId: v.UserID, ReceivedAt: timestamppb.New(v.ReceivedAt), Current: v.Current})
	}
	for _, a := range h.Addenda {
		res.Addenda = append(res.Addenda, fromRecord(a))
	}
	return res
}

// ListDeviceHealth implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListDeviceHealth(ctx context.Context, req *reviewv1.ListDeviceHealthRequest) (*reviewv1.ListDeviceHealthResponse, error) {
	p, err := principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	devices, err := h.review.DeviceHealth(ctx, p, req.GetServiceId())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListDeviceHealthResponse{Devices: make([]*reviewv1.DeviceHealth, len(devices))}
	for i, d := range devices {
		res.Devices[i] = &reviewv1.DeviceHealth{
			DeviceId: d.DeviceID, UserId: d.UserID, Label: d.Label, AppVersion: d.AppVersion,
			OutboxDepth: uint32(d.OutboxDepth), OldestUnsyncedAgeSeconds: uint64(d.OldestUnsyncedAge / time.Second),
			ReportedAt: optionalTimestamp(d.ReportedAt), LastPushAt: optionalTimestamp(d.LastPushAt), LastPullAt: optionalTimestamp(d.LastPullAt),
			EnrolledAt: optionalTimestamp(d.EnrolledAt), RevokedAt: optionalTimestamp(d.RevokedAt),
		}
	}
	return res, nil
}

// ListFlaggedWrites implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ListFlaggedWrites(ctx context.Context, req *reviewv1.ListFlaggedWritesRequest) (*reviewv1.ListFlaggedWritesResponse, error) {
	p, err := principal(ctx, req.GetServiceId())
	if err != nil {
		return nil, err
	}
	writes, err := h.review.FlaggedWrites(ctx, p, req.GetServiceId(), shiftsync.Flag(req.GetFlag()))
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.ListFlaggedWritesResponse{Writes: make([]*reviewv1.FlaggedWrite, len(writes))}
	for i, w := range writes {
		res.Writes[i] = &reviewv1.FlaggedWrite{
			RecordId: w.Record.RecordID, RecordType: w.Record.RecordType, PersonId: w.Record.PersonID,
			UserId: w.UserID, DeviceId: w.DeviceID, Counter: w.Counter,
			WrittenAt: timestamppb.New(w.HLC.Time()), ReceivedAt: timestamppb.New(w.ReceivedAt), Flag: string(w.Flag),
		}
	}
	return res, nil
}

// ExportEvidencePack implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) ExportEvidencePack(ctx context.Context, req *reviewv1.ExportEvidencePackRequest) (*reviewv1.ExportEvidencePackResponse, error) {
	p, err := principal(ctx, req.GetServiceId(), req.GetPersonId())
	if err != nil {
		return nil, err
	}
	pack, err := h.review.ExportEvidencePack(ctx, p, req.GetServiceId(), req.GetPersonId(), req.GetFrom().AsTime(), req.GetTo().AsTime())
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	var page, table bytes.Buffer
	if err := evidence.WriteHTML(&page, pack); err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	if err := evidence.WriteCSV(&table, pack); err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	return &reviewv1.ExportEvidencePackResponse{
		PackId: pack.ID, ManifestSha256: pack.Manifest.Hash(), Records: int32(len(pack.Records)),
		Html: page.Bytes(), Csv: table.Bytes(), ManifestJson: pack.Manifest.Canonical(),
	}, nil
}

// VerifyEvidencePack implements [reviewv1connect.ReviewServiceHandler].
func (h *ReviewHandler) VerifyEvidencePack(ctx context.Context, req *reviewv1.VerifyEvidencePackRequest) (*reviewv1.VerifyEvidencePackResponse, error) {
	p, err := principal(ctx, req.GetPackId())
	if err != nil {
		return nil, err
	}
	var file *shiftsync.PackFile
	if req.Pack != nil {
		f, err := evidence.ReadPack(req.GetPack())
		if err != nil {
			return nil, toConnectError(ctx, h.log, shiftsync.Errorf(shiftsync.CodeInvalid, "%v", err))
		}
		file = &f
	}
	v, err := h.review.VerifyEvidencePack(ctx, p, req.GetPackId(), file)
	if err != nil {
		return nil, toConnectError(ctx, h.log, err)
	}
	res := &reviewv1.VerifyEvidencePackResponse{Ok: v.OK(), RecordsChecked: int32(v.Records), MismatchedRecordIds: v.Mismatched, ManifestAltered: v.ManifestAltered}
	if v.File != nil {
		res.FileChecked, res.RowsChecked, res.FileManifestMatches = true, int32(v.File.Rows), v.File.RootMatches
		for _, c := range v.File.Changed {
			res.ChangedRows = append(res.ChangedRows, &reviewv1.ChangedRow{Line: int32(c.Line), RecordId: c.RecordID, Reason: c.Reason})
		}
	}
	return res, nil
}
