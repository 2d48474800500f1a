package shiftsync

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

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
	AuditPersonName       = "person.name"   // the name a person supported is shown by was set
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
	AuditBackup           = "store.backup"                // a copy of every record, logged as an export is
	AuditRestore          = "store.restore"               // the store was installed from a backup and began a new epoch
	AuditCounterGap       = "device.counter_gap_accepted" // counters the store lacks and no one holds, given up by an operator
	AuditRunOpen          = "audit.run_open"              // a writer of a shared log opened it: see [AuditRuns]
	AuditConsoleSignOut   = "console.sign_out"            // a console session ended by its browser
)

// AuditLog is the append-only, hash-chained audit log. Implementations are
// safe for concurrent use.
type AuditLog interface {
	// Audit appends an event.
	Audit(ctx context.Context, e AuditEvent) error
}

// AuditEntry is an event as the audit log holds it: its place in the
// chain, when it was appended (to the millisecond) and its hash, which
// covers the previous entry's hash and this one's content.
type AuditEntry struct {
	Seq      int64 // 1, 2, 3… with no gaps
	At       time.Time
	Event    AuditEvent
	PrevHash []byte
	Hash     []byte
}

// AuditGenesis is the previous hash of the first entry: 32 zero bytes.
var AuditGenesis = make([]byte, sha256.Size)

// AuditHash returns the hash of an entry appended at at, after the entry
// whose hash is prev. This is format 1, the format of every chain stored so
// far; a stored chain keeps its format, so another would be recorded with
// each entry. Format 1 is SHA-256 over prev, at as a big-endian int64 of
// Unix milliseconds, then the actor's user id, the actor's device id, the
// action, the subject and the detail, each as a big-endian uint64 length
// and its bytes, so no two entries encode alike. Actor.Services is not
// covered. The test vector in audit_test.go pins it.
func AuditHash(prev []byte, at time.Time, e AuditEvent) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli())))
	for _, f := range []string{e.Actor.UserID, e.Actor.DeviceID, e.Action, e.Subject, e.Detail} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}
