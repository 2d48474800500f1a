package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	"github.com/shiftsync/shiftsync/server/wiring"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// The environment of a TestDB_SurvivesSIGKILL writer process.
const (
	crashDBEnv     = "SHIFTSYNC_SIGKILL_DB"
	crashDeviceEnv = "SHIFTSYNC_SIGKILL_DEVICE"
)

// TestDB_SurvivesSIGKILL runs a server on a database file in a process of
// its own, kills it with SIGKILL while pushes are in flight, again and
// again, then opens the file: SQLite finds it intact, the audit chain
// verifies and every acknowledged mutation is there. (shiftsyncd's
// TestShiftsyncd_SurvivesSIGKILL does the same with the real binary, and a
// device resending what was not acknowledged.)
func TestDB_SurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv(crashDBEnv); path != "" {
		crashWriter(t, path, os.Getenv(crashDeviceEnv))
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shiftsync.db")
	cycles := 20
	if testing.Short() {
		cycles = 5
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	confirmed := map[string]string{}
	for cycle := range cycles {
		cmd := exec.Command(exe, "-test.run=^TestDB_SurvivesSIGKILL$")
		cmd.Env = append(os.Environ(), crashDBEnv+"="+path, fmt.Sprintf("%s=phone-%d", crashDeviceEnv, cycle))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of acknowledged mutations, plus a random
		// moment into the next.
		lines, acked, kill := bufio.NewScanner(stdout), 0, 1+rng.IntN(300)
		var said []string // what the writer printed besides acknowledgements
		read := func() bool {
			rest, ok := strings.CutPrefix(lines.Text(), "acked ")
			id, description, _ := strings.Cut(rest, " ")
			if ok {
				confirmed[id] = description
			} else {
				said = append(said, lines.Text())
			}
			return ok
		}
		for acked < kill && lines.Scan() {
			if read() {
				acked++
			}
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for lines.Scan() { // what was acknowledged before the kill
			read()
		}
		_ = cmd.Wait()
		if acked < kill {
			t.Fatalf("cycle %d: the writer stopped after %d acknowledged mutations, before it was killed:\n%s", cycle, acked, strings.Join(said, "\n"))
		}
	}
	t.Logf("%d cycles, %d acknowledged mutations", cycles, len(confirmed))

	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	found := map[string]string{}
	for _, c := range shiftsynctest.PullAll(t, s.Client(s.AddDevice("worker-1", "reader", "house-a"))) {
		if c.GetField() == "behaviour_description" {
			found[c.GetRecordId()] = c.GetValue().GetStringValue()
		}
	}
	for id, want := range confirmed {
		if got, ok := found[id]; !ok || got != want {
			t.Fatalf("acknowledged incident %s (%q) is missing after the kills (found %q)", id, want, got)
		}
	}
	s.Close() // the audit chain verifies

	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var integrity string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check = %q, %v", integrity, err)
	}
}

// crashWriter is the process TestDB_SurvivesSIGKILL kills: a server on the
// database at path pushing batches of incidents from device, printing
// "acked <record id> <description>" for each once its push returns.
func crashWriter(t *testing.T, path, device string) {
	s := shiftsynctest.NewServer(t, shiftsynctest.WithStore(wiring.SQLite(path)))
	client := s.Client(s.AddDevice("worker-1", device, "house-a"))
	var counter uint64
	for batch := range 10000 {
		var mutations []*syncv1.Mutation
		for range 1 + batch%20 {
			counter++
			mutations = append(mutations, shiftsynctest.Incident(counter, shiftsynctest.RecordID(t), "house-a", "p1", s.Clock.Now(),
				fmt.Sprintf("%s incident %d", device, counter)))
		}
		res, err := client.Push(context.Background(), &syncv1.PushRequest{Client: shiftsynctest.ClientInfo(), Mutations: mutations})
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		for i, r := range res.GetResults() {
			if r.GetStatus() != syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED {
				t.Fatalf("push: %s %s", r.GetReasonCode(), r.GetReason())
			}
			fmt.Fprintf(&out, "acked %s %s\n", mutations[i].GetRecordId(), mutations[i].GetFields()[1].GetValue().GetStringValue())
		}
		_, _ = os.Stdout.WriteString(out.String())
	}
}
