package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
)

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
