package evidence_test

import (
	"bytes"
	"testing"

	"github.com/shiftsync/shiftsync/server/evidence"
)

// FuzzReadPack: any bytes are read without panicking, and a pack whose
// record text is any string, written as CSV or HTML, reads back to rows
// that verify against its own manifest (what the export shows is what
// is hashed, whatever a device wrote).
func FuzzReadPack(f *testing.F) {
	f.Add("Hit the door frame", "ana")
	f.Add("=HYPERLINK(\"x\")", "'quoted")
	f.Add("a\x00b\r\nc\t<td>&amp;</td>", "\xff\xfe")
	f.Add("</tr><tr data-row=\"9\"><td>", "-1")
	f.Fuzz(func(t *testing.T, summary, author string) {
		pack := testPack(summary, summary+author)
		pack.Records[0].CreatedBy = author
		pack = withRows(pack)
		var page, table bytes.Buffer
		if err := evidence.WriteHTML(&page, pack); err != nil {
			t.Fatal(err)
		}
		if err := evidence.WriteCSV(&table, pack); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"html": page.Bytes(), "csv": table.Bytes()} {
			_, _ = evidence.ReadPack(b[:len(b)/2]) // must not panic
			file, err := evidence.ReadPack(b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if c := file.Check(); !c.OK() || file.Root != pack.Manifest.Root {
				t.Fatalf("%s of summary %q, author %q: %+v", name, summary, author, c)
			}
		}
	})
}
