package rpc

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/sqlite"
)

// TestRefusalLog_Bounded refuses one token from each of 5,000 sources in a
// minute: the log holds at most 1,024 sources apart and one bucket for the
// rest, writes an entry for each of those and, after the minute, one count
// for the rest; nothing is lost from the counts.
func TestRefusalLog_Bounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	db := sqlite.NewDB(path)
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	l := NewRefusalLog(db, nil, func() time.Time { return now })
	refused := shiftsync.Errorf(shiftsync.CodeUnauthenticated, "invalid access token")
	const sources = 5000
	for i := range sources {
		ctx := shiftsync.NewContextWithSource(context.Background(), fmt.Sprintf("198.51.%d.%d", i/256, i%256))
		l.Refused(ctx, "sha256:x", refused)
		if len(l.windows) > maxRefusalSources+1 {
			t.Fatalf("after %d sources the log holds %d, want at most %d", i+1, len(l.windows), maxRefusalSources+1)
		}
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	count := func(where string) int {
		t.Helper()
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'token.refused' ` + where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(""); n != maxRefusalSources+1 {
		t.Errorf("%d entries for %d sources in a minute, want %d", n, sources, maxRefusalSources+1)
	}
	now = now.Add(time.Minute)
	l.Refused(shiftsync.NewContextWithSource(context.Background(), "203.0.113.1"), "sha256:y", refused)
	if n := count(`AND subject = 'other' AND detail LIKE '%"refused":` + fmt.Sprint(sources-maxRefusalSources) + `,%'`); n != 1 {
		t.Errorf("no count of the %d refusals beyond the first %d sources", sources-maxRefusalSources, maxRefusalSources)
	}
	if len(l.windows) != 1 {
		t.Errorf("the log still holds %d sources after the minute, want 1", len(l.windows))
	}
}
