package shiftsync

import (
	"context"
	"time"
)

// SyncTx is the push and pull part of a [Tx]: the change log, the records
// and their field heads, the counters, the quarantine and the scopes served
// to devices. Times are given by the engine; the store keeps them to the
// millisecond.
type SyncTx interface {
	// Acknowledged returns the highest counter of the device stored: 0 for
	// a device that never pushed.
	Acknowledged(ctx context.Context, deviceID string) (uint64, error)
	// Acknowledge sets the device's acknowledged counter, pushed at at.
	Acknowledge(ctx context.Context, deviceID string, counter uint64, at time.Time) error
	// NoteGap keeps counter, one the device pushed and was refused because
	// it does not follow the acknowledged counter, when it is the lowest
	// such counter above the acknowledged one: the bound of what
	// [AcceptCounterGap] may give up. The device has pushed (Acknowledge)
	// in the transaction.
	NoteGap(ctx context.Context, deviceID string, counter uint64) error
	// GapFrom returns the counter NoteGap kept of the device: 0 when none.
	// It may be at or below the acknowledged counter, when the gap was
	// filled since.
	GapFrom(ctx context.Context, deviceID string) (uint64, error)
	// ProcessedMutation returns what was kept of the device's mutation under
	// the counter: nil when none was.
	ProcessedMutation(ctx context.Context, deviceID string, counter uint64) (*ProcessedMutation, error)
	// RecordProcessed keeps the outcome of a processed mutation, for replays,
	// its result's Errors included.
	RecordProcessed(ctx context.Context, pm ProcessedMutation) error

	// PersonService returns the service supporting the person: "" when
	// there is no such person.
	PersonService(ctx context.Context, personID string) (string, error)
	// Record returns the record stored under id: nil when there is none.
	Record(ctx context.Context, id string) (*StoredRecord, error)
	// CreateRecord stores the record m creates (its envelope, author,
	// device and HLC), received at at.
	CreateRecord(ctx context.Context, m *Mutation, at time.Time) error
	// Locked reports whether a manager has locked the record.
	Locked(ctx context.Context, recordID string) (bool, error)
	// FieldHeads returns the winning version of each field of the record,
	// with its change log position and digest element.
	FieldHeads(ctx context.Context, recordID string) (map[string]FieldHead, error)
	// FieldValues returns the winning values of the named fields of the
	// record (at least one name), for those it has.
	FieldValues(ctx context.Context, recordID string, fields []string) (map[string]Value, error)
	// AppendVersion adds m's edit e to the change log, received at at, and
	// returns its position, greater than every position before it.
	AppendVersion(ctx context.Context, m *Mutation, e FieldEdit, at time.Time) (int64, error)
	// SetFieldHead makes the version at seq, of m, the field's winner, and
	// keeps element, its [DigestElement] (none when zero).
	SetFieldHead(ctx context.Context, m *Mutation, field string, seq int64, element Digest) error
	// OpenConflict keeps a concurrent edit of a field for review.
	OpenConflict(ctx context.Context, c FieldConflict) error
	// RaiseAlert keeps an alert; one already raised by the same rule for the
	// same record is kept as it is.
	RaiseAlert(ctx context.Context, a Alert) error

	// QuarantinedBytes returns the bytes the device has had quarantined on
	// the day (see [QuarantineDay]).
	QuarantinedBytes(ctx context.Context, deviceID string, day time.Time) (int64, error)
	// Quarantine keeps a refused mutation under each of its services and
	// counts its bytes to the device's day.
	Quarantine(ctx context.Context, q QuarantinedMutation) error
	// MarkCorrected marks the device's quarantined mutations of the record
	// under the counters corrected by c; one corrected before keeps its
	// first correction, and a counter naming none marks nothing.
	MarkCorrected(ctx context.Context, deviceID, recordID string, counters []uint64, c Correction) error
	// CountQuarantineOverflow counts a mutation the quarantine's bounds
	// refused under each of its services.
	CountQuarantineOverflow(ctx context.Context, o OverflowedMutation) error

	// ServedScope returns the grant keys the device was last served, and
	// whether it has pulled before.
	ServedScope(ctx context.Context, deviceID string) ([]string, bool, error)
	// SetServedScope keeps the grant keys the device is being served.
	SetServedScope(ctx context.Context, deviceID string, keys []string, at time.Time) error
	// Changes returns at most limit current field states of the service
	// after the change log position, in position order.
	Changes(ctx context.Context, serviceID string, afterSeq int64, limit int) ([]FieldChange, error)
	// Head returns the newest change log position: 0 when empty.
	Head(ctx context.Context) (int64, error)
	// ServiceHead returns the newest position of a current field state of
	// the service: 0 when none.
	ServiceHead(ctx context.Context, serviceID string) (int64, error)

	// Epoch returns the store's epoch: "" for a store never restored, else
	// the one last set by SetEpoch.
	Epoch(ctx context.Context) (string, error)
	// SetEpoch sets the store's epoch.
	SetEpoch(ctx context.Context, epoch string) error
	// BackedUpThrough returns the device's backup reach as last set: 0 when
	// none was.
	BackedUpThrough(ctx context.Context, deviceID string) (uint64, error)
	// SetBackedUpThrough sets the backup reach of each device it names;
	// the others keep theirs.
	SetBackedUpThrough(ctx context.Context, reach map[string]uint64) error
	// AcknowledgedCounters returns the acknowledged counter of every device
	// that has pushed.
	AcknowledgedCounters(ctx context.Context) (map[string]uint64, error)
}

// FieldHead is the winning version of a field and its change log position.
type FieldHead struct {
	Version Version
	Seq     int64
	// Element is the winner's [DigestElement] as SetFieldHead kept it, so
	// that the push replacing it takes it out of its bucket without reading
	// the value; empty when none was kept (a head set before migration
	// 00019).
	Element []byte
}

// ProcessedMutation is what is kept of a processed mutation: enough to
// recognise its retry (the digest) and answer it as it was first answered.
type ProcessedMutation struct {
	Mutation   *Mutation
	Digest     []byte
	Result     MutationResult
	Flag       Flag
	ReceivedAt time.Time
}

// FieldConflict is a concurrent edit of a field: the head it found, the
// incoming version and the one that won, by change log position.
type FieldConflict struct {
	RecordID, Field                    string
	CurrentSeq, IncomingSeq, WinnerSeq int64
	OpenedAt                           time.Time
}

// QuarantinedMutation is a refused mutation kept whole for review.
type QuarantinedMutation struct {
	Mutation      *Mutation
	Reason        Reason
	Message       string
	Errors        []FieldError // every problem found, the first being Reason and Message
	Payload       []byte       // see [QuarantinePayload]
	PayloadFormat int          // [QuarantinePayloadFormat]
	Size          int64        // see [QuarantineSize]
	Services      []string     // the services whose reviewers see it
	ReceivedAt    time.Time
}

// Correction is the accepted mutation that corrected a quarantined one of
// the same device and record ([Mutation.Corrects]).
type Correction struct {
	UserID  string
	Counter uint64 // the correcting mutation's
	At      time.Time
}

// OverflowedMutation is a refused mutation the quarantine could not keep.
type OverflowedMutation struct {
	Mutation  *Mutation
	Reason    Reason // the bound that refused it
	Size      int64
	Services  []string // "" stands for none
	RefusedAt time.Time
}
