// Command shiftsync is the device simulator: it keeps a replica file as a
// phone would (mobile-contract/replica) and lets a person log and edit care
// records offline, then sync them with a shiftsync server.
//
//	shiftsync --device ./phone1.db log incident --person ada --service house-a --description "Threw a cup" --severity 2
//	shiftsync --device ./phone1.db list
//	shiftsync --device ./phone1.db --server http://127.0.0.1:8080 --token TOKEN sync
//
// or, as a phone does, enrolled once with a manager's one-time code, then
// syncing with the device credential the server gave it:
//
//	shiftsync --device ./phone2.db --server http://127.0.0.1:8080 enrol K7QM-2XPA --label "Ana's phone"
//	shiftsync --device ./phone2.db sync
//
// Writes never need the server: they queue in the replica's outbox and the
// next sync sends them. The server and token may come from SHIFTSYNC_SERVER
// and SHIFTSYNC_TOKEN, and the replica file from SHIFTSYNC_DEVICE. Run
// "shiftsync help" for every command.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
)

const usage = `usage: shiftsync [global flags] <command> [arguments]

Global flags (before the command):
  --device PATH       the replica file (env SHIFTSYNC_DEVICE); created on first use
  --device-id ID      the device id for a new replica (default: a random sim-XXXXXXXX);
                      it must match the device the server's token names (enrol replaces it)
  --server URL        the server (env SHIFTSYNC_SERVER), for enrol, and for sync with --token
  --token TOKEN       a bearer token (env SHIFTSYNC_TOKEN), for sync; not needed once enrolled
  --json              print JSON instead of text
  --clock-skew DUR    pretend the device clock is off by DUR (e.g. 3h), to see re-stamping

Commands:
  log incident --person P --service S --description TEXT [--severity N [--domain D]]
               [--place TEXT] [--harm LEVEL] [--started TIME] [--set field=value ...]
      Log an incident. --severity is the peak MOAS intensity 0-4 of behaviour domain
      --domain: verbal, property, self or others (default others).
  log ews --person P --service S --sign TEXT [--stage STAGE] [--response TEXT]
          [--observed TIME] [--set field=value ...]
      Log an early warning sign (also: log early_warning_sign).
  log TYPE --person P --service S --set field=value ...
      Log any record type (restrictive_intervention, ...).
  edit ID field=value ...
      Edit fields of a record.
  list                 List the records on the device.
  show ID              Show a record: values, versions, conflicts, rejection, history.
  enrol CODE [--label TEXT]
      Enrol the device with a manager's one-time code (needs --server). The replica
      takes the server's device id and keeps the device credential; it must not have
      made changes as another device. A revoked (wiped) replica may enrol again.
  sync                 Push the outbox, then pull; safe to repeat. Without --token, an
                       enrolled device gets its own access tokens from its credential.
  status               Enrolment, outbox depth, oldest unsynced change, last sync, cursor.

Values: field=value is typed by the record's declaration in records.proto
(enums by name or suffix, e.g. harm_to_person=low; lists comma-separated; times
RFC 3339 or "now"); field:=JSON sets a raw shiftsync.sync.v1.Value, e.g.
place:='{"stringValue":"hall"}'. Before saving, log and edit check the change
with the server's rules (records.proto): a wrong value is refused, nothing is
written, and every problem is listed with the valid values where a code list
applies (exit status 2). The server checks again when it receives it.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks an error in how the command was called (exit status 2).
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
func (e usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("shiftsync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("device", os.Getenv("SHIFTSYNC_DEVICE"), "")
	deviceID := fs.String("device-id", "", "")
	fs.StringVar(&a.server, "server", os.Getenv("SHIFTSYNC_SERVER"), "")
	fs.StringVar(&a.token, "token", os.Getenv("SHIFTSYNC_TOKEN"), "")
	fs.BoolVar(&a.json, "json", false, "")
	fs.DurationVar(&a.clock.skew, "clock-skew", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "shiftsync: %v\n\n%s", err, usage)
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	if *path == "" {
		fmt.Fprintf(stderr, "shiftsync: --device PATH is required\n\n%s", usage)
		return 2
	}
	if err := a.open(*path, *deviceID); err != nil {
		fmt.Fprintf(stderr, "shiftsync: %v\n", err)
		return 1
	}
	defer a.r.Close()
	if err := a.dispatch(rest[0], rest[1:]); err != nil {
		fmt.Fprintf(stderr, "shiftsync: %v\n", err)
		if r := (*refusal)(nil); errors.As(err, &r) {
			return 2
		}
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "run shiftsync help for usage\n")
			return 2
		}
		return 1
	}
	return 0
}

// app is one run of the command.
type app struct {
	r             *replica.Replica
	server, token string
	json          bool
	clock         skewedClock
	stdout        io.Writer
	stderr        io.Writer
}

// skewedClock is the system clock off by skew.
type skewedClock struct{ skew time.Duration }

func (c *skewedClock) NowUnixMilli() int64 { return c.now().UnixMilli() }
func (c *skewedClock) now() time.Time      { return time.Now().Add(c.skew) }

// open opens the replica, giving a new one the device id asked for or a
// random one.
func (a *app) open(path, deviceID string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && deviceID == "" {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		deviceID = "sim-" + hex.EncodeToString(b)
	}
	r, err := replica.Open(path, deviceID)
	if err != nil {
		return err
	}
	r.SetClock(&a.clock)
	r.SetAppVersion("shiftsync-simulator")
	a.r = r
	return nil
}

func (a *app) dispatch(cmd string, args []string) error {
	switch cmd {
	case "log":
		return a.log(args)
	case "edit":
		return a.edit(args)
	case "list":
		return a.list(args)
	case "show":
		return a.show(args)
	case "enrol", "enroll":
		return a.enrol(args)
	case "sync":
		return a.sync(args)
	case "status":
		return a.status(args)
	}
	return usagef("unknown command %q", cmd)
}

// setFlags collects repeated --set field=value flags.

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }
