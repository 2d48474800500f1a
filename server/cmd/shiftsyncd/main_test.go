package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/migrations"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

const token = "test-token-phone-1"

// writeTokens writes a tokens file granting phone-1 service house-a, and
// creates the database at db (its audit key and heads in state, for
// PostgreSQL) with house-a supporting p1, whom the tests write about.
func writeTokens(t *testing.T, db, state string) string {
	t.Helper()
	var out, errs strings.Builder
	if err := run(context.Background(), []string{"migrate", "-db", db}, &out, &errs); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errs.String())
	}
	for _, args := range [][]string{
		{"create-organisation", "-id", "org-1", "-name", "Oak Care"},
		{"create-service", "-id", "house-a", "-organisation", "org-1", "-name", "House A"},
		{"create-person", "-id", "p1", "-service", "house-a", "-name", "P One"},
	} {
		if err := run(context.Background(), append([]string{"admin", "-db", db, "-state", state}, args...), &out, &errs); err != nil {
			t.Fatalf("admin %s: %v\n%s", strings.Join(args, " "), err, errs.String())
		}
	}
	path := filepath.Join(t.TempDir(), "tokens.json")
	b, _ := json.Marshal([]map[string]any{{"token": token, "user_id": "worker-1", "device_id": "phone-1", "services": []string{"house-a"}}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMain_RoundTrip runs Main in process on a free port, on a SQLite file
// and on a PostgreSQL database, and syncs through the Connect and gRPC
// protocols.
func TestMain_RoundTrip(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRoundTrip(t, filepath.Join(t.TempDir(), "shiftsync.db")) })
	t.Run("PostgreSQL", func(t *testing.T) { testRoundTrip(t, shiftsynctest.PostgresDSN(t)) })
}

func testRoundTrip(t *testing.T, db string) {
	m := NewMain(io.Discard, io.Discard)
	m.DBPath, m.StateDir = db, t.TempDir()
	m.Addr = "127.0.0.1:0"
	m.TokensPath = writeTokens(t, m.DBPath, m.StateDir)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i, opts := range [][]connect.ClientOption{nil, {connect.WithGRPC()}} {
		client := shiftsynctest.NewClient(m.URL(), token, opts...)
		id := shiftsynctest.RecordID(t)
		res, err := client.Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
			Mutations: []*syncv1.Mutation{shiftsynctest.Incident(uint64(i+1), id, "house-a", "p1", time.Now(), "round trip")}})
		if err != nil || res.GetAcknowledgedCounter() != uint64(i+1) {
			t.Fatalf("Push() = %v, %v", res, err)
		}
		pulled, err := client.Pull(context.Background(), &syncv1.PullRequest{Client: shiftsynctest.ClientInfo()})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(pulled.GetChanges()); got != 2*(i+1) {
			t.Errorf("pulled %d changes, want %d", got, 2*(i+1))
		}
	}
}

// TestRun_PostgresUnreachable checks that every command names the
// database it cannot reach.
func TestRun_PostgresUnreachable(t *testing.T) {
	dsn := "postgres://postgres@127.0.0.1:18199/pg_nowhere?sslmode=disable" // a port of this package's range where nothing listens
	for _, args := range [][]string{
		{"migrate", "-db", dsn},
		{"serve", "-db", dsn, "-state", t.TempDir(), "-addr", "127.0.0.1:0"},
		{"admin", "-db", dsn, "-state", t.TempDir(), "list-users", "-organisation", "o"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), `cannot reach database "pg_nowhere" at 127.0.0.1:18199`) {
			t.Errorf("run(%q) error = %v; want one naming the database it cannot reach", args, err)
		}
	}
}

func TestRun_Commands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	var out strings.Builder
	if err := run(context.Background(), []string{"migrate", "-db", db}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrations.Server, "*.sql")
	if want := fmt.Sprintf("applied %d migrations", len(files)); !strings.Contains(out.String(), want) {
		t.Errorf("first migrate said %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "-db", db}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 0 migrations") {
		t.Errorf("second migrate said %q", out.String())
	}
	var usage usageError
	var stderr strings.Builder
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, &stderr); !errors.As(err, &usage) || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("unknown command: error = %v, stderr %q; want a usage error and the usage", err, stderr.String())
	}
	if err := run(context.Background(), nil, io.Discard, io.Discard); err == nil {
		t.Error("no command: want an error")
	}
}

// server is a shiftsyncd process.
type server struct {
	cmd *exec.Cmd
	url string
}

// startServer starts the real binary on a free port and waits until it
// listens.
func startServer(t *testing.T, bin, db, tokens string) *server {
	t.Helper()
	return start(t, exec.Command(bin, "serve", "-db", db, "-addr", "127.0.0.1:0", "-tokens", tokens))
}

// start starts a shiftsyncd serve command and waits until it listens.
func start(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "listening on "); ok {
			url, _, _ := strings.Cut(rest, " ")
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return &server{cmd: cmd, url: url}
		}
	}
	_ = cmd.Process.Kill()
	t.Fatalf("shiftsyncd exited before listening: %v", lines.Err())
	return nil
}

func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
}

// device is the test's model of a phone: an outbox of mutations with
// counters, emptied only by acknowledgements, as mobile-contract requires.
type device struct {
	mu      sync.Mutex
	outbox  []*syncv1.Mutation
	counter uint64
	acked   uint64
	// confirmed holds the description of every acknowledged incident.
	confirmed map[string]string
}

func (d *device) add(t *testing.T, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range n {
		d.counter++
		id := shiftsynctest.RecordID(t)
		d.outbox = append(d.outbox, shiftsynctest.Incident(d.counter, id, "house-a", "p1", time.Now(), fmt.Sprintf("incident %d", d.counter)))
	}
}

// pending returns the number of mutations not yet acknowledged.
func (d *device) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.outbox)
}

// push sends up to n outbox mutations and applies the acknowledgement.
func (d *device) push(ctx context.Context, url string, n int) error {
	d.mu.Lock()
	batch := d.outbox[:min(n, len(d.outbox))]
	d.mu.Unlock()
	client := shiftsynctest.NewClient(url, token)
	res, err := client.Push(ctx, &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: batch})
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if res.GetAcknowledgedCounter() < d.acked {
		return fmt.Errorf("acknowledged counter went back from %d to %d", d.acked, res.GetAcknowledgedCounter())
	}
	d.acked = res.GetAcknowledgedCounter()
	for len(d.outbox) > 0 && d.outbox[0].GetCounter() <= d.acked {
		m := d.outbox[0]
		d.confirmed[m.GetRecordId()] = m.GetFields()[1].GetValue().GetStringValue()
		d.outbox = d.outbox[1:]
	}
	return nil
}

// TestShiftsyncd_SurvivesSIGKILL runs the real binary, kills it with SIGKILL
// right after an acknowledgement or while pushes are in flight, restarts it
// on the same file, and checks that every acknowledged mutation is there.
func TestShiftsyncd_SurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "shiftsyncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "shiftsync.db")
	tokens := writeTokens(t, db, dir)
	cycles := 20
	if testing.Short() {
		cycles = 5
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	seed := rng.Uint64()
	t.Logf("seed %d", seed)
	rng = rand.New(rand.NewPCG(seed, 2))
	d := &device{confirmed: map[string]string{}}
	ctx := context.Background()

	for cycle := range cycles {
		s := startServer(t, bin, db, tokens)
		// The device resends whatever is not acknowledged: a replay of a
		// mutation the killed server had committed changes nothing.
		for d.pending() > 0 {
			if err := d.push(ctx, s.url, 100); err != nil {
				t.Fatalf("cycle %d: resend: %v", cycle, err)
			}
		}
		verify(t, s.url, d)
		d.add(t, 50+rng.IntN(200))
		if cycle%2 == 0 {
			// Kill right after an acknowledgement.
			if err := d.push(ctx, s.url, 1+rng.IntN(100)); err != nil {
				t.Fatalf("cycle %d: push: %v", cycle, err)
			}
			s.kill(t)
			continue
		}
		// Kill at a random moment while pushes are in flight.
		done, batch, delay := make(chan struct{}), 1+rng.IntN(20), time.Duration(rng.IntN(40))*time.Millisecond
		go func() {
			defer close(done)
			for d.pending() > 0 {
				if d.push(ctx, s.url, batch) != nil {
					return
				}
			}
		}()
		time.Sleep(delay)
		s.kill(t)
		<-done
	}

	s := startServer(t, bin, db, tokens)
	for d.pending() > 0 {
		if err := d.push(ctx, s.url, 200); err != nil {
			t.Fatal(err)
		}
	}
	verify(t, s.url, d)
	s.kill(t)
	t.Logf("%d cycles, %d acknowledged mutations, none lost", cycles, len(d.confirmed))

	// The file's integrity after the kills is server/sqlite's
	// TestDB_SurvivesSIGKILL; here the binary finds its audit log intact.
	if out, err := exec.Command(bin, "admin", "-db", db, "verify-audit").CombinedOutput(); err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("verify-audit after the kills = %v:\n%s", err, out)
	}
}

// verify pulls everything and checks every acknowledged incident is there
// with its description.
func verify(t *testing.T, url string, d *device) {
	t.Helper()
	client := shiftsynctest.NewClient(url, token)
	found := map[string]string{}
	for _, c := range shiftsynctest.PullAll(t, client) {
		if c.GetField() == "behaviour_description" {
			found[c.GetRecordId()] = c.GetValue().GetStringValue()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, want := range d.confirmed {
		if got, ok := found[id]; !ok || got != want {
			t.Fatalf("acknowledged incident %s (%q) is missing after restart (found %q)", id, want, got)
		}
	}
}

// TestMain_EvaluatesGovernance: the server evaluates every service's
// governance rules on its own, so a restraint pushed with nobody looking
// has its findings stored.
func TestMain_EvaluatesGovernance(t *testing.T) {
	m := NewMain(io.Discard, io.Discard)
	m.DBPath = filepath.Join(t.TempDir(), "shiftsync.db")
	m.Addr = "127.0.0.1:0"
	m.TokensPath = writeTokens(t, m.DBPath, m.StateDir)
	m.EvaluateEvery = 20 * time.Millisecond
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := shiftsynctest.NewClient(m.URL(), token)
	if _, err := client.Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(),
		Mutations: []*syncv1.Mutation{shiftsynctest.ProneRestraint(1, shiftsynctest.RecordID(t), "house-a", "p1", time.Now())}}); err != nil {
		t.Fatal(err)
	}
	// Read what is stored, not ListFindings: listing evaluates the rules.
	stored := func() (n int, err error) {
		err = m.srv.Store.Engine.View(context.Background(), func(tx shiftsync.Tx) error {
			f, err := tx.StoredFindings(context.Background(), "house-a", "", true)
			n = len(f)
			return err
		})
		return n, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, err := stored(); err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no findings stored 10 s after the push: the governance loop did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMain_OpenFailsOnBusyAddress: a server that cannot listen says so, and
// closing it returns instead of waiting for a server that never served.
func TestMain_OpenFailsOnBusyAddress(t *testing.T) {
	first := NewMain(io.Discard, io.Discard)
	first.DBPath = filepath.Join(t.TempDir(), "first.db")
	first.Addr = "127.0.0.1:0"
	if err := first.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	m := NewMain(io.Discard, io.Discard)
	m.DBPath = filepath.Join(t.TempDir(), "second.db")
	m.Addr = strings.TrimPrefix(first.URL(), "http://")
	if err := m.Open(context.Background()); err == nil {
		t.Fatalf("Open on %s, which is in use, succeeded", m.Addr)
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close after a failed Open did not return")
	}
}

// TestMain_MetricsToken: with -metrics-token, GET /metrics needs the
// token, even from the loopback.
func TestMain_MetricsToken(t *testing.T) {
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"-db", filepath.Join(t.TempDir(), "s.db"), "-addr", "127.0.0.1:0", "-metrics-token", "scrape-secret"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tt := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer scrape-secret", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, m.URL()+"/metrics", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.want || (tt.want == http.StatusOK && !strings.Contains(string(body), "shiftsync_conflicts_open 0")) {
			t.Errorf("GET /metrics with %q: %s\n%.300s", tt.auth, res.Status, body)
		}
	}
}

// TestMain_MetricsRefusesOtherHosts serves on an address of this host that
// is not a loopback one: without -metrics-token a caller there is refused
// /metrics (403) while the sync API answers.
func TestMain_MetricsRefusesOtherHosts(t *testing.T) {
	var ip net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this host has no non-loopback IPv4 address")
	}
	m := NewMain(io.Discard, io.Discard)
	m.DBPath, m.Addr = filepath.Join(t.TempDir(), "s.db"), net.JoinHostPort(ip.String(), "0")
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for path, want := range map[string]int{"/metrics": http.StatusForbidden, "/healthz": http.StatusOK} {
		res, err := http.Get(m.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s from %s: %s, want %d", path, ip, res.Status, want)
		}
	}
}
