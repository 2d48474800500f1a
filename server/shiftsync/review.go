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
	ID         int64
	Record     RecordRef
	DeviceID   string
	UserID     string
	Counter    uint64
	Reason     Reason
	Message    string
	Payload    string // the mutation as JSON
	ReceivedAt time.Time
}

// MaxReviewNoteBytes bounds a reviewer's note or resolution.
const MaxReviewNoteBytes = 4000

// ReviewService lets reviewers act on what has synced. Every list holds
// only rows whose records the principal may review ([OpReview]); acting on
// a row the principal may not review answers CodeNotFound, so ids leak
// nothing. Reads and changes are audited.
type ReviewService interface {
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
	// Quarantine lists a service's quarantined changes, newest first.
	Quarantine(ctx context.Context, p Principal, serviceID string) ([]QuarantinedChange, error)
}
