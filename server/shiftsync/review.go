package shiftsync

import (
	"context"
	"time"
)

// ConflictVersion is one side of a conflict: a value, the version it was
// written at and its author.
type ConflictVersion struct {
	Value   Value
	Version Version
	UserID  string
}

// Conflict is two edits of one field made from the same base. Both are kept
// in the record's history; the merge rule picked the winner.
type Conflict struct {
	ID           int64
	Record       RecordRef
	Field        string
	Current      ConflictVersion // current when the concurrent edit arrived
	Incoming     ConflictVersion // the concurrent edit
	IncomingWins bool
	OpenedAt     time.Time
	ResolvedAt   time.Time // zero while open
	ResolvedBy   string
	Resolution   string
}

// QuarantinedChange is a mutation the server refused, kept as received.
type QuarantinedChange struct {
	ID       int64
	Record   RecordRef
	DeviceID string
	UserID   string
	Counter  uint64
	Reason   Reason
	Message  string
	// Errors lists every problem found, the first being Reason and
	// Message; a store returns what it was given, which is empty for a
	// change kept before the list was, and the review lists that one reason.
	Errors     []FieldError
	Payload    string // the mutation as received: see [QuarantinePayload]
	ReceivedAt time.Time
	// Correction is the accepted mutation that corrected it: nil until one
	// does.
	Correction *Correction
}

// FlaggedWrite is an accepted change flagged for a manager's review: its
// author's access had ended by the time it arrived ([FlagAccessEnded]), or
// it names a record the server had not received ([FlagReferencePending]).
type FlaggedWrite struct {
	Record     RecordRef
	UserID     string
	DeviceID   string
	Counter    uint64
	HLC        HLC // when the device made it
	ReceivedAt time.Time
	Flag       Flag
}

// MaxReviewNoteBytes bounds a reviewer's note or resolution.
const MaxReviewNoteBytes = 4000

// ReviewService lets reviewers act on what has synced. Every list holds
// only rows whose records the principal may review ([OpReview]). Access is
// refused in one way, CodePermissionDenied: a call naming a service in
// which the principal holds no right (manages it, or reviews records of
// some type in it, for the whole service, a caseload or an agency's share)
// is answered "you may not review service …" whether the service exists or
// not, and a call naming a row by id that the principal may not act on is
// answered exactly as one naming an id that does not exist, so neither
// services nor ids leak. Reads and changes are audited.
type ReviewService interface {
	HealthService

	// Names returns the names of a service's people and staff, so a reader
	// sees "Ada", not "person-ada": the people whose records p may review
	// and everyone who has held a membership in the service. It is refused
	// as every list about the service is; it is not audited, as it shows no
	// record.
	Names(ctx context.Context, p Principal, serviceID string) (Names, error)
	// Alerts lists a service's alerts, newest first; only open ones unless
	// includeAcknowledged.
	Alerts(ctx context.Context, p Principal, serviceID string, includeAcknowledged bool) ([]Alert, error)
	// AcknowledgeAlert records that p saw an alert, with a note. A second
	// acknowledgement keeps the first.
	AcknowledgeAlert(ctx context.Context, p Principal, id int64, note string) (Alert, error)
	// Conflicts lists a service's conflicts, open first, then newest first.
	Conflicts(ctx context.Context, p Principal, serviceID string) ([]Conflict, error)
	// ResolveConflict closes a conflict with a resolution note. Resolving a
	// resolved conflict answers CodeConflict.
	ResolveConflict(ctx context.Context, p Principal, id int64, resolution string) (Conflict, error)
	// Quarantine lists the changes quarantined under a service (those of
	// its staff's devices: see [Scope.QuarantineServices]), newest first,
	// and the overflow the quarantine's bounds refused of them. The
	// overflow is listed to those who review the whole service.
	Quarantine(ctx context.Context, p Principal, serviceID string) (QuarantineListing, error)
	// Records lists the records of a service that match the filter, as they
	// stand, oldest event first.
	Records(ctx context.Context, p Principal, f RecordFilter) ([]*Record, error)
	// FlaggedWrites lists the flagged writes ([FlaggedWrite]) to a
	// service's records with the flag (every flag when it is ""), newest
	// arrival first.
	FlaggedWrites(ctx context.Context, p Principal, serviceID string, flag Flag) ([]FlaggedWrite, error)
	// Record returns one record with every version of every field, who
	// wrote it and when, its lock and its addenda.
	Record(ctx context.Context, p Principal, recordID string) (RecordHistory, error)
	// LockRecord locks a record so that corrections are addenda; it needs
	// [OpVoid] on the record. Locking a locked record changes nothing.
	LockRecord(ctx context.Context, p Principal, recordID string) (RecordHistory, error)
	// Findings evaluates the governance rules for the service now, stores
	// the findings and lists them: open ones only unless includeMet.
	Findings(ctx context.Context, p Principal, serviceID string, includeMet bool) ([]Finding, error)
	// Trends returns weekly trends of a service, or of one person in it,
	// for the ISO weeks from from to to. Both are required: a zero from or
	// to is CodeInvalid, never a default period (nor the week of 1970 an
	// unset timestamp would name).
	Trends(ctx context.Context, p Principal, serviceID, personID string, from, to time.Time) ([]WeekTrend, error)
	// Actions lists the service's action tracker, filtered, by deadline.
	// A State other than due, warning, breach, met or "" is CodeInvalid.
	Actions(ctx context.Context, p Principal, f ActionFilter) ([]ActionView, error)
	// FollowThrough lists the 24-hour operationalisation of each
	// multi-agency meeting of the service ([MeetingFollowThrough]), newest
	// meeting first.
	FollowThrough(ctx context.Context, p Principal, serviceID string) ([]MeetingFollowThrough, error)
	// RotaWeek returns the service's rota for the ISO week holding week:
	// its shifts with their staff and gaps, the competence matrix, and the
	// week's huddle and forecasts ([RotaWeek]).
	RotaWeek(ctx context.Context, p Principal, serviceID string, week time.Time) (RotaWeek, error)
	// ExportEvidencePack builds the evidence pack of a person for a period,
	// stores its manifest and audits the export, in one transaction.
	ExportEvidencePack(ctx context.Context, p Principal, serviceID, personID string, from, to time.Time) (EvidencePack, error)
	// VerifyEvidencePack checks a stored pack's manifest against its
	// recorded hash and every record hash against the versions it names;
	// given the pack's file too, each of its rows and its root against the
	// manifest's (the file's pack id stands for an empty packID). A file
	// of another pack, or checked against a pack exported before its rows
	// were hashed (encoding v1), is CodeInvalid.
	VerifyEvidencePack(ctx context.Context, p Principal, packID string, file *PackFile) (PackVerification, error)
}

// Names are the names of a service's people and staff, by id.
type Names struct {
	People, Staff map[string]string
}

// Person returns the name of the person with the id, or the id when the
// names hold none (a nil Names holds none).
func (n *Names) Person(id string) string {
	if n != nil {
		if name, ok := n.People[id]; ok {
			return name
		}
	}
	return id
}

// User returns the name of the staff member with the id, or the id when
// the names hold none.
func (n *Names) User(id string) string {
	if n != nil {
		if name, ok := n.Staff[id]; ok {
			return name
		}
	}
	return id
}

// RecordFilter selects records to list. ServiceID is required; the rest
// narrow it when set. From and To bound the record's event time (records
// without one are selected by their recording time). Offset skips that
// many of the matching records, newest first, before Limit counts: a page.
type RecordFilter struct {
	ServiceID, PersonID, RecordType string
	From, To                        time.Time
	IncludeVoided                   bool
	Limit                           int
	Offset                          int
}

// FieldVersion is one value a field held: every edit is kept.
type FieldVersion struct {
	Field      string
	Value      Value
	Version    Version
	UserID     string
	ReceivedAt time.Time
	Current    bool // the value the field holds now
}

// RecordHistory is a record with everything written to it.
type RecordHistory struct {
	Record   *Record
	Versions []FieldVersion // by field, oldest first
	LockedBy string
	LockedAt time.Time // zero when not locked
	Addenda  []*Record // oldest first
	// LateEntry is set when the record was made on the device long after
	// the event it describes (the organisation's late entry threshold).
	LateEntry bool
}

// ActionFilter selects actions of the tracker. ServiceID is required; the
// rest narrow it when set. State is one of due, warning, breach and met
// ([ActionView.State]).
type ActionFilter struct {
	ServiceID, PersonID, Agency, OwnerRole string
	OverdueOnly                            bool
	State                                  FindingState
}

// ActionView is an action with what the tracker derives from it at now.
type ActionView struct {
	Action             *Record
	Overdue            bool
	InterimCheckMissed bool
	DueSoon            bool
	State              FindingState
}
