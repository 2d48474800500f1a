package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestDB_Pragmas checks the durability settings on the connection that
// writes: WAL, and synchronous=FULL so an acknowledged push survives power
// loss; and that readers cannot write.
func TestDB_Pragmas(t *testing.T) {
	db := NewDB(filepath.Join(t.TempDir(), "s.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var mode string
	var synchronous, foreignKeys int
	if err := db.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous); err != nil || synchronous != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", synchronous, err)
	}
	if err := db.write.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&foreignKeys); err != nil || foreignKeys != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", foreignKeys, err)
	}
	if _, err := db.read.ExecContext(ctx, `DELETE FROM records`); err == nil {
		t.Error("the read pool could write")
	}
	var version string
	if err := db.read.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if compareVersions(version, MinSQLiteVersion) < 0 {
		t.Errorf("bundled SQLite %s is older than %s", version, MinSQLiteVersion)
	}
	t.Logf("SQLite %s", version)
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"3.51.3", "3.51.3", 0},
		{"3.51.2", "3.51.3", -1},
		{"3.54.1", "3.51.3", 1},
		{"3.100.0", "3.51.3", 1},
		{"3.51", "3.51.0", 0},
		{"4.0.0", "3.99.99", 1},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
