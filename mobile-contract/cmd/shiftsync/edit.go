package main

import (
	"fmt"
	"strings"
)

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
		return refused(err)
	}
	if rec.Rejected != nil {
		fmt.Fprintf(a.stdout, "corrected %s: %s (queued for sync with every field of its rejected change, as its correction)\n", args[0], strings.Join(args[1:], " "))
		return nil
	}
	fmt.Fprintf(a.stdout, "edited %s: %s (queued for sync)\n", args[0], strings.Join(args[1:], " "))
	return nil
}
