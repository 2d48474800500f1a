package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestLoad runs every scenario tiny against a real shiftsyncd, so the
// generator cannot rot: every phone enrols and syncs, every push is
// acknowledged and the fresh replica pulls every record. It asserts
// outcomes, never speed.
func TestLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := buildServer(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{"h2c", "http1"} {
		t.Run(proto, func(t *testing.T) {
			args := []string{"-shiftsyncd", bin, "-dir", t.TempDir(), "-phones", "20", "-push-phones", "2", "-push-records", "50", "-records", "500"}
			if proto == "http1" {
				args = append(args, "-http1")
			}
			var out bytes.Buffer
			if err := loadMain(ctx, args, &out); err != nil {
				t.Fatalf("shiftsyncload: %v\n%s", err, out.String())
			}
			for _, want := range []string{"synced 20 of 20 phones", "push: 2 phones × 50 records", "(500 records)", "of the empty-call floor", "of raw SQLite inserts"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the report lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "errors:") {
				t.Errorf("calls failed in a tiny run:\n%s", out.String())
			}
		})
	}
}

// TestParseFlags refuses runs outside the generator's bounds.
func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-phones", "0"}, {"-phones", "10001"}, {"-push-records", "1001"}, {"-records", "0"}, {"-scenario", "stampede"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) = nil error", args)
		}
	}
}

// TestLoopbackOnly: the generator loads this machine only.
func TestLoopbackOnly(t *testing.T) {
	for url, ok := range map[string]bool{"http://127.0.0.1:18400": true, "http://[::1]:18400": true, "http://10.0.0.1:80": false, "http://example.com": false} {
		if err := loopbackOnly(url); (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v", url, err)
		}
	}
}
