package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

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
	fmt.Fprintf(w, "integrity:\t%s\n", integrity(st.VerifiedUnixMs, st.VerifiedCursor, st.MismatchJSON))
	fmt.Fprintf(w, "clock offset:\t%s (server minus device)\n", time.Duration(st.ClockOffsetMs)*time.Millisecond)
	return w.Flush()
}

// integrity says what the last verification of the replica's digests
// found: "never verified", "verified at …", or each unit and bucket that
// still differed.
func integrity(at int64, cursor, mismatchJSON string) string {
	if at == 0 {
		return "never verified"
	}
	var mismatch []struct {
		ServiceID, PersonID, RecordType string
		Bucket                          int
	}
	if err := json.Unmarshal([]byte(mismatchJSON), &mismatch); err != nil || len(mismatch) == 0 {
		return fmt.Sprintf("verified at %s (cursor %s): the replica holds what the server holds", when(at), cursor)
	}
	var parts []string
	for _, m := range mismatch {
		parts = append(parts, fmt.Sprintf("mismatch in unit %s/%s/%s bucket %d", m.ServiceID, m.PersonID, m.RecordType, m.Bucket))
	}
	return fmt.Sprintf("%s (checked at %s, after one repair; the next sync tries again)", strings.Join(parts, "; "), when(at))
}

func when(ms int64) string {
	if ms == 0 {
		return "never"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
