package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/shiftsynctest"
)

// binary is the simulator built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shiftsync-sim-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "shiftsync")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sim runs the simulator as a separate process on one replica file, as a
// person at a terminal would.
type sim struct {
	t      *testing.T
	device string
	env    []string
}

func newSim(t *testing.T, deviceID string) *sim {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHIFTSYNC_") {
			env = append(env, kv)
		}
	}
	s := &sim{t: t, device: filepath.Join(t.TempDir(), deviceID+".db"), env: env}
	// The device id is stored on first use; later runs need not repeat it.
	s.ok("--device-id", deviceID, "status")
	return s
}

// connect points later runs at a server through the environment.
func (s *sim) connect(url, token string) {
	s.env = append(s.env, "SHIFTSYNC_SERVER="+url, "SHIFTSYNC_TOKEN="+token)
}

func (s *sim) run(args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	cmd := exec.Command(binary, append([]string{"--device", s.device}, args...)...)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("shiftsync %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// ok runs and fails the test unless the command succeeds.
func (s *sim) ok(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("shiftsync %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

type status struct {
	DeviceID        string
	OutboxDepth     int64
	Rejected        int64
	RejectedRecords int64
	Records         int64
	LastSyncUnixMs  int64
	LastError       string
	Cursor          string
	Enrolled        bool
	UserID          string
	ServerURL       string
	Revoked         bool
}

func (s *sim) status() status {
	s.t.Helper()
	var st status
	if err := json.Unmarshal([]byte(s.ok("--json", "status")), &st); err != nil {
		s.t.Fatal(err)
	}
	return st
}

func TestSimulator(t *testing.T) {
	srv := shiftsynctest.NewServer(t)
	one, two := newSim(t, "sim-1"), newSim(t, "sim-2")

	// Offline: writes queue. The events happened before the test server's
	// time (its clock is fixed in March 2026); an event time the device
	// took from its own clock, months ahead of the server's, would be
	// quarantined implausible_time.
	incident := strings.TrimSpace(one.ok("log", "incident", "--person", "ada", "--service", "house-a",
		"--description", "Threw a cup", "--severity", "2", "--place", "kitchen", "--harm", "low", "--started", "2026-03-02T06:30:00Z"))
	ews := strings.TrimSpace(one.ok("log", "ews", "--person", "ada", "--service", "house-a", "--sign", "pacing", "--stage", "anxious",
		"--observed", "2026-03-02T06:45:00Z"))
	list := one.ok("list")
	for _, want := range []string{incident, ews, "Threw a cup", "pacing", "pending"} {
		if !strings.Contains(list, want) {
			t.Errorf("list does not show %q:\n%s", want, list)
		}
	}
	if st := one.status(); st.DeviceID != "sim-1" || st.OutboxDepth != 2 || st.LastSyncUnixMs != 0 {
		t.Errorf("status = %+v, want sim-1 with 2 queued, never synced", st)
	}
	if out := one.ok("status"); !strings.Contains(out, "2 pending") || !strings.Contains(out, "last sync:     never") || !strings.Contains(out, "never verified") {
		t.Errorf("status:\n%s", out)
	}

	// Online: everything goes. The simulator reads the real clock while the
	// test server's is fixed in March 2026, so this also re-stamps.
	one.connect(srv.URL, srv.AddDevice("worker-1", "sim-1", "house-a"))
	two.connect(srv.URL, srv.AddDevice("worker-2", "sim-2", "house-a"))
	if out := one.ok("sync"); !strings.Contains(out, "2 accepted, 0 quarantined, 2 re-stamped") || !strings.Contains(out, "in sync") {
		t.Errorf("sync:\n%s", out)
	}
	if st := one.status(); st.OutboxDepth != 0 || st.LastSyncUnixMs == 0 || st.Cursor == "" {
		t.Errorf("status after sync = %+v, want empty outbox, synced, a cursor", st)
	}
	if out := one.ok("status"); !strings.Contains(out, "integrity:     verified at ") {
		t.Errorf("status after sync does not say it was verified:\n%s", out)
	}
	if out := one.ok("list"); !strings.Contains(out, "synced") || strings.Contains(out, "pending") {
		t.Errorf("list after sync:\n%s", out)
	}

	// A second device gets the records, edits one, and the first sees it.
	two.ok("sync")
	if out := two.ok("list"); !strings.Contains(out, incident) {
		t.Fatalf("second device's list lacks %s:\n%s", incident, out)
	}
	two.ok("edit", incident, "place=garden", "intensity_verbal=1")
	two.ok("sync")
	one.ok("sync")
	show := one.ok("show", incident)
	for _, want := range []string{"garden", "sim-2", "worker-2", "Threw a cup", "HARM_LEVEL_LOW", "history"} {
		if !strings.Contains(show, want) {
			t.Errorf("show does not contain %q:\n%s", want, show)
		}
	}

	// A wrong value is refused when it is typed, with the valid values,
	// and nothing is written: the server would quarantine it.
	if _, errOut, code := one.run("edit", incident, "intensity_verbal=7", `harm_to_person:={"enumValue":"HARM_LEVEL_AWFUL"}`); code != 2 ||
		!strings.Contains(errOut, "not saved") || !strings.Contains(errOut, "intensity_verbal: invalid_value") ||
		!strings.Contains(errOut, "outside 0..4") || !strings.Contains(errOut, "valid values: HARM_LEVEL_FATAL, HARM_LEVEL_LOW") {
		t.Errorf("edit with wrong values: exit %d, stderr:\n%s\nwant exit 2 listing both, with the harm levels", code, errOut)
	}
	if _, errOut, code := one.run("log", "incident", "--person", "ada", "--service", "house-a", "--description", "Shouted",
		`--set`, `mood:={"stringValue":"low"}`, "--started", "2026-03-02T06:50:00Z"); code != 2 || !strings.Contains(errOut, "mood: unknown_field") {
		t.Errorf("log with a field the server does not know: exit %d, stderr:\n%s\nwant refused, unknown_field", code, errOut)
	}
	if st := one.status(); st.OutboxDepth != 0 || st.Records != 2 {
		t.Errorf("status after the refusals = %+v, want nothing written", st)
	}

	// What only the server can judge, a service the worker has no access
	// to: kept locally, quarantined, shown, never resent.
	bad := strings.TrimSpace(one.ok("log", "incident", "--person", "ada", "--service", "house-b",
		"--description", "Shouted", "--started", "2026-03-02T06:50:00Z"))
	if out := one.ok("sync"); !strings.Contains(out, "rejected: "+bad) || !strings.Contains(out, "permission_denied") {
		t.Errorf("sync with a bad record:\n%s", out)
	}
	if st := one.status(); st.Rejected != 1 || st.RejectedRecords != 1 || st.OutboxDepth != 0 {
		t.Errorf("status = %+v, want 1 rejected, none pending", st)
	}
	if out := one.ok("show", bad); !strings.Contains(out, "REJECTED by the server: permission_denied") || !strings.Contains(out, "never resent") {
		t.Errorf("show of the rejected record:\n%s", out)
	}
	if out := one.ok("sync"); strings.Contains(out, "pushed") {
		t.Errorf("second sync pushed again:\n%s", out)
	}

	// Server down: the write queues, sync fails and says nothing was lost.
	srv.Close()
	later := strings.TrimSpace(one.ok("log", "incident", "--person", "ada", "--service", "house-a", "--description", "Ran off",
		"--started", "2026-03-02T06:55:00Z"))
	_, errOut, code := one.run("sync")
	if code != 1 || !strings.Contains(errOut, "unavailable") || !strings.Contains(errOut, "1 change(s) kept in the outbox") {
		t.Errorf("sync with the server down: exit %d, stderr %s", code, errOut)
	}
	if st := one.status(); st.OutboxDepth != 1 || st.LastError == "" {
		t.Errorf("status = %+v, want 1 pending and the error", st)
	}

	// A server back on the same database takes it.
	srv2 := srv.Restart(t)
	one.connect(srv2.URL, srv2.AddDevice("worker-1", "sim-1", "house-a"))
	if out := one.ok("sync"); !strings.Contains(out, "1 accepted") {
		t.Errorf("sync after restart:\n%s", out)
	}
	if out := one.ok("show", later); strings.Contains(out, "waiting to sync") {
		t.Errorf("record still pending after sync:\n%s", out)
	}
}

func TestSimulator_Usage(t *testing.T) {
	s := newSim(t, "sim-u")
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"fly"}},
		{"unknown record type", []string{"log", "memo", "--service", "x"}},
		{"missing description", []string{"log", "incident", "--service", "house-a"}},
		{"unknown field", []string{"log", "incident", "--service", "house-a", "--description", "x", "--set", "mood=low"}},
		{"bad enum", []string{"log", "incident", "--service", "house-a", "--description", "x", "--harm", "awful"}},
		{"severity out of range", []string{"log", "incident", "--service", "house-a", "--person", "ada", "--description", "x", "--severity", "7"}},
		{"no such domain", []string{"log", "incident", "--service", "house-a", "--person", "ada", "--description", "x", "--severity", "2", "--domain", "shouting"}},
		{"missing person", []string{"log", "incident", "--service", "house-a", "--description", "x"}},
		{"time a month ahead", []string{"log", "ews", "--service", "house-a", "--person", "ada", "--sign", "pacing",
			"--observed", time.Now().AddDate(0, 1, 0).Format(time.RFC3339)}},
		{"sync without server", []string{"sync"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, errOut, code := s.run(tt.args...); code != 2 {
				t.Errorf("shiftsync %v: exit %d, want 2 (usage)\n%s", tt.args, code, errOut)
			}
		})
	}
	// A wrong value names what would be right.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "incident", "--service", "house-a", "--person", "ada", "--description", "x", "--severity", "2", "--domain", "shouting"},
			"one of verbal, property, self, others"},
		{[]string{"log", "incident", "--service", "house-a", "--person", "ada", "--description", "x", "--harm", "awful"},
			"HARM_LEVEL_LOW"},
		{[]string{"log", "incident", "--service", "house-a", "--person", "ada", "--description", "x", "--set", `harm_to_others:={"enumValue":"AWFUL"}`},
			"valid values: HARM_LEVEL_FATAL, HARM_LEVEL_LOW"},
		{[]string{"log", "incident", "--service", "house-a", "--person", "ada", "--description", "x", "--severity", "7", "--domain", "verbal"},
			`intensity_verbal: invalid_value: field "intensity_verbal": 7 is outside 0..4`},
		{[]string{"log", "incident", "--service", "house-a", "--description", "x"}, "missing_person"},
	} {
		if _, errOut, _ := s.run(tt.args...); !strings.Contains(errOut, tt.want) {
			t.Errorf("shiftsync %v: stderr does not say %q:\n%s", tt.args, tt.want, errOut)
		}
	}
	if st := s.status(); st.OutboxDepth != 0 || st.Records != 0 {
		t.Errorf("status after refused commands = %+v, want nothing written", st)
	}
	if _, errOut, code := s.run("--device-id", "other", "status"); code != 1 || !strings.Contains(errOut, "sim-u") {
		t.Errorf("reopening with another device id: exit %d, %s; want refused naming sim-u", code, errOut)
	}
}

// TestSimulator_Enrol enrols simulated phones with real one-time codes and
// syncs them with no token, on the device credential alone: changes reach
// the server as the enrolled user's; a used code is refused; a revoked
// phone is wiped and says so; a phone whose user lost access to a service
// purges its records.
func TestSimulator_Enrol(t *testing.T) {
	srv := shiftsynctest.NewServer(t)
	ctx := context.Background()
	manager := shiftsync.Principal{UserID: "manager"}
	srv.EnrolDevice(t, "ana", shiftsync.RoleSupportWorker, "house-a")
	code := func() string {
		t.Helper()
		c, _, err := srv.Identity.IssueEnrolmentCode(ctx, manager, "ana")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	phone := newSim(t, "sim-e")
	first := code()
	out := phone.ok("--server", srv.URL, "enrol", first, "--label", "Ana's phone")
	st := phone.status()
	if !strings.Contains(out, "enrolled as device "+st.DeviceID) || !st.Enrolled || st.UserID != "ana" || st.ServerURL != srv.URL || st.DeviceID == "sim-e" {
		t.Fatalf("enrol: %s\nstatus %+v; want enrolled as a server-assigned device of ana", out, st)
	}
	if d, err := srv.Identity.Device(ctx, st.DeviceID); err != nil || d.Label != "Ana's phone" {
		t.Errorf("the server's device = %+v, %v; want labelled Ana's phone", d, err)
	}
	if out := phone.ok("status"); !strings.Contains(out, "user ana with "+srv.URL) {
		t.Errorf("status does not show the enrolment:\n%s", out)
	}
	incident := strings.TrimSpace(phone.ok("log", "incident", "--person", "ada", "--service", "house-a", "--description", "Threw a cup",
		"--started", shiftsynctest.Epoch.Add(-time.Hour).Format(time.RFC3339))) // before the server's clock, not the device's
	if out := phone.ok("sync"); !strings.Contains(out, "1 accepted") || !strings.Contains(out, "in sync") {
		t.Errorf("sync on the credential:\n%s", out)
	}

	// The code worked once; a new one enrols a second phone.
	tablet := newSim(t, "sim-f")
	if _, errOut, code := tablet.run("--server", srv.URL, "enrol", first); code != 1 || !strings.Contains(errOut, "unauthenticated") {
		t.Errorf("enrol with a used code: exit %d, %s; want refused, unauthenticated", code, errOut)
	}
	tablet.ok("--server", srv.URL, "enrol", "--label", "Ana's tablet", code())
	tablet.ok("sync")
	if out := tablet.ok("list"); !strings.Contains(out, incident) {
		t.Errorf("the tablet did not pull the phone's incident:\n%s", out)
	}
	if _, _, code := tablet.run("--server", "http://127.0.0.1:1", "sync"); code != 2 {
		t.Errorf("sync with a --server other than the enrolment's: exit %d, want 2", code)
	}

	// The phone is revoked: its next sync wipes it.
	phone.ok("log", "incident", "--person", "ada", "--service", "house-a", "--description", "never sent",
		"--started", shiftsynctest.Epoch.Add(-time.Minute).Format(time.RFC3339))
	if _, err := srv.Identity.RevokeDevice(ctx, manager, st.DeviceID, "phone lost"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := phone.run("sync"); code != 1 || !strings.Contains(errOut, "device_revoked") || !strings.Contains(errOut, "enrol again") {
		t.Errorf("sync of a revoked phone: exit %d, %s; want device_revoked", code, errOut)
	}
	if st := phone.status(); !st.Revoked || st.Enrolled || st.Records != 0 || st.OutboxDepth != 0 {
		t.Errorf("status of the revoked phone = %+v, want revoked and empty", st)
	}
	if out := phone.ok("status"); !strings.Contains(out, "REVOKED") || !strings.Contains(out, "wiped") {
		t.Errorf("status does not say the phone was revoked and wiped:\n%s", out)
	}
	if out := phone.ok("list"); !strings.Contains(out, "(no records)") {
		t.Errorf("list of the wiped phone:\n%s", out)
	}
	if _, errOut, code := phone.run("log", "incident", "--person", "ada", "--service", "house-a", "--description", "x"); code != 1 || !strings.Contains(errOut, "device_revoked") {
		t.Errorf("log on the wiped phone: exit %d, %s; want device_revoked", code, errOut)
	}

	// Ana leaves house-a: the tablet purges its records.
	ms, err := srv.Identity.Memberships(ctx, "ana")
	if err != nil || len(ms) != 1 {
		t.Fatalf("memberships = %v, %v", ms, err)
	}
	srv.Clock.Advance(time.Minute)
	if err := srv.Identity.EndMembership(ctx, manager, ms[0].ID, srv.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(time.Minute)
	if out := tablet.ok("sync"); !strings.Contains(out, "access ended to service house-a: purged 1 record(s)") {
		t.Errorf("sync after ana left house-a:\n%s", out)
	}
	if out := tablet.ok("list"); !strings.Contains(out, "(no records)") {
		t.Errorf("list after the purge:\n%s", out)
	}
}

// TestSimulator_FixRejected corrects a record only the server could judge:
// a mistyped incident id is refused on the phone before saving, but an
// addendum naming a record id the phone does not hold (a record only the
// server could have) is saved, and the server refuses it. Sync says it was
// rejected, show says which field to fix and how, and edit sends the
// correction, which the server accepts.
func TestSimulator_FixRejected(t *testing.T) {
	srv := shiftsynctest.NewServer(t)
	one := newSim(t, "sim-1")
	one.connect(srv.URL, srv.AddDevice("worker-1", "sim-1", "house-a"))
	incident := strings.TrimSpace(one.ok("log", "incident", "--person", "ada", "--service", "house-a",
		"--description", "Hit out at staff", "--started", "2026-03-02T06:30:00Z"))
	if _, errOut, code := one.run("log", "ri", "--person", "ada", "--service", "house-a",
		"--set", "incident_id=the-one-this-morning", "--set", "type_code=physical_prone", "--set", "reason_code=prevent_violence_to_others",
		"--set", "started_at=2026-03-02T06:31:00Z"); code != 2 || !strings.Contains(errOut, "incident_id: invalid_reference") {
		t.Errorf("log of a restriction naming no incident: exit %d, stderr:\n%s\nwant refused naming incident_id", code, errOut)
	}
	elsewhere := shiftsynctest.RecordID(t) // a record id this phone never held
	addendum := strings.TrimSpace(one.ok("log", "addendum", "--person", "ada", "--service", "house-a",
		"--set", "record_id="+elsewhere, "--set", "written_at=2026-03-02T06:40:00Z", "--set", "field=place",
		"--set", "corrected_value=lounge", "--set", "reason=I wrote the wrong room"))
	if out := one.ok("sync"); !strings.Contains(out, "rejected: "+addendum) || !strings.Contains(out, "invalid_reference") {
		t.Fatalf("sync of an addendum naming a record the server does not hold:\n%s", out)
	}
	out := one.ok("show", addendum)
	for _, want := range []string{"REJECTED by the server: invalid_reference", "to fix: record_id:", "shiftsync edit " + addendum} {
		if !strings.Contains(out, want) {
			t.Errorf("show of the rejected addendum lacks %q:\n%s", want, out)
		}
	}
	if out := one.ok("edit", addendum, "record_id="+incident); !strings.Contains(out, "corrected "+addendum) {
		t.Errorf("edit of the rejected addendum:\n%s", out)
	}
	if out := one.ok("sync"); !strings.Contains(out, "1 accepted, 0 quarantined") {
		t.Errorf("sync of the correction:\n%s", out)
	}
	if out := one.ok("show", addendum); strings.Contains(out, "REJECTED") || !strings.Contains(out, "lounge") {
		t.Errorf("the corrected addendum is still shown rejected, or lost a field:\n%s", out)
	}
	if st := one.status(); st.Rejected != 0 || st.OutboxDepth != 0 {
		t.Errorf("status = %+v, want nothing rejected or pending", st)
	}
}
