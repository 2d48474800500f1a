package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// refusalStore opens an audit store in a temporary directory and returns
// it with a function counting, through the store's audit chain, its
// token.refused entries for which match reports true (every one if match
// is nil).
func refusalStore(t *testing.T) (*sqlite.DB, func(match func(shiftsync.AuditEvent) bool) int) {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "audit.db"))
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, func(match func(shiftsync.AuditEvent) bool) int {
		t.Helper()
		ctx := context.Background()
		tip, _, err := db.AuditTip(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = db.AuditEntries(ctx, 1, tip, func(e shiftsync.AuditEntry) error {
			if e.Event.Action == shiftsync.AuditTokenRefused && (match == nil || match(e.Event)) {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// refusalSummary returns a match for the minute's count of refusals whose detail
// holds every one of parts.
func refusalSummary(parts ...string) func(shiftsync.AuditEvent) bool {
	return func(e shiftsync.AuditEvent) bool {
		if e.Subject != "summary" {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(e.Detail, p) {
				return false
			}
		}
		return true
	}
}

// TestRefusalLog_Bounded refuses one token from each of 5,000 sources in a
// minute: the log counts at most 1,024 sources apart and one bucket for
// the rest, writes at most 64 entries at once, and after the minute one
// count of them all; nothing is lost from the count.
func TestRefusalLog_Bounded(t *testing.T) {
	db, count := refusalStore(t)
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	l := NewRefusalLog(db, nil, func() time.Time { return now })
	refused := shiftsync.Errorf(shiftsync.CodeUnauthenticated, "invalid access token")
	const sources = 5000
	for i := range sources {
		ctx := shiftsync.NewContextWithSource(context.Background(), fmt.Sprintf("198.51.%d.%d", i/256, i%256))
		l.Refused(ctx, "sha256:x", refused)
		if n := len(l.window.sources); n > maxRefusalSources+1 {
			t.Fatalf("after %d sources the log holds %d, want at most %d", i+1, n, maxRefusalSources+1)
		}
	}
	if n := count(nil); n != maxImmediateRefusals {
		t.Errorf("%d entries for %d sources in a minute, want %d", n, sources, maxImmediateRefusals)
	}
	now = now.Add(time.Minute)
	l.Refused(shiftsync.NewContextWithSource(context.Background(), "203.0.113.1"), "sha256:y", refused)
	if n := count(refusalSummary(fmt.Sprintf(`"refused":%d,`, sources), fmt.Sprintf(`"other":%d`, sources-maxRefusalSources))); n != 1 {
		t.Errorf("no count of the minute's %d refusals with %d beyond the first %d sources", sources, sources-maxRefusalSources, maxRefusalSources)
	}
	if n := count(nil); n != maxImmediateRefusals+2 {
		t.Errorf("%d entries after the next minute's first refusal, want %d", n, maxImmediateRefusals+2)
	}
	if len(l.window.sources) != 1 {
		t.Errorf("the log still holds %d sources after the minute, want 1", len(l.window.sources))
	}
}

// TestRefusalLog_ManySources refuses 1,000 sources, ten times each, in one
// minute: the log writes 64 entries at once and one count after the
// minute, 65 in all, not one or two per source.
func TestRefusalLog_ManySources(t *testing.T) {
	db, count := refusalStore(t)
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	l := NewRefusalLog(db, nil, func() time.Time { return now })
	refused := shiftsync.Errorf(shiftsync.CodeUnauthenticated, "invalid access token")
	for i := range 1000 {
		ctx := shiftsync.NewContextWithSource(context.Background(), fmt.Sprintf("2001:db8:0:%x::/64", i))
		for range 10 {
			l.Refused(ctx, "sha256:x", refused)
		}
	}
	l.Flush(context.Background())
	if n := count(nil); n != 65 {
		t.Errorf("%d entries for 1,000 sources in a minute, want 65", n)
	}
	if n := count(refusalSummary(`"refused":10000,`, `"2001:db8:0:3e7::/64":10`)); n != 1 {
		t.Error("the minute's count does not hold every refusal and every source")
	}
}

// TestRefusalLog_FlushEvery refuses a token twice and lets the minute end
// with no further refusal: the minute's count is written by the timer.
func TestRefusalLog_FlushEvery(t *testing.T) {
	db, count := refusalStore(t)
	start := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	var clock atomic.Int64 // the time, in Unix nanoseconds: FlushEvery reads it
	clock.Store(start.UnixNano())
	l := NewRefusalLog(db, nil, func() time.Time { return time.Unix(0, clock.Load()) })
	ctx := shiftsync.NewContextWithSource(context.Background(), "203.0.113.1")
	for range 2 {
		l.Refused(ctx, "sha256:x", shiftsync.Errorf(shiftsync.CodeUnauthenticated, "invalid access token"))
	}
	loop, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.FlushEvery(loop, time.Millisecond) }()
	defer func() { stop(); <-done }()

	time.Sleep(20 * time.Millisecond)
	if n := count(nil); n != 1 {
		t.Fatalf("%d entries before the minute is over, want the first refusal only", n)
	}
	clock.Store(start.Add(time.Minute).UnixNano())
	deadline := time.Now().Add(5 * time.Second)
	for count(refusalSummary()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := count(refusalSummary(`"refused":2,`)); n != 1 {
		t.Errorf("%d counts of the ended minute written by the timer, want 1", n)
	}
}
