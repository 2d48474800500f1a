package postgres_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/postgres"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// auditRuns is the audit log of one store written by several server
// processes at once, each with its own sealer, as shiftsyncd serve runs
// them.
type auditRuns struct {
	t   *testing.T
	db  *postgres.DB
	key ed25519.PrivateKey
}

// open starts a server run: it signs its start head.
func (a auditRuns) open() *shiftsync.AuditSealer {
	a.t.Helper()
	s := &shiftsync.AuditSealer{Chain: a.db, StoreID: a.db.StoreID(), Key: a.key, Process: shiftsync.AuditProcessServe, Now: time.Now}
	if _, err := s.Open(context.Background()); err != nil {
		a.t.Fatal(err)
	}
	return s
}

// write appends n entries, as pushes of any run would.
func (a auditRuns) write(n int) {
	a.t.Helper()
	for range n {
		if err := a.db.Audit(context.Background(), shiftsync.AuditEvent{Action: shiftsync.AuditPush, Subject: "phone-1"}); err != nil {
			a.t.Fatal(err)
		}
	}
}

func (a auditRuns) close(s *shiftsync.AuditSealer) {
	a.t.Helper()
	if _, err := s.Close(context.Background()); err != nil {
		a.t.Fatal(err)
	}
}

// check checks the chain against every head the database keeps.
func (a auditRuns) check() error {
	a.t.Helper()
	heads, err := a.db.AuditHeads(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	_, err = a.db.CheckAudit(context.Background(), heads)
	return err
}

// TestAuditRuns_SeveralServers checks the audit chain of servers running
// side by side on one database: a server that starts while another runs
// leaves it open (the other's unsigned entries are not taken for entries
// written with no writer running), a server killed without its final head
// is ended by the next start, and entries written once every run has
// closed are still caught.
func TestAuditRuns_SeveralServers(t *testing.T) {
	db, _ := MustOpenDB(t)
	_, key, _ := ed25519.GenerateKey(nil)
	a := auditRuns{t, db, key}

	first := a.open()
	second := a.open()
	a.close(second)
	a.write(3) // the first server's, not signed yet
	third := a.open()
	if err := a.check(); err != nil {
		t.Fatalf("a server starting while another ran and one had stopped: %v; want the chain to verify", err)
	}

	// The first server dies: its registration goes with its connection.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, shiftsynctest.PostgresServer())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE '%' || $1`, "/"+runOf(t, db, 0)).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("killing the first server's registration: %d, %v", killed, err)
	}
	a.write(2)
	fourth := a.open() // finds the third alone alive
	a.close(third)
	a.close(fourth)
	if err := a.check(); err != nil {
		t.Fatalf("every server stopped, one of them killed: %v; want the chain to verify", err)
	}
	a.close(first) // signed on its way out; its end is the killed connection's, already gone

	a.write(1)
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "after the final head") {
		t.Fatalf("an entry written after every server stopped: %v; want it reported", err)
	}
}

// runOf returns the run of the n-th start head the store keeps.
func runOf(t *testing.T, db *postgres.DB, n int) string {
	t.Helper()
	heads, err := db.AuditHeads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if h.Start {
			if n == 0 {
				return h.Run
			}
			n--
		}
	}
	t.Fatalf("no start head %d", n)
	return ""
}
