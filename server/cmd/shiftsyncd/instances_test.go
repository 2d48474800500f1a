package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// instance is one slot behind the load balancer: a shiftsyncd serve process
// on a fixed address, restarted whenever it dies.
type instance struct {
	addr string
	mu   sync.Mutex
	cmd  *exec.Cmd
	// stderr collects what every process of the slot wrote there.
	stderr strings.Builder
}

// run starts the slot's process and restarts it until stop is closed,
// counting the starts.
func (in *instance) run(t *testing.T, bin string, args, env []string, stop <-chan struct{}, starts *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		cmd := exec.Command(bin, append([]string{"serve", "-addr", in.addr}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // none outlives a test binary that dies
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Error(err)
			return
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Error(err)
			return
		}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return
		}
		starts.Add(1)
		in.mu.Lock()
		in.cmd = cmd
		in.mu.Unlock()
		var copied sync.WaitGroup
		copied.Go(func() { _, _ = io.Copy(io.Discard, stdout) })
		copied.Go(func() {
			lines := bufio.NewScanner(stderr)
			for lines.Scan() {
				in.mu.Lock()
				in.stderr.WriteString(lines.Text() + "\n")
				in.mu.Unlock()
			}
		})
		copied.Wait()
		_ = cmd.Wait()
		time.Sleep(20 * time.Millisecond) // as a supervisor would, before it restarts the unit
	}
}

// kill sends SIGKILL to the slot's current process.
func (in *instance) kill() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil && in.cmd.Process != nil {
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// faults counts the lines of the slot's stderr naming a crash point.
func (in *instance) faults(point crashPoint) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return strings.Count(in.stderr.String(), "fault injected: exit "+string(point))
}

// crashPoint names a crash point of the faults build (server/postgres).
type crashPoint string

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestShiftsyncd_SeveralInstancesSurviveFaults runs three shiftsyncd
// processes, built with the faults tag, on one PostgreSQL. Phones (the
// replica library) push to a random instance and, when it fails them, to
// another; instances exit by themselves with a push transaction sent but
// not committed, or committed but not answered, and are SIGKILLed at random,
// and each is restarted. At the end every mutation any phone logged is
// stored exactly once (the committed-but-unanswered ones answered replayed
// when resent), every phone holds exactly what a new replica pulling from
// the server holds, no phone's cursor went back, the audit chain verifies,
// and PostgreSQL has no session idle in a transaction.
func TestShiftsyncd_SeveralInstancesSurviveFaults(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "shiftsyncd")
	if out, err := exec.Command("go", "build", "-tags", "faults", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags faults: %v\n%s", err, out)
	}
	dsn, state := shiftsynctest.PostgresDSN(t), t.TempDir()
	writeTokens(t, dsn, state)
	const phones = 3
	var grants []map[string]any
	for i := range phones + 1 { // the last is the checker's
		grants = append(grants, map[string]any{"token": fmt.Sprintf("token-%d", i), "user_id": fmt.Sprintf("worker-%d", i),
			"device_id": fmt.Sprintf("phone-%d", i), "services": []string{"house-a"}})
	}
	tokens := filepath.Join(dir, "tokens.json")
	b, _ := json.Marshal(grants)
	if err := os.WriteFile(tokens, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-db", dsn, "-state", state, "-tokens", tokens}

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	const rounds = 40 // about 120 push transactions that store versions: at 8 % each point fires (P(never) ≈ 5e-5)

	instances := make([]*instance, 3)
	for i := range instances {
		instances[i] = &instance{addr: freeAddr(t)}
	}
	var starts atomic.Int64
	startAll := func(env []string) (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		for _, in := range instances {
			wg.Go(func() { in.run(t, bin, args, env, done, &starts) })
		}
		return sync.OnceFunc(func() {
			close(done)
			for _, in := range instances {
				in.kill()
			}
			wg.Wait()
		})
	}
	url := func(i int) string { return "http://" + instances[i%len(instances)].addr }

	stopFaulty := startAll([]string{"SHIFTSYNC_FAULTS=before_commit=0.08,after_commit=0.08"})
	t.Cleanup(stopFaulty)
	killerDone := make(chan struct{})
	var killer sync.WaitGroup
	killer.Go(func() {
		r := rand.New(rand.NewPCG(seed, 4))
		for {
			select {
			case <-killerDone:
				return
			case <-time.After(time.Duration(200+r.IntN(400)) * time.Millisecond):
				instances[r.IntN(len(instances))].kill()
			}
		}
	})

	type phone struct {
		*replica.Replica
		token    string
		cursor   int64
		logged   []string
		replayed int64
		failed   error // the last sync's failure
	}
	var all []*phone
	for i := range phones {
		r, err := replica.Open(filepath.Join(dir, fmt.Sprintf("phone-%d.db", i)), fmt.Sprintf("phone-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		all = append(all, &phone{Replica: r, token: fmt.Sprintf("token-%d", i)})
	}
	// syncOnce syncs p with one instance and checks its cursor did not go
	// back; it reports whether the sync went through.
	syncOnce := func(p *phone, instance int) bool {
		rep, err := p.Sync(url(instance), p.token)
		p.replayed += rep.Replayed
		if p.failed = err; err != nil {
			return false
		}
		c, perr := shiftsync.ParseCursor(rep.Cursor)
		if perr != nil || c.Seq < p.cursor {
			t.Errorf("%s: cursor %q (%v) went back from position %d", p.DeviceID(), rep.Cursor, perr, p.cursor)
		}
		p.cursor = c.Seq
		return true
	}
	var wg sync.WaitGroup
	for i, p := range all {
		picks := rand.New(rand.NewPCG(seed, uint64(10+i)))
		wg.Go(func() {
			for round := range rounds {
				for n := range 1 + picks.IntN(4) {
					id, err := p.Create("incident", "house-a", "p1", incidentJSON(t, fmt.Sprintf("%s round %d #%d", p.DeviceID(), round, n)))
					if err != nil {
						t.Errorf("Create() = %v", err)
						return
					}
					p.logged = append(p.logged, id)
				}
				// A failed sync is retried at once on another instance.
				first := picks.IntN(len(instances))
				for try := range len(instances) {
					if syncOnce(p, first+try) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(killerDone)
	killer.Wait()
	stopFaulty()
	var before, after int
	for _, in := range instances {
		before += in.faults("before_commit")
		after += in.faults("after_commit")
	}

	// Three healthy instances.
	stop := startAll(nil)
	t.Cleanup(stop)
	ctx := context.Background()
	checker, err := replica.Open(filepath.Join(dir, "checker.db"), fmt.Sprintf("phone-%d", phones))
	if err != nil {
		t.Fatal(err)
	}
	defer checker.Close()
	// Each phone syncs until it has nothing left to send (the instances may
	// still be starting), then a new replica pulls everything, then each
	// phone syncs once more to receive the others' last records.
	for _, p := range append(all, &phone{Replica: checker, token: fmt.Sprintf("token-%d", phones)}) {
		for try := 0; ; try++ {
			if try == 600 {
				t.Fatalf("%s: could not sync with the healthy instances in 30 s", p.DeviceID())
			}
			if syncOnce(p, rng.IntN(len(instances))) {
				if outbox, _ := p.OutboxJSON(); outbox == "[]" {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	want, err := checker.ListJSON()
	if err != nil {
		t.Fatal(err)
	}
	var replayed int64
	logged := 0
	for _, p := range all {
		// An instance may still be starting on a loaded machine: try each in
		// turn, for up to 30 s.
		for try := 0; !syncOnce(p, try); try++ {
			if try == 600 {
				t.Fatalf("%s: the final sync failed: %v", p.DeviceID(), p.failed)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got, _ := p.ListJSON(); got != want {
			t.Errorf("%s holds other records than the server:\n got %.400s\nwant %.400s", p.DeviceID(), got, want)
		}
		for _, id := range p.logged {
			if !strings.Contains(want, `"id":"`+id+`"`) {
				t.Errorf("%s's record %s is not on the server", p.DeviceID(), id)
			}
		}
		replayed += p.replayed
		logged += len(p.logged)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stored, repeats int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM mutations WHERE device_id LIKE 'phone-%'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != logged {
		t.Errorf("the server stored %d mutations of the phones, which logged %d", stored, logged)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM field_versions GROUP BY device_id, counter, field HAVING count(*) > 1) AS twice`).Scan(&repeats); err != nil {
		t.Fatal(err)
	}
	if repeats != 0 {
		t.Errorf("%d field versions stored more than once", repeats)
	}
	if after > 0 && replayed == 0 {
		t.Errorf("%d pushes committed but not answered, and no resend was answered replayed", after)
	}
	var idle int
	for range 50 { // a killed instance's sessions end as PostgreSQL reads the closed socket
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idle); err != nil {
			t.Fatal(err)
		}
		if idle == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if idle != 0 {
		t.Errorf("%d sessions idle in a transaction", idle)
	}
	stop()
	if out, err := exec.Command(bin, "admin", "-db", dsn, "-state", state, "verify-audit").CombinedOutput(); err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("verify-audit = %v:\n%s", err, out)
	}
	if before == 0 || after == 0 {
		t.Errorf("faults injected: %d before COMMIT, %d after; want both", before, after)
	}
	t.Logf("%d phones logged %d records over %d instance starts; %d exits before COMMIT, %d after COMMIT, %d resends answered replayed; none lost or stored twice",
		phones, logged, starts.Load(), before, after, replayed)
}

// incidentJSON is a valid incident's fields as the replica takes them.
func incidentJSON(t *testing.T, description string) string {
	t.Helper()
	return shiftsynctest.FieldsJSON(t, map[string]*syncv1.Value{
		"started_at":            shiftsynctest.Time(time.Now().Add(-time.Minute)),
		"behaviour_description": shiftsynctest.String(description),
		"intensity_others":      shiftsynctest.Int(2),
	})
}
