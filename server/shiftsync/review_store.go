package shiftsync

import (
	"context"
	"time"
)

// ReviewTx is the review part of a [Tx]: the alerts, conflicts,
// quarantine, records and their histories, findings, evidence packs and
// device health that reviewers list and act on. It only finds and keeps:
// what a reviewer may see is decided by [Review] over what it returns.
// Times are given by the engine; the store keeps them to the millisecond.
type ReviewTx interface {
	// ServiceNames returns the names of the people the service supports
	// and of every user who has held a membership in it, by id.
	ServiceNames(ctx context.Context, serviceID string) (people, staff map[string]string, err error)

	// Alerts returns the alerts of a service, only those not acknowledged
	// unless includeAcknowledged, newest raised first (then highest id).
	Alerts(ctx context.Context, serviceID string, includeAcknowledged bool) ([]Alert, error)
	// Alert returns the alert with the id: nil when there is none.
	Alert(ctx context.Context, id int64) (*Alert, error)
	// AcknowledgeAlert records that the user acknowledged the alert at at,
	// with a note.
	AcknowledgeAlert(ctx context.Context, id int64, by, note string, at time.Time) error

	// Conflicts returns the conflicts about the records of a service, open
	// ones first, then newest opened first (then highest id).
	Conflicts(ctx context.Context, serviceID string) ([]Conflict, error)
	// Conflict returns the conflict with the id: nil when there is none.
	Conflict(ctx context.Context, id int64) (*Conflict, error)
	// ResolveConflict closes the conflict, resolved by the user at at.
	ResolveConflict(ctx context.Context, id int64, by, resolution string, at time.Time) error

	// QuarantinedChanges returns the changes kept under a service (see
	// [QuarantinedMutation].Services), newest received first (then highest
	// id), each with the person and agency it names.
	QuarantinedChanges(ctx context.Context, serviceID string) ([]QuarantinedChange, error)
	// QuarantineOverflows returns the overflow counted under a service,
	// newest day first, then by device and reason.
	QuarantineOverflows(ctx context.Context, serviceID string) ([]QuarantineOverflow, error)

	// ServiceRecords returns the records of a service, as they stand, of
	// one person and of one type when those are set (""), by record id.
	ServiceRecords(ctx context.Context, serviceID, personID, recordType string) ([]*Record, error)
	// ServiceRecordFields returns the records ServiceRecords returns, each
	// holding only the current values of the named fields (a record with
	// none of them set holds none), their Seqs and VersionSeq of those
	// alone: what a list filters and orders by, without decoding every
	// field of every record.
	ServiceRecordFields(ctx context.Context, serviceID, personID, recordType string, fields []string) ([]*Record, error)
	// CurrentRecord returns the record with the id as it stands: nil when
	// there is none.
	CurrentRecord(ctx context.Context, id string) (*Record, error)
	// FieldVersions returns every version of every field of the record, by
	// field, then HLC, then change log position, marking the current ones.
	FieldVersions(ctx context.Context, recordID string) ([]FieldVersion, error)
	// RecordLock returns who locked the record and when: "" and a zero time
	// when it is not locked.
	RecordLock(ctx context.Context, recordID string) (string, time.Time, error)
	// LockRecord locks the record, by the user at at, and reports whether
	// it did: false when it was locked already.
	LockRecord(ctx context.Context, recordID, by string, at time.Time) (bool, error)
	// Addenda returns the addenda ([AddendumType]) of a service whose
	// [AddendumTarget] is the record, as they stand, in any order.
	Addenda(ctx context.Context, serviceID, recordID string) ([]*Record, error)
	// FlaggedWrites returns the accepted changes to the records of a
	// service that carry a flag, newest received first (then by device and
	// counter).
	FlaggedWrites(ctx context.Context, serviceID string) ([]FlaggedWrite, error)
	// Thresholds returns the governance thresholds of the service's
	// organisation: the latest version set, or [DefaultThresholds]
	// (version 0).
	Thresholds(ctx context.Context, serviceID string) (Thresholds, error)

	// StoredFindings returns the findings of a service, of one person when
	// personID is set, only open ones unless includeMet, in any order, with
	// the envelope of the record each is about.
	StoredFindings(ctx context.Context, serviceID, personID string, includeMet bool) ([]StoredFinding, error)

	// InsertEvidencePack keeps an exported pack's manifest, with the newest
	// change log position, and returns the new pack's id.
	InsertEvidencePack(ctx context.Context, p StoredPack) (string, error)
	// EvidencePack returns the pack with the id: nil when there is none.
	EvidencePack(ctx context.Context, id string) (*StoredPack, error)
	// AuditDetail returns the Detail of the audit entry of the action about
	// the subject: false when there is none.
	AuditDetail(ctx context.Context, action, subject string) (string, bool, error)
	// VersionsAt returns the field versions at the change log positions
	// given, those that exist, in any order.
	VersionsAt(ctx context.Context, seqs []int64) ([]StoredVersion, error)

	// DeviceHealth returns the devices of the users with a membership in
	// the service in force at at, with their health, oldest sync (the later
	// of the last push and pull) first, then by device id.
	DeviceHealth(ctx context.Context, serviceID string, at time.Time) ([]DeviceHealth, error)
}

// StoredFinding is a stored finding with the envelope of the record it is
// about: RecordType and Agency are "" when it is about none (or the record
// is not stored).
type StoredFinding struct {
	Finding
	RecordType, Agency string
}

// StoredPack is an exported evidence pack as kept: its manifest's
// canonical bytes ([Manifest.Canonical]) and their hash as recorded at
// export.
type StoredPack struct {
	ID                  string // set by the store
	ServiceID, PersonID string
	From, To            time.Time
	Manifest            []byte
	ManifestSHA256      string
	ExportedBy          string
	ExportedAt          time.Time
}

// StoredVersion is a field version as stored: its value in its stored
// form ([MarshalValue]).
type StoredVersion struct {
	Seq             int64
	RecordID, Field string
	Value           []byte
}
