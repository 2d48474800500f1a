package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestAdmin_VerifyPack checks a pack's CSV offline, with no database: the
// untouched file passes; with one byte of a row's author changed it fails
// naming that row's line and record.
func TestAdmin_VerifyPack(t *testing.T) {
	at := time.Date(2026, 3, 2, 7, 40, 0, 0, time.UTC)
	pack := shiftsync.EvidencePack{ID: "0190a000-0000-7000-8000-00000000aaaa", EventTimes: map[string]time.Time{}}
	for i, author := range []string{"ana", "priya"} {
		r := &shiftsync.Record{RecordRef: shiftsync.RecordRef{RecordID: "0190a000-0000-7000-8000-00000000000" + string(rune('1'+i)), RecordType: "incident"},
			CreatedBy: author, RecordedAt: at, ReceivedAt: at,
			Fields: map[string]shiftsync.Value{"behaviour_description": {Kind: shiftsync.KindString, String: "Hit the door frame"}}}
		pack.Records = append(pack.Records, r)
		pack.Rows = append(pack.Rows, shiftsync.NewPackRow(r, at))
	}
	pack.Manifest = shiftsync.NewManifest("house-a", "sam", at, at.Add(time.Hour), "meera", at, pack.Records, pack.Rows)
	var b bytes.Buffer
	if err := evidence.WriteCSV(&b, pack); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "pack.csv"), filepath.Join(dir, "changed.csv")
	if err := os.WriteFile(good, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Replace(b.Bytes(), []byte(",priya,"), []byte(",priyb,"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"admin", "verify-pack", "-file", good}, &out, &errs); err != nil || !strings.Contains(out.String(), "ok: ") || !strings.Contains(out.String(), pack.Manifest.Root) {
		t.Fatalf("untouched pack: %v\n%s%s", err, out.String(), errs.String())
	}
	out.Reset()
	err := run(context.Background(), []string{"admin", "verify-pack", "-file", bad}, &out, &errs)
	if err == nil || !strings.Contains(out.String(), "line 3, record 0190a000-0000-7000-8000-000000000002") {
		t.Fatalf("pack with an author changed: %v, want line 3 named:\n%s", err, out.String())
	}
}
