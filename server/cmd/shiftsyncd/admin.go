package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/wiring"
)

const adminUsage = `usage: shiftsyncd admin [-db FILE|DSN] [-state DIR] <command> [flags]
       shiftsyncd admin <command> -h   a command's flags

Manage the identity store directly, as the operator of the server (every
change is audited with your operating-system user name). The operator is
not held to the authority rules; through the AdminService RPC, managers act
only in the services they manage and organisation administrators only in
their organisation (README, "Who may do what").

commands:
  create-organisation -id ID -name NAME
  create-service      -id ID -organisation ID -name NAME
  create-person       -id ID -service ID -name NAME
  name-person         -id ID -name NAME   the name a person supported is shown by
  create-user         -id ID -organisation ID -name NAME [-agency AGENCY]
  add-membership      -user ID -service ID -role ROLE [-person ID] [-start TIME] [-end TIME]
                      only the operator may start one in the past; one recorded
                      after it ended gives nobody authority over the user
  end-membership      -id N [-at TIME]    N from add-membership or list-memberships
  grant-org-admin     -user ID -organisation ID   make a user of the organisation
                      its administrator: they administer all its services
                      (memberships, codes, devices) but read no records
  end-org-admin       -user ID -organisation ID
  issue-code          -user ID          print a one-time enrolment code
  revoke-device       -device ID -reason TEXT
  list-users          -organisation ID  its users: id, name, agency, memberships
  list-memberships    -user ID | -service ID   every membership, ended or not:
                      id, user, service, person, role, start, end
  list-devices        -service ID       devices of everyone who has had a membership in it
  rotate-key          sign new tokens with a new key; tokens of the old one stay valid
  set-thresholds      -organisation ID -file F.json   governance thresholds (a new version)
  backup              -o FILE   copy the live database into a new FILE in one
                      step (the server keeps serving), check it with
                      integrity_check and verify-audit, fsync it, record it
  restore             -from BACKUP [-db FILE]   with the server stopped: verify
                      the backup (integrity_check, verify-audit), keep the live
                      database aside, install the backup and start a new epoch:
                      phones re-push what they had acknowledged since the backup
  new-epoch           -restored-from TEXT [-taken-at TIME]   after a store was
                      restored by its database's own tools (pg_restore,
                      point-in-time recovery, litestream restore), before any
                      server starts on it: start a new epoch, so phones re-push
                      what they had acknowledged that the copy lacks
  accept-gap          -device ID [-through N] -reason TEXT   after a restore from
                      an older backup (-older), a device whose next counter is
                      above what the store holds has every push answered
                      not_processed: give up its counters through N, which no one
                      holds any more (at most, and by default, the one before the
                      first it pushed past the gap)
  copy-store          -from FILE.db -to postgres://...   move a SQLite store (stopped)
                      into a new PostgreSQL database: every row, the store id,
                      the change log positions (devices keep syncing), and the
                      audit key and heads, into -state
  verify-audit        [-heads FILE] [-head JSON] [-key PUB]
                      check the audit log's hash chain against its signed heads
  verify-pack         -file PACK.csv|PACK.html   offline, no database: recompute
                      an evidence pack's row hashes and root from the file
                      alone and name each row that no longer matches
  verify-digests      rebuild every replica integrity digest from the records
                      and compare it with the stored one; exit 1 naming each
                      unit and bucket that differs

roles: support_worker shift_lead pbs_lead manager quality_lead safeguarding_lead partner
times: RFC 3339, e.g. 2026-11-24T09:00:00Z; the default is now`

// adminCommand is one admin subcommand: it declares its flags on fs and
// returns the function that runs it once they are parsed.
type adminCommand func(fs *flag.FlagSet, a *admin) func(ctx context.Context) error

// admin is the state the admin subcommands share.
type admin struct {
	identity shiftsync.IdentityStore
	store    wiring.Store
	path     string // beside which the audit key and heads are kept (see openStore)
	operator shiftsync.Principal
	stdout   io.Writer
}

var adminCommands = map[string]adminCommand{
	"create-organisation": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		id, name := fs.String("id", "", "organisation id"), fs.String("name", "", "name")
		return func(ctx context.Context) error { return a.identity.CreateOrganisation(ctx, a.operator, *id, *name) }
	},
	"create-service": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		id, org, name := fs.String("id", "", "service id"), fs.String("organisation", "", "organisation id"), fs.String("name", "", "name")
		return func(ctx context.Context) error { return a.identity.CreateService(ctx, a.operator, *id, *org, *name) }
	},
	"create-person": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		id, service, name := fs.String("id", "", "person id"), fs.String("service", "", "service id"), fs.String("name", "", "name")
		return func(ctx context.Context) error { return a.identity.CreatePerson(ctx, a.operator, *id, *service, *name) }
	},
	"create-user": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		id, org, name := fs.String("id", "", "user id"), fs.String("organisation", "", "organisation id"), fs.String("name", "", "name")
		agency := fs.String("agency", "", "the partner agency the user works for; empty for the organisation's own staff")
		return func(ctx context.Context) error {
			return a.identity.CreateUser(ctx, a.operator, *id, *org, *name, *agency)
		}
	},
	"add-membership": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		userID, service, person := fs.String("user", "", "user id"), fs.String("service", "", "service id"), fs.String("person", "", "for a caseload: the one person supported")
		role := fs.String("role", "", "role")
		start, end := timeFlag(fs, "start", "when it starts (default now)"), timeFlag(fs, "end", "when it ends (default open-ended)")
		return func(ctx context.Context) error {
			m := shiftsync.Membership{UserID: *userID, ServiceID: *service, PersonID: *person, Role: shiftsync.Role(*role), Start: start.or(time.Now()), End: end.t}
			id, err := a.identity.AddMembership(ctx, a.operator, m)
			if err == nil {
				fmt.Fprintf(a.stdout, "membership %d\n", id)
			}
			return err
		}
	},
	"end-membership": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		id, at := fs.Int64("id", 0, "membership id"), timeFlag(fs, "at", "when it ends (default now)")
		return func(ctx context.Context) error {
			return a.identity.EndMembership(ctx, a.operator, *id, at.or(time.Now()))
		}
	},
	"grant-org-admin": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		userID, org := fs.String("user", "", "user id"), fs.String("organisation", "", "organisation id")
		return func(ctx context.Context) error {
			err := a.identity.GrantOrganisationAdmin(ctx, a.operator, *userID, *org)
			if err == nil {
				fmt.Fprintf(a.stdout, "%s administers organisation %s\n", *userID, *org)
			}
			return err
		}
	},
	"end-org-admin": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		userID, org := fs.String("user", "", "user id"), fs.String("organisation", "", "organisation id")
		return func(ctx context.Context) error {
			err := a.identity.EndOrganisationAdmin(ctx, a.operator, *userID, *org)
			if err == nil {
				fmt.Fprintf(a.stdout, "%s no longer administers organisation %s\n", *userID, *org)
			}
			return err
		}
	},
	"issue-code": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		userID := fs.String("user", "", "user id")
		return func(ctx context.Context) error {
			code, expires, err := a.identity.IssueEnrolmentCode(ctx, a.operator, *userID)
			if err == nil {
				fmt.Fprintln(a.stdout, code)
				fmt.Fprintf(os.Stderr, "one-time enrolment code for %s; it expires at %s\n", *userID, expires.Local().Format(time.RFC3339))
			}
			return err
		}
	},
	"revoke-device": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		device, reason := fs.String("device", "", "device id"), fs.String("reason", "", "why, for the audit log")
		return func(ctx context.Context) error {
			if *reason == "" {
				return errors.New("revoke-device: -reason is required")
			}
			at, err := a.identity.RevokeDevice(ctx, a.operator, *device, *reason)
			if err == nil {
				fmt.Fprintf(a.stdout, "device %s revoked at %s\n", *device, at.Format(time.RFC3339))
			}
			return err
		}
	},
	"list-users": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		org := fs.String("organisation", "", "organisation id")
		return func(ctx context.Context) error {
			users, err := a.identity.Users(ctx, *org)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tNAME\tAGENCY\tMEMBERSHIPS\tCREATED")
			for _, u := range users {
				ms, err := a.identity.Memberships(ctx, u.ID)
				if err != nil {
					return err
				}
				inForce := 0
				for _, m := range ms {
					if !m.Start.After(time.Now()) && (m.End.IsZero() || m.End.After(time.Now())) {
						inForce++
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d in force, %d in all\t%s\n", u.ID, u.Name, cmp.Or(u.Agency, "-"), inForce, len(ms), formatTime(u.Created))
			}
			return tw.Flush()
		}
	},
	"list-memberships": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		userID, service := fs.String("user", "", "user id"), fs.String("service", "", "service id")
		return func(ctx context.Context) error {
			var (
				ms  []shiftsync.Membership
				err error
			)
			switch {
			case (*userID == "") == (*service == ""):
				return errors.New("list-memberships: give one of -user or -service")
			case *userID != "":
				if _, err := a.identity.User(ctx, *userID); err != nil {
					return err
				}
				ms, err = a.identity.Memberships(ctx, *userID)
			default:
				if _, err := a.identity.ServiceOrganisation(ctx, *service); err != nil {
					return err
				}
				ms, err = a.identity.ServiceMemberships(ctx, *service)
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tSERVICE\tPERSON\tROLE\tSTART\tEND")
			for _, m := range ms {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.UserID, m.ServiceID, cmp.Or(m.PersonID, "-"), m.Role, formatTime(m.Start), formatTime(m.End))
			}
			return tw.Flush()
		}
	},
	"list-devices": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		service := fs.String("service", "", "service id")
		return func(ctx context.Context) error {
			ms, err := a.identity.ServiceMemberships(ctx, *service)
			if err != nil {
				return err
			}
			var users []string
			for _, m := range ms {
				users = append(users, m.UserID)
			}
			list, err := a.identity.Devices(ctx, users)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tUSER\tLABEL\tENROLLED\tLAST PUSH\tREVOKED")
			for _, d := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.UserID, d.Label, formatTime(d.EnrolledAt), formatTime(d.LastPushAt), formatTime(d.RevokedAt))
			}
			return tw.Flush()
		}
	},
	"rotate-key": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		return func(ctx context.Context) error {
			k, err := a.identity.RotateKey(ctx, a.operator)
			if err == nil {
				fmt.Fprintf(a.stdout, "new tokens are signed with key %s; tokens of the previous key stay valid until they expire\n", k.ID)
			}
			return err
		}
	},
	"set-thresholds": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		org, file := fs.String("organisation", "", "organisation id"), fs.String("file", "", "JSON file of thresholds (- for standard input)")
		return func(ctx context.Context) error {
			th, err := readThresholds(*file)
			if err != nil {
				return err
			}
			version, err := (&shiftsync.Governance{Store: a.store.Engine, Now: time.Now}).SetThresholds(ctx, a.operator, *org, th)
			if err == nil {
				fmt.Fprintf(a.stdout, "governance thresholds version %d set for %s; findings evaluated from now on carry it\n", version, *org)
			}
			return err
		}
	},
	"backup": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		out := fs.String("o", "", "the new `file` to write the backup to (an existing file is never overwritten)")
		return func(ctx context.Context) error {
			if *out == "" {
				return errors.New("backup: -o FILE is required")
			}
			if a.store.Backups == nil {
				return errors.New("backup: this store is backed up by its database's own tools (for PostgreSQL: pg_basebackup or WAL archiving), not by shiftsyncd")
			}
			started := time.Now()
			b, err := takeBackup(ctx, a.store.Backups, a.path, *out, a.operator)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backup written to %s in %s: %d bytes, sha256 %x\n", b.Path, time.Since(started).Round(time.Millisecond), b.Bytes, b.SHA256)
			fmt.Fprintf(a.stdout, "integrity_check ok; audit log verified up to entry %d; holds the change log up to position %d, everything committed before %s\n",
				b.AuditSeq, b.HeadSeq, b.TakenAt.Format(time.RFC3339))
			return nil
		}
	},
	"new-epoch": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		from := fs.String("restored-from", "", "what the store was restored from, for the audit log (e.g. \"pg_restore of nightly-2026-12-03.dump\")")
		takenAt := timeFlag(fs, "taken-at", "when that copy was taken, RFC 3339 (default: unknown)")
		return func(ctx context.Context) error {
			if strings.TrimSpace(*from) == "" {
				return errors.New("new-epoch: -restored-from is required: say what the store was restored from")
			}
			epoch := shiftsync.NewEpoch()
			err := a.store.Engine.Update(ctx, func(tx shiftsync.Tx) error {
				return shiftsync.StartEpoch(ctx, tx, epoch, shiftsync.Backup{Path: *from, TakenAt: takenAt.t}, a.operator, time.Now())
			})
			if err == nil {
				fmt.Fprintf(a.stdout, "new epoch %s: devices re-push what they had acknowledged that the restored store lacks at their next sync; start the servers\n", epoch)
			}
			return err
		}
	},
	"name-person": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		id, name := fs.String("id", "", "person id"), fs.String("name", "", "the name to show them by")
		return func(ctx context.Context) error {
			if strings.TrimSpace(*name) == "" {
				return errors.New("name-person: -name is required")
			}
			err := a.identity.SetPersonName(ctx, a.operator, *id, strings.TrimSpace(*name))
			if err == nil {
				fmt.Fprintf(a.stdout, "person %s is shown as %q\n", *id, strings.TrimSpace(*name))
			}
			return err
		}
	},
	"accept-gap": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		device, reason := fs.String("device", "", "device id"), fs.String("reason", "", "why the counters are lost, for the audit log")
		through := fs.Uint64("through", 0, "the last `counter` to give up (default: the one before the first the device pushed past the gap)")
		return func(ctx context.Context) error {
			if *reason == "" {
				return errors.New("accept-gap: -reason is required")
			}
			if _, err := a.identity.Device(ctx, *device); err != nil {
				return fmt.Errorf("accept-gap: %w", err)
			}
			var from, to uint64
			err := a.store.Engine.Update(ctx, func(tx shiftsync.Tx) (err error) {
				if from, err = shiftsync.AcceptCounterGap(ctx, tx, *device, *through, *reason, a.operator, time.Now()); err != nil {
					return err
				}
				to, err = tx.Acknowledged(ctx, *device)
				return err
			})
			if err == nil {
				fmt.Fprintf(a.stdout, "device %s: counters %d to %d given up (audited); its pushes from %d on are processed\n", *device, from, to, to+1)
			}
			return err
		}
	},
	"verify-audit": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		heads := fs.String("heads", "", "file of signed audit heads, e.g. an off-box copy (default: the one beside the database)")
		head := fs.String("head", "", "one more signed head, as JSON: the \"head\" of an \"audit head\" line of the server log")
		key := fs.String("key", "", "the audit public key, base64, as the server logs it at start (default: the key file beside the database)")
		return func(ctx context.Context) error {
			return verifyAudit(ctx, a.store.Audit, a.path, *heads, *head, *key, a.stdout)
		}
	},
	"verify-digests": func(fs *flag.FlagSet, a *admin) func(context.Context) error {
		return func(ctx context.Context) error { return verifyDigests(ctx, a.store.Engine, a.stdout) }
	},
}

// verifyDigests runs [shiftsync.VerifyDigests] and prints each bucket that
// differs; it fails when one does.
func verifyDigests(ctx context.Context, st shiftsync.Store, stdout io.Writer) error {
	diffs, err := shiftsync.VerifyDigests(ctx, st)
	if err != nil {
		return fmt.Errorf("verify-digests: %w", err)
	}
	for _, d := range diffs {
		fmt.Fprintf(stdout, "digest differs: service %q person %q record type %q agency %q bucket %d: stored %s, rebuilt from the records %s\n",
			d.Unit.ServiceID, d.Unit.PersonID, d.Unit.RecordType, d.Unit.Agency, d.Bucket, d.Stored, d.Rebuilt)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("verify-digests: %d buckets differ from the records: a record was changed outside shiftsyncd, or a write was lost; restore the affected records from a backup or re-run the pushes", len(diffs))
	}
	fmt.Fprintln(stdout, "digests match the records")
	return nil
}

// readOnlyCommands write nothing to the audit log; every other command
// signs a start and a final audit head around what it does.
var readOnlyCommands = map[string]bool{"verify-audit": true, "verify-digests": true, "list-devices": true, "list-users": true, "list-memberships": true}

// adminFlags returns the flags of admin itself, before its command.
func adminFlags() (fs *flag.FlagSet, db, state *string) {
	fs = flag.NewFlagSet("admin", flag.ContinueOnError)
	return fs, fs.String("db", "./data/shiftsync.db", dbUsage), fs.String("state", "./data", stateUsage)
}

// runAdmin runs "shiftsyncd admin". Its own flags (-db, -state) are
// configuration and read the environment too ([parseConfig]); a command's
// flags are the arguments of one audited action and do not: a variable left
// set in a shell must never change what an operator's command does to the
// records.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path, state := adminFlags()
	if err := parseConfig(fs, adminUsage, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, adminUsage)
		return usageError{errors.New("admin: no command given")}
	}
	name := fs.Arg(0)
	if name == "verify-pack" { // offline: it opens no store
		return verifyPack(fs.Args()[1:], stdout, stderr)
	}
	if name == "copy-store" { // it opens two stores, not -db
		return copyStore(ctx, fs.Args()[1:], *state, stdout, stderr)
	}
	if name == "restore" { // it replaces -db before opening it
		return restoreStore(ctx, fs.Args()[1:], *path, shiftsync.Principal{UserID: "operator:" + operatorName()}, stdout, stderr)
	}
	command, ok := adminCommands[name]
	if !ok {
		fmt.Fprintf(stderr, "shiftsyncd: unknown admin command %q\n%s\n", name, adminUsage)
		return usageError{fmt.Errorf("unknown admin command %q", name)}
	}
	a := &admin{stdout: stdout, operator: shiftsync.Principal{UserID: "operator:" + operatorName()}}
	sub := flag.NewFlagSet(name, flag.ContinueOnError)
	sub.SetOutput(stderr)
	runCommand := command(sub, a)
	sub.Usage = func() {
		fmt.Fprintf(sub.Output(), "usage: shiftsyncd admin [-db FILE] %s [flags]\n\nflags (from the command line only):\n", name)
		sub.PrintDefaults()
	}
	if err := sub.Parse(fs.Args()[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if sub.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", name, sub.Args())
	}
	if !wiring.IsPostgres(*path) {
		if _, err := os.Stat(*path); err != nil {
			return fmt.Errorf("no database at %s (run shiftsyncd migrate or serve first): %w", *path, err)
		}
	}
	open, auditPath := openStore(*path, *state)
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var err error
	if a.store, err = open(nil, log); err != nil {
		return err
	}
	defer a.store.Close()
	a.identity, a.path = a.store.Identities, auditPath
	if readOnlyCommands[name] {
		return runCommand(ctx)
	}
	sealer, err := openSealer(ctx, a.store.Audit, a.store.Engine.StoreID(), a.path, shiftsync.AuditProcessAdmin, log, false)
	if err != nil {
		return err
	}
	err = runCommand(ctx)
	_, sealErr := sealer.Close(context.WithoutCancel(ctx)) // what the command wrote is covered even if it was interrupted
	return errors.Join(err, sealErr)
}

// operatorName is the operating-system user running the command.
func operatorName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// optionalTimeFlag is a flag holding an RFC 3339 time, unset by default.
type optionalTimeFlag struct{ t time.Time }

func timeFlag(fs *flag.FlagSet, name, usage string) *optionalTimeFlag {
	f := &optionalTimeFlag{}
	fs.Var(f, name, usage)
	return f
}

func (f *optionalTimeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *optionalTimeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	f.t = t
	return err
}

// or returns the time, or def if it was not set.
func (f *optionalTimeFlag) or(def time.Time) time.Time {
	if f.t.IsZero() {
		return def
	}
	return f.t
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// readThresholds reads governance thresholds as JSON from a file ("-":
// standard input). Thresholds the JSON leaves out keep their defaults;
// unknown names are refused, so a misspelt threshold is not ignored.
func readThresholds(path string) (shiftsync.Thresholds, error) {
	th := shiftsync.DefaultThresholds
	if path == "" {
		return th, errors.New("-file is required: a JSON object of thresholds, e.g. {\"operationalise_deadline\": \"24h\"}")
	}
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return th, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(io.LimitReader(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&th); err != nil {
		return th, fmt.Errorf("thresholds %s: %w", path, err)
	}
	return th, nil
}
