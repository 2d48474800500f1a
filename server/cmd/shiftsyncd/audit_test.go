package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	authv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/auth/v1/authv1connect"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
	"github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1/syncv1connect"
)

// logWriter collects a server's log for the test to read, safe for the
// server's concurrent writes.
type logWriter struct {
	lines chan string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.lines <- string(p)
	return len(p), nil
}

// auditedDatabase runs a server on a new database, sets up a service with
// the admin commands while it runs, enrols a device and pushes through it,
// then stops the server cleanly. It returns the database's path and the
// heads the server logged.
func auditedDatabase(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	log := logWriter{lines: make(chan string, 1000)}
	m := NewMain(io.Discard, log)
	if err := m.ParseFlags([]string{"-db", db, "-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	adminRun(t, db, "create-organisation", "-id", "oak", "-name", "Oak Care")
	adminRun(t, db, "create-service", "-id", "oak-house", "-organisation", "oak", "-name", "Oak House")
	adminRun(t, db, "create-person", "-id", "sam", "-service", "oak-house", "-name", "Sam")
	adminRun(t, db, "create-user", "-id", "ana", "-organisation", "oak", "-name", "Ana")
	adminRun(t, db, "add-membership", "-user", "ana", "-service", "oak-house", "-role", "support_worker", "-start", "2020-01-01T00:00:00Z")
	code := strings.TrimSpace(adminRun(t, db, "issue-code", "-user", "ana"))
	enrolled, err := authv1connect.NewAuthServiceClient(http.DefaultClient, m.URL()).Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "Ana's phone"})
	if err != nil {
		t.Fatal(err)
	}
	client := syncv1connect.NewSyncServiceClient(http.DefaultClient, m.URL(), shiftsynctest.WithToken(enrolled.GetAccessToken()))
	if _, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: []*syncv1.Mutation{
		shiftsynctest.Incident(1, shiftsynctest.RecordID(t), "oak-house", "sam", time.Now(), "threw a cup"),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	close(log.lines)
	var heads []string
	for line := range log.lines {
		if _, quoted, ok := strings.Cut(line, " head="); ok && strings.Contains(line, `msg="audit head"`) {
			head, err := strconv.Unquote(strings.TrimSpace(quoted))
			if err != nil {
				t.Fatalf("logged head %s: %v", quoted, err)
			}
			heads = append(heads, head)
		}
	}
	return db, heads
}

// copyDatabase copies the database and the files beside it into a new
// directory, so each tampering starts from the same state.
func copyDatabase(t *testing.T, db string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "s.db")
	for _, suffix := range []string{"", "-wal", ".audit-key", ".audit-heads"} {
		b, err := os.ReadFile(db + suffix)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// unsealedDatabase returns the path of a new database with audit entries
// and no signed head, as a store from before signed heads is: the test
// harness builds it through the SQLite store and signs nothing. With keyed,
// an audit key and an empty heads file are beside it, as if every head had
// been removed.
func unsealedDatabase(t *testing.T, keyed bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	s.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	s.Close()
	if keyed {
		if _, _, err := auditfile.OpenKey(auditfile.KeyPath(path)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(auditfile.HeadsPath(path), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestVerifyAudit checks which signed heads verify-audit gathers (the heads
// file beside the database or given, the database's own, -head) and how it
// checks them against the audit key (the key file or -key), changing only
// what the command owns or is given, never the database: an untouched
// database verifies, with the logged head given too; a missing heads file,
// a head signed by another key, a head that disagrees with the one signed
// for the same entry, and a keyed store without heads fail; a store that
// never had a key is checked on its links alone.
// Tampering with the database itself, triggers dropped and rows deleted,
// altered or forged, is server/sqlite's TestDB_CheckAudit_Tampered.
func TestVerifyAudit(t *testing.T) {
	ctx := context.Background()
	db, logged := auditedDatabase(t)
	if len(logged) < 2 {
		t.Fatalf("the server logged %d audit heads, want its start and final heads at least", len(logged))
	}
	var last shiftsync.AuditHead
	if err := json.Unmarshal([]byte(logged[len(logged)-1]), &last); err != nil || !last.Final {
		t.Fatalf("the last logged head %s is not the final one (%v)", logged[len(logged)-1], err)
	}
	served := func(t *testing.T) string { return copyDatabase(t, db) }

	tests := []struct {
		name  string
		store func(t *testing.T) string  // the database's path, with the files beside it
		args  func(path string) []string // verify-audit's flags
		want  string                     // "" for a database that verifies
		// printed is what verify-audit prints of a database that verifies
		// ("": the chain intact against the final head).
		printed string
	}{
		{name: "untouched", store: served},
		{name: "the logged head given too", store: served,
			args: func(string) []string { return []string{"-head", logged[len(logged)-1]} }},
		{name: "the heads file removed", store: func(t *testing.T) string {
			path := served(t)
			if err := os.Remove(auditfile.HeadsPath(path)); err != nil {
				t.Fatal(err)
			}
			return path
		}, args: func(string) []string { return []string{"-head", logged[len(logged)-1]} }, want: "heads file"},
		{name: "the heads file given is missing", store: served,
			args: func(path string) []string { return []string{"-heads", path + ".off-box-copy"} }, want: "given is missing"},
		{name: "a store with an audit key and no signed head", store: func(t *testing.T) string { return unsealedDatabase(t, true) },
			want: "the database has an audit key, and no signed head was found"},
		{name: "a store that never had an audit key", store: func(t *testing.T) string { return unsealedDatabase(t, false) },
			printed: "a store from before signed heads"},
		{name: "the heads file replaced by a head signed by another key", store: func(t *testing.T) string {
			path := served(t)
			_, forger, _ := ed25519.GenerateKey(rand.Reader)
			if err := os.Remove(auditfile.HeadsPath(path)); err != nil {
				t.Fatal(err)
			}
			if err := (auditfile.Heads{Path: auditfile.HeadsPath(path)}).WriteAuditHead(ctx, last.Sign(forger)); err != nil {
				t.Fatal(err)
			}
			return path
		}, args: func(path string) []string {
			key, err := auditfile.ReadKey(auditfile.KeyPath(path))
			if err != nil {
				t.Fatal(err)
			}
			return []string{"-key", base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
		}, want: "not the audit key"},
		{name: "a head of another chain at the final entry, signed by the audit key, given", store: served, args: func(path string) []string {
			key, err := auditfile.ReadKey(auditfile.KeyPath(path))
			if err != nil {
				t.Fatal(err)
			}
			h := last
			h.Hash = bytes.Repeat([]byte{0xab}, len(last.Hash))
			b, err := json.Marshal(h.Sign(key))
			if err != nil {
				t.Fatal(err)
			}
			return []string{"-head", string(b)}
		}, want: "two signed heads of entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.store(t)
			args := []string{"admin", "-db", path, "verify-audit"}
			if tt.args != nil {
				args = append(args, tt.args(path)...)
			}
			var out strings.Builder
			err := run(ctx, args, &out, io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("verify-audit = %v, want the log verified", err)
			case tt.printed != "" && !strings.Contains(out.String(), tt.printed):
				t.Errorf("verify-audit printed %q, want %q", out.String(), tt.printed)
			case tt.want == "" && tt.printed == "" && (!strings.Contains(out.String(), "chain intact") || !strings.Contains(out.String(), "(final,")):
				t.Errorf("verify-audit printed %q, want the chain intact against the final head", out.String())
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("verify-audit = %v (printed %q), want an error containing %q", err, out.String(), tt.want)
			}
		})
	}
}

// TestMain_SignsAuditHeads: a running server logs its audit key's
// fingerprint, and signs a head once AuditHeadEvery entries are not
// covered, without waiting for the interval; the head is in the heads file
// and the log, and verify-audit reports the tail after it.
func TestMain_SignsAuditHeads(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	log := logWriter{lines: make(chan string, 1000)}
	m := NewMain(io.Discard, log)
	if err := m.ParseFlags([]string{"-db", db, "-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	key, err := auditfile.ReadKey(auditfile.KeyPath(db))
	if err != nil {
		t.Fatalf("the audit key beside the database: %v", err)
	}
	if info, err := os.Stat(auditfile.KeyPath(db)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("audit key file mode = %v (%v), want 0600", info.Mode().Perm(), err)
	}
	fingerprint := shiftsync.AuditKeyFingerprint(key.Public().(ed25519.PublicKey))
	for line := range log.lines {
		if strings.Contains(line, `msg="audit key"`) {
			if !strings.Contains(line, fingerprint) {
				t.Errorf("logged %q, want the audit key's fingerprint %s", line, fingerprint)
			}
			break
		}
	}

	for i := range shiftsync.AuditHeadEvery + 5 {
		if err := m.srv.Store.Audit.Audit(ctx, shiftsync.AuditEvent{Action: shiftsync.AuditPull, Subject: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		heads, _, err := auditfile.ReadHeads(auditfile.HeadsPath(db))
		if err != nil {
			t.Fatal(err)
		}
		if h := heads[len(heads)-1]; !h.Start && h.Seq >= shiftsync.AuditHeadEvery {
			if h.Final || h.Process != shiftsync.AuditProcessServe || h.Verify(key.Public().(ed25519.PublicKey)) != nil {
				t.Errorf("the head signed while running = %+v", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no head of %d entries signed within 5 s; heads: %+v", shiftsync.AuditHeadEvery, heads)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 3 {
		if err := m.srv.Store.Audit.Audit(ctx, shiftsync.AuditEvent{Action: shiftsync.AuditPull, Subject: "tail " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	out := adminRun(t, db, "verify-audit")
	if !strings.Contains(out, "chain intact") || !strings.Contains(out, "(running,") || !strings.Contains(out, "3 entries after it") {
		t.Errorf("verify-audit while the server runs printed %q, want the chain intact, a running head and the 3-entry tail", out)
	}
}

// TestMain_CloseAfterShutdownTimesOut: a push whose body is still arriving
// when the server stops outlasts the shutdown timeout; Close cuts its
// connection, returns within a bound, and the final head it signs covers
// the whole chain: verify-audit finds nothing written after it. (The cut
// push writes no audit row, so this does not prove Close waits for
// handlers before the final head; TestRequests does.)
func TestMain_CloseAfterShutdownTimesOut(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"-db", db, "-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	m.ShutdownTimeout = 200 * time.Millisecond
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	adminRun(t, db, "create-organisation", "-id", "oak", "-name", "Oak Care")
	adminRun(t, db, "create-service", "-id", "oak-house", "-organisation", "oak", "-name", "Oak House")
	adminRun(t, db, "create-user", "-id", "ana", "-organisation", "oak", "-name", "Ana")
	adminRun(t, db, "add-membership", "-user", "ana", "-service", "oak-house", "-role", "support_worker", "-start", "2020-01-01T00:00:00Z")
	code := strings.TrimSpace(adminRun(t, db, "issue-code", "-user", "ana"))
	enrolled, err := authv1connect.NewAuthServiceClient(http.DefaultClient, m.URL()).Enrol(ctx, &authv1.EnrolRequest{Code: code, DeviceLabel: "Ana's phone"})
	if err != nil {
		t.Fatal(err)
	}

	body, feed := io.Pipe()
	defer feed.Close()
	req, err := http.NewRequest(http.MethodPost, m.URL()+"/"+syncv1connect.SyncServiceName+"/Push", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/proto")
	req.Header.Set("Authorization", "Bearer "+enrolled.GetAccessToken())
	req.ContentLength = 1 << 20
	answered := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		answered <- err
	}()
	if _, err := feed.Write([]byte{0x0a}); err != nil { // the push has begun
		t.Fatal(err)
	}
	started := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close() with a push in flight = %v", err)
	}
	if d := time.Since(started); d > 5*time.Second {
		t.Errorf("Close() took %v with a shutdown timeout of %v", d, m.ShutdownTimeout)
	}
	feed.Close()
	if err := <-answered; err == nil {
		t.Error("the push cut off by Close() was answered without an error")
	}

	heads, _, err := auditfile.ReadHeads(auditfile.HeadsPath(db))
	if err != nil || len(heads) == 0 || !heads[len(heads)-1].Final || heads[len(heads)-1].Process != shiftsync.AuditProcessServe {
		t.Fatalf("heads after Close() = %+v, %v; want the server's final head last", heads, err)
	}
	out := adminRun(t, db, "verify-audit")
	if !strings.Contains(out, "chain intact") || !strings.Contains(out, "(final,") {
		t.Errorf("verify-audit after Close() printed %q, want the chain intact against the final head", out)
	}
}

// TestRequests: Close's count of requests in handlers waits for each to
// return, says when one has not, and turns away requests once it waits.
func TestRequests(t *testing.T) {
	var r requests
	release, entered := make(chan struct{}), make(chan struct{})
	h := r.track(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-entered
	if r.wait(50 * time.Millisecond) {
		t.Fatal("wait() = true with a request in its handler")
	}
	late := httptest.NewRecorder()
	h.ServeHTTP(late, httptest.NewRequest(http.MethodGet, "/", nil))
	if late.Code != http.StatusServiceUnavailable {
		t.Errorf("a request after wait began = %d, want 503", late.Code)
	}
	close(release)
	if !r.wait(5 * time.Second) {
		t.Error("wait() = false once the handler returned")
	}
	<-done
}
