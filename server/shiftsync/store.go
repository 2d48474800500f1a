package shiftsync

import (
	"context"
	"time"
)

// Store is where the engine keeps its state: the change log, the records,
// the quarantine, identities and the audit log. A store holds queries and
// scanning and nothing else: it decides nothing and never asks the access
// policy. The engine (Sync, Review, Admin…) makes every decision inside one
// transaction the store gives it, as bbolt's Update and View do.
//
// Implementations are safe for concurrent use. server/storetest is the
// suite every store passes.
type Store interface {
	// Update runs fn in a read-write transaction and commits it when fn
	// returns nil; an error from fn rolls everything back and is returned.
	// A store whose engine can refuse a transaction for a concurrent one
	// (a serialisation failure) may run fn again on a fresh Tx, so fn must
	// have no effect outside the Tx until Update returns. The commit is
	// durable when Update returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that sees one consistent
	// snapshot; writes through its Tx fail.
	View(ctx context.Context, fn func(Tx) error) error
	// StoreID is the random identity the store was created with; cursors
	// carry it, so one from another store (or a restored copy of this one
	// that was reset) is recognised.
	StoreID() string
}

// Tx is one transaction of a [Store]: the reads and writes of each part of
// the engine, grouped by part. A Tx is used by one goroutine, only inside
// the function it was given to.
type Tx interface {
	SyncTx
	DigestTx
	AuditTx
	ReviewTx
	GovernanceTx
	IdentityTx
	ConsoleTx
}

// AuditTx is the audit log's part of a [Tx].
type AuditTx interface {
	// AuditTip returns the sequence number and hash of the newest entry:
	// 0 and [AuditGenesis] when the log is empty.
	AuditTip(ctx context.Context) (int64, []byte, error)
	// InsertAuditEntry appends e, whose Seq is the tip's plus one.
	InsertAuditEntry(ctx context.Context, e AuditEntry) error
}

// AppendAudit appends e to the audit log inside tx, chained to the newest
// entry, stamped at (to the millisecond), so the entry and the change it
// records commit together. An empty Detail is stored as "{}".
func AppendAudit(ctx context.Context, tx AuditTx, at time.Time, e AuditEvent) error {
	seq, prev, err := tx.AuditTip(ctx)
	if err != nil {
		return err
	}
	if e.Detail == "" {
		e.Detail = "{}"
	}
	at = at.UTC().Truncate(time.Millisecond)
	return tx.InsertAuditEntry(ctx, AuditEntry{Seq: seq + 1, At: at, Event: e, PrevHash: prev, Hash: AuditHash(prev, at, e)})
}
