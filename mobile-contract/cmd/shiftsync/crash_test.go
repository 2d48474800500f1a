package main_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// TestSimulator_SurvivesSIGKILL kills the simulator process with SIGKILL
// while it pushes a large outbox, and while it applies pulled pages into an
// empty replica, restarts it each time, and checks that nothing was lost and
// that both phones converge on the server.
func TestSimulator_SurvivesSIGKILL(t *testing.T) {
	s := shiftsynctest.NewServer(t)
	records := 1500
	kills := 12
	if testing.Short() {
		records, kills = 300, 4
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)

	// Phone A logged a long shift offline.
	dir := t.TempDir()
	pathA, pathB := filepath.Join(dir, "phone-a.db"), filepath.Join(dir, "phone-b.db")
	a, err := replica.Open(pathA, "phone-a")
	if err != nil {
		t.Fatal(err)
	}
	a.SetClock(clockOf(s))
	for i := range records {
		if _, err := a.Create("incident", "house-a", "person-ada", fmt.Sprintf(
			`{"started_at":{"timestampValue":"2026-03-02T06:00:00Z"},"behaviour_description":{"stringValue":"offline %d"}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	tokenA, tokenB := s.AddDevice("worker-a", "phone-a", "house-a"), s.AddDevice("worker-b", "phone-b", "house-a")
	b, err := replica.Open(pathB, "phone-b")
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close()

	syncKilled := func(path, token string, delay time.Duration) {
		cmd := exec.Command(binary, "--device", path, "--server", s.URL, "--token", token, "sync")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		checkIntegrity(t, path)
		r, err := replica.Open(path, "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := r.Status()
		_ = r.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s killed after %v: outbox %d, %d records", filepath.Base(path), delay, st.OutboxDepth, st.Records)
	}
	// Kill during pushes: later and later, so the kills fall before, during
	// and between the push rounds.
	for i := range kills {
		syncKilled(pathA, tokenA, time.Duration(i*12+rng.IntN(12))*time.Millisecond)
	}
	runSync(t, pathA, tokenA, s.URL)
	// Kill during pulls into the empty phone B.
	for i := range kills {
		syncKilled(pathB, tokenB, time.Duration(i*8+rng.IntN(8))*time.Millisecond)
	}
	runSync(t, pathB, tokenB, s.URL)

	want := serverDescriptions(t, s, tokenA)
	if len(want) != records {
		t.Fatalf("the server has %d incidents, want all %d logged offline", len(want), records)
	}
	for _, path := range []string{pathA, pathB} {
		if got := replicaDescriptions(t, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s differs from the server: %d records vs %d", filepath.Base(path), len(got), len(want))
		}
	}
}

// clockOf reads the test server's clock, so the phone is not re-stamped.
type serverClock struct{ s *shiftsynctest.Server }

func (c serverClock) NowUnixMilli() int64 { return c.s.Clock.Now().UnixMilli() }

func clockOf(s *shiftsynctest.Server) replica.Clock { return serverClock{s} }

func runSync(t *testing.T, path, token, url string) {
	t.Helper()
	for range 3 { // the phone's clock is ahead of the test server's: a re-stamp round may come first
		out, err := exec.Command(binary, "--device", path, "--server", url, "--token", token, "sync").CombinedOutput()
		if err == nil {
			return
		}
		t.Logf("sync: %v\n%s", err, out)
	}
	t.Fatalf("%s never synced", filepath.Base(path))
}

func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("%s after SIGKILL: integrity_check = %q, %v", filepath.Base(path), ok, err)
	}
}

// serverDescriptions is every incident's description on the server, sorted.
func serverDescriptions(t *testing.T, s *shiftsynctest.Server, token string) []string {
	var out []string
	for _, c := range shiftsynctest.PullAll(t, s.Client(token)) {
		if c.GetField() == "behaviour_description" {
			out = append(out, c.GetRecordId()+" "+c.GetValue().GetStringValue())
		}
	}
	sort.Strings(out)
	return out
}

// replicaDescriptions is the same from a replica file, with its outbox
// checked empty.
func replicaDescriptions(t *testing.T, path string) []string {
	r, err := replica.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.OutboxDepth != 0 || st.Rejected != 0 {
		t.Errorf("%s: outbox %d pending, %d rejected", filepath.Base(path), st.OutboxDepth, st.Rejected)
	}
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
	var out []string
	for _, it := range items {
		var v struct {
			StringValue string `json:"stringValue"`
		}
		_ = json.Unmarshal(it.Fields["behaviour_description"], &v)
		out = append(out, it.ID+" "+v.StringValue)
	}
	sort.Strings(out)
	return out
}
