package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
)

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
	if rej := rec.Rejected; rej != nil {
		fmt.Fprintf(out, "  REJECTED by the server: %s: %s\n", rej.Code, rej.Reason)
		fixable := false
		for _, p := range rej.FieldErrors {
			if p.Field == "" {
				fmt.Fprintf(out, "    the record: %s (%s)\n", p.Message, p.Reason)
				continue
			}
			fixable = true
			fmt.Fprintf(out, "    to fix: %s: %s (%s)\n", p.Field, p.Message, p.Reason)
		}
		if fixable || len(rej.FieldErrors) == 0 {
			fmt.Fprintf(out, "  fix it with: shiftsync edit %s field=value ... (sent as a correction with every field of the record)\n", rec.ID)
		} else {
			fmt.Fprintln(out, "  an edit of its fields cannot fix this: your manager sees it in the server's quarantine")
		}
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
