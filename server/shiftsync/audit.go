package shiftsync

import "context"

// AuditEvent is one entry of the audit log: who did what to what.
type AuditEvent struct {
	Actor   Principal // zero for an unauthenticated caller
	Action  string    // one of the Audit* actions
	Subject string    // what it was done to: a device, user, record or token
	Detail  string    // JSON with the particulars (counts, reasons); never care content
}

// Audit actions. They are stored: never rename one.
const (
	AuditEnrolmentCode    = "enrolment_code.issue"
	AuditEnrol            = "device.enrol"
	AuditEnrolRefused     = "device.enrol_refused"
	AuditRefresh          = "device.refresh"
	AuditRevoke           = "device.revoke"
	AuditTokenRefused     = "token.refused"
	AuditMembershipAdd    = "membership.add"
	AuditMembershipEnd    = "membership.end"
	AuditKeyRotate        = "signing_key.rotate"
	AuditAdminCreate      = "admin.create"
	AuditAdminRefused     = "admin.refused" // an AdminService call refused: the call, its subject, the reason
	AuditOrgAdminGrant    = "organisation_admin.grant"
	AuditOrgAdminEnd      = "organisation_admin.end"
	AuditPush             = "sync.push"
	AuditPull             = "sync.pull"
	AuditReviewRead       = "review.read"
	AuditAlertAcknowledge = "alert.acknowledge"
	AuditConflictResolve  = "conflict.resolve"
	AuditThresholdsSet    = "governance.thresholds_set"
	AuditRecordLock       = "record.lock"
	AuditRecordRead       = "record.read"
	AuditEvidenceExport   = "evidence.export"
)

// AuditLog is the append-only, hash-chained audit log. Implementations are
// safe for concurrent use.
type AuditLog interface {
	// Audit appends an event.
	Audit(ctx context.Context, e AuditEvent) error
}
