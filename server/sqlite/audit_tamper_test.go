package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// auditRow is an audit_log row as an attacker with the file rewrites it.
type auditRow struct {
	seq   int64
	at    time.Time
	event shiftsync.AuditEvent
}

// rewriteChain replaces the rows from seq from on with rows, chained and
// hashed correctly: what someone with write access to the file and the
// source code can do.
func rewriteChain(t *testing.T, raw *sql.DB, from int64, rows []auditRow) {
	t.Helper()
	prev := shiftsync.AuditGenesis
	if err := raw.QueryRow(`SELECT hash FROM audit_log WHERE seq = ?`, from-1).Scan(&prev); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq >= ?`, from); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		h := shiftsync.AuditHash(prev, r.at, r.event)
		if _, err := raw.Exec(`INSERT INTO audit_log (seq, at, actor_user, actor_device, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.seq, r.at.UnixMilli(), r.event.Actor.UserID, r.event.Actor.DeviceID, r.event.Action, r.event.Subject, r.event.Detail, prev, h); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
}

// readRows returns the audit_log rows from seq from on.
func readRows(t *testing.T, raw *sql.DB, from int64) []auditRow {
	t.Helper()
	rs, err := raw.Query(`SELECT seq, at, actor_user, actor_device, action, subject, detail FROM audit_log WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var rows []auditRow
	for rs.Next() {
		var (
			r  auditRow
			at int64
		)
		if err := rs.Scan(&r.seq, &at, &r.event.Actor.UserID, &r.event.Actor.DeviceID, &r.event.Action, &r.event.Subject, &r.event.Detail); err != nil {
			t.Fatal(err)
		}
		r.at = time.UnixMilli(at).UTC()
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// sealedStore opens a store and records a run between a start and a final
// signed head, as a server does. It returns the store, the heads, and a
// connection to its file that may write what the triggers forbid.
func sealedStore(t *testing.T) (*sqlite.DB, []shiftsync.AuditHead, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	db, id, _ := MustIdentity(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealer := &shiftsync.AuditSealer{Chain: db, StoreID: db.StoreID(), Key: key, Process: shiftsync.AuditProcessServe, Now: time.Now}
	start, err := sealer.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := id.IssueEnrolmentCode(ctx, admin, "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := id.Enrol(ctx, code, "phone", anyIssuer)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = id.Enrol(ctx, "WRONG-CODE-XXXXX", "guess", anyIssuer)
	if _, err := id.RevokeDevice(ctx, admin, d.ID, "lost"); err != nil {
		t.Fatal(err)
	}
	final, err := sealer.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+db.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	// Someone with the file drops the triggers.
	if _, err := raw.Exec(`DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete`); err != nil {
		t.Fatal(err)
	}
	return db, []shiftsync.AuditHead{start, final}, raw
}

// TestDB_CheckAudit_Tampered tampers with the audit log of a real database
// file as someone with write access to it would, triggers dropped, and
// checks the log against the signed heads of the run: each tampering is
// reported; the untampered log is intact against the final head.
// (shiftsyncd's TestVerifyAudit checks which heads verify-audit gathers
// from its heads file, the log and its flags, and their signatures.)
func TestDB_CheckAudit_Tampered(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, raw *sql.DB)
		heads  func(heads []shiftsync.AuditHead) []shiftsync.AuditHead // nil: every head of the run
		want   string                                                  // "" for a log that verifies
	}{
		{name: "untampered", tamper: func(*testing.T, *sql.DB) {}},
		{name: "the last rows deleted", tamper: func(t *testing.T, raw *sql.DB) {
			if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)`); err != nil {
				t.Fatal(err)
			}
		}, want: "entries were removed"},
		{name: "every row deleted", tamper: func(t *testing.T, raw *sql.DB) {
			if _, err := raw.Exec(`DELETE FROM audit_log`); err != nil {
				t.Fatal(err)
			}
		}, want: "the chain ends at entry 0"},
		{name: "a row altered and the chain recomputed", tamper: func(t *testing.T, raw *sql.DB) {
			rows := readRows(t, raw, 2)
			rows[0].event.Detail = `{"kind":"nothing to see"}`
			rewriteChain(t, raw, 2, rows)
		}, want: "does not match its signed head"},
		{name: "a forged row appended", tamper: func(t *testing.T, raw *sql.DB) {
			rows := readRows(t, raw, 1)
			tip := rows[len(rows)-1]
			rewriteChain(t, raw, tip.seq, []auditRow{tip, {seq: tip.seq + 1, at: tip.at.Add(time.Minute),
				event: shiftsync.AuditEvent{Actor: shiftsync.Principal{UserID: "ana"}, Action: shiftsync.AuditReviewRead, Subject: "house-a", Detail: "{}"}}})
		}, want: "1 entries after the final head"},
		{name: "the last rows deleted, only the final head given", tamper: func(t *testing.T, raw *sql.DB) {
			if _, err := raw.Exec(`DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)`); err != nil {
				t.Fatal(err)
			}
		}, heads: func(h []shiftsync.AuditHead) []shiftsync.AuditHead { return h[len(h)-1:] }, want: "entries were removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, heads, raw := sealedStore(t)
			tt.tamper(t, raw)
			if tt.heads != nil {
				heads = tt.heads(heads)
			}
			r, err := db.CheckAudit(ctx, heads)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckAudit() = %v, want the log verified", err)
			case tt.want == "" && (!r.Head.Final || r.Uncovered != 0 || r.Entries == 0):
				t.Errorf("CheckAudit() = %+v, want the chain intact against the final head", r)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("CheckAudit() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
