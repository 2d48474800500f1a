package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// e2eAddr is the address the console end-to-end test serves on (the
// helper's port range, 18300-18399).
const e2eAddr = "127.0.0.1:18310"

// TestConsoleE2E drives the manager console in Debian's Chromium
// (server/console/e2e/console.mjs, playwright-core and axe-core) against a
// real shiftsyncd serve on a temporary database: sign-in with a code the
// admin command issued, a prone restraint pushed by a simulated phone (the
// replica library) shown as an alert within 5 s and acknowledged, an
// evidence pack downloaded and verified, a support worker refused, sign-out,
// and no serious or critical axe-core violation on any page. Screenshots go
// to $SHIFTSYNC_E2E_ARTIFACTS or a temporary directory, logged. Outside CI
// it is skipped when node, Chromium or the e2e folder's node_modules are
// missing; under CI=true it fails instead.
func TestConsoleE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end in a browser: not with -short")
	}
	e2eDir, err := filepath.Abs("../../console/e2e")
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	node, err := exec.LookPath("node")
	switch {
	case err != nil:
		missing = "node is not installed"
	case fileMissing("/usr/bin/chromium"):
		missing = "/usr/bin/chromium is not installed (apt-get install chromium)"
	case fileMissing(filepath.Join(e2eDir, "node_modules", "playwright-core")) || fileMissing(filepath.Join(e2eDir, "node_modules", "axe-core")):
		missing = "the e2e packages are not installed (npm ci in server/console/e2e)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("console end-to-end test cannot run under CI: %s", missing)
		}
		t.Skipf("console end-to-end test skipped: %s", missing)
	}
	artifacts := os.Getenv("SHIFTSYNC_E2E_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	t.Logf("console screenshots and downloads: %s", artifacts)

	bin := buildBinary(t)
	dir := t.TempDir()
	db, state := filepath.Join(dir, "shiftsync.db"), filepath.Join(dir, "state")
	admin := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"admin", "-db", db, "-state", state}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("admin %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(bin, "migrate", "-db", db).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	admin("create-organisation", "-id", "oak", "-name", "Oak Care")
	admin("create-service", "-id", "oak-house", "-organisation", "oak", "-name", "Oak House")
	admin("create-person", "-id", "sam", "-service", "oak-house", "-name", "Sam")
	for user, role := range map[string]string{"meera": "manager", "ana": "support_worker", "ben": "support_worker", "pat": "pbs_lead"} {
		admin("create-user", "-id", user, "-organisation", "oak", "-name", user)
		admin("add-membership", "-user", user, "-service", "oak-house", "-role", role, "-start", "2020-01-01T00:00:00Z")
	}
	managerCode, workerCode, phoneCode := admin("issue-code", "-user", "meera"), admin("issue-code", "-user", "ana"), admin("issue-code", "-user", "ana")
	benCode, patCode := admin("issue-code", "-user", "ben"), admin("issue-code", "-user", "pat")

	serve := exec.Command(bin, "serve", "-db", db, "-state", state, "-addr", e2eAddr)
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var serveLog strings.Builder
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("shiftsyncd serve:\n%s", serveLog.String())
		}
	})
	waitListening(t, e2eAddr)
	url := "http://" + e2eAddr

	// The phone: a replica enrolled with the worker's code.
	phone, err := replica.Open(filepath.Join(dir, "phone.db"), "e2e-phone")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if err := phone.Enrol(url, phoneCode, "Ana's phone"); err != nil {
		t.Fatalf("enrol the phone: %v", err)
	}
	benPhone, patPhone := e2ePhone(t, url, filepath.Join(dir, "ben.db"), benCode), e2ePhone(t, url, filepath.Join(dir, "pat.db"), patCode)

	script := exec.Command(node, filepath.Join(e2eDir, "console.mjs"))
	script.Dir = e2eDir
	script.Env = append(os.Environ(), "SHIFTSYNC_URL="+url, "SHIFTSYNC_MANAGER_CODE="+managerCode, "SHIFTSYNC_WORKER=ana", "SHIFTSYNC_WORKER_CODE="+workerCode,
		"SHIFTSYNC_SERVICE=oak-house", "SHIFTSYNC_PERSON=sam", "SHIFTSYNC_E2E_ARTIFACTS="+artifacts)
	script.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := script.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := script.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	script.Stderr = &stderr
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			line := lines.Text()
			t.Log(line)
			if line != "e2e: ready for push" {
				continue
			}
			// The phone logs a prone restraint offline, then syncs.
			at := time.Now().UTC()
			fields := shiftsynctest.FieldsJSON(t, map[string]*syncv1.Value{
				"incident_id":  shiftsynctest.String(shiftsynctest.RecordID(t)),
				"type_code":    shiftsynctest.Enum("RESTRICTIVE_INTERVENTION_TYPE_PHYSICAL_PRONE"),
				"reason_code":  shiftsynctest.Enum("RESTRICTIVE_INTERVENTION_REASON_PREVENT_VIOLENCE_TO_OTHERS"),
				"started_at":   shiftsynctest.Time(at.Add(-10 * time.Minute)),
				"ended_at":     shiftsynctest.Time(at.Add(-8 * time.Minute)),
				"in_care_plan": shiftsynctest.Bool(true),
			})
			if _, err := phone.Create("restrictive_intervention", "oak-house", "sam", fields); err != nil {
				done <- err
				return
			}
			if _, err := phone.SyncEnrolled(); err != nil {
				done <- err
				return
			}
			if err := conflictAndOverdueAction(t, phone, benPhone, patPhone, at); err != nil {
				done <- err
				return
			}
			if _, err := io.WriteString(stdin, "pushed\n"); err != nil {
				done <- err
				return
			}
		}
		done <- lines.Err()
	}()
	if err := <-done; err != nil {
		t.Errorf("pushing from the phone: %v", err)
	}
	if err := script.Wait(); err != nil {
		t.Errorf("console.mjs: %v\n%s", err, stderr.String())
	}
	t.Logf("console screenshots and downloads: %s", artifacts)
}

// e2ePhone returns a replica at path enrolled at url with the code.
func e2ePhone(t *testing.T, url, path, code string) *replica.Replica {
	t.Helper()
	p, err := replica.Open(path, "e2e-"+filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.Enrol(url, code, filepath.Base(path)); err != nil {
		t.Fatalf("enrol %s: %v", path, err)
	}
	return p
}

// conflictAndOverdueAction gives the console a conflict to resolve — Ana
// and Ben change the place of one incident from the same starting point,
// each on their own phone — and an action the PBS lead's phone records as
// due yesterday, so overdue: a breach.
func conflictAndOverdueAction(t *testing.T, ana, ben, lead *replica.Replica, at time.Time) error {
	incident, err := ana.Create("incident", "oak-house", "sam", shiftsynctest.FieldsJSON(t, map[string]*syncv1.Value{
		"started_at": shiftsynctest.Time(at.Add(-30 * time.Minute)), "behaviour_description": shiftsynctest.String("Shouted at the door"),
		"place": shiftsynctest.String("Hall")}))
	if err != nil {
		return err
	}
	if _, err := ana.SyncEnrolled(); err != nil {
		return err
	}
	if _, err := ben.SyncEnrolled(); err != nil {
		return err
	}
	for p, place := range map[*replica.Replica]string{ana: "Kitchen", ben: "Garden"} {
		if err := p.Edit(incident, shiftsynctest.FieldsJSON(t, map[string]*syncv1.Value{"place": shiftsynctest.String(place)})); err != nil {
			return err
		}
	}
	for _, p := range []*replica.Replica{ana, ben} {
		if _, err := p.SyncEnrolled(); err != nil {
			return err
		}
	}
	if _, err := lead.Create("action", "oak-house", "sam", shiftsynctest.FieldsJSON(t, map[string]*syncv1.Value{
		"action_text": shiftsynctest.String("Book the sensory assessment"), "definition_of_done": shiftsynctest.String("Assessment date confirmed"),
		"agency": shiftsynctest.String("provider"), "owner_role": shiftsynctest.String("Registered manager"),
		"created_at": shiftsynctest.Time(at.Add(-72 * time.Hour)), "deadline": shiftsynctest.Time(at.Add(-24 * time.Hour)),
		"status": shiftsynctest.Enum("ACTION_STATUS_NOT_STARTED")})); err != nil {
		return err
	}
	_, err = lead.SyncEnrolled()
	return err
}

func fileMissing(path string) bool {
	_, err := os.Stat(path)
	return err != nil
}

// waitListening waits for a server to accept connections at addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening at %s after 30 s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
