package shiftsync

import (
	"context"
	"time"
)

// Protocol limits shared by every transport.
const (
	// ProtocolVersion is the only sync protocol version this server speaks.
	ProtocolVersion = 1
	// MaxMutationsPerPush bounds one push batch.
	MaxMutationsPerPush = 1000
	// DefaultPullPageSize and MaxPullPageSize bound one pull page.
	DefaultPullPageSize = 1000
	MaxPullPageSize     = 5000
	// MinSchemaVersion is the oldest record schema version a client may speak.
	MinSchemaVersion = 1
	// DefaultMaxClockSkew is how far ahead of the server clock a mutation's
	// HLC may be before it is refused for re-stamping.
	DefaultMaxClockSkew = 5 * time.Minute
)

// MutationStatus is what the server did with one pushed mutation.
type MutationStatus int

// The statuses. Their meaning for the device is in mobile-contract/README.md.
const (
	StatusAccepted        MutationStatus = iota + 1 // stored and merged
	StatusQuarantined                               // stored in quarantine with a reason; acknowledged
	StatusRestampRequired                           // HLC too far ahead; nothing stored
	StatusNotProcessed                              // after a refusal or a counter gap; resend
)

// MutationResult is the outcome of one pushed mutation.
type MutationResult struct {
	Counter          uint64
	Status           MutationStatus
	Reason           Reason // for quarantined and refused mutations
	Message          string // for quarantined and refused mutations
	Replayed         bool   // the counter was processed before; this repeats that outcome
	ConflictedFields []string
	// Errors, for a quarantined mutation, lists every problem found, at
	// least one, the first being Reason and Message (see [MutationError]).
	Errors []FieldError
}

// PushResult acknowledges a push.
type PushResult struct {
	// Acknowledged is the highest counter of the device durably stored.
	Acknowledged uint64
	Results      []MutationResult
	ServerTime   time.Time
	// BackedUpThrough is the device's backup reach: every mutation of the
	// device with a counter at or below it is in a verified backup of the
	// store's current epoch (see [SyncTx.BackedUpThrough]).
	BackedUpThrough uint64
	// Epoch is the store's epoch (see [SyncTx.Epoch]).
	Epoch string
}

// FieldChange is the current state of one field, as pulled by devices.
type FieldChange struct {
	RecordRef
	Field   string
	Value   Value
	Version Version
	Author  string // user id of the winning value's author
	Seq     int64  // position in the change log
}

// PullPage is one page of changes after a cursor.
type PullPage struct {
	Changes []FieldChange
	Next    Cursor
	HasMore bool
	// Purges are the scopes the device must delete: see [Scope.Purges].
	Purges []Purge
	// BackedUpThrough and Epoch are as in [PushResult].
	BackedUpThrough uint64
	Epoch           string
}

// SyncService stores mutations and serves changes. Implementations are safe
// for concurrent use.
type SyncService interface {
	// Push stores mutations from the principal's device in counter order and
	// returns one result per mutation. Mutations whose counter the device has
	// already had processed are answered with their original outcome and
	// change nothing. A mutation whose counter is not the next expected, and
	// every mutation after a refused one, is not processed. The device and
	// author of every mutation are taken from p.
	// Returns CodeInvalid for more than MaxMutationsPerPush mutations or
	// counters that do not increase.
	Push(ctx context.Context, p Principal, mutations []Mutation) (PushResult, error)

	// Pull returns at most limit field changes in the principal's scope after
	// the cursor, oldest first, with the cursor to continue from. Every
	// page that sends changes is audited (who read which range) before it
	// is returned; a page that sends none is not, as it reads nothing.
	// Returns CodeResyncRequired when the cursor was issued by another store or
	// is ahead of this one (for example after a restore).
	Pull(ctx context.Context, p Principal, after Cursor, limit int) (PullPage, error)

	// Latest returns the cursor of the newest change in the principal's
	// scope, or after itself when nothing newer exists. It returns the same
	// errors as Pull.
	Latest(ctx context.Context, p Principal, after Cursor) (Cursor, error)

	// Verify compares a device's integrity digests with the server's for
	// the principal's scope: see [Sync.Verify].
	Verify(ctx context.Context, p Principal, at Cursor, units []UnitDigest) (Verification, error)
	// PullRepair pulls the records of one bucket of a unit again: see
	// [Sync.PullRepair].
	PullRepair(ctx context.Context, p Principal, b HeldBucket, after Cursor, limit int) (PullPage, error)
}

// ChangeFeed tells waiting subscribers that the store has new changes, and
// in which services. Implementations are safe for concurrent use.
type ChangeFeed interface {
	// Publish wakes the subscribers of any of the services: those that
	// subscribed to one of them. It never blocks.
	Publish(services ...string)
	// Subscribe returns a channel that receives a value after each Publish
	// naming one of the services (coalesced: a slow reader sees one wake-up
	// for several publishes) and is closed when the feed shuts down, and a
	// function that ends the subscription. A subscriber whose scope changes
	// subscribes again.
	Subscribe(services []string) (<-chan struct{}, func())
}

// CheckClient returns CodeUnsupportedVersion unless a client speaking the
// given protocol and record schema versions can sync with this server.
// Clients newer than the server's schema are served: fields the server does
// not know are quarantined, never dropped.
func CheckClient(protocolVersion, schemaVersion uint32) error {
	if protocolVersion != ProtocolVersion {
		return Errorf(CodeUnsupportedVersion, "sync protocol version %d is not supported; this server speaks %d", protocolVersion, ProtocolVersion)
	}
	if schemaVersion < MinSchemaVersion {
		return Errorf(CodeUnsupportedVersion, "record schema version %d is not supported; the oldest supported is %d", schemaVersion, MinSchemaVersion)
	}
	return nil
}
