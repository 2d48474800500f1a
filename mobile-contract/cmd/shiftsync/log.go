package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

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
			domains := behaviourDomains()
			if !slices.Contains(domains, *domain) {
				return usagef("log incident: --domain %q is not a behaviour domain: one of %s", *domain, strings.Join(domains, ", "))
			}
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
		return refused(err)
	}
	fmt.Fprintln(a.stdout, id)
	return nil
}

// behaviourDomains lists the behaviour domains of an incident's MOAS
// intensity: its intensity_<domain> fields, in declaration order.
func behaviourDomains() []string {
	var out []string
	fields := recordMessage("incident").Fields()
	for i := range fields.Len() {
		if d, ok := strings.CutPrefix(string(fields.Get(i).Name()), "intensity_"); ok {
			out = append(out, d)
		}
	}
	return out
}
