package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// envPrefix starts the name of every flag's environment variable.
const envPrefix = "SHIFTSYNC_"

// envName is the environment variable of a flag: SHIFTSYNC_ and the flag's
// name in upper snake case (-backup-every: SHIFTSYNC_BACKUP_EVERY).
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// precedence is what the usage of every configured command says of where
// a setting comes from.
const precedence = `Every flag can also be set by the environment variable shown beside it.
A flag given on the command line wins over its environment variable, which
wins over the default.`

// usageError is an error in how shiftsyncd was called: an unknown command
// or flag, or a flag's value it cannot read. main exits 2 for it, as the
// flag package does, after printing the usage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parseConfig parses args into fs, first setting every flag whose
// environment variable ([envName]) is set from it, so a flag on the
// command line wins over the environment, which wins over the default.
// It prints the usage of fs (head, then every flag with its variable) to
// stdout and returns [flag.ErrHelp] for -h or -help; any other error is a
// [usageError], printed to stderr with the usage.
func parseConfig(fs *flag.FlagSet, head string, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard) // parseConfig prints the errors and usage itself
	fs.Usage = func() {}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	err := errors.Join(errs...)
	if err == nil {
		err = fs.Parse(args)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs, head)
		return err
	default:
		fmt.Fprintln(stderr, "shiftsyncd:", err)
		printUsage(stderr, fs, head)
		return usageError{err}
	}
}

// printUsage writes head, then each flag of fs with its environment
// variable, its description and its default.
func printUsage(w io.Writer, fs *flag.FlagSet, head string) {
	fmt.Fprintln(w, head)
	fmt.Fprintf(w, "\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		if kind != "" {
			kind = " " + kind
		}
		fmt.Fprintf(w, "  -%s%s   $%s\n", f.Name, kind, envName(f.Name))
		fmt.Fprintf(w, "        %s", usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintf(w, "\n%s\n", precedence)
}

// prefixList is a flag holding comma-separated CIDRs, masked.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(v string) error {
	*l = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	for cidr := range strings.SplitSeq(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			return err
		}
		*l = append(*l, p.Masked())
	}
	return nil
}
