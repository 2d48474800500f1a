package postgres

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var (
	_ shiftsync.AuditLog   = (*DB)(nil)
	_ shiftsync.AuditChain = (*DB)(nil)
	_ shiftsync.AuditRuns  = (*DB)(nil)
	_ shiftsync.Store      = (*DB)(nil)
	_ shiftsync.Tx         = (*Tx)(nil)
)

// Audit implements [shiftsync.AuditLog], in a transaction of its own.
func (db *DB) Audit(ctx context.Context, e shiftsync.AuditEvent) error {
	return db.update(ctx, func(tx *Tx) error { return appendAudit(ctx, tx, e) })
}

// appendAudit adds an event to the hash chain inside tx, stamped with the
// transaction's time, so the entry and the change it records commit
// together.
func appendAudit(ctx context.Context, tx *Tx, e shiftsync.AuditEvent) error {
	return shiftsync.AppendAudit(ctx, tx, tx.now, e)
}

// AuditTip implements [shiftsync.AuditTx]. In a write transaction it
// first takes the audit chain's lock, held to commit, so the entry chained
// to this tip is the only one: audited transactions of every instance
// append one after the other.
func (tx *Tx) AuditTip(ctx context.Context) (int64, []byte, error) {
	if err := tx.lock(ctx, lockAudit, ""); err != nil {
		return 0, nil, err
	}
	var (
		seq  int64
		hash []byte
	)
	err := tx.queryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, shiftsync.AuditGenesis, nil
	}
	return seq, hash, err
}

// InsertAuditEntry implements [shiftsync.AuditTx].
func (tx *Tx) InsertAuditEntry(ctx context.Context, e shiftsync.AuditEntry) error {
	_, err := tx.exec(ctx, `INSERT INTO audit_log (seq, at, actor_user, actor_device, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.Seq, e.At.UnixMilli(), e.Event.Actor.UserID, e.Event.Actor.DeviceID, e.Event.Action, e.Event.Subject, e.Event.Detail, e.PrevHash, e.Hash)
	return err
}

// VerifyAudit checks the audit log's hash chain on its own and returns how
// many entries it checked, or an error naming the first entry whose hash,
// link or sequence is wrong: an edited, inserted or removed row. It cannot
// tell a chain truncated or rewritten as a whole; CheckAudit against
// signed heads can.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	r, err := db.CheckAudit(ctx, nil)
	return r.Entries, err
}

// CheckAudit checks the whole audit log with a [shiftsync.AuditChecker]
// against signed heads whose signatures the caller has verified. The error
// names the first entry that is wrong, or what the heads show is missing;
// the report then counts the entries checked before it.
func (db *DB) CheckAudit(ctx context.Context, heads []shiftsync.AuditHead) (shiftsync.AuditReport, error) {
	c, err := shiftsync.NewAuditChecker(db.storeID, heads)
	if err != nil {
		return shiftsync.AuditReport{}, err
	}
	if err := db.AuditEntries(ctx, 0, math.MaxInt64, c.Check); err != nil {
		return c.Report(), err
	}
	return c.Finish()
}

// AuditEntries implements [shiftsync.AuditChain].
func (db *DB) AuditEntries(ctx context.Context, from, to int64, fn func(shiftsync.AuditEntry) error) error {
	rows, err := db.pool.Query(ctx, `SELECT seq, at, actor_user, actor_device, action, subject, detail, prev_hash, hash FROM audit_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq`, from, to)
	if err != nil {
		return storageError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e  shiftsync.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.Event.Actor.UserID, &e.Event.Actor.DeviceID, &e.Event.Action, &e.Event.Subject, &e.Event.Detail, &e.PrevHash, &e.Hash); err != nil {
			return storageError(err)
		}
		e.At = time.UnixMilli(at).UTC()
		if err := fn(e); err != nil {
			return err
		}
	}
	return storageError(rows.Err())
}

// AuditTip implements [shiftsync.AuditChain].
func (db *DB) AuditTip(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := db.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, shiftsync.AuditGenesis, nil
	}
	return seq, hash, storageError(err)
}

// WriteAuditHead implements [shiftsync.AuditHeadWriter]: the head is kept
// in the audit_heads table.
func (db *DB) WriteAuditHead(ctx context.Context, h shiftsync.AuditHead) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO audit_heads (version, store_id, run, process, seq, hash, at, start, final, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			h.Version, h.StoreID, h.Run, h.Process, h.Seq, h.Hash, h.At.UnixMilli(), h.Start, h.Final, []byte(h.PublicKey), h.Signature)
		return err
	})
}

// AuditHeads returns the heads kept in the database, oldest first. A
// database writer can delete them, and a head whose row was altered fails
// to verify: the heads file and the log are the copies to trust.
func (db *DB) AuditHeads(ctx context.Context) ([]shiftsync.AuditHead, error) {
	rows, err := db.pool.Query(ctx, `SELECT version, store_id, run, process, seq, hash, at, start, final, public_key, signature FROM audit_heads ORDER BY id`)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var heads []shiftsync.AuditHead
	for rows.Next() {
		var h shiftsync.AuditHead
		var (
			at  int64
			pub []byte
		)
		if err := rows.Scan(&h.Version, &h.StoreID, &h.Run, &h.Process, &h.Seq, &h.Hash, &at, &h.Start, &h.Final, &pub, &h.Signature); err != nil {
			return nil, storageError(err)
		}
		h.At, h.PublicKey = time.UnixMilli(at).UTC(), pub
		heads = append(heads, h)
	}
	return heads, storageError(rows.Err())
}

// runApplication is the application_name of the connection by which a run
// of store storeID stays registered as a writer of its audit log: at most
// 60 bytes, within PostgreSQL's 63.
func runApplication(storeID, run string) string {
	return "shiftsyncd/" + storeID + "/" + run
}

// OpenAuditRun implements [shiftsync.AuditRuns]. A run is registered by a
// connection of its own, named for the store and the run, which lives as
// long as the run: a process that dies takes it with it. The entry is
// appended holding the audit chain's lock, so the runs it names are those
// whose entries precede it and are still connected.
func (db *DB) OpenAuditRun(ctx context.Context, run string, event func(alive []string) shiftsync.AuditEvent) (shiftsync.AuditEntry, func(), error) {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = runApplication(db.storeID, run)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return shiftsync.AuditEntry{}, nil, storageError(err)
	}
	end := func() { _ = conn.Close(context.WithoutCancel(ctx)) }
	var entry shiftsync.AuditEntry
	err = db.update(ctx, func(tx *Tx) error {
		if err := tx.lock(ctx, lockAudit, ""); err != nil {
			return err
		}
		prefix := runApplication(db.storeID, "")
		rows, err := tx.Query(ctx, `SELECT DISTINCT substr(application_name, $2) FROM pg_stat_activity
			WHERE datname = current_database() AND starts_with(application_name, $1) ORDER BY 1`, prefix, len(prefix)+1)
		if err != nil {
			return err
		}
		alive, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		alive = slices.DeleteFunc(alive, func(r string) bool { return r == run })
		if err := appendAudit(ctx, tx, event(alive)); err != nil {
			return err
		}
		entry.Event = event(alive)
		entry.Seq, entry.Hash, err = tx.AuditTip(ctx)
		return err
	})
	if err != nil {
		end()
		return shiftsync.AuditEntry{}, nil, err
	}
	return entry, end, nil
}
