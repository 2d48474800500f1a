package replica_test

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// TestRestoreDrill: phones (this library) push under load to the real
// shiftsyncd; a backup is taken while they push; more pushes are
// acknowledged; the server is SIGKILLed while pushes are in flight and
// restored from the backup (shiftsyncd admin restore); the phones sync.
// Every mutation ever acknowledged is then on the restored server exactly
// once, every replica equals the server, and a later backup lets the phones
// drop their receipts.
func TestRestoreDrill(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	d := newDrill(t, 3)
	if err := d.run(rounds); err != nil {
		t.Fatal(err)
	}
	// A backup of the new epoch covers everything: the receipts go.
	d.admin("backup", "-o", filepath.Join(d.dir, "after.db"))
	for _, p := range d.phones {
		d.sync(p)
		if n := p.receipts(t); n != 0 {
			t.Errorf("%s: %d receipts kept after a backup that covers every acknowledged mutation, want 0", p.id, n)
		}
	}
}

// TestRestoreDrill_NegativeControl: a replica that keeps no receipts loses,
// to the restore, what was acknowledged after the backup; the drill must
// say so.
func TestRestoreDrill_NegativeControl(t *testing.T) {
	replica.SetDropReceipts(true)
	t.Cleanup(func() { replica.SetDropReceipts(false) })
	d := newDrill(t, 2)
	err := d.run(2)
	if err == nil || !strings.Contains(err.Error(), "missing on the restored server") {
		t.Fatalf("the drill with receipts dropped = %v, want acknowledged mutations missing on the restored server", err)
	}
	t.Logf("caught: %.300s", err)
}

// drill is a real shiftsyncd on a SQLite file and the phones syncing to it.
type drill struct {
	t      *testing.T
	dir    string
	bin    string
	db     string
	tokens string
	srv    *exec.Cmd
	url    string
	phones []*drillPhone
}

type drillPhone struct {
	*replica.Replica
	id, token string
	mu        sync.Mutex
	created   map[string]string // record id → description, of every record created
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// shiftsyncdBinary builds the server command once per test binary.
func shiftsyncdBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shiftsyncd-drill")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "shiftsyncd")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/shiftsync/shiftsync/server/cmd/shiftsyncd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func newDrill(t *testing.T, phones int) *drill {
	d := &drill{t: t, dir: t.TempDir(), bin: shiftsyncdBinary(t)}
	d.db = filepath.Join(d.dir, "shiftsync.db")
	d.cmd("migrate", "-db", d.db)
	d.admin("create-organisation", "-id", "org-1", "-name", "Oak Care")
	d.admin("create-service", "-id", "house-a", "-organisation", "org-1", "-name", "House A")
	d.admin("create-person", "-id", "person-ada", "-service", "house-a", "-name", "Ada")
	var grants []map[string]any
	for i := range phones {
		id := fmt.Sprintf("phone-%d", i+1)
		r, err := replica.Open(filepath.Join(d.dir, id+".db"), id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		p := &drillPhone{Replica: r, id: id, token: "token-" + id, created: map[string]string{}}
		d.phones = append(d.phones, p)
		grants = append(grants, map[string]any{"token": p.token, "user_id": "worker-" + id, "device_id": id, "services": []string{"house-a"}})
	}
	b, _ := json.Marshal(grants)
	d.tokens = filepath.Join(d.dir, "tokens.json")
	if err := os.WriteFile(d.tokens, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.srv != nil {
			d.kill()
		}
	})
	return d
}

func (d *drill) cmd(args ...string) string {
	d.t.Helper()
	out, err := exec.Command(d.bin, args...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("shiftsyncd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (d *drill) admin(args ...string) string {
	d.t.Helper()
	return d.cmd(append([]string{"admin", "-db", d.db}, args...)...)
}

// serve starts the server and waits until it listens.
func (d *drill) serve() {
	d.t.Helper()
	cmd := exec.Command(d.bin, "serve", "-db", d.db, "-addr", "127.0.0.1:0", "-tokens", d.tokens)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "listening on "); ok {
			d.url, _, _ = strings.Cut(rest, " ")
			d.srv = cmd
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return
		}
	}
	_ = cmd.Process.Kill()
	d.t.Fatalf("shiftsyncd exited before listening: %v", lines.Err())
}

// kill ends the server with SIGKILL: no shutdown, no final audit head.
func (d *drill) kill() {
	_ = d.srv.Process.Signal(syscall.SIGKILL)
	_ = d.srv.Wait()
	d.srv = nil
}

// log creates n incidents on the phone.
func (d *drill) log(p *drillPhone, n int) {
	d.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		desc := fmt.Sprintf("%s incident %d", p.id, len(p.created)+1)
		id, err := p.Create("incident", "house-a", "person-ada",
			`{"started_at":{"timestampValue":"2026-03-02T06:55:00Z"},"behaviour_description":{"stringValue":"`+desc+`"}}`)
		if err != nil {
			d.t.Fatal(err)
		}
		p.created[id] = desc
	}
}

func (d *drill) sync(p *drillPhone) {
	d.t.Helper()
	if _, err := p.Sync(d.url, p.token); err != nil {
		d.t.Fatalf("%s: Sync() = %v (code %q)", p.id, err, replica.ErrorCode(err))
	}
}

// load has every phone log and sync rounds times at once; a sync that
// fails (the server was killed) is left for later.
func (d *drill) load(rounds int, during func()) {
	var wg sync.WaitGroup
	url := d.url
	for _, p := range d.phones {
		wg.Go(func() {
			for range rounds {
				d.log(p, 20)
				_, _ = p.Sync(url, p.token)
			}
		})
	}
	if during != nil {
		during()
	}
	wg.Wait()
}

// acknowledged returns the phone's acknowledged counters: every counter
// used but those still in the outbox (the newest: the server acknowledges
// a device's counters in order).
func acknowledged(t *testing.T, p *drillPhone) int64 {
	st, err := p.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st.LastCounter - st.OutboxDepth
}

// run runs the drill and returns what was lost, or nil.
func (d *drill) run(rounds int) error {
	t := d.t
	d.serve()
	backup := filepath.Join(d.dir, "backup.db")
	// Phones push under load, and a backup is taken while they do.
	d.load(rounds, func() {
		time.Sleep(30 * time.Millisecond)
		d.admin("backup", "-o", backup)
	})
	// More pushes are acknowledged after the backup.
	d.load(rounds, nil)
	acked := map[string]int64{}
	for _, p := range d.phones {
		d.sync(p)
		acked[p.id] = acknowledged(t, p)
	}
	// More, and the server dies with pushes in flight.
	d.load(rounds, func() {
		time.Sleep(20 * time.Millisecond)
		d.kill()
	})
	for _, p := range d.phones {
		acked[p.id] = acknowledged(t, p)
	}
	out := d.cmd("admin", "restore", "-from", backup, "-db", d.db)
	t.Logf("restore: %s", strings.TrimSpace(out))
	d.serve()

	// The phones sync: twice each, so each pulls what the others re-pushed.
	var problems []error
	for range 2 {
		for _, p := range d.phones {
			if rep, err := p.Sync(d.url, p.token); err != nil {
				problems = append(problems, fmt.Errorf("%s: sync after the restore: %w", p.id, err))
			} else if rep.Repushed > 0 {
				t.Logf("%s re-pushed %d receipts", p.id, rep.Repushed)
			}
		}
	}
	problems = append(problems, d.check(acked)...)
	return errors.Join(problems...)
}

// check compares the restored server with what the phones were told was
// acknowledged and with each replica.
func (d *drill) check(acked map[string]int64) []error {
	t := d.t
	var problems []error
	db, err := sql.Open("sqlite3", "file:"+d.db+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	server := map[string]map[string]any{} // record id → field → value
	for _, c := range shiftsynctest.PullAll(t, shiftsynctest.NewClient(d.url, d.phones[0].token)) {
		b, err := protojson.Marshal(c.GetValue())
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if server[c.GetRecordId()] == nil {
			server[c.GetRecordId()] = map[string]any{}
		}
		server[c.GetRecordId()][c.GetField()] = v
	}
	for _, p := range d.phones {
		// Exactly once: (device, counter) is the key of the server's
		// processed mutations, so a count of the acknowledged prefix equal to
		// its length is every one of them, once.
		var n, highest int64
		if err := db.QueryRow(`SELECT count(*), coalesce(max(counter), 0) FROM mutations WHERE device_id = ? AND counter <= ?`, p.id, acked[p.id]).Scan(&n, &highest); err != nil {
			t.Fatal(err)
		}
		if n != acked[p.id] {
			problems = append(problems, fmt.Errorf("%s: %d of its %d acknowledged mutations missing on the restored server (it holds %d, up to counter %d)",
				p.id, acked[p.id]-n, acked[p.id], n, highest))
		}
		p.mu.Lock()
		for id, desc := range p.created {
			if got := server[id]["behaviour_description"]; got == nil || got.(map[string]any)["stringValue"] != desc {
				problems = append(problems, fmt.Errorf("%s: record %s (%q) is missing on the restored server", p.id, id, desc))
				break
			}
		}
		p.mu.Unlock()
		local := map[string]map[string]any{}
		list, err := p.ListJSON()
		if err != nil {
			t.Fatal(err)
		}
		var items []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(list), &items); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			s, err := p.RecordJSON(it.ID)
			if err != nil {
				t.Fatal(err)
			}
			var r record
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				t.Fatal(err)
			}
			local[it.ID] = map[string]any{}
			for f, v := range r.Fields {
				local[it.ID][f] = v.Value
			}
		}
		if diff := cmp.Diff(server, local); diff != "" {
			problems = append(problems, fmt.Errorf("%s: replica differs from the restored server (-server +replica):\n%.2000s", p.id, diff))
		}
	}
	return problems
}

// receipts returns how many receipts the phone keeps.
func (p *drillPhone) receipts(t *testing.T) int {
	db, err := sql.Open("sqlite3", "file:"+p.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM receipts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
