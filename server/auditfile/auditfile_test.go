package auditfile_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/auditfile"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

func TestOpenKey(t *testing.T) {
	path := auditfile.KeyPath(filepath.Join(t.TempDir(), "s.db"))
	key, created, err := auditfile.OpenKey(path)
	if err != nil || !created {
		t.Fatalf("OpenKey() on first start = %v, %v; want a new key", created, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v (%v), want 0600", info.Mode().Perm(), err)
	}
	again, created, err := auditfile.OpenKey(path)
	if err != nil || created || !again.Equal(key) {
		t.Errorf("OpenKey() again = created %v, %v; want the same key", created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auditfile.OpenKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("OpenKey() of a key others may read = %v, want refused", err)
	}
}

func TestHeads(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	key, _, err := auditfile.OpenKey(auditfile.KeyPath(db))
	if err != nil {
		t.Fatal(err)
	}
	f := auditfile.Heads{Path: auditfile.HeadsPath(db)}
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	for seq := range int64(3) {
		if err := f.WriteAuditHead(ctx, shiftsync.AuditHead{StoreID: "s", Run: "r", Process: shiftsync.AuditProcessServe, Seq: seq, Hash: []byte{byte(seq)}, At: at}.Sign(key)); err != nil {
			t.Fatal(err)
		}
	}
	heads, torn, err := auditfile.ReadHeads(f.Path)
	if err != nil || len(heads) != 3 || len(torn) != 0 {
		t.Fatalf("ReadHeads() = %d heads, %v; want 3", len(heads), err)
	}
	pub := key.Public().(ed25519.PublicKey)
	for _, h := range heads {
		if err := h.Verify(pub); err != nil {
			t.Errorf("a head read back does not verify: %v", err)
		}
	}

	// A crash while a line was written leaves it cut short: it is left out,
	// and reported.
	whole, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Path, append(whole, `{"v":1,"sto`...), 0o644); err != nil {
		t.Fatal(err)
	}
	if heads, torn, err := auditfile.ReadHeads(f.Path); err != nil || len(heads) != 3 || !slices.Equal(torn, []int{4}) {
		t.Errorf("ReadHeads() with a torn last line = %d heads, torn %v, %v; want the 3 whole ones, line 4 torn", len(heads), torn, err)
	}
	// The next writer starts a line of its own: the file still reads, with
	// the torn line left out.
	next := shiftsync.AuditHead{StoreID: "s", Run: "r2", Process: shiftsync.AuditProcessServe, Seq: 3, Hash: []byte{3}, At: at, Start: true}.Sign(key)
	if err := f.WriteAuditHead(ctx, next); err != nil {
		t.Fatal(err)
	}
	heads, torn, err = auditfile.ReadHeads(f.Path)
	if err != nil || len(heads) != 4 || heads[3].Run != "r2" || !slices.Equal(torn, []int{4}) {
		t.Errorf("ReadHeads() after a write that followed a torn line = %d heads, torn %v, %v; want 4, line 4 torn", len(heads), torn, err)
	}
	// A damaged line in the middle is an error naming it.
	lines := strings.SplitAfter(string(whole), "\n")
	lines[1] = "not a head\n"
	if err := os.WriteFile(f.Path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auditfile.ReadHeads(f.Path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ReadHeads() with a damaged line = %v, want an error naming line 2", err)
	}
}
