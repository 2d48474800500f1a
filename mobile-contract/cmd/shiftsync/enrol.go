package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/shiftsync/shiftsync/mobile-contract/replica"
)

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
