package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// configFlagSets are every flag set whose flags read the environment.
func configFlagSets() map[string]*flag.FlagSet {
	migrate, _ := migrateFlags()
	admin, _, _ := adminFlags()
	return map[string]*flag.FlagSet{
		"serve":   NewMain(io.Discard, io.Discard).FlagSet(),
		"migrate": migrate,
		"admin":   admin,
	}
}

// envSamples holds, for every configuration flag, a value other than its
// default as the environment gives it, and the value the flag then holds.
// A flag added without a sample fails TestConfig_EveryFlagHasAnEnvVar.
var envSamples = map[string]struct{ env, want string }{
	"db":                 {"/srv/care/shiftsync.db", "/srv/care/shiftsync.db"},
	"state":              {"/srv/care/state", "/srv/care/state"},
	"addr":               {"127.0.0.1:18201", "127.0.0.1:18201"},
	"tokens":             {"/etc/shiftsync/tokens.json", "/etc/shiftsync/tokens.json"},
	"issuer":             {"https://sync.example.org", "https://sync.example.org"},
	"audience":           {"care-app", "care-app"},
	"dev":                {"true", "true"},
	"evaluate-every":     {"90s", "1m30s"},
	"shutdown-timeout":   {"3s", "3s"},
	"roster-before":      {"6h", "6h0m0s"},
	"roster-after":       {"2h", "2h0m0s"},
	"roster-keep-writes": {"720h", "720h0m0s"},
	"metrics-token":      {"scrape-secret", "scrape-secret"},
	"backup-dir":         {"/var/backups/shiftsync", "/var/backups/shiftsync"},
	"backup-every":       {"6h", "6h0m0s"},
	"backup-keep":        {"28", "28"},
	"max-in-flight":      {"32", "32"},
	"trusted-proxies":    {"10.1.2.3/8, 192.168.0.0/16", "10.0.0.0/8,192.168.0.0/16"},
}

// TestConfig_EveryFlagHasAnEnvVar walks every configuration flag set:
// each flag's SHIFTSYNC_ variable sets it, and the flag given on the
// command line wins over the variable.
func TestConfig_EveryFlagHasAnEnvVar(t *testing.T) {
	for set, fs := range configFlagSets() {
		fs.VisitAll(func(f *flag.Flag) {
			t.Run(set+"/"+f.Name, func(t *testing.T) {
				sample, ok := envSamples[f.Name]
				if !ok {
					t.Fatalf("flag -%s of %s has no sample in envSamples: add one", f.Name, set)
				}
				if sample.want == f.DefValue {
					t.Fatalf("the sample of -%s is its default %q: it would prove nothing", f.Name, f.DefValue)
				}
				t.Setenv(envName(f.Name), sample.env)
				fresh := configFlagSets()[set]
				if err := parseConfig(fresh, "usage", nil, io.Discard, io.Discard); err != nil {
					t.Fatalf("parse with %s=%q: %v", envName(f.Name), sample.env, err)
				}
				if got := fresh.Lookup(f.Name).Value.String(); got != sample.want {
					t.Errorf("%s=%q: -%s = %q, want %q", envName(f.Name), sample.env, f.Name, got, sample.want)
				}

				given := configFlagSets()[set]
				if err := parseConfig(given, "usage", []string{"-" + f.Name + "=" + f.DefValue}, io.Discard, io.Discard); err != nil {
					t.Fatal(err)
				}
				if got := given.Lookup(f.Name).Value.String(); got != f.DefValue {
					t.Errorf("-%s=%q given with %s=%q: -%s = %q, want the flag's value", f.Name, f.DefValue, envName(f.Name), sample.env, f.Name, got)
				}
			})
		})
	}
}

// TestConfig_BadEnvValue: a variable the flag cannot read is a usage
// error naming the variable, as a bad flag is.
func TestConfig_BadEnvValue(t *testing.T) {
	t.Setenv("SHIFTSYNC_EVALUATE_EVERY", "often")
	var stderr strings.Builder
	err := run(context.Background(), []string{"serve"}, io.Discard, &stderr)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(stderr.String(), "SHIFTSYNC_EVALUATE_EVERY") {
		t.Errorf("serve with SHIFTSYNC_EVALUATE_EVERY=often: %v\n%s", err, stderr.String())
	}
}

// TestRun_Help: every way of asking for help prints the usage on stdout
// and succeeds; each command's flags are listed with their variables.
func TestRun_Help(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"usage: shiftsyncd <command>", "serve", "SHIFTSYNC_"}},
		{[]string{"--help"}, []string{"usage: shiftsyncd <command>"}},
		{[]string{"help"}, []string{"usage: shiftsyncd <command>"}},
		{[]string{"serve", "-h"}, []string{"usage: shiftsyncd serve", "-db file   $SHIFTSYNC_DB", "$SHIFTSYNC_TRUSTED_PROXIES", "wins over its environment variable"}},
		{[]string{"migrate", "-help"}, []string{"usage: shiftsyncd migrate", "$SHIFTSYNC_DB"}},
		{[]string{"admin", "-h"}, []string{"usage: shiftsyncd admin", "$SHIFTSYNC_DB", "create-user"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout strings.Builder
			if err := run(context.Background(), tt.args, &stdout, io.Discard); err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run(%q) = %v", tt.args, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("run(%q) printed no %q:\n%s", tt.args, want, stdout.String())
				}
			}
		})
	}
}

// TestShiftsyncd_ExitCodesAndLog runs the real binary: help exits 0, a
// wrong command or flag exits 2 with the usage, and serve, configured from
// the environment alone, logs what it serves and where its data is, and on
// SIGTERM that it stopped cleanly.
func TestShiftsyncd_ExitCodesAndLog(t *testing.T) {
	bin := buildBinary(t)
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0}, {[]string{"help"}, 0}, {[]string{"serve", "-h"}, 0}, {[]string{"admin", "verify-audit", "-h"}, 0},
		{[]string{"frobnicate"}, 2}, {nil, 2}, {[]string{"serve", "-nope"}, 2}, {[]string{"admin", "frobnicate"}, 2},
	} {
		out, err := exec.Command(bin, tt.args...).CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || !strings.Contains(string(out), "usage:") {
			t.Errorf("shiftsyncd %q exited %d, want %d with the usage:\n%s", tt.args, code, tt.code, out)
		}
	}

	db := filepath.Join(t.TempDir(), "env.db")
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(cmd.Environ(), "SHIFTSYNC_DB="+db, "SHIFTSYNC_ADDR=127.0.0.1:0", "SHIFTSYNC_EVALUATE_EVERY=0s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		for s := bufio.NewScanner(stderr); s.Scan(); {
			lines <- s.Text()
		}
	}()
	waitFor := func(want ...string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("shiftsyncd exited before logging %q", want)
				}
				if all(line, want) {
					return line
				}
			case <-timeout:
				t.Fatalf("shiftsyncd did not log %q in 30 s", want)
			}
		}
	}
	serving := waitFor(`msg=serving`, "address=127.0.0.1:", "store=sqlite", "database="+db)
	t.Log(serving)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(`msg="stopped cleanly"`)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want exit 0", err)
	}
}

// all reports whether s contains every one of want.
func all(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// buildBinary builds shiftsyncd into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shiftsyncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
