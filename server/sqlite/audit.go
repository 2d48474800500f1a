package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var _ shiftsync.AuditLog = (*DB)(nil)

// Audit implements [shiftsync.AuditLog], in a transaction of its own.
func (db *DB) Audit(ctx context.Context, e shiftsync.AuditEvent) error {
	return db.update(ctx, func(tx *Tx) error { return appendAudit(ctx, tx, e) })
}

// appendAudit adds an event to the hash chain inside tx, so the entry and
// the change it records commit together.
func appendAudit(ctx context.Context, tx *Tx, e shiftsync.AuditEvent) error {
	var prev []byte
	err := tx.queryRow(ctx, `SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prev)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if prev == nil {
		prev = make([]byte, sha256.Size)
	}
	if e.Detail == "" {
		e.Detail = "{}"
	}
	at := tx.now.UnixMilli()
	h := auditHash(prev, at, e.Actor.UserID, e.Actor.DeviceID, e.Action, e.Subject, e.Detail)
	_, err = tx.exec(ctx, `INSERT INTO audit_log (at, actor_user, actor_device, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		at, e.Actor.UserID, e.Actor.DeviceID, e.Action, e.Subject, e.Detail, prev, h)
	return err
}

// auditHash is SHA-256 over the previous hash and the row's content, each
// field length-prefixed so no two rows can encode alike.
func auditHash(prev []byte, at int64, fields ...string) []byte {
	h := sha256.New()
	h.Write(prev)
	_ = binary.Write(h, binary.BigEndian, at)
	for _, f := range fields {
		_ = binary.Write(h, binary.BigEndian, uint64(len(f)))
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// VerifyAudit walks the audit log and returns how many entries it checked,
// or an error naming the first entry whose hash, link or sequence is wrong:
// an edited, inserted or removed row.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, at, actor_user, actor_device, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	prev := make([]byte, sha256.Size)
	var n int
	var lastSeq int64
	for rows.Next() {
		var (
			seq, at                               int64
			user, device, action, subject, detail string
			prevHash, hash                        []byte
		)
		if err := rows.Scan(&seq, &at, &user, &device, &action, &subject, &detail, &prevHash, &hash); err != nil {
			return n, err
		}
		switch {
		case seq != lastSeq+1:
			return n, fmt.Errorf("audit log: entry %d follows %d: entries are missing", seq, lastSeq)
		case string(prevHash) != string(prev):
			return n, fmt.Errorf("audit log: entry %d does not link to entry %d", seq, lastSeq)
		case string(hash) != string(auditHash(prev, at, user, device, action, subject, detail)):
			return n, fmt.Errorf("audit log: entry %d was altered", seq)
		}
		prev, lastSeq = hash, seq
		n++
	}
	return n, rows.Err()
}
