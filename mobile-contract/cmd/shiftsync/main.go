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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
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
RFC 3339 or "now"); field:=JSON sends a raw shiftsync.sync.v1.Value, e.g.
mood:='{"stringValue":"low"}', even for a field the server does not know.
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

func (a *app) log(args []string) error {
	if len(args) == 0 {
		return usagef("log: which record type? (incident, ews, %s)", strings.Join(recordTypes(), ", "))
	}
	recordType := args[0]
	switch recordType {
	case "ews":
		recordType = "early_warning_sign"
	case "ri":
		recordType = "restrictive_intervention"
	}
	if recordMessage(recordType) == nil {
		return usagef("log: unknown record type %q (known: %s)", args[0], strings.Join(recordTypes(), ", "))
	}
	fs := flag.NewFlagSet("log "+recordType, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	person := fs.String("person", "", "")
	service := fs.String("service", "", "")
	var sets setFlags
	fs.Var(&sets, "set", "")
	// Shortcuts for the common fields, by type.
	typed := map[string]*string{}
	str := func(flagName, field string) { typed[field] = fs.String(flagName, "", "") }
	var severity *int
	var domain *string
	switch recordType {
	case "incident":
		str("description", "behaviour_description")
		str("place", "place")
		str("harm", "harm_to_person")
		str("started", "started_at")
		severity = fs.Int("severity", -1, "")
		domain = fs.String("domain", "others", "")
	case "early_warning_sign":
		str("sign", "sign")
		str("stage", "stage")
		str("response", "staff_response")
		str("observed", "observed_at")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usagef("log %s: %v", args[0], err)
	}
	if fs.NArg() > 0 {
		return usagef("log %s: unexpected %q (flags only; use --set field=value)", args[0], fs.Arg(0))
	}
	if *service == "" {
		return usagef("log %s: --service is required", args[0])
	}
	now := a.clock.now()
	fields := newFieldSet(recordType, now)
	switch recordType {
	case "incident":
		if *typed["behaviour_description"] == "" {
			return usagef("log incident: --description is required")
		}
		if *typed["started_at"] == "" {
			*typed["started_at"] = now.UTC().Format(time.RFC3339)
		}
		if *severity >= 0 {
			if err := fields.set("intensity_"+*domain, fmt.Sprint(*severity)); err != nil {
				return usagef("log incident: --severity/--domain: %v", err)
			}
		}
	case "early_warning_sign":
		if *typed["sign"] == "" {
			return usagef("log ews: --sign is required")
		}
		if *typed["observed_at"] == "" {
			*typed["observed_at"] = now.UTC().Format(time.RFC3339)
		}
	}
	for field, v := range typed {
		if *v != "" {
			if err := fields.set(field, *v); err != nil {
				return usagef("log %s: %v", args[0], err)
			}
		}
	}
	for _, s := range sets {
		if err := fields.setArg(s); err != nil {
			return usagef("log %s: --set %v", args[0], err)
		}
	}
	if len(fields.values) == 0 {
		return usagef("log %s: set at least one field with --set field=value", args[0])
	}
	id, err := a.r.Create(recordType, *service, *person, fields.json())
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, id)
	return nil
}

func (a *app) edit(args []string) error {
	if len(args) < 2 {
		return usagef("edit: want a record id and at least one field=value")
	}
	rec, err := a.record(args[0])
	if err != nil {
		return err
	}
	fields := newFieldSet(rec.Type, a.clock.now())
	for _, arg := range args[1:] {
		if err := fields.setArg(arg); err != nil {
			return usagef("edit: %v", err)
		}
	}
	if err := a.r.Edit(args[0], fields.json()); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "edited %s: %s (queued for sync)\n", args[0], strings.Join(args[1:], " "))
	return nil
}

// recordView is RecordJSON decoded for printing.
type recordView struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	ServiceID string `json:"serviceId"`
	PersonID  string `json:"personId"`
	CreatedAt int64  `json:"createdAtMs"`
	Pending   int    `json:"pendingMutations"`
	Rejected  *struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	Fields map[string]struct {
		Value    json.RawMessage `json:"value"`
		Version  versionView     `json:"version"`
		Author   string          `json:"authorUserId"`
		Pending  bool            `json:"pending"`
		Conflict bool            `json:"conflict"`
	} `json:"fields"`
	History []struct {
		Field   string          `json:"field"`
		Value   json.RawMessage `json:"value"`
		Version versionView     `json:"version"`
		Origin  string          `json:"origin"`
		Counter int64           `json:"counter"`
		Author  string          `json:"authorUserId"`
		Winning bool            `json:"winning"`
	} `json:"history"`
	Outbox []struct {
		Counter    int64    `json:"counter"`
		Status     string   `json:"status"`
		Fields     []string `json:"fields"`
		ReasonCode string   `json:"reasonCode"`
		Reason     string   `json:"reason"`
		Restamps   int64    `json:"restamps"`
	} `json:"outbox"`
	raw string
}

type versionView struct {
	HLC struct {
		WallMS  json.Number `json:"wallMs"`
		Logical uint32      `json:"logical"`
	} `json:"hlc"`
	DeviceID string `json:"deviceId"`
}

func (v versionView) String() string {
	ms, _ := v.HLC.WallMS.Int64()
	return fmt.Sprintf("%s.%d %s", time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), v.HLC.Logical, v.DeviceID)
}

func (a *app) record(id string) (*recordView, error) {
	s, err := a.r.RecordJSON(id)
	if err != nil {
		return nil, err
	}
	rec := &recordView{raw: s}
	if err := json.Unmarshal([]byte(s), rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// display renders a value's protobuf JSON for a person: the value of its
// one kind.
func display(raw json.RawMessage) string {
	var kinds map[string]json.RawMessage
	if err := json.Unmarshal(raw, &kinds); err != nil {
		return string(raw)
	}
	for kind, v := range kinds {
		switch kind {
		case "listValue":
			var l struct {
				Values []string `json:"values"`
			}
			if json.Unmarshal(v, &l) == nil {
				return strings.Join(l.Values, ", ")
			}
		default:
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
		}
		return string(v)
	}
	return string(raw)
}

func (a *app) list(args []string) error {
	if len(args) > 0 {
		return usagef("list takes no arguments")
	}
	s, err := a.r.ListJSON()
	if err != nil {
		return err
	}
	if a.json {
		fmt.Fprintln(a.stdout, s)
		return nil
	}
	var items []struct {
		ID       string                     `json:"id"`
		Type     string                     `json:"type"`
		Service  string                     `json:"serviceId"`
		Person   string                     `json:"personId"`
		Pending  bool                       `json:"pending"`
		Rejected string                     `json:"rejected"`
		Fields   map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tSERVICE\tPERSON\tSTATE\tSUMMARY")
	for _, it := range items {
		state := "synced"
		switch {
		case it.Rejected != "":
			state = "rejected (" + it.Rejected + ")"
		case it.Pending:
			state = "pending"
		}
		summary := ""
		for _, f := range []string{"behaviour_description", "sign", "type_code"} {
			if v, ok := it.Fields[f]; ok {
				summary = display(v)
				break
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.Type, it.Service, it.Person, state, summary)
	}
	if len(items) == 0 {
		fmt.Fprintln(w, "(no records)")
	}
	return w.Flush()
}

func (a *app) show(args []string) error {
	if len(args) != 1 {
		return usagef("show: want one record id")
	}
	rec, err := a.record(args[0])
	if err != nil {
		return err
	}
	if a.json {
		fmt.Fprintln(a.stdout, rec.raw)
		return nil
	}
	out := a.stdout
	fmt.Fprintf(out, "%s %s\n  service %s, person %s\n", rec.Type, rec.ID, rec.ServiceID, rec.PersonID)
	if rec.Rejected != nil {
		fmt.Fprintf(out, "  REJECTED by the server: %s: %s\n", rec.Rejected.Code, rec.Rejected.Reason)
	}
	if rec.Pending > 0 {
		fmt.Fprintf(out, "  %d change(s) waiting to sync\n", rec.Pending)
	}
	names := make([]string, 0, len(rec.Fields))
	for name := range rec.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIELD\tVALUE\tVERSION\tAUTHOR\tSTATE")
	for _, name := range names {
		f := rec.Fields[name]
		var state []string
		if f.Pending {
			state = append(state, "pending")
		}
		if f.Conflict {
			state = append(state, "CONFLICT (both values kept on the server; a manager resolves it)")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, display(f.Value), f.Version, f.Author, strings.Join(state, ", "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(rec.History) > 0 {
		fmt.Fprintln(out, "\nhistory (every version this device has seen, oldest first):")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, h := range rec.History {
			origin := "pulled"
			if h.Origin == "local" {
				origin = fmt.Sprintf("logged here (#%d)", h.Counter)
			}
			mark := ""
			if h.Winning {
				mark = "current"
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", h.Version, h.Field, display(h.Value), origin, mark)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(rec.Outbox) > 0 {
		fmt.Fprintln(out, "\noutbox:")
		for _, o := range rec.Outbox {
			line := fmt.Sprintf("  #%d %s: %s", o.Counter, o.Status, strings.Join(o.Fields, ", "))
			if o.Status == "rejected" {
				line += fmt.Sprintf(" — %s: %s (never resent)", o.ReasonCode, o.Reason)
			}
			if o.Restamps > 0 {
				line += fmt.Sprintf(" (re-stamped %d time(s))", o.Restamps)
			}
			fmt.Fprintln(out, line)
		}
	}
	return nil
}

func (a *app) enrol(args []string) error {
	fs := flag.NewFlagSet("enrol", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	label := fs.String("label", "shiftsync simulator", "")
	var code string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		code, args = args[0], args[1:] // enrol CODE --label TEXT
	}
	if err := fs.Parse(args); err != nil {
		return usagef("enrol: %v", err)
	}
	rest := fs.Args()
	if code == "" && len(rest) > 0 {
		code, rest = rest[0], rest[1:] // enrol --label TEXT CODE
	}
	if len(rest) > 0 {
		return usagef("enrol: unexpected %q", rest[0])
	}
	if code == "" {
		return usagef("enrol: want the one-time enrolment code a manager issued")
	}
	if a.server == "" {
		return usagef("enrol: --server URL (or SHIFTSYNC_SERVER) is required")
	}
	if err := a.r.Enrol(a.server, code, *label); err != nil {
		return fmt.Errorf("enrol failed [%s]: %w", replica.ErrorCode(err), err)
	}
	st, err := a.r.Status()
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(st)
	}
	fmt.Fprintf(a.stdout, "enrolled as device %s for user %s with %s\nsync with: shiftsync --device %s sync\n",
		st.DeviceID, st.UserID, st.ServerURL, a.r.Path())
	return nil
}

func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(b))
	return nil
}

func (a *app) sync(args []string) error {
	if len(args) > 0 {
		return usagef("sync takes no arguments")
	}
	st, err := a.r.Status()
	if err != nil {
		return err
	}
	var rep *replica.SyncReport
	switch {
	case a.token != "":
		if a.server == "" {
			return usagef("sync: --server URL (or SHIFTSYNC_SERVER) is required with --token")
		}
		rep, err = a.r.Sync(a.server, a.token)
	case st.Enrolled || st.Revoked:
		if a.server != "" && st.Enrolled && strings.TrimRight(a.server, "/") != st.ServerURL {
			return usagef("sync: this device enrolled with %s, not %s; drop --server, or pass --token", st.ServerURL, a.server)
		}
		rep, err = a.r.SyncEnrolled()
	default:
		return usagef("sync: the device is not enrolled: run shiftsync --server URL enrol CODE first, or sync with --server URL --token TOKEN")
	}
	if a.json && err == nil {
		b, jerr := json.Marshal(rep)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	out := a.stdout
	if rep.PushRounds > 0 {
		fmt.Fprintf(out, "pushed %d mutation(s) in %d round(s): %d accepted, %d quarantined, %d re-stamped\n",
			rep.Pushed, rep.PushRounds, rep.Accepted, rep.Quarantined, rep.Restamped)
	}
	if rep.PullPages > 0 {
		fmt.Fprintf(out, "pulled %d change(s) in %d page(s): %d applied\n", rep.Pulled, rep.PullPages, rep.Applied)
	}
	var conflicts []struct {
		Counter  int64  `json:"counter"`
		RecordID string `json:"recordId"`
		Field    string `json:"field"`
	}
	_ = json.Unmarshal([]byte(rep.ConflictsJSON), &conflicts)
	for _, c := range conflicts {
		fmt.Fprintf(out, "conflict: %s field %s (change #%d) was edited on another device too; both values are kept and a manager resolves it\n",
			c.RecordID, c.Field, c.Counter)
	}
	var rejected []struct {
		Counter    int64  `json:"counter"`
		RecordID   string `json:"recordId"`
		ReasonCode string `json:"reasonCode"`
		Reason     string `json:"reason"`
	}
	_ = json.Unmarshal([]byte(rep.RejectedJSON), &rejected)
	for _, r := range rejected {
		fmt.Fprintf(out, "rejected: %s (change #%d): %s: %s\n", r.RecordID, r.Counter, r.ReasonCode, r.Reason)
	}
	var purges []struct {
		ServiceID string   `json:"serviceId"`
		PersonID  string   `json:"personId"`
		Keep      []string `json:"keepPersonIds"`
		Records   int64    `json:"records"`
		Deferred  bool     `json:"deferred"`
		Unsent    int64    `json:"unsent"`
	}
	_ = json.Unmarshal([]byte(rep.PurgedJSON), &purges)
	for _, p := range purges {
		scope := "service " + p.ServiceID
		if p.PersonID != "" {
			scope += ", person " + p.PersonID
		}
		if len(p.Keep) > 0 {
			scope += " (keeping person(s) " + strings.Join(p.Keep, ", ") + ")"
		}
		if p.Deferred {
			fmt.Fprintf(out, "access ended to %s: its records are kept until %d unsent change(s) to them are pushed; the next sync purges them\n", scope, p.Unsent)
		} else {
			fmt.Fprintf(out, "access ended to %s: purged %d record(s) from this device\n", scope, p.Records)
		}
	}
	if rep.Purged > 0 || rep.PurgesDeferred > 0 {
		fmt.Fprintf(out, "purged %d record(s), %d purge(s) deferred\n", rep.Purged, rep.PurgesDeferred)
	}
	if err != nil {
		if replica.ErrorCode(err) == replica.CodeDeviceRevoked {
			return fmt.Errorf("sync failed [%s]: %w; the server revoked this device, so its records and unsent changes were deleted from it: enrol again with a new code", replica.ErrorCode(err), err)
		}
		st, serr := a.r.Status()
		kept := ""
		if serr == nil {
			kept = fmt.Sprintf("; %d change(s) kept in the outbox, nothing lost: sync again later", st.OutboxDepth)
		}
		return fmt.Errorf("sync failed [%s]: %w%s", replica.ErrorCode(err), err, kept)
	}
	fmt.Fprintln(out, "in sync")
	return nil
}

func (a *app) status(args []string) error {
	if len(args) > 0 {
		return usagef("status takes no arguments")
	}
	st, err := a.r.Status()
	if err != nil {
		return err
	}
	if a.json {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "device:\t%s\n", st.DeviceID)
	fmt.Fprintf(w, "replica:\t%s\n", a.r.Path())
	switch {
	case st.Revoked:
		fmt.Fprintf(w, "REVOKED:\tthe server revoked this device; at %s the replica was wiped (no records, no outbox, no credential). Enrol again with a new code.\n", when(st.RevokedUnixMs))
	case st.Enrolled:
		fmt.Fprintf(w, "enrolled:\tuser %s with %s since %s\n", st.UserID, st.ServerURL, when(st.EnrolledUnixMs))
	default:
		fmt.Fprintf(w, "enrolled:\tno (sync with --token, or run enrol CODE)\n")
	}
	outbox := fmt.Sprintf("%d pending", st.OutboxDepth)
	if st.OutboxDepth > 0 {
		outbox += fmt.Sprintf(" (oldest unsynced change made %s ago)", time.Duration(st.OldestUnsyncedAgeSeconds)*time.Second)
	}
	fmt.Fprintf(w, "outbox:\t%s\n", outbox)
	fmt.Fprintf(w, "rejected:\t%d change(s) on %d record(s)\n", st.Rejected, st.RejectedRecords)
	fmt.Fprintf(w, "records:\t%d\n", st.Records)
	fmt.Fprintf(w, "last counter:\t%d\n", st.LastCounter)
	fmt.Fprintf(w, "last sync:\t%s\n", when(st.LastSyncUnixMs))
	if st.LastError != "" {
		fmt.Fprintf(w, "last attempt:\t%s, failed: %s\n", when(st.LastAttemptUnixMs), st.LastError)
	}
	cursor := st.Cursor
	if cursor == "" {
		cursor = "(none: never pulled)"
	}
	fmt.Fprintf(w, "cursor:\t%s\n", cursor)
	fmt.Fprintf(w, "clock offset:\t%s (server minus device)\n", time.Duration(st.ClockOffsetMs)*time.Millisecond)
	return w.Flush()
}

func when(ms int64) string {
	if ms == 0 {
		return "never"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
