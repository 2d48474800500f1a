// Command shiftsyncload is the load generator of shiftsync: it provisions a
// fresh SQLite database, starts a real shiftsyncd serve on a loopback port,
// enrols phones through the admin API (AdminService.IssueEnrolmentCode) and
// AuthService.Enrol, and drives the scenarios of the shift change:
//
//   - storm: every phone starts within one second and does Refresh, a Push
//     of 10 records and a Pull to the end, as the night shift hands over;
//   - push: 10 phones push 1,000 records of about 300 bytes each, at once;
//   - fresh-pull: a new phone pulls 100,000 records into a fresh replica
//     with the reference replica library (mobile-contract/replica).
//
// It prints throughput, p50/p99/max of every kind of call and of whole
// device syncs, errors by Connect code, and the server's CPU time and peak
// resident memory (from /proc/PID/stat). Each figure is printed beside a
// baseline measured in the same run, as a ratio: raw SQLite inserts of the
// same rows in the same per-field shape into a fresh file, and an empty
// Connect unary call (the RPC floor). Every call has a deadline, every
// phone's sync a bound, and the whole run -max-duration; nothing leaves
// the loopback interface.
//
// Usage:
//
//	shiftsyncload [-scenario storm|push|fresh-pull|all] [-phones N] [-http1] [-records N] ...
//
// make load runs it with the Makefile's PHONES, SCENARIO, RECORDS and
// PROTO.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := loadMain(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shiftsyncload:", err)
		os.Exit(1)
	}
}

// config is what one run does.
type config struct {
	scenarios   []string
	phones      int
	pushPhones  int
	pushRecords int
	records     int
	h2c         bool
	timeout     time.Duration // of one call
	syncTimeout time.Duration // of one phone's storm sync, retries included
	maxDuration time.Duration
	binary      string
	dir         string
	serverFlags []string
}

// Bounds on what one run may ask for.
const (
	maxPhones  = 10_000
	maxRecords = 1_000_000
)

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("shiftsyncload", flag.ContinueOnError)
	fs.SetOutput(out)
	scenario := fs.String("scenario", "all", "`scenarios` to run, comma-separated: storm, push, fresh-pull, or all")
	fs.IntVar(&c.phones, "phones", 100, "phones in the storm")
	fs.IntVar(&c.pushPhones, "push-phones", 10, "phones pushing at once in the push scenario")
	fs.IntVar(&c.pushRecords, "push-records", 1000, "records each of them pushes, in one call")
	fs.IntVar(&c.records, "records", 100_000, "records the new replica pulls in fresh-pull")
	http1 := fs.Bool("http1", false, "speak HTTP/1.1 instead of unencrypted HTTP/2 (h2c)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "deadline of each call")
	fs.DurationVar(&c.syncTimeout, "sync-timeout", time.Minute, "bound on one phone's storm sync, retries included")
	fs.DurationVar(&c.maxDuration, "max-duration", 10*time.Minute, "bound on the whole run")
	fs.StringVar(&c.binary, "shiftsyncd", "", "shiftsyncd `binary` to serve with (default: go build it)")
	fs.StringVar(&c.dir, "dir", "", "`directory` for the databases and the server's log (default: a new temporary one, removed after)")
	serverFlags := fs.String("server-flags", "", "extra flags for shiftsyncd serve, space-separated")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.h2c = !*http1
	c.serverFlags = strings.Fields(*serverFlags)
	for s := range strings.SplitSeq(*scenario, ",") {
		switch s = strings.TrimSpace(s); s {
		case "all":
			c.scenarios = append(c.scenarios, "storm", "push", "fresh-pull")
		case "storm", "push", "fresh-pull":
			c.scenarios = append(c.scenarios, s)
		default:
			return c, fmt.Errorf("unknown scenario %q", s)
		}
	}
	switch {
	case c.phones < 1 || c.phones > maxPhones, c.pushPhones < 1 || c.pushPhones > maxPhones:
		return c, fmt.Errorf("phones must be between 1 and %d", maxPhones)
	case c.pushRecords < 1 || c.pushRecords > 1000:
		return c, errors.New("push-records must be between 1 and 1000 (one push)")
	case c.records < 1 || c.records > maxRecords:
		return c, fmt.Errorf("records must be between 1 and %d", maxRecords)
	}
	return c, nil
}

// loadMain runs the generator with args, writing its report to out.
func loadMain(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.maxDuration)
	defer cancel()
	if cfg.dir == "" {
		if cfg.dir, err = os.MkdirTemp("", "shiftsyncload-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.dir)
	}
	if cfg.binary == "" {
		if cfg.binary, err = buildServer(ctx, cfg.dir); err != nil {
			return err
		}
	}
	// Phones 0..phones-1 storm, the next pushPhones push, and the last
	// two write and read the fresh pull's records, each group in services
	// of its own.
	storm := cfg.phones
	if !slices.Contains(cfg.scenarios, "storm") {
		storm = 0
	}
	pushFirst := roundUp(storm)
	freshFirst := roundUp(pushFirst + cfg.pushPhones)
	path := filepath.Join(cfg.dir, "server.db")
	code, err := provision(ctx, path, freshFirst+2)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	srv, err := startServer(ctx, cfg.binary, path, cfg.serverFlags)
	if err != nil {
		return err
	}
	defer srv.stop()
	proto := "h2c"
	if !cfg.h2c {
		proto = "HTTP/1.1"
	}
	fmt.Fprintf(out, "shiftsyncd at %s (pid %d, %s, %s); scenarios %s\n", srv.url, srv.pid(), proto, cfg.dir, strings.Join(cfg.scenarios, ","))
	m, err := enrolManager(ctx, srv.url, cfg.h2c, code)
	if err != nil {
		return fmt.Errorf("enrol the manager: %w", err)
	}
	r := &run{cfg: cfg, srv: srv, manager: m, out: out}
	callers := min(max(storm, cfg.pushPhones), 64)
	floor, floorLat, err := rpcFloor(ctx, srv.url, cfg.h2c, callers, 2*time.Second)
	if err != nil {
		return fmt.Errorf("rpc floor: %w", err)
	}
	fmt.Fprintf(out, "baseline: empty Connect unary call, %d callers: %.0f calls/s, %s\n", callers, floor, floorLat)
	for _, s := range cfg.scenarios {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch s {
		case "storm":
			phones, err := r.enrolPhones(ctx, 0, cfg.phones)
			if err != nil {
				return err
			}
			if err := r.storm(ctx, phones, floor); err != nil {
				return err
			}
		case "push":
			phones, err := r.enrolPhones(ctx, pushFirst, cfg.pushPhones)
			if err != nil {
				return err
			}
			if err := r.push(ctx, phones, cfg.dir); err != nil {
				return err
			}
		case "fresh-pull":
			writer, err := r.enrolPhones(ctx, freshFirst, 1)
			if err != nil {
				return err
			}
			if err := r.freshPull(ctx, writer[0], freshFirst+1, cfg.dir); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// roundUp rounds n up to a whole number of services' phones, so the
// scenarios' phones do not share services.
func roundUp(n int) int {
	return (n + phonesPerService - 1) / phonesPerService * phonesPerService
}
