package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
)

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
	if rep.Repaired > 0 {
		fmt.Fprintf(out, "integrity: %d bucket(s) differed from the server and were pulled again: %s\n", rep.Repaired, rep.RepairedJSON)
	}
	switch rep.Verify {
	case replica.VerifyMatch:
		fmt.Fprintln(out, "integrity: verified, the replica holds what the server holds")
	case replica.VerifyMismatch:
		fmt.Fprintf(out, "integrity: MISMATCH after the repair: %s\n", rep.MismatchJSON)
	case replica.VerifyFailed:
		fmt.Fprintf(out, "integrity: not verified: %s\n", rep.VerifyError)
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
