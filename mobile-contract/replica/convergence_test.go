package replica_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

var (
	convergenceRuns = flag.Int("convergence.runs", defaultConvergenceRuns(), "seeded runs of TestConvergence (-short: 50)")
	convergenceSeed = flag.Uint64("convergence.seed", 0, "replay one seed of TestConvergence")
	postgresRuns    = flag.Int("convergence.postgres.runs", 20, "seeded runs of TestConvergence_Postgres")
)

// defaultConvergenceRuns is 500 seeds, or 100 under the race detector,
// which makes each run about five times slower: make test runs the 500
// without it as well.
func defaultConvergenceRuns() int {
	if raceDetector {
		return 100
	}
	return 500
}

// fault is what the network does to one request.
type fault int

const (
	deliver      fault = iota
	dropRequest        // the request never reaches the server
	dropResponse       // the server commits, the answer is lost
	duplicate          // the request arrives twice
	stalePull          // an earlier pull answer arrives instead of this one
	faultCount
)

var faultNames = [...]string{"deliver", "drop request", "drop response", "duplicate", "stale pull"}

// faultyNetwork sits between the devices and the current server and
// misbehaves as its rng decides. It is safe for concurrent use.
type faultyNetwork struct {
	mu       sync.Mutex
	upstream string
	rng      *rand.Rand
	rate     float64             // probability that a request suffers a fault
	pulls    map[string][][]byte // earlier pull answers per device token
	fired    [faultCount]int     // how often each fault happened
	client   *http.Client
}

func (n *faultyNetwork) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	f := deliver
	if n.rng.Float64() < n.rate {
		f = fault(1 + n.rng.IntN(int(faultCount)-1))
	}
	isPull := strings.HasSuffix(r.URL.Path, "/Pull")
	token := r.Header.Get("Authorization")
	var stale []byte
	if f == stalePull {
		if old := n.pulls[token]; isPull && len(old) > 0 {
			stale = old[n.rng.IntN(len(old))]
		} else {
			f = deliver
		}
	}
	n.fired[f]++
	upstream := n.upstream
	n.mu.Unlock()

	switch f {
	case dropRequest:
		http.Error(w, "dropped by the test network", http.StatusServiceUnavailable)
		return
	case stalePull:
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		_, _ = w.Write(stale)
		return
	}
	res, answer, err := n.forward(r, upstream, body)
	if err == nil && f == duplicate {
		res, answer, err = n.forward(r, upstream, body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if f == dropResponse {
		http.Error(w, "answer lost by the test network", http.StatusBadGateway)
		return
	}
	if isPull && res.StatusCode == http.StatusOK {
		n.mu.Lock()
		n.pulls[token] = append(n.pulls[token], answer)
		n.mu.Unlock()
	}
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(answer)
}

func (n *faultyNetwork) forward(r *http.Request, upstream string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(r.Method, upstream+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding") // keep answers plain, so stale ones can be replayed
	res, err := n.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	return res, answer, err
}

// simDevice is one phone in a run: its replica file, token and what it did.
type simDevice struct {
	id, path, token string
	r               *replica.Replica
	changes         int // local changes made: each one a mutation
	// broken holds the records this device saved without a required field,
	// as an app that did not check would, until it corrects them; faulty
	// counts those saves (each quarantined once).
	broken map[string]bool
	faulty int
}

// simRun is one seeded run.
type simRun struct {
	t       *testing.T
	rng     *rand.Rand
	server  *shiftsynctest.Server
	store   wiring.OpenStore // the server's, the same at every restart
	net     *faultyNetwork
	proxy   *httptest.Server
	devices []*simDevice
	records []string // record ids known to some device
	tokens  map[string]shiftsync.Principal
	log     []string
}

func (s *simRun) logf(format string, args ...any) {
	s.log = append(s.log, fmt.Sprintf(format, args...))
}

func (s *simRun) startServer() {
	s.server = shiftsynctest.NewServer(s.t, shiftsynctest.WithStore(s.store))
	s.server.AddPerson(s.t, "house-a", "person-ada")
	for token, p := range s.tokens {
		s.server.Tokens.Add(token, p)
	}
	s.net.mu.Lock()
	s.net.upstream = s.server.URL
	s.net.mu.Unlock()
}

func (s *simRun) openDevice(d *simDevice) {
	r, err := replica.Open(d.path, d.id)
	if err != nil {
		s.t.Fatalf("open %s: %v", d.id, err)
	}
	r.SetTimeoutMillis(5000)
	d.r = r
}

// TestConvergence is the property test of the whole sync contract: 3 to 8
// devices make random creates and edits and sync in random order through a
// network that drops requests, loses answers after the server committed,
// delivers twice and replays stale pull pages, while the server and the
// devices restart. After a final quiet round every replica must equal the
// server (and its last Verify match, with nothing to repair, and the
// integrity digests it kept through its writes equal the sums over its
// fields), every change any device made must be in the server's history,
// and no outbox entry may be lost.
func TestConvergence(t *testing.T) {
	runs := *convergenceRuns
	if testing.Short() {
		runs = min(runs, 50)
	}
	seeds := make([]uint64, 0, runs)
	if *convergenceSeed != 0 {
		seeds = append(seeds, *convergenceSeed)
	} else {
		base := uint64(time.Now().UnixNano())
		for i := range runs {
			seeds = append(seeds, base+uint64(i))
		}
	}
	runSeeds(t, seeds, nil)
}

// TestConvergence_Postgres is TestConvergence with the server on
// PostgreSQL (a schema per run): fewer runs, each paying for a migrated
// schema. -convergence.seed replays one.
func TestConvergence_Postgres(t *testing.T) {
	shiftsynctest.PostgresDSN(t) // skips now, not once per seed, when no PostgreSQL answers
	seeds := []uint64{*convergenceSeed}
	if *convergenceSeed == 0 {
		base := uint64(time.Now().UnixNano())
		seeds = seeds[:0]
		for i := range *postgresRuns {
			seeds = append(seeds, base+uint64(i))
		}
	}
	runSeeds(t, seeds, func(t *testing.T) wiring.OpenStore { return wiring.Postgres(shiftsynctest.PostgresDSN(t)) })
}

// runSeeds runs the seeds on the stores store opens (nil: a SQLite file
// per run) and checks that every network fault fired.
func runSeeds(t *testing.T, seeds []uint64, store func(t *testing.T) wiring.OpenStore) {
	var fired [faultCount]int
	for _, seed := range seeds {
		f, problem := runConvergence(t, seed, store)
		if problem != "" {
			t.Fatal(problem)
		}
		for i := range fired {
			fired[i] += f[i]
		}
	}
	t.Logf("%d runs; network events: %s", len(seeds), describeFired(fired))
	for i, n := range fired {
		if n == 0 && len(seeds) >= 20 {
			t.Errorf("fault %q never fired in %d runs", faultNames[i], len(seeds))
		}
	}
}

func describeFired(fired [faultCount]int) string {
	var parts []string
	for i, n := range fired {
		parts = append(parts, fmt.Sprintf("%s %d", faultNames[i], n))
	}
	return strings.Join(parts, ", ")
}

// TestConvergence_NegativeControls breaks the replica on purpose, once with
// a merge rule that lets older values win and once with an outbox that
// forgets a batch whose push failed, and checks that the property test
// catches each within 200 seeds. A property test that cannot fail proves
// nothing.
func TestConvergence_NegativeControls(t *testing.T) {
	controls := []struct {
		name                     string
		brokenMerge, lossyOutbox bool
	}{
		{"broken merge rule", true, false},
		{"lossy outbox", false, true},
	}
	for _, c := range controls {
		t.Run(c.name, func(t *testing.T) {
			replica.SetNegativeControls(c.brokenMerge, c.lossyOutbox)
			defer replica.SetNegativeControls(false, false)
			for seed := uint64(1); seed <= 200; seed++ {
				if _, problem := runConvergence(t, seed, nil); problem != "" {
					t.Logf("caught at seed %d: %s", seed, firstLine(problem))
					return
				}
			}
			t.Errorf("the property test did not catch a %s in 200 seeds", c.name)
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// runConvergence runs one seed on a store store opens (nil: a SQLite
// file) and returns the network's fault counts and, if the run broke a
// property, a description with the replay command.
func runConvergence(t *testing.T, seed uint64, store func(t *testing.T) wiring.OpenStore) (fired [faultCount]int, problem string) {
	dir := t.TempDir()
	s := &simRun{
		t:      t,
		rng:    rand.New(rand.NewPCG(seed, 0x5eed)),
		store:  wiring.SQLite(filepath.Join(dir, "server.db")),
		tokens: map[string]shiftsync.Principal{},
	}
	if store != nil {
		s.store = store(t)
	}
	s.net = &faultyNetwork{rng: rand.New(rand.NewPCG(seed, 0x7e7)), rate: 0.3, pulls: map[string][][]byte{}, client: shiftsynctest.HTTPClient()}
	s.net.client = &http.Client{Timeout: 10 * time.Second}
	s.proxy = httptest.NewServer(s.net)
	defer s.proxy.Close()
	s.startServer()
	defer func() { s.server.Close() }()

	n := 3 + s.rng.IntN(6)
	for i := range n {
		d := &simDevice{broken: map[string]bool{}, id: fmt.Sprintf("phone-%d", i+1), path: filepath.Join(dir, fmt.Sprintf("phone-%d.db", i+1)), token: fmt.Sprintf("token-%d-%d", seed, i)}
		s.tokens[d.token] = shiftsync.Principal{UserID: "worker-" + d.id, DeviceID: d.id, Services: []string{"house-a"}}
		s.server.Tokens.Add(d.token, s.tokens[d.token])
		s.openDevice(d)
		s.devices = append(s.devices, d)
	}
	defer func() {
		for _, d := range s.devices {
			_ = d.r.Close()
		}
	}()

	// fail ends the run with a problem report; it unwinds through a panic
	// so that deep helpers can call it too.
	type failure struct{ msg string }
	replay := "TestConvergence"
	if store != nil {
		replay = "TestConvergence_Postgres"
	}
	fail := func(format string, args ...any) {
		panic(failure{fmt.Sprintf("seed %d (replay: go test ./mobile-contract/replica -run '%s$' -args -convergence.seed=%d): %s\nsteps:\n  %s",
			seed, replay, seed, fmt.Sprintf(format, args...), strings.Join(s.log, "\n  "))})
	}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			problem = f.msg
		}
	}()

	steps := 10 + s.rng.IntN(30)
	for range steps {
		d := s.devices[s.rng.IntN(len(s.devices))]
		switch k := s.rng.IntN(100); {
		case k < 25 || len(s.records) == 0:
			id, err := d.r.Create("incident", "house-a", "person-ada",
				fmt.Sprintf(`{"started_at":{"timestampValue":"2026-03-02T06:%02d:00Z"},"behaviour_description":{"stringValue":"%s %d"}}`, s.rng.IntN(60), d.id, d.changes))
			if err != nil {
				fail("%s create: %v", d.id, err)
			}
			d.changes++
			s.logf("%s creates %s", d.id, id)
		case k < 28:
			// An app that did not check saves an incident without its
			// description: the server quarantines it, and the worker fixes
			// it later (below) with a correction.
			d.r.SetSchemaChecks(false)
			id, err := d.r.Create("incident", "house-a", "person-ada",
				fmt.Sprintf(`{"started_at":{"timestampValue":"2026-03-02T06:%02d:00Z"}}`, s.rng.IntN(60)))
			d.r.SetSchemaChecks(true)
			if err != nil {
				fail("%s create without a description: %v", d.id, err)
			}
			d.changes++
			d.faulty++
			d.broken[id] = true
			s.logf("%s creates %s without a description", d.id, id)
		case k < 55:
			id := s.records[s.rng.IntN(len(s.records))]
			if _, err := d.r.RecordJSON(id); err != nil {
				continue // this device has not pulled it yet
			}
			field := []string{"place", "antecedent", "behaviour_description"}[s.rng.IntN(3)]
			if d.broken[id] {
				// Its worker fixes it, once the phone says it was rejected.
				if _, err := s.fix(d, id); err != nil {
					fail("%v", err)
				}
				continue
			}
			if err := d.r.Edit(id, fmt.Sprintf(`{%q:{"stringValue":"%s-%d"}}`, field, d.id, d.changes)); err != nil {
				fail("%s edit: %v", d.id, err)
			}
			d.changes++
			s.logf("%s edits %s.%s", d.id, id, field)
		case k < 88:
			rep, err := d.r.Sync(s.proxy.URL, d.token)
			s.logf("%s syncs: err=%v verify=%s", d.id, err, rep.Verify)
			// A sound replica never differs from the server once caught up:
			// a repair means a change was lost or mis-merged (and repaired).
			if rep.Repaired > 0 {
				fail("%s: Verify found buckets differing from the server after a sync that caught up: %s", d.id, rep.RepairedJSON)
			}
		case k < 93:
			s.server.Close()
			s.startServer()
			s.logf("server restarts")
		default:
			_ = d.r.Close()
			s.openDevice(d)
			s.logf("%s restarts", d.id)
		}
		// Learn the ids every device has, for edits.
		s.records = s.knownRecords()
		// Time moves on, sometimes by a lot.
		s.server.Clock.Advance(time.Duration(s.rng.IntN(5000)) * time.Millisecond)
	}

	// Quiet round: a perfect network; every device learns which of its
	// changes were quarantined and corrects its broken records, then two
	// rounds so every device pulls what the others pushed.
	s.net.mu.Lock()
	s.net.rate = 0
	s.net.mu.Unlock()
	for _, d := range s.devices {
		rep, err := d.r.Sync(s.proxy.URL, d.token)
		if err != nil {
			fail("quiet round: %s: %v", d.id, err)
		}
		if rep.Repaired > 0 {
			fail("quiet round: %s: Verify found buckets differing from the server: %s", d.id, rep.RepairedJSON)
		}
		for _, id := range slices.Sorted(maps.Keys(d.broken)) {
			if fixed, err := s.fix(d, id); err != nil || !fixed {
				fail("%s: record %s saved without a description, not corrected after a sync: %v", d.id, id, err)
			}
		}
	}
	for round := range 3 {
		for _, d := range s.devices {
			rep, err := d.r.Sync(s.proxy.URL, d.token)
			if err != nil {
				fail("quiet round %d: %s: %v", round, d.id, err)
			}
			// The last round changes nothing: each replica then verifies.
			if rep.Repaired > 0 || round == 2 && rep.Verify != replica.VerifyMatch {
				fail("%s: the last quiet round's Verify: %q (%s), %d buckets repaired %s", d.id, rep.Verify, rep.VerifyError, rep.Repaired, rep.RepairedJSON)
			}
		}
	}

	want := serverState(t, s.server, s.devices[0].token)
	for _, d := range s.devices {
		st, err := d.r.Status()
		if err != nil {
			fail("%s status: %v", d.id, err)
		}
		if st.OutboxDepth != 0 || st.Rejected != 0 {
			fail("%s: outbox %d pending, %d rejected after the quiet round", d.id, st.OutboxDepth, st.Rejected)
		}
		if st.LastCounter != int64(d.changes) {
			fail("%s: last counter %d, but it made %d changes", d.id, st.LastCounter, d.changes)
		}
		if kept, err := d.r.DigestsKept(); err != nil || !kept {
			fail("%s: the digests kept by its writes differ from the sums over its fields (%v)", d.id, err)
		}
		if got := replicaState(t, d.r); got != want {
			fail("%s differs from the server:\nreplica: %s\nserver:  %s", d.id, got, want)
		}
	}
	ids := make([]string, len(s.devices))
	for i, d := range s.devices {
		ids[i] = d.id
	}
	history := acceptedPerDevice(t, s.server, ids)
	for _, d := range s.devices {
		if history[d.id] != d.changes-d.faulty {
			fail("%s made %d changes, %d of them without a description; the server's history has %d accepted", d.id, d.changes, d.faulty, history[d.id])
		}
	}
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return s.net.fired, ""
}

// fix corrects a record the device saved without a description once the
// device knows the server rejected it, by typing the description; it
// reports whether it did. The correction must be saved: it carries every
// field of the record.
func (s *simRun) fix(d *simDevice, id string) (bool, error) {
	raw, err := d.r.RecordJSON(id)
	if err != nil {
		return false, fmt.Errorf("%s: RecordJSON(%s): %w", d.id, id, err)
	}
	var rec struct {
		Rejected *struct{ Code string } `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return false, err
	}
	if rec.Rejected == nil {
		return false, nil
	}
	if err := d.r.Edit(id, fmt.Sprintf(`{"behaviour_description":{"stringValue":"%s fixed %d"}}`, d.id, d.changes)); err != nil {
		return false, fmt.Errorf("%s: correcting %s (rejected %s): %w", d.id, id, rec.Rejected.Code, err)
	}
	d.changes++
	delete(d.broken, id)
	s.logf("%s corrects %s", d.id, id)
	return true, nil
}

// knownRecords lists the record ids any device holds.
func (s *simRun) knownRecords() []string {
	seen := map[string]bool{}
	for _, d := range s.devices {
		list, err := d.r.ListJSON()
		if err != nil {
			s.t.Fatal(err)
		}
		var items []struct{ ID string }
		if err := json.Unmarshal([]byte(list), &items); err != nil {
			s.t.Fatal(err)
		}
		for _, it := range items {
			seen[it.ID] = true
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// serverState is every current field on the server as sorted
// "record.field=value" lines.
func serverState(t *testing.T, s *shiftsynctest.Server, token string) string {
	var lines []string
	for _, c := range shiftsynctest.PullAll(t, s.Client(token)) {
		lines = append(lines, c.GetRecordId()+"."+c.GetField()+"="+canonical(t, c.GetValue()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// replicaState is the replica's fields in the same form.
func replicaState(t *testing.T, r *replica.Replica) string {
	list, err := r.ListJSON()
	if err != nil {
		t.Fatal(err)
	}
	var items []struct {
		ID     string                     `json:"id"`
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal([]byte(list), &items); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, it := range items {
		for field, raw := range it.Fields {
			v := &syncv1.Value{}
			if err := protojson.Unmarshal(raw, v); err != nil {
				t.Fatalf("%s.%s: %v", it.ID, field, err)
			}
			lines = append(lines, it.ID+"."+field+"="+canonical(t, v))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func canonical(t *testing.T, v *syncv1.Value) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// acceptedPerDevice counts the mutations the server accepted from each
// device, read through its store: the processed mutations of counters 1,
// 2, 3… until the first the server never processed.
func acceptedPerDevice(t *testing.T, s *shiftsynctest.Server, devices []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := s.Store.Engine.View(context.Background(), func(tx shiftsync.Tx) error {
		for _, id := range devices {
			for counter := uint64(1); ; counter++ {
				pm, err := tx.ProcessedMutation(context.Background(), id, counter)
				if err != nil {
					return err
				}
				if pm == nil {
					break
				}
				if pm.Result.Status == shiftsync.StatusAccepted {
					out[id]++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
