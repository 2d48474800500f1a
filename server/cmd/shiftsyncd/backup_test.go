package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/sqlite"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// TestAdminBackup_WhileWritersPush takes a backup with the admin command
// while 10 writers push to a real server on the database: it completes,
// the copy passes integrity_check and verify-audit, and serve, started on
// it as a restore would (the backup in place of the database, beside the
// same audit key), answers a pull with every incident acknowledged before
// the backup began.
func TestAdminBackup_WhileWritersPush(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "shiftsync.db")
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(live)))

	type ack struct {
		id, description string
		at              time.Time
	}
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
	)
	pushing, stop := context.WithCancel(ctx)
	errs := make(chan error, 10)
	for w := range 10 {
		client := s.Client(s.AddDevice(fmt.Sprintf("worker-%d", w), fmt.Sprintf("phone-%d", w), "house-a"))
		wg.Go(func() {
			for counter := uint64(1); pushing.Err() == nil; counter += 5 {
				var batch []*syncv1.Mutation
				for i := range uint64(5) {
					description := fmt.Sprintf("writer %d incident %d", w, counter+i)
					batch = append(batch, shiftsynctest.Incident(counter+i, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), description))
				}
				res, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch})
				if err != nil || res.GetAcknowledgedCounter() != counter+4 {
					errs <- fmt.Errorf("writer %d: Push() = %v, %v", w, res, err)
					return
				}
				at := time.Now()
				mu.Lock()
				for _, m := range batch {
					acked = append(acked, ack{m.GetRecordId(), m.GetFields()[1].GetValue().GetStringValue(), at})
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the writers are under way

	backup := filepath.Join(t.TempDir(), "backup.db")
	began := time.Now()
	out := adminRun(t, live, "backup", "-o", backup)
	took := time.Since(began)
	time.Sleep(100 * time.Millisecond) // and they push after it
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	var before []ack
	for _, a := range acked {
		if a.at.Before(began) {
			before = append(before, a)
		}
	}
	t.Logf("backup in %v while 10 writers pushed: %d incidents acknowledged in all, %d before the backup began\n%s", took, len(acked), len(before), out)
	mu.Unlock()
	if len(before) == 0 || !strings.Contains(out, "integrity_check ok; audit log verified") {
		t.Fatalf("backup: %d acknowledged before it; it said:\n%s", len(before), out)
	}

	// The copy as written: integrity_check, and the audit log against the
	// signed heads that reach no further than it.
	copied, err := sqlite.OpenReadOnly(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := copied.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	copied.Close()
	last, ok, err := s.Store.Backups.LastBackup(ctx)
	if err != nil || !ok || last.Path != backup {
		t.Fatalf("LastBackup() = %+v, %v, %v", last, ok, err)
	}
	if err := verifyCopyAudit(ctx, live, last); err != nil {
		t.Errorf("verify-audit of the copy: %v", err)
	}
	if err := run(ctx, []string{"admin", "-db", live, "backup", "-o", backup}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup onto the same file: %v, want refused", err)
	}

	// Restore: the backup in place of the database, beside its audit key.
	restored := filepath.Join(t.TempDir(), "shiftsync.db")
	copyTestFile(t, backup, restored)
	copyTestFile(t, auditfile.KeyPath(live), auditfile.KeyPath(restored))
	m := NewMain(io.Discard, io.Discard)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	b, _ := json.Marshal([]map[string]any{{"token": token, "user_id": "worker-1", "device_id": "phone-1", "services": []string{"house-a"}}})
	if err := os.WriteFile(tokens, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m.DBPath, m.Addr, m.TokensPath = restored, "127.0.0.1:0", tokens
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, c := range shiftsynctest.PullAll(t, shiftsynctest.NewClient(m.URL(), token)) {
		if c.GetField() == "behaviour_description" {
			found[c.GetRecordId()] = c.GetValue().GetStringValue()
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range before {
		if found[a.id] != a.description {
			t.Fatalf("incident %s (%q), acknowledged before the backup began, is not on the restored server (found %q)", a.id, a.description, found[a.id])
		}
	}
	if out := adminRun(t, restored, "verify-audit"); !strings.Contains(out, "chain intact") {
		t.Errorf("verify-audit of the restored database after serve:\n%s", out)
	}
}

// TestMain_ScheduledBackups: serve -backup-every takes backups into
// -backup-dir, keeps the newest -backup-keep, and the metric of the last
// one is set, also after a restart.
func TestMain_ScheduledBackups(t *testing.T) {
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	args := []string{"-db", filepath.Join(dir, "s.db"), "-addr", "127.0.0.1:0", "-backup-dir", backups, "-backup-every", "30ms", "-backup-keep", "2"}
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	var names []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		taken := 0
		_, ok, err := m.srv.Store.Backups.LastBackup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			entries, _ := os.ReadDir(backups)
			names = names[:0]
			for _, e := range entries {
				names = append(names, e.Name())
			}
			taken = len(names)
			if taken == 2 && countAudit(t, m, "store.backup") >= 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d backups in %s (%q)", taken, backups, names)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !scheduledBackup.MatchString(name) {
			t.Errorf("%s in the backup directory", name)
		}
	}

	m = NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags(args[:4]); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	families, err := m.srv.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "shiftsync_backup_last_success_timestamp_seconds" {
			if v := f.GetMetric()[0].GetGauge().GetValue(); v < float64(time.Now().Add(-time.Minute).Unix()) {
				t.Errorf("after a restart, the last backup metric is %v", v)
			}
			return
		}
	}
	t.Error("no shiftsync_backup_last_success_timestamp_seconds")
}

// countAudit counts the audit entries of the action in m's store.
func countAudit(t *testing.T, m *Main, action string) int {
	t.Helper()
	n := 0
	ctx := context.Background()
	tip, _, err := m.srv.Store.Audit.AuditTip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.srv.Store.Audit.AuditEntries(ctx, 1, tip, func(e shiftsync.AuditEntry) error {
		if e.Event.Action == action {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func copyTestFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdmin_RestoreRefuses: restore refuses a PostgreSQL store (its own
// tools restore it) and a backup that does not verify, and then leaves the
// live database as it was.
func TestAdmin_RestoreRefuses(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shiftsync.db")
	writeTokens(t, db, dir)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"postgres", []string{"admin", "restore", "-from", garbage, "-db", "postgres://127.0.0.1/x"}, "PostgreSQL's own tools"},
		{"no backup", []string{"admin", "-db", db, "restore"}, "-from BACKUP is required"},
		{"not a database", []string{"admin", "-db", db, "restore", "-from", garbage}, "restore"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("restore = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if after, err := os.ReadFile(db); err != nil || string(after) != string(before) {
		t.Errorf("the live database changed after refused restores (%v)", err)
	}
}

// TestAdmin_RestoreRefusesAnOlderBackup: phones drop the receipts of what
// a backup holds, so restoring a backup older than the newest one recorded
// is refused unless -older says to lose what only the newer one holds.
func TestAdmin_RestoreRefusesAnOlderBackup(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shiftsync.db")
	tokens := writeTokens(t, db, dir)
	first, second := filepath.Join(dir, "first.db"), filepath.Join(dir, "second.db")
	adminRun(t, db, "backup", "-o", first)
	m := NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir, m.Addr, m.TokensPath = db, dir, "127.0.0.1:0", tokens
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := shiftsynctest.NewClient(m.URL(), token).Push(t.Context(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
		Mutations: []*syncv1.Mutation{shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", time.Now(), "after the first backup")}})
	if closeErr := m.Close(); err != nil || closeErr != nil {
		t.Fatalf("push = %v, close = %v", err, closeErr)
	}
	adminRun(t, db, "backup", "-o", second)

	err = run(t.Context(), []string{"admin", "-db", db, "restore", "-from", first}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "records a newer backup") || !strings.Contains(err.Error(), second) {
		t.Fatalf("restore of the older backup = %v, want it refused naming %s", err, second)
	}
	if err := run(t.Context(), []string{"admin", "-db", db, "restore", "-older", "-from", first}, io.Discard, io.Discard); err != nil {
		t.Fatalf("restore -older = %v", err)
	}
	if _, err := os.Stat(unfinishedRestore(db)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a restore that finished, %s: %v; want none", unfinishedRestore(db), err)
	}

	// A restore that stopped before its new epoch started (a crash) leaves
	// its mark, and serve refuses the database until restore runs again.
	if err := os.WriteFile(unfinishedRestore(db), []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir, m.Addr = db, dir, "127.0.0.1:0"
	if err := m.Open(t.Context()); err == nil || !strings.Contains(err.Error(), "did not finish") {
		_ = m.Close()
		t.Fatalf("serve on an unfinished restore = %v, want it refused", err)
	}
	_ = m.Close()
	if err := run(t.Context(), []string{"admin", "-db", db, "restore", "-from", first}, io.Discard, io.Discard); err != nil {
		t.Fatalf("restore again = %v", err)
	}
	m = NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir, m.Addr = db, dir, "127.0.0.1:0"
	if err := m.Open(t.Context()); err != nil {
		t.Fatalf("serve after the restore finished = %v", err)
	}
	_ = m.Close()
}

// TestAdmin_RestoreRefusesWhileServing: a restore must not replace the
// files under a running server, which would go on writing to the replaced
// ones; nor may a second server open a database one serves. Both are
// refused naming the process that holds the database, and once it has
// stopped the restore runs.
func TestAdmin_RestoreRefusesWhileServing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shiftsync.db")
	tokens := writeTokens(t, db, dir)
	backup := filepath.Join(dir, "backup.db")
	adminRun(t, db, "backup", "-o", backup)
	m := NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir, m.Addr, m.TokensPath = db, dir, "127.0.0.1:0", tokens
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	serving := fmt.Sprintf("in use by shiftsyncd serve (pid %d)", os.Getpid())

	err := run(t.Context(), []string{"admin", "-db", db, "restore", "-from", backup}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), serving) {
		_ = m.Close()
		t.Fatalf("restore under a running server = %v, want it refused: %s", err, serving)
	}
	if aside, _ := filepath.Glob(db + ".before-restore-*"); len(aside) > 0 || exists(unfinishedRestore(db)) {
		t.Errorf("a refused restore moved the live database (%v) or marked it unfinished", aside)
	}
	second := NewMain(io.Discard, io.Discard)
	second.DBPath, second.StateDir, second.Addr = db, dir, "127.0.0.1:0"
	if err := second.Open(t.Context()); err == nil || !strings.Contains(err.Error(), serving) {
		_ = second.Close()
		_ = m.Close()
		t.Fatalf("a second server on the database = %v, want it refused: %s", err, serving)
	}
	_ = second.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	recorded := lastBackup(t, db)
	if err := run(t.Context(), []string{"admin", "-db", db, "restore", "-from", backup}, io.Discard, io.Discard); err != nil {
		t.Fatalf("restore once the server stopped = %v", err)
	}

	// The restore's audit entry names the file restored by its hash and the
	// time the live store recorded taking it.
	m = NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir, m.Addr = db, dir, "127.0.0.1:0"
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	restores := auditEvents(t, m, shiftsync.AuditRestore)
	if len(restores) != 1 {
		t.Fatalf("%d %s audit entries, want 1", len(restores), shiftsync.AuditRestore)
	}
	var detail struct {
		SHA256  string `json:"sha256"`
		TakenAt string `json:"taken_at"`
	}
	if err := json.Unmarshal([]byte(restores[0].Detail), &detail); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	if want := recorded.TakenAt.Format(time.RFC3339Nano); detail.SHA256 != hex.EncodeToString(sum[:]) || detail.TakenAt != want {
		t.Errorf("restore audited sha256 %q taken_at %q; want %x and %s (as the backup was recorded)", detail.SHA256, detail.TakenAt, sum, want)
	}
}

// lastBackup returns the newest backup the SQLite database at db records.
func lastBackup(t *testing.T, db string) shiftsync.Backup {
	t.Helper()
	d := sqlite.NewDB(db)
	d.Logger = slog.New(slog.DiscardHandler)
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, ok, err := d.LastBackup(t.Context())
	if err != nil || !ok {
		t.Fatalf("last backup of %s: %v, recorded %v", db, err, ok)
	}
	return b
}

// TestAdmin_NewEpoch: a store restored by its database's own tools
// (pg_restore, point-in-time recovery, litestream restore) begins a new
// epoch with admin new-epoch, on either store: a cursor of before it is
// answered resync_required, so phones learn of the restore and re-push
// what it lacks, and the audit log says what the store was restored from.
func TestAdmin_NewEpoch(t *testing.T) {
	for name, db := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "shiftsync.db") },
		"postgres": func(t *testing.T) string { return shiftsynctest.PostgresDSN(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx, db, state := t.Context(), db(t), t.TempDir()
			open, _ := openStore(db, state)
			before := shiftsynctest.NewServer(t, shiftsynctest.WithStore(open))
			phone := before.EnrolDevice(t, "worker-1", shiftsync.RoleSupportWorker, "house-a")
			if _, err := before.Client(phone.Token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
				shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "house-a", "p1", before.Clock.Now(), "before the restore")}}); err != nil {
				t.Fatal(err)
			}
			_, page, err := shiftsynctest.PullFrom(ctx, before.Client(phone.Token), "")
			if err != nil {
				t.Fatal(err)
			}
			before.Close()

			admin := []string{"admin", "-db", db, "-state", state, "new-epoch"}
			if err := run(ctx, admin, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-restored-from is required") {
				t.Fatalf("new-epoch without -restored-from = %v, want it refused", err)
			}
			var out strings.Builder
			if err := run(ctx, append(admin, "-restored-from", "pg_restore of nightly.dump", "-taken-at", "2026-12-03T02:00:00Z"), &out, io.Discard); err != nil {
				t.Fatalf("new-epoch = %v", err)
			}

			after := shiftsynctest.NewServer(t, shiftsynctest.WithStore(open))
			defer after.Close()
			_, _, err = shiftsynctest.PullFrom(ctx, after.Client(phone.Token), page.GetNextCursor())
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "restored") {
				t.Errorf("pull from a cursor of before the new epoch = %v, want resync_required saying the store was restored", err)
			}
			var restores []shiftsync.AuditEvent
			tip, _, err := after.Store.Audit.AuditTip(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := after.Store.Audit.AuditEntries(ctx, 1, tip, func(e shiftsync.AuditEntry) error {
				if e.Event.Action == shiftsync.AuditRestore {
					restores = append(restores, e.Event)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(restores) != 1 || restores[0].Subject != "pg_restore of nightly.dump" || !strings.Contains(restores[0].Detail, `"taken_at":"2026-12-03T02:00:00Z"`) ||
				!strings.Contains(out.String(), "new epoch ") {
				t.Errorf("after new-epoch: audited %+v, printed %q", restores, out.String())
			}
		})
	}
}

// TestAdmin_AcceptGap: after a restore from an older backup a device's next
// counter can be above what the store holds, with the counters between
// held by no one; each push is then answered not_processed, saying why,
// until an operator gives those counters up, and no further: the counter
// the device pushed past the gap, and those after it, it still holds. The
// device then pushes on, and a mutation sent later under a counter given
// up is quarantined, not dropped.
func TestAdmin_AcceptGap(t *testing.T) {
	ctx, db := t.Context(), filepath.Join(t.TempDir(), "shiftsync.db")
	push := func(s *shiftsynctest.Server, token string, counter uint64, description string) *syncv1.MutationResult {
		t.Helper()
		res, err := s.Client(token).Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
			shiftsynctest.Incident(counter, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(), description)}})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetResults()[0]
	}
	before := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(db)))
	phone := before.EnrolDevice(t, "worker-1", shiftsync.RoleSupportWorker, "house-a")
	push(before, phone.Token, 1, "held by the restored store")
	quiet := before.EnrolDevice(t, "worker-2", shiftsync.RoleSupportWorker, "house-a")
	push(before, quiet.Token, 1, "no gap")
	r := push(before, phone.Token, 4, "after counters the store lost")
	if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_NOT_PROCESSED || !strings.Contains(r.GetReason(), "push 2 first") || !strings.Contains(r.GetReason(), "accept-gap") {
		t.Fatalf("push of counter 4 after 1 = %v, want not_processed saying to push 2 first or accept the gap", r)
	}
	before.Close()

	admin := func(args ...string) error {
		return run(ctx, append([]string{"admin", "-db", db, "accept-gap"}, args...), io.Discard, io.Discard)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-device", phone.DeviceID, "-through", "3"}, "-reason is required"},
		{[]string{"-device", "no-such-device", "-through", "3", "-reason", "restored -older"}, "does not exist"},
		{[]string{"-device", phone.DeviceID, "-through", "1", "-reason", "restored -older"}, "no gap through 1"},
		{[]string{"-device", phone.DeviceID, "-through", "4", "-reason", "restored -older"}, "pushed counter 4 past the gap and holds it: give up at most counters 2 to 3"},
		{[]string{"-device", phone.DeviceID, "-through", "900", "-reason", "restored -older"}, "pushed counter 4 past the gap"},
		{[]string{"-device", quiet.DeviceID, "-reason", "restored -older"}, "pushed no counter past a gap"},
	} {
		if err := admin(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("accept-gap %q = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	var out strings.Builder
	if err := run(ctx, []string{"admin", "-db", db, "accept-gap", "-device", phone.DeviceID, "-reason", "restored -older from the backup of 3 Dec"}, &out, io.Discard); err != nil {
		t.Fatalf("accept-gap = %v", err)
	}
	if !strings.Contains(out.String(), "counters 2 to 3 given up") {
		t.Errorf("accept-gap without -through printed %q; want counters 2 to 3 given up", out.String())
	}

	after := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(db)))
	defer after.Close()
	if r := push(after, phone.Token, 4, "after counters the store lost"); r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
		t.Errorf("push of counter 4 after the gap was accepted = %v, want accepted", r)
	}
	if r := push(after, phone.Token, 2, "under a counter given up"); r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED {
		t.Errorf("push under a counter given up = %v, want it quarantined (counter_reused), not dropped", r)
	}
}
